/**
 * Evaluates a model file written by `fashion_cnn.ts` (by default the committed
 * `data/models/fashion_cnn.safetensors`) on the test set: rebuilds the network from the
 * file's metadata alone, prints `test accuracy: 0.xxxx`, the confusion matrix and the
 * per-class accuracy. Writes nothing.
 *
 * @module
 */

import { type DatasetName, getData } from "../lib/data/preprocess.ts";
import { fail, parseScriptFlags, section } from "./_cli.ts";
import { accuracies, confusionMatrix, formatConfusion, predict } from "./_evaluation.ts";
import { type LoadedModel, loadModel } from "./_model_file.ts";

const SCRIPT = "evaluate";
const DEFAULT_MODEL = "data/models/fashion_cnn.safetensors";

const { values: flags } = parseScriptFlags(
  SCRIPT,
  "Loads a model file (safetensors with the architecture in its metadata), rebuilds the\n" +
    "network and reports its test accuracy and confusion matrix.",
  {
    model: {
      type: "string",
      value: "PATH",
      default: DEFAULT_MODEL,
      help: "the model file",
    },
  },
);
const path = flags.model as string;
const started = performance.now();
let loaded: LoadedModel;
try {
  loaded = loadModel(path);
} catch (e) {
  fail(SCRIPT, (e as Error).message, 1);
}
const { model, input, classes, metadata } = loaded;
console.log(
  `Model ${path}: ${model.numParameters()} parameters, input [${input.shape}] (pixels × ${
    input.scale.toPrecision(6)
  })${metadata.trained_by ? `, trained by \`${metadata.trained_by}\`` : ""}`,
);
if (metadata.test_accuracy) {
  console.log(`Recorded when saved: test accuracy ${Number(metadata.test_accuracy).toFixed(4)}`);
}
// --quick: the committed mini subset (CI); otherwise the data set the flags find.
if (flags.quick && flags.data === undefined) flags.data = "data/fashion-mnist-mini";
let data;
try {
  data = await getData({
    dataset: flags.dataset as DatasetName,
    dataDir: flags.data as string | undefined,
    subtractMean: false,
  });
} catch (e) {
  fail(SCRIPT, (e as Error).message, 1);
}
console.log(
  `Loaded ${data.dataset}${data.isMini ? " (committed mini subset)" : ""} from ${data.dir}: ` +
    `test ${data.XTest.shape[0]} images`,
);
const X = data.XTest.mul(input.scale);
if (X.shape.slice(1).join() !== input.shape.join()) {
  fail(
    SCRIPT,
    `${path} expects images of shape [${input.shape}], the data set has [${X.shape.slice(1)}]`,
    1,
  );
}
const evalStarted = performance.now();
const pred = predict(model, X);
const counts = confusionMatrix(data.yTest, pred, classes.length);
const { accuracy } = accuracies(counts);
section(`Test set: ${X.shape[0]} images${data.isMini ? " (committed mini subset)" : ""}`);
console.log(formatConfusion(counts, classes));
console.log(
  `\n${X.shape[0]} images in ${((performance.now() - evalStarted) / 1000).toFixed(2)} s ` +
    `(${((performance.now() - started) / 1000).toFixed(2)} s in all)`,
);
console.log(`test accuracy: ${accuracy.toFixed(4)}`);

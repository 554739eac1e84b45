/**
 * The course's open-ended challenge ("train the best network you can") on Fashion-MNIST with
 * our module API: a VGG-style CNN with batchnorm and dropout, random crops (zero padding 2)
 * and horizontal flips done by the DataLoader, AdamW with a cosine learning-rate schedule.
 * The best checkpoint by validation accuracy is kept and evaluated on the test set.
 *
 * Outputs in `out/fashion_cnn/`: `fashion_cnn.safetensors` (the best checkpoint, a
 * self-describing model file, see `_model_file.ts`), `curves.svg` (loss and accuracies),
 * `confusion.svg`, `results.json`, `results.md`.
 *
 * @module
 */

import { join } from "node:path";
import { DataLoader } from "../lib/data/data_loader.ts";
import { FASHION_MNIST_CLASSES } from "../lib/data/fashion_mnist.ts";
import { compose, randomCrop, randomHorizontalFlip } from "../lib/data/transforms.ts";
import * as F from "../lib/nn/functional.ts";
import * as optim from "../lib/nn/optim/mod.ts";
import { getNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng, setSeed } from "../lib/rng.ts";
import { figure, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  isInteger,
  isNumber,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";
import {
  accuracies,
  confusionMatrix,
  confusionSvg,
  formatConfusion,
  predict,
} from "./_evaluation.ts";
import {
  buildModel,
  type InputSpec,
  loadModel,
  parseArchitecture,
  saveModel,
} from "./_model_file.ts";

const SCRIPT = "fashion_cnn";
const DEFAULTS = {
  arch: "c32,p,c64,p,c128,p,f256",
  epochs: "15",
  batch: "128",
  lr: "2e-3",
  weightDecay: "0.05",
  dropout: "0.3",
};

const ctx = await startScript({
  script: SCRIPT,
  description: "The Fashion-MNIST challenge: the best CNN we can train with the module API in\n" +
    "under 30 minutes on two cores (batchnorm, dropout, random crops and flips, cosine lr).",
  extra: {
    arch: {
      type: "string",
      value: "SPEC",
      default: DEFAULTS.arch,
      help: "layers: cN conv3x3+BN+ReLU, p max pool 2x2, fN linear+ReLU+dropout",
      check: (raw) => {
        try {
          parseArchitecture(raw, [1, 28, 28], 10, 0);
          return null;
        } catch {
          return "a comma-separated layer list such as c32,p,c64,p,f256";
        }
      },
    },
    epochs: {
      type: "string",
      value: "N",
      default: DEFAULTS.epochs,
      help: "training epochs",
      check: isInteger(1),
    },
    batch: {
      type: "string",
      value: "N",
      default: DEFAULTS.batch,
      help: "batch size",
      check: isInteger(1),
    },
    lr: {
      type: "string",
      value: "LR",
      default: DEFAULTS.lr,
      help: "AdamW's initial rate",
      check: isNumber({ above: 0 }),
    },
    "weight-decay": {
      type: "string",
      value: "W",
      default: DEFAULTS.weightDecay,
      help: "AdamW's decoupled weight decay",
      check: isNumber({ atLeast: 0 }),
    },
    dropout: {
      type: "string",
      value: "P",
      default: DEFAULTS.dropout,
      help: "drop probability after each hidden linear layer",
      check: isNumber({ atLeast: 0, atMost: 1 }),
    },
    "max-steps": {
      type: "string",
      value: "N",
      help: "stop each epoch after N steps (timing runs)",
      check: isInteger(1),
    },
  },
});

const { flags, quick, seed, dir } = ctx;
setSeed(seed);
const rng = new Rng(seed);
if (quick && flags.data === undefined) flags.data = "data/fashion-mnist-mini";
// Raw pixels scaled to 0..1 and nothing subtracted (torchvision's ToTensor): the padding of
// the random crops is then black background, as in the images, and a user needs no mean image.
const raw = await loadData(
  ctx,
  quick ? { numTraining: 1000, numValidation: 200, numTest: 500, subtractMean: false } : {
    subtractMean: false,
  },
);
const input: InputSpec = { shape: raw.XTrain.shape.slice(1), scale: 1 / 255 };
const data = {
  ...raw,
  XTrain: raw.XTrain.mul(input.scale),
  XVal: raw.XVal.mul(input.scale),
  XTest: raw.XTest.mul(input.scale),
};
const classes = raw.dataset === "fashion-mnist"
  ? [...FASHION_MNIST_CLASSES]
  : Array.from({ length: 10 }, (_, i) => `class ${i}`);

const arch = quick ? "c8,p,c16,p,f32" : flags.arch as string;
const epochs = ctx.int("epochs", 2);
const batchSize = ctx.int("batch");
const lr = ctx.number("lr");
const weightDecay = ctx.number("weight-decay");
const dropout = ctx.number("dropout");
const maxSteps = flags["max-steps"] === undefined ? Infinity : ctx.int("max-steps");

const architecture = parseArchitecture(arch, input.shape, classes.length, dropout);
const model = buildModel(architecture, rng);
section("Model");
console.log(model.toString());

const optimizer = new optim.AdamW(model.parameters(), { lr, weightDecay });
const scheduler = new optim.lrScheduler.CosineAnnealingLR(optimizer, { tMax: epochs });
const [, H, W] = input.shape;
const loader = new DataLoader({ X: data.XTrain, y: data.yTrain }, {
  batchSize,
  shuffle: true,
  rng,
  transform: compose(randomCrop([H, W], { padding: 2 }), randomHorizontalFlip()),
});

section(`Training: ${epochs} epochs of ${loader.length} steps, batch ${batchSize}`);
const checkpoint = join(dir, "fashion_cnn.safetensors");
const history = {
  loss: [] as number[],
  epochLoss: [] as number[],
  trainAcc: [] as number[],
  valAcc: [] as number[],
  lr: [] as number[],
  epochSeconds: [] as number[],
};
let best = { valAcc: -1, epoch: 0 };
let imagesSeen = 0, trainSeconds = 0;
for (let epoch = 1; epoch <= epochs; epoch++) {
  model.train();
  const started = performance.now();
  let lossSum = 0, correct = 0, seen = 0, step = 0;
  history.lr.push(optimizer.lr);
  for (const [xb, yb] of loader) {
    if (step >= maxSteps) break;
    const scores = model.forward(xb);
    const loss = F.crossEntropy(scores, yb);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    const value = loss.item();
    history.loss.push(value);
    lossSum += value * yb.length;
    const pred = scores.argmax(1);
    for (let i = 0; i < yb.length; i++) if (pred[i] === yb[i]) correct++;
    seen += yb.length;
    step++;
    if (step % 50 === 0) {
      const rate = seen / ((performance.now() - started) / 1000);
      console.log(
        `epoch ${epoch} step ${step}/${loader.length}: loss ${value.toFixed(4)}, ` +
          `${rate.toFixed(0)} images/s`,
      );
    }
  }
  scheduler.step();
  const seconds = (performance.now() - started) / 1000;
  trainSeconds += seconds;
  imagesSeen += seen;
  const valAcc = accuracies(
    confusionMatrix(data.yVal, predict(model, data.XVal), classes.length),
  ).accuracy;
  history.epochLoss.push(lossSum / seen);
  history.trainAcc.push(correct / seen);
  history.valAcc.push(valAcc);
  history.epochSeconds.push(seconds);
  const isBest = valAcc > best.valAcc;
  if (isBest) {
    best = { valAcc, epoch };
    saveModel(checkpoint, model, {
      architecture,
      input,
      classes,
      notes: { epoch: String(epoch), val_accuracy: String(valAcc), arch, seed: String(seed) },
    });
  }
  console.log(
    `epoch ${epoch}/${epochs}: loss ${(lossSum / seen).toFixed(4)}, train acc ` +
      `${(correct / seen).toFixed(4)} (augmented), val acc ${valAcc.toFixed(4)}, lr ` +
      `${history.lr[epoch - 1].toExponential(2)}, ${seconds.toFixed(1)} s ` +
      `(${(seen / seconds).toFixed(0)} images/s)${isBest ? ", saved as best" : ""}`,
  );
}

section(`Test set, best checkpoint (epoch ${best.epoch}, val acc ${best.valAcc.toFixed(4)})`);
const bestModel = loadModel(checkpoint).model;
const evalStarted = performance.now();
const pred = predict(bestModel, data.XTest);
const evalSeconds = (performance.now() - evalStarted) / 1000;
const counts = confusionMatrix(data.yTest, pred, classes.length);
const { accuracy: testAcc, perClass } = accuracies(counts);
console.log(formatConfusion(counts, classes));
console.log(`test accuracy: ${testAcc.toFixed(4)}`);
// The test accuracy goes into the file too, so evaluate.ts can show what to expect.
saveModel(checkpoint, bestModel, {
  architecture,
  input,
  classes,
  notes: {
    epoch: String(best.epoch),
    val_accuracy: String(best.valAcc),
    test_accuracy: String(testAcc),
    arch,
    seed: String(seed),
    trained_by: `deno task fashion_cnn${Deno.args.length ? " " + Deno.args.join(" ") : ""}`,
  },
});
console.log(`Wrote ${checkpoint}`);

const confusionPath = join(dir, "confusion.svg");
await writeSvg(
  confusionPath,
  confusionSvg(counts, classes, `Test confusion matrix (accuracy ${testAcc.toFixed(4)})`),
);
const curvesPath = join(dir, "curves.svg");
await writeSvg(
  curvesPath,
  figure([
    {
      title: "Training loss (per step)",
      xLabel: "Step",
      yLabel: "Loss",
      series: [{ name: "loss", y: history.loss, style: "line" }],
    },
    {
      title: "Accuracy",
      xLabel: "Epoch",
      yLabel: "Accuracy",
      series: [
        { name: "train (augmented)", x: epochIndex(), y: history.trainAcc, style: "both" },
        { name: "validation", x: epochIndex(), y: history.valAcc, style: "both" },
      ],
    },
  ], { title: `fashion_cnn ${arch}` }),
);
console.log(`Wrote ${confusionPath}\nWrote ${curvesPath}`);

const imagesPerSecond = imagesSeen / trainSeconds;
const report = new MarkdownReport();
report.begin("challenge");
report.table(
  "Result",
  ["architecture", "epochs", "best epoch", "val acc", "test acc", "s/epoch", "images/s"],
  [[
    arch,
    epochs,
    best.epoch,
    best.valAcc.toFixed(4),
    testAcc.toFixed(4),
    (trainSeconds / epochs).toFixed(1),
    imagesPerSecond.toFixed(0),
  ]],
);
report.table(
  "Per-class test accuracy",
  ["class", "accuracy"],
  classes.map((c, i) => [c, perClass[i].toFixed(3)]),
);
const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  seed,
  threads: getNumThreads(),
  dataset: {
    ...datasetSummary(data, data.XTrain.shape[0]),
    preprocessing: "pixels / 255, nothing subtracted",
  },
  about: `${arch}, ${epochs} epochs, seed ${seed}`,
}, {
  challenge: {
    input,
    hyperparameters: { arch, epochs, batchSize, lr, weightDecay, dropout, augmentation: "crop 2" },
    numParameters: model.numParameters(),
    bestEpoch: best.epoch,
    bestValAcc: round(best.valAcc),
    testAcc: round(testAcc),
    perClassTestAcc: Object.fromEntries(classes.map((c, i) => [c, round(perClass[i])])),
    confusion: counts,
    secondsPerEpoch: round(trainSeconds / epochs, 1),
    imagesPerSecond: round(imagesPerSecond, 0),
    testEvalSeconds: round(evalSeconds, 2),
    history: {
      epochLoss: history.epochLoss.map((v) => round(v)),
      trainAcc: history.trainAcc.map((v) => round(v)),
      valAcc: history.valAcc.map((v) => round(v)),
      lr: history.lr,
      epochSeconds: history.epochSeconds.map((v) => round(v, 1)),
    },
    checkpoint,
  },
});
await report.write(dir, "Fashion-MNIST challenge", merged, ["challenge"]);

function epochIndex(): number[] {
  return history.valAcc.map((_, i) => i + 1);
}

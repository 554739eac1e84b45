/**
 * cs231n assignment 1, "Image features exercise", on Fashion-MNIST:
 *
 * 1. features: HOG (one or more cell sizes; the course's 8×8 cells leave a 28×28 image
 *    only 3×3 cells) and a histogram (hue for colour images as the course; intensity for
 *    gray ones), extracted from the raw 0–255 images, then standardised with the training
 *    mean and standard deviation and given a bias column, as the notebook does;
 * 2. svm: a LinearSVM on the features, learning rate × regularization on the validation
 *    set, test accuracy, and a per-class grid of misclassified test images;
 * 3. net: a TwoLayerNet on the features (Solver, Adam), a small search, test accuracy;
 *    next to them the raw-pixel results of the svm and two_layer_net scripts, when their
 *    results.json exist.
 *
 * Outputs go to `out/features/` (misclassified.png, results.json, results.md).
 *
 * @module
 */

import { join } from "node:path";
import { LinearSVM } from "../lib/classifiers/linear_classifier.ts";
import { extractFeatures, type FeatureFn } from "../lib/features/extract.ts";
import { colorHistogramHsv, intensityHistogram } from "../lib/features/histogram.ts";
import { hogFeature } from "../lib/features/hog.ts";
import { TwoLayerNet } from "../lib/models/two_layer_net.ts";
import { defaultNumThreads, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { writePng } from "../lib/vis/png.ts";
import {
  datasetSummary,
  isInteger,
  isListOf,
  isNumber,
  listFlag,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";
import { accuracy, imageRows, timed, withBias } from "./_a1.ts";

const SCRIPT = "features";
const SECTIONS = ["svm", "net"] as const;

const ctx = await startScript({
  script: SCRIPT,
  description:
    "Reproduces the cs231n 'Image features' notebook (assignment 1) on Fashion-MNIST:\n" +
    "HOG and histogram features, a linear SVM and a two-layer net on them, misclassified\n" +
    "examples, and the raw-pixel results next to them.",
  sections: SECTIONS,
  extra: {
    cells: {
      type: "string",
      default: "4,7",
      value: "LIST",
      help: "HOG cell sizes; one HOG per size, concatenated (course: 8)",
      check: isListOf(isInteger(1)),
    },
    nbin: {
      type: "string",
      default: "10",
      value: "N",
      help: "histogram bins (course: 10)",
      check: isInteger(1),
    },
    "svm-iters": {
      type: "string",
      default: "3000",
      value: "N",
      help: "SGD steps per SVM run (quick: 300)",
      check: isInteger(1),
    },
    hiddens: {
      type: "string",
      default: "500",
      value: "LIST",
      help: "hidden sizes searched (quick: 100)",
      check: isListOf(isInteger(1)),
    },
    lrs: {
      type: "string",
      default: "1e-3,3e-4",
      value: "LIST",
      help: "Adam rates searched (quick: 1e-3)",
      check: isListOf(isNumber({ above: 0 })),
    },
    regs: {
      type: "string",
      default: "0,1e-3",
      value: "LIST",
      help: "L2 strengths searched (quick: 0)",
      check: isListOf(isNumber({ atLeast: 0 })),
    },
    epochs: {
      type: "string",
      default: "15",
      value: "N",
      help: "epochs of each net (quick: 2)",
      check: isInteger(1),
    },
    threads: {
      type: "string",
      value: "N",
      help: "threads (default: one per core)",
      check: isInteger(1),
    },
  },
});
const { flags, quick, seed, only, dir } = ctx;

const threads = flags.threads === undefined ? defaultNumThreads() : ctx.int("threads");
await setNumThreads(threads);
const list = (name: string, quickValue?: number[]) =>
  quick && quickValue !== undefined && !ctx.given.has(name) ? quickValue : listFlag(flags, name);
const cells = list("cells");
const nbin = ctx.int("nbin");
const svmIters = ctx.int("svm-iters", 300);
const hiddens = list("hiddens", [100]);
const lrs = list("lrs", [1e-3]);
const regs = list("regs", [0]);
const epochs = ctx.int("epochs", 2);
const report = new MarkdownReport();

// Raw 0–255 images: the features are computed on pixels, not on mean-subtracted values.
const data = await loadData(ctx, {
  subtractMean: false,
  ...(quick ? { numTraining: 1500, numValidation: 500, numTest: 500 } : {}),
});
const results: Record<string, unknown> = {};

const colour = data.XTrain.shape[1] === 3;
const featureFns: FeatureFn[] = [
  ...cells.map((cellSize) => (im: Tensor) => hogFeature(im, { cellSize })),
  colour
    ? (im: Tensor) => colorHistogramHsv(im, { nbin })
    : (im: Tensor) => intensityHistogram(im, { nbin }),
];
const featureNames = [
  ...cells.map((c) => `HOG ${c}×${c} cells`),
  colour ? `hue histogram (${nbin} bins)` : `intensity histogram (${nbin} bins)`,
];

section(`Features: ${featureNames.join(" + ")}`);
report.begin("features");
const [features, extractSeconds] = timed(() => ({
  train: extractFeatures(images(data.XTrain), featureFns),
  val: extractFeatures(images(data.XVal), featureFns),
  test: extractFeatures(images(data.XTest), featureFns),
}));
const numFeatures = features.train.shape[1];
console.log(`${numFeatures} features per image, extracted in ${extractSeconds.toFixed(1)} s`);
standardise(features);
const F = {
  train: withBias(features.train),
  val: withBias(features.val),
  test: withBias(features.test),
};
results.features = { names: featureNames, numFeatures, extractSeconds: round(extractSeconds, 1) };

const rawPixels = await readRawResults();
const summaryRows: (string | number)[][] = [];
if (only.has("svm")) results.svm = await runSvm();
if (only.has("net")) results.net = runNet();
if (rawPixels.svm !== undefined) {
  summaryRows.push(["LinearSVM", "raw pixels", "", rawPixels.svm.toFixed(4)]);
}
if (rawPixels.net !== undefined) {
  summaryRows.push(["TwoLayerNet", "raw pixels", "", rawPixels.net.toFixed(4)]);
}
report.begin("summary");
report.table(
  "Features against raw pixels (test accuracy)",
  ["classifier", "input", "val acc", "test acc"],
  summaryRows,
  `Features: ${featureNames.join(" + ")} = ${numFeatures} values per image. Raw-pixel rows ` +
    "come from out/svm/results.json and out/two_layer_net/results.json (full runs) when " +
    "present.",
);
results.summary = { rawPixels, rows: summaryRows };
const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  dataset: {
    ...datasetSummary(data),
    preprocessing: "features of the raw 0..255 images, standardised with the training " +
      "mean and std, bias column appended",
  },
  seed,
  threads,
  about: `data: ${data.dataset}${data.isMini ? " (mini subset)" : ""}, ${data.yTrain.length} ` +
    `training, ${data.yVal.length} validation, ${data.yTest.length} test images; seed ${seed}`,
}, results);
await report.write(
  dir,
  `Image features (${quick ? "quick run" : "full run"})`,
  merged,
  ["features", "svm", "net", "summary"],
);
Deno.exit(0);

// ---------------------------------------------------------------------------------------

/** `(N, C, H, W)` images as the feature functions take them: `(N, H, W)` or `(N, H, W, 3)`. */
function images(X: Tensor): Tensor {
  const [N, C, H, W] = X.shape;
  return C === 1 ? X.reshape([N, H, W]) : X.transpose([0, 2, 3, 1]);
}

/** The notebook's preprocessing: subtract the training mean, divide by the training std. */
function standardise(f: { train: Tensor; val: Tensor; test: Tensor }): void {
  const [N, D] = f.train.shape;
  const mean = new Float64Array(D), std = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) mean[j] += f.train.data[i * D + j];
  for (let j = 0; j < D; j++) mean[j] /= N;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < D; j++) std[j] += (f.train.data[i * D + j] - mean[j]) ** 2;
  }
  // A feature that never varies (e.g. a histogram bin no image reaches) keeps scale 1.
  for (let j = 0; j < D; j++) std[j] = Math.sqrt(std[j] / N) || 1;
  for (const X of [f.train, f.val, f.test]) {
    for (let i = 0; i < X.shape[0]; i++) {
      for (let j = 0; j < D; j++) X.data[i * D + j] = (X.data[i * D + j] - mean[j]) / std[j];
    }
  }
}

async function readRawResults(): Promise<{ svm?: number; net?: number }> {
  const read = async (script: string) => {
    try {
      return JSON.parse(await Deno.readTextFile(join("out", script, "results.json")));
    } catch {
      return null;
    }
  };
  const svm = await read("svm"), net = await read("two_layer_net");
  // The data set is recorded with the run that produced the section.
  type Run = { sections?: string[]; dataset?: { name?: string; isMini?: boolean } };
  const sameData = (r: { runs?: Run[] } | null, key: string) => {
    const d = r?.runs?.find((run) => run.sections?.includes(key))?.dataset;
    return d?.name === data.dataset && d?.isMini === data.isMini;
  };
  return {
    ...(sameData(svm, "test") && svm.test?.testAcc !== undefined ? { svm: svm.test.testAcc } : {}),
    ...(sameData(net, "train") && net.train?.testAcc !== undefined
      ? { net: net.train.testAcc }
      : {}),
  };
}

/** LinearSVM on the features: the search, the test accuracy, misclassified examples. */
async function runSvm() {
  const lrsSvm = quick ? [1e-3, 1e-2] : [1e-4, 1e-3, 1e-2];
  const regsSvm = quick ? [1e-3] : [1e-4, 1e-2, 1];
  report.begin("svm");
  section(
    `LinearSVM on features: ${lrsSvm.length} × ${regsSvm.length} settings, ${svmIters} steps`,
  );
  const rows: (string | number)[][] = [];
  const runs: Record<string, number>[] = [];
  let best: { svm: LinearSVM; lr: number; reg: number; valAcc: number } | null = null;
  for (const lr of lrsSvm) {
    for (const reg of regsSvm) {
      const svm = new LinearSVM();
      const [, seconds] = timed(() =>
        svm.train(F.train, data.yTrain, {
          learningRate: lr,
          reg,
          numIters: svmIters,
          batchSize: 200,
          rng: new Rng(seed),
        })
      );
      const trainAcc = accuracy(svm.predict(F.train), data.yTrain);
      const valAcc = accuracy(svm.predict(F.val), data.yVal);
      console.log(
        `lr ${lr} reg ${reg}: train accuracy ${trainAcc.toFixed(4)}, val accuracy ` +
          `${valAcc.toFixed(4)} (${seconds.toFixed(1)} s)`,
      );
      runs.push({ learningRate: lr, reg, trainAcc, valAcc });
      rows.push([lr, reg, trainAcc.toFixed(4), valAcc.toFixed(4)]);
      if (best === null || valAcc > best.valAcc) best = { svm, lr, reg, valAcc };
    }
  }
  const chosen = best as NonNullable<typeof best>;
  const pred = chosen.svm.predict(F.test);
  const testAcc = accuracy(pred, data.yTest);
  console.log(`LinearSVM on features: test accuracy ${testAcc}`);
  report.table(
    "LinearSVM on features: learning rate × regularization",
    ["learning rate", "reg", "train acc", "val acc"],
    rows,
    `${svmIters} SGD steps of batch 200. Best: lr ${chosen.lr}, reg ${chosen.reg}; test ` +
      `accuracy ${testAcc.toFixed(4)}. Misclassified test images: misclassified.png.`,
  );
  summaryRows.push(["LinearSVM", "features", chosen.valAcc.toFixed(4), testAcc.toFixed(4)]);
  await writeMisclassified(pred);
  return {
    iters: svmIters,
    runs,
    best: { learningRate: chosen.lr, reg: chosen.reg, valAcc: chosen.valAcc },
    testAcc,
  };
}

/**
 * One row per class: up to 8 test images the SVM put in that class although they belong
 * to another (the notebook's picture).
 */
async function writeMisclassified(pred: Int32Array): Promise<void> {
  const perClass = 8;
  const N = data.yTest.length;
  const imageSize = data.XTest.size / N;
  const shape = data.XTest.shape.slice(1);
  const rows: Tensor[][] = data.classNames.map(() => []);
  for (let i = 0; i < N; i++) {
    const c = pred[i];
    if (c !== data.yTest[i] && rows[c].length < perClass) {
      rows[c].push(new Tensor(data.XTest.data.subarray(i * imageSize, (i + 1) * imageSize), shape));
    }
  }
  const blank = Tensor.zeros(shape);
  const path = join(dir, "misclassified.png");
  await writePng(path, imageRows(rows.map((r) => (r.length ? r : [blank]))));
  console.log(`Wrote ${path} (rows: predicted class ${data.classNames.join(", ")})`);
}

/** TwoLayerNet on the features: a small search; the best net's test accuracy. */
function runNet() {
  const settings = hiddens.flatMap((hiddenDim) =>
    lrs.flatMap((learningRate) => regs.map((reg) => ({ hiddenDim, learningRate, reg })))
  );
  report.begin("net");
  section(`TwoLayerNet on features: ${settings.length} settings, ${epochs} epochs each`);
  const rows: (string | number)[][] = [];
  const runs: Record<string, number>[] = [];
  let best: { solver: Solver; valAcc: number; setting: typeof settings[number] } | null = null;
  const inputDim = F.train.shape[1];
  for (const setting of settings) {
    const model = new TwoLayerNet({
      inputDim,
      hiddenDim: setting.hiddenDim,
      numClasses: 10,
      weightScale: 1e-2,
      reg: setting.reg,
      dtype: "float32",
      rng: new Rng(seed),
    });
    const solver = new Solver(model, {
      XTrain: F.train.astype("float32"),
      yTrain: data.yTrain,
      XVal: F.val.astype("float32"),
      yVal: data.yVal,
    }, {
      updateRule: "adam",
      optimConfig: { learningRate: setting.learningRate },
      lrDecay: 0.9,
      numEpochs: epochs,
      batchSize: 200,
      verbose: false,
      rng: new Rng(seed),
    });
    const [, seconds] = timed(() => solver.train());
    const valAcc = solver.bestValAcc;
    console.log(
      `hidden ${setting.hiddenDim} lr ${setting.learningRate} reg ${setting.reg}: best val ` +
        `accuracy ${valAcc.toFixed(4)} (${seconds.toFixed(1)} s)`,
    );
    runs.push({ ...setting, valAcc, seconds: round(seconds, 1) });
    rows.push([
      setting.hiddenDim,
      setting.learningRate,
      setting.reg,
      valAcc.toFixed(4),
      seconds.toFixed(1),
    ]);
    if (best === null || valAcc > best.valAcc) best = { solver, valAcc, setting };
  }
  const chosen = best as NonNullable<typeof best>;
  // The Solver has swapped in the parameters with the best validation accuracy.
  const testAcc = chosen.solver.checkAccuracy(F.test.astype("float32"), data.yTest);
  console.log(`TwoLayerNet on features: test accuracy ${testAcc}`);
  report.table(
    "TwoLayerNet on features",
    ["hidden", "learning rate", "reg", "best val acc", "seconds"],
    rows,
    `Adam, batch 200, lr decay 0.9, weight scale 1e-2, ${epochs} epochs, float32. Best: ` +
      `${JSON.stringify(chosen.setting)}; test accuracy ${testAcc.toFixed(4)}.`,
  );
  summaryRows.push(["TwoLayerNet", "features", chosen.valAcc.toFixed(4), testAcc.toFixed(4)]);
  return { epochs, runs, best: chosen.setting, valAcc: chosen.valAcc, testAcc };
}

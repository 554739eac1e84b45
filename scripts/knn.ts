/**
 * cs231n assignment 1, "k-Nearest Neighbor", on real data (Fashion-MNIST by default):
 *
 * 1. distances: the two-loop, one-loop and no-loop distance matrices on a subset (the
 *    notebook's 5,000 training and 500 test images), their differences and timings, the
 *    distance matrix as a picture, and the accuracy of k = 1 and k = 5 on that subset;
 * 2. cross-validation: 5 folds (numpy `array_split`, no shuffling) over
 *    k ∈ {1, 3, 5, 8, 10, 12, 15, 20, 50, 100}, the accuracy-vs-k plot (mean ± std);
 * 3. test: the best k on the full training set against the full test set, with its time
 *    and the process's peak memory (the distances are computed in blocks of test rows).
 *
 * Outputs go to `out/knn/` (distances.png, cross_validation.svg, results.json, results.md).
 *
 * @module
 */

import { join } from "node:path";
import { kFoldSplits } from "../lib/classifiers/cross_validation.ts";
import { KNearestNeighbor } from "../lib/classifiers/knn.ts";
import type { DataSplits } from "../lib/data/preprocess.ts";
import { defaultNumThreads, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { toImage } from "../lib/vis/grid.ts";
import { writePng } from "../lib/vis/png.ts";
import { figure, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  isInteger,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";
import { accuracy, flattenSplits, meanStd, PeakRss, timed } from "./_a1.ts";

const SCRIPT = "knn";
const SECTIONS = ["distances", "cross-validation", "test"] as const;
const K_CHOICES = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100];

const ctx = await startScript({
  script: SCRIPT,
  description: "Reproduces the cs231n 'k-Nearest Neighbor' notebook on Fashion-MNIST: the\n" +
    "three distance versions, 5-fold cross-validation of k, and the best k on the test set.",
  sections: SECTIONS,
  extra: {
    "subset-train": {
      type: "string",
      default: "5000",
      value: "N",
      help: "training images of the distances section (notebook: 5000; quick: 500)",
      check: isInteger(1),
    },
    "subset-test": {
      type: "string",
      default: "500",
      value: "N",
      help: "test images of the distances section (notebook: 500; quick: 100)",
      check: isInteger(1),
    },
    "cv-train": {
      type: "string",
      default: "10000",
      value: "N",
      help: "training images split into the cross-validation folds (quick: 1000)",
      check: isInteger(2),
    },
    folds: {
      type: "string",
      default: "5",
      value: "N",
      help: "number of folds",
      check: isInteger(2),
    },
    k: {
      type: "string",
      value: "N",
      help: "k of the test section (default: the best of CV)",
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
const peak = new PeakRss();
const data = flattenSplits(
  await loadData(ctx, quick ? { numTraining: 1500, numValidation: 0, numTest: 500 } : {}),
);
peak.sample();
const subsetTrain = Math.min(ctx.int("subset-train", 500), data.yTrain.length);
const subsetTest = Math.min(ctx.int("subset-test", 100), data.yTest.length);
const cvTrain = Math.min(ctx.int("cv-train", 1000), data.yTrain.length);
const numFolds = Math.min(ctx.int("folds"), cvTrain);
const report = new MarkdownReport();
const results: Record<string, unknown> = {};

if (only.has("distances")) results.distances = await runDistances(data);
let bestK = flags.k === undefined ? 1 : ctx.int("k");
if (only.has("cross-validation")) {
  const cv = await runCrossValidation(data);
  results.crossValidation = cv;
  if (flags.k === undefined) bestK = cv.bestK;
}
if (only.has("test")) results.test = runTest(data, bestK);
const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  dataset: datasetSummary(data),
  seed,
  threads,
  about: `data: ${data.dataset}${data.isMini ? " (mini subset)" : ""}; ${threads} thread(s); ` +
    `seed ${seed}`,
}, results);
await report.write(
  dir,
  `k-Nearest Neighbor (${quick ? "quick run" : "full run"})`,
  merged,
  ["distances", "crossValidation", "test"],
);
Deno.exit(0);

// ---------------------------------------------------------------------------------------

function subset(d: DataSplits) {
  return {
    XTrain: d.XTrain.sliceRows(0, subsetTrain),
    yTrain: d.yTrain.subarray(0, subsetTrain),
    XTest: d.XTest.sliceRows(0, subsetTest),
    yTest: d.yTest.subarray(0, subsetTest),
  };
}

/** The notebook's distance checks on a subset. */
async function runDistances(d: DataSplits): Promise<Record<string, unknown>> {
  section(`Distances: ${subsetTest} test × ${subsetTrain} training images`);
  report.begin("distances");
  const s = subset(d);
  const knn = new KNearestNeighbor();
  knn.train(s.XTrain, s.yTrain);
  const [two, twoSeconds] = timed(() => knn.computeDistancesTwoLoops(s.XTest));
  const [one, oneSeconds] = timed(() => knn.computeDistancesOneLoop(s.XTest));
  const [none, noneSeconds] = timed(() => knn.computeDistancesNoLoops(s.XTest));
  // The notebook's check: the Frobenius norm of the difference.
  const frobenius = (a: Float32Array | Float64Array, b: Float32Array | Float64Array) => {
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
    return Math.sqrt(sum);
  };
  const diffOne = frobenius(one.data, two.data), diffNone = frobenius(none.data, two.data);
  let maxDistance = 0;
  for (const v of two.data) maxDistance = Math.max(maxDistance, v);
  const path = join(dir, "distances.png");
  await writePng(path, toImage(two));
  console.log(`Wrote ${path}`);
  const acc1 = accuracy(knn.predictLabels(none, 1), s.yTest);
  const acc5 = accuracy(knn.predictLabels(none, 5), s.yTest);
  console.log(
    `k = 1: got ${Math.round(acc1 * subsetTest)} / ${subsetTest} correct => accuracy ${acc1}`,
  );
  console.log(
    `k = 5: got ${Math.round(acc5 * subsetTest)} / ${subsetTest} correct => accuracy ${acc5}`,
  );
  report.table(
    "Distance versions",
    ["version", "seconds", "‖difference‖_F to two loops", "speed-up over two loops"],
    [
      ["two loops", twoSeconds.toFixed(3), "0", "1.0×"],
      [
        "one loop",
        oneSeconds.toFixed(3),
        diffOne.toExponential(2),
        `${(twoSeconds / oneSeconds).toFixed(1)}×`,
      ],
      [
        "no loops (GEMM)",
        noneSeconds.toFixed(3),
        diffNone.toExponential(2),
        `${(twoSeconds / noneSeconds).toFixed(1)}×`,
      ],
    ],
    `${subsetTest} × ${subsetTrain} distances of ${d.XTrain.shape[1]}-d ${d.XTrain.dtype} rows ` +
      `(largest distance ${maxDistance.toFixed(0)}); picture: distances.png (rows: test ` +
      `images, columns: training images, bright = far). Accuracy on this subset: k = 1 ` +
      `${acc1.toFixed(3)}, k = 5 ${acc5.toFixed(3)}.`,
  );
  return {
    numTrain: subsetTrain,
    numTest: subsetTest,
    seconds: { twoLoops: twoSeconds, oneLoop: oneSeconds, noLoops: noneSeconds },
    frobeniusDifference: { oneLoop: diffOne, noLoops: diffNone },
    maxDistance,
    accuracy: { k1: acc1, k5: acc5 },
  };
}

/** k-fold cross-validation of k on the first `cvTrain` training images. */
async function runCrossValidation(d: DataSplits) {
  section(`Cross-validation: ${numFolds} folds of the first ${cvTrain} training images`);
  report.begin("crossValidation");
  const X = d.XTrain.sliceRows(0, cvTrain), y = d.yTrain.subarray(0, cvTrain);
  const ks = K_CHOICES.filter((k) => k <= cvTrain - Math.ceil(cvTrain / numFolds));
  const foldAccuracies: Record<number, number[]> = {};
  for (const k of ks) foldAccuracies[k] = [];
  const t0 = performance.now();
  for (const [i, fold] of kFoldSplits(cvTrain, numFolds).entries()) {
    const knn = new KNearestNeighbor();
    knn.train(X.take(fold.train), pick(y, fold.train));
    const dists = knn.computeDistancesNoLoops(X.take(fold.val));
    const yVal = pick(y, fold.val);
    for (const k of ks) foldAccuracies[k].push(accuracy(knn.predictLabels(dists, k), yVal));
    console.log(
      `fold ${i + 1}/${numFolds}: ` +
        ks.map((k) => `k=${k} ${foldAccuracies[k][i].toFixed(3)}`).join(", "),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = ks.map((k) => ({ k, ...meanStd(foldAccuracies[k]) }));
  // The best mean; a tie goes to the smaller k.
  const best = summary.reduce((a, b) => (b.mean > a.mean ? b : a));
  const svg = figure([{
    title: `Cross-validation on ${cvTrain} images (${numFolds} folds)`,
    xLabel: "k",
    yLabel: "Cross-validation accuracy",
    logX: true,
    series: [
      {
        name: "each fold",
        x: ks.flatMap((k) => foldAccuracies[k].map(() => k)),
        y: ks.flatMap((k) => foldAccuracies[k]),
        style: "points",
      },
      { name: "mean", x: ks, y: summary.map((s) => s.mean), style: "both" },
      { name: "mean + std", x: ks, y: summary.map((s) => s.mean + s.std) },
      { name: "mean − std", x: ks, y: summary.map((s) => s.mean - s.std) },
    ],
  }]);
  const path = join(dir, "cross_validation.svg");
  await writeSvg(path, svg);
  console.log(`Wrote ${path}`);
  report.table(
    "Cross-validation of k",
    ["k", "mean accuracy", "std", ...Array.from({ length: numFolds }, (_, i) => `fold ${i + 1}`)],
    summary.map((s) => [
      s.k,
      s.mean.toFixed(4),
      s.std.toFixed(4),
      ...foldAccuracies[s.k].map((a) => a.toFixed(3)),
    ]),
    `${numFolds} folds of the first ${cvTrain} training images (numpy array_split, no ` +
      `shuffling), ${seconds.toFixed(1)} s. Best k = ${best.k} (mean ${best.mean.toFixed(4)}). ` +
      "Plot: cross_validation.svg.",
  );
  return {
    numTrain: cvTrain,
    numFolds,
    seconds,
    foldAccuracies,
    summary: summary.map((s) => ({ k: s.k, mean: round(s.mean), std: round(s.std) })),
    bestK: best.k,
  };
}

function pick(y: Int32Array, idx: Int32Array): Int32Array {
  return Int32Array.from(idx, (i) => y[i]);
}

/** The chosen k on the full training set against the full test set, in blocks. */
function runTest(d: DataSplits, k: number) {
  const [numTrain, D] = d.XTrain.shape;
  const numTest = d.yTest.length;
  section(`Test: k = ${k}, ${numTest} test × ${numTrain} training images, ${D}-d`);
  report.begin("test");
  const knn = new KNearestNeighbor();
  knn.train(d.XTrain, d.yTrain);
  let lastPrint = performance.now();
  const [pred, seconds] = timed(() =>
    knn.predict(d.XTest, {
      k,
      onBlock: (done, total) => {
        peak.sample();
        if (performance.now() - lastPrint > 2000 || done === total) {
          console.log(`  ${done} / ${total} test images`);
          lastPrint = performance.now();
        }
      },
    })
  );
  const acc = accuracy(pred, d.yTest);
  const peakMib = peak.mib;
  console.log(`Got ${Math.round(acc * numTest)} / ${numTest} correct => accuracy: ${acc}`);
  report.table(
    "Test accuracy",
    ["k", "train images", "test images", "accuracy", "predict seconds", "peak RSS (MiB)"],
    [[k, numTrain, numTest, acc.toFixed(4), seconds.toFixed(1), peakMib]],
    `${threads} thread(s), ${d.XTrain.dtype}; distances computed in blocks of test rows (block ` +
      `buffer ≤ 2²⁴ elements), each row keeping only its k nearest.`,
  );
  return {
    k,
    numTrain,
    numTest,
    accuracy: acc,
    seconds,
    peakRssMiB: peakMib,
    dtype: d.XTrain.dtype,
  };
}

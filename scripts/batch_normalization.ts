/**
 * cs231n assignment 2, "Batch normalization", on real data (Fashion-MNIST by default):
 *
 * 1. checks: batchnorm's train-mode output statistics, test-mode statistics after warm-up,
 *    gradient checks of batchnorm (both backward forms) and layernorm, and the speed-up of
 *    the closed-form backward pass (N=100, D=500, as in the notebook);
 * 2. a 6-layer net trained with and without batchnorm (loss, train and val accuracy);
 * 3. the weight-initialization sweep: 8-layer nets at 20 scales `logspace(-4, 0)`, with and
 *    without batchnorm (best train/val accuracy and final loss against the scale);
 * 4. the batch-size experiment (5, 10, 50) for batchnorm and for layernorm.
 *
 * Outputs go to `out/batch_normalization/` (SVG plots, results.json, results.md).
 *
 * @module
 */

import { join } from "node:path";
import { evalNumericalGradientArray, relError } from "../lib/gradient_check.ts";
import {
  batchnormBackward,
  batchnormBackwardAlt,
  batchnormForward,
  type BatchnormParam,
} from "../lib/layers/batchnorm.ts";
import { layernormBackward, layernormForward } from "../lib/layers/layernorm.ts";
import { reluForward } from "../lib/layers/relu.ts";
import { FullyConnectedNet, type Normalization } from "../lib/models/fc_net.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import type { DataSplits } from "../lib/data/preprocess.ts";
import { Tensor } from "../lib/tensor.ts";
import { figure, type PlotSeries, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  isInteger,
  last,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  trainingSubset,
  writeResults,
} from "./_cli.ts";
import { writeTrainingCurves } from "./_plots.ts";

const SCRIPT = "batch_normalization";
const SECTIONS = ["checks", "baseline", "weight-init", "batch-size"] as const;

const ctx = await startScript({
  script: SCRIPT,
  description:
    "Reproduces the cs231n 'Batch normalization' notebook on Fashion-MNIST: layer checks, a\n" +
    "6-layer net with and without batchnorm, the weight-initialization sweep and the\n" +
    "batch-size experiment for batchnorm and layernorm.",
  sections: SECTIONS,
  extra: {
    "num-train": {
      type: "string",
      default: "1000",
      value: "N",
      help: "training images for the experiments (the notebook's 1,000; quick: 200)",
      check: isInteger(1),
    },
    scales: {
      type: "string",
      default: "20",
      value: "N",
      help: "weight scales of the sweep, logspace(-4, 0, N) (quick: 4)",
      check: isInteger(2),
    },
  },
});
const { quick, seed, only, dir } = ctx;

const numTrain = ctx.int("num-train", 200);
const numScales = ctx.int("scales", 4);
const epochs = quick ? 2 : 10;

/** Markdown sections of results.md, in order. */
const report = new MarkdownReport();

const needsData = only.has("baseline") || only.has("weight-init") || only.has("batch-size");
const data = needsData
  ? await loadData(ctx, quick ? { numTraining: 1000, numValidation: 500, numTest: 0 } : {})
  : null;
/** The training images of the experiments: the first `numTrain` of the training split. */
const small = data && trainingSubset(ctx, data, numTrain, "--num-train");
const results: Record<string, unknown> = {};

if (only.has("checks")) results.checks = runChecks();
if (small && only.has("baseline")) results.baseline = await runBaseline(small);
if (small && only.has("weight-init")) results.weightInit = await runWeightInit(small);
if (small && only.has("batch-size")) results.batchSize = await runBatchSize(small);
const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  dataset: data && datasetSummary(data, numTrain),
  seed,
  about: small
    ? `data: ${small.dataset}${small.isMini ? " (mini subset)" : ""}, ` +
      `${small.XTrain.shape[0]} training images, ${small.XVal.shape[0]} validation images; ` +
      `seed ${seed}`
    : `seed ${seed}`,
}, results);
await report.write(
  dir,
  `Batch normalization (${quick ? "quick run" : "full run"})`,
  merged,
  ["checks", "baseline", "weightInit", "batchSize"],
);

// ---------------------------------------------------------------------------------------

/** numpy's `logspace(start, stop, num)`: `10 ** linspace(start, stop, num)`. */
function logspace(start: number, stop: number, num: number): number[] {
  return [...Tensor.linspace(start, stop, num).data].map((e) => 10 ** e);
}

// ---------------------------------------------------------------------------------- checks

/** Mean and (biased) std of each column, as the notebook's `print_mean_std`. */
function columnMeanStd(t: Tensor): { means: number[]; stds: number[] } {
  const mean = t.mean(0);
  const std = t.sub(mean).square().mean(0).sqrt();
  return {
    means: [...mean.data].map((v) => round(v, 4)),
    stds: [...std.data].map((v) => round(v, 4)),
  };
}

/** The notebook's numeric checks of the layers. */
function runChecks(): Record<string, unknown> {
  section("Layer checks (float64, the notebook's sizes)");
  report.begin("checks");
  const rng = new Rng(seed);
  const [N, D1, D2, D3] = [200, 50, 60, 3];
  const W1 = Tensor.randn([D1, D2], rng), W2 = Tensor.randn([D2, D3], rng);
  const batch = () => reluForward(Tensor.randn([N, D1], rng).matmul(W1))[0].matmul(W2);

  const a = batch();
  const before = columnMeanStd(a);
  const [outPlain] = batchnormForward(a, Tensor.ones([D3]), Tensor.zeros([D3]), { mode: "train" });
  const gamma = Tensor.fromArray([1, 2, 3]), beta = Tensor.fromArray([11, 12, 13]);
  const [outScaled] = batchnormForward(a, gamma, beta, { mode: "train" });
  const bnParam: BatchnormParam = { mode: "train" };
  for (let i = 0; i < 50; i++) {
    batchnormForward(batch(), Tensor.ones([D3]), Tensor.zeros([D3]), bnParam);
  }
  bnParam.mode = "test";
  const [outTest] = batchnormForward(batch(), Tensor.ones([D3]), Tensor.zeros([D3]), bnParam);
  const stats = {
    beforeBatchnorm: before,
    trainGamma1Beta0: columnMeanStd(outPlain),
    trainGamma123Beta111213: columnMeanStd(outScaled),
    testAfter50TrainPasses: columnMeanStd(outTest),
  };
  const fmt = (
    s: { means: number[]; stds: number[] },
  ) => [s.means.map((v) => v.toFixed(3)).join(", "), s.stds.map((v) => v.toFixed(3)).join(", ")];
  report.table(
    "Batchnorm forward statistics (N=200, D=3)",
    ["output", "column means", "column stds"],
    [
      ["before batchnorm", ...fmt(stats.beforeBatchnorm)],
      ["train, gamma 1, beta 0", ...fmt(stats.trainGamma1Beta0)],
      ["train, gamma (1,2,3), beta (11,12,13)", ...fmt(stats.trainGamma123Beta111213)],
      ["test after 50 train passes", ...fmt(stats.testAfter50TrainPasses)],
    ],
  );

  // Gradient checks: N=4, D=5, x = 5·randn + 12.
  const x = Tensor.randn([4, 5], rng).mul(5).add(12);
  const g = Tensor.randn([5], rng), b = Tensor.randn([5], rng), dout = Tensor.randn([4, 5], rng);
  const errors: Record<string, Record<string, number>> = {};
  const layers = {
    batchnormBackward: [
      (xx: Tensor, gg: Tensor, bb: Tensor) => batchnormForward(xx, gg, bb, { mode: "train" }),
      batchnormBackward,
    ],
    batchnormBackwardAlt: [
      (xx: Tensor, gg: Tensor, bb: Tensor) => batchnormForward(xx, gg, bb, { mode: "train" }),
      batchnormBackwardAlt,
    ],
    layernormBackward: [
      (xx: Tensor, gg: Tensor, bb: Tensor) => layernormForward(xx, gg, bb, {}),
      layernormBackward,
    ],
  } as const;
  for (const [name, [forward, backward]] of Object.entries(layers)) {
    const [, cache] = forward(x, g, b);
    // deno-lint-ignore no-explicit-any
    const [dx, dgamma, dbeta] = (backward as any)(dout, cache) as Tensor[];
    errors[name] = {
      dx: relError(dx, evalNumericalGradientArray((t) => forward(t, g, b)[0], x, dout)),
      dgamma: relError(dgamma, evalNumericalGradientArray((t) => forward(x, t, b)[0], g, dout)),
      dbeta: relError(dbeta, evalNumericalGradientArray((t) => forward(x, g, t)[0], b, dout)),
    };
  }
  report.table(
    "Gradient checks (relative error, N=4, D=5)",
    ["backward", "dx", "dgamma", "dbeta"],
    Object.entries(errors).map(([k, e]) => [
      k,
      e.dx.toExponential(2),
      e.dgamma.toExponential(2),
      e.dbeta.toExponential(2),
    ]),
  );

  // The notebook times both backward forms on N=100, D=500 (one run, median of several).
  const xs = Tensor.randn([100, 500], rng).mul(5).add(12);
  const gs = Tensor.randn([500], rng), bs = Tensor.randn([500], rng);
  const douts = Tensor.randn([100, 500], rng);
  const [, cache] = batchnormForward(xs, gs, bs, { mode: "train" });
  const [dx1] = batchnormBackward(douts, cache);
  const [dx2] = batchnormBackwardAlt(douts, cache);
  const median = (f: () => void) => {
    for (let i = 0; i < 200; i++) f();
    const times: number[] = [];
    for (let i = 0; i < 101; i++) {
      const t0 = performance.now();
      f();
      times.push(performance.now() - t0);
    }
    return times.sort((p, q) => p - q)[50];
  };
  const graphMs = median(() => batchnormBackward(douts, cache));
  const altMs = median(() => batchnormBackwardAlt(douts, cache));
  const timing = {
    dxDifference: relError(dx1, dx2),
    graphMs: round(graphMs, 4),
    altMs: round(altMs, 4),
    speedup: round(graphMs / altMs, 2),
  };
  report.table(
    "Backward forms (N=100, D=500, float64)",
    ["form", "median ms"],
    [["computation graph", timing.graphMs], ["closed form (alt)", timing.altMs]],
    `dx relative difference ${timing.dxDifference.toExponential(2)}; speed-up ` +
      `${timing.speedup}×. See bench/normalization_bench.ts for the benchmark.`,
  );
  return { forwardStatistics: stats, gradientErrors: errors, backwardTiming: timing };
}

// ---------------------------------------------------------------------------------- training

interface RunResult {
  solver: Solver;
  seconds: number;
  /** Set when the loss became NaN or infinite and training stopped early. */
  diverged?: string;
}

/** Trains a FullyConnectedNet on `d`; a run whose loss diverges is reported, not fatal. */
function train(
  d: DataSplits,
  model: { hiddenDims: number[]; weightScale: number; normalization: Normalization },
  solverOptions: { learningRate: number; batchSize: number; numEpochs: number; verbose: boolean },
): RunResult {
  const net = new FullyConnectedNet({
    hiddenDims: model.hiddenDims,
    inputDim: d.XTrain.size / d.XTrain.shape[0],
    weightScale: model.weightScale,
    normalization: model.normalization,
    rng: new Rng(seed),
  });
  const solver = new Solver(net, d, {
    updateRule: "adam",
    optimConfig: { learningRate: solverOptions.learningRate },
    batchSize: solverOptions.batchSize,
    numEpochs: solverOptions.numEpochs,
    printEvery: 100,
    verbose: solverOptions.verbose,
    rng: new Rng(seed),
  });
  const t0 = performance.now();
  let diverged: string | undefined;
  try {
    solver.train();
  } catch (e) {
    if (!(e instanceof Error) || !/loss became/.test(e.message)) throw e;
    diverged = e.message;
  }
  return { solver, seconds: (performance.now() - t0) / 1000, diverged };
}

/** A 6-layer net with and without batchnorm (the notebook's first experiment). */
async function runBaseline(small: DataSplits): Promise<Record<string, unknown>> {
  report.begin("baseline");
  section(
    `6-layer net, hidden [100 x 5], ${small.XTrain.shape[0]} images, ${epochs} epochs, ` +
      "with and without batchnorm",
  );
  const runs: Record<string, RunResult> = {};
  for (const normalization of ["batchnorm", null] as const) {
    const name = normalization ?? "baseline";
    console.log(`Training the ${name} net`);
    runs[name] = train(
      small,
      { hiddenDims: [100, 100, 100, 100, 100], weightScale: 2e-2, normalization },
      { learningRate: 1e-3, batchSize: 50, numEpochs: epochs, verbose: true },
    );
  }
  await writeTrainingCurves(
    dir,
    "batchnorm_vs_baseline",
    "6-layer net with and without batchnorm",
    Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.solver])),
  );
  const out: Record<string, unknown> = {};
  const rows: (string | number)[][] = [];
  for (const [name, r] of Object.entries(runs)) {
    const s = r.solver;
    const summary = {
      finalLoss: last(s.lossHistory),
      finalTrainAcc: last(s.trainAccHistory),
      finalValAcc: last(s.valAccHistory),
      bestValAcc: s.bestValAcc,
      trainAccHistory: s.trainAccHistory,
      valAccHistory: s.valAccHistory,
      seconds: round(r.seconds, 1),
      diverged: r.diverged ?? null,
    };
    out[name] = summary;
    rows.push([
      name,
      summary.finalLoss.toFixed(3),
      summary.finalTrainAcc.toFixed(3),
      summary.finalValAcc.toFixed(3),
      summary.bestValAcc.toFixed(3),
      summary.seconds,
    ]);
  }
  report.table(
    "6-layer net with and without batchnorm",
    ["net", "final loss", "final train acc", "final val acc", "best val acc", "seconds"],
    rows,
    `Hidden [100 × 5], weight scale 2e-2, Adam lr 1e-3, batch 50, ${epochs} epochs. ` +
      "Curves: batchnorm_vs_baseline.svg.",
  );
  return out;
}

/** The weight-initialization sweep: 8-layer nets with and without batchnorm. */
async function runWeightInit(small: DataSplits): Promise<Record<string, unknown>> {
  report.begin("weightInit");
  const scales = logspace(-4, 0, numScales);
  section(
    `Weight-initialization sweep: 8-layer net, hidden [50 x 7], ${numScales} scales ` +
      `logspace(-4, 0), ${small.XTrain.shape[0]} images, ${epochs} epochs`,
  );
  const series: Record<string, { bestTrain: number[]; bestVal: number[]; finalLoss: number[] }> =
    {};
  const rows: (string | number)[][] = [];
  const diverged: string[] = [];
  const t0 = performance.now();
  for (const normalization of ["batchnorm", null] as const) {
    const name = normalization ?? "baseline";
    series[name] = { bestTrain: [], bestVal: [], finalLoss: [] };
    for (const [i, weightScale] of scales.entries()) {
      const r = train(
        small,
        { hiddenDims: [50, 50, 50, 50, 50, 50, 50], weightScale, normalization },
        { learningRate: 1e-3, batchSize: 50, numEpochs: epochs, verbose: false },
      );
      const s = r.solver;
      // The notebook's summaries: best accuracies and the mean of the last 100 losses.
      const tail = s.lossHistory.slice(-100);
      const finalLoss = r.diverged || tail.length === 0
        ? NaN
        : tail.reduce((p, q) => p + q, 0) / tail.length;
      const bestTrain = s.trainAccHistory.length ? Math.max(...s.trainAccHistory) : NaN;
      const bestVal = s.valAccHistory.length ? Math.max(...s.valAccHistory) : NaN;
      series[name].bestTrain.push(bestTrain);
      series[name].bestVal.push(bestVal);
      series[name].finalLoss.push(finalLoss);
      if (r.diverged) diverged.push(`${name} at scale ${weightScale.toExponential(2)}`);
      console.log(
        `${name.padEnd(9)} scale ${i + 1}/${scales.length} = ${weightScale.toExponential(2)}: ` +
          `best train ${bestTrain.toFixed(3)}, best val ${bestVal.toFixed(3)}, ` +
          `final loss ${Number.isNaN(finalLoss) ? "diverged" : finalLoss.toFixed(3)}`,
      );
    }
  }
  for (const [i, scale] of scales.entries()) {
    const bn = series.batchnorm, base = series.baseline;
    const f = (v: number) => (Number.isNaN(v) ? "—" : v.toFixed(3));
    rows.push([
      scale.toExponential(2),
      f(base.bestTrain[i]),
      f(bn.bestTrain[i]),
      f(base.bestVal[i]),
      f(bn.bestVal[i]),
      f(base.finalLoss[i]),
      f(bn.finalLoss[i]),
    ]);
  }
  const panel = (title: string, yLabel: string, key: "bestTrain" | "bestVal" | "finalLoss") => ({
    title,
    xLabel: "Weight initialization scale",
    yLabel,
    logX: true,
    // A diverged net's loss (1e7) would flatten every other curve on a linear axis.
    logY: key === "finalLoss",
    series: Object.entries(series).map(([name, s]): PlotSeries => ({
      name,
      x: scales,
      y: s[key],
      style: "both",
    })),
  });
  const path = join(dir, "weight_init.svg");
  await writeSvg(
    path,
    figure([
      panel(
        "Best validation accuracy vs weight initialization scale",
        "Best val accuracy",
        "bestVal",
      ),
      panel(
        "Best training accuracy vs weight initialization scale",
        "Best train accuracy",
        "bestTrain",
      ),
      panel(
        "Final training loss vs weight initialization scale",
        "Final training loss",
        "finalLoss",
      ),
    ], { title: "8-layer net: weight initialization with and without batchnorm" }),
  );
  console.log(`Wrote ${path}`);
  // Headline: over how many decades of scale each net learns something (best val > 0.5).
  const learns = (name: string) =>
    scales.filter((_, i) => series[name].bestVal[i] > 0.5).map((s) => s.toExponential(1));
  const headline = {
    scalesWhereValAbove50: { batchnorm: learns("batchnorm"), baseline: learns("baseline") },
    bestValBatchnorm: Math.max(...series.batchnorm.bestVal.filter((v) => !Number.isNaN(v))),
    bestValBaseline: Math.max(...series.baseline.bestVal.filter((v) => !Number.isNaN(v))),
  };
  report.table(
    "Weight-initialization sweep (8-layer net, hidden [50 × 7])",
    [
      "scale",
      "best train (base)",
      "best train (BN)",
      "best val (base)",
      "best val (BN)",
      "final loss (base)",
      "final loss (BN)",
    ],
    rows,
    `Adam lr 1e-3, batch 50, ${epochs} epochs per scale. Best val > 0.5 at ` +
      `${headline.scalesWhereValAbove50.batchnorm.length}/${numScales} scales with batchnorm, ` +
      `${headline.scalesWhereValAbove50.baseline.length}/${numScales} without.` +
      (diverged.length ? ` Diverged (loss not finite): ${diverged.join("; ")}.` : "") +
      " Plot: weight_init.svg.",
  );
  return {
    scales,
    ...series,
    diverged,
    headline,
    seconds: round((performance.now() - t0) / 1000, 1),
  };
}

/** Batch sizes 5, 10, 50 with a normalization, against a batch-10 baseline without. */
async function runBatchSize(small: DataSplits): Promise<Record<string, unknown>> {
  report.begin("batchSize");
  const batchSizes = [5, 10, 50];
  const out: Record<string, unknown> = {};
  for (const normalization of ["batchnorm", "layernorm"] as const) {
    section(
      `Batch size and ${normalization}: 6-layer net, ${small.XTrain.shape[0]} images, ` +
        `${epochs} epochs, lr 10^-3.5`,
    );
    const runs: [string, RunResult][] = [];
    const options = (batchSize: number) => ({
      learningRate: 10 ** -3.5,
      batchSize,
      numEpochs: epochs,
      verbose: false,
    });
    const net = (norm: Normalization) => ({
      hiddenDims: [100, 100, 100, 100, 100],
      weightScale: 2e-2,
      normalization: norm,
    });
    runs.push(["baseline, batch 10", train(small, net(null), options(10))]);
    for (const b of batchSizes) {
      runs.push([`${normalization}, batch ${b}`, train(small, net(normalization), options(b))]);
    }
    const rows: (string | number)[][] = [];
    const summary: Record<string, unknown> = {};
    for (const [name, r] of runs) {
      const s = r.solver;
      console.log(
        `${name}: final train ${last(s.trainAccHistory).toFixed(3)}, best val ` +
          `${s.bestValAcc.toFixed(3)} (${r.seconds.toFixed(1)} s)`,
      );
      rows.push([
        name,
        last(s.trainAccHistory).toFixed(3),
        last(s.valAccHistory).toFixed(3),
        s.bestValAcc.toFixed(3),
        r.seconds.toFixed(1),
      ]);
      summary[name] = {
        finalTrainAcc: last(s.trainAccHistory),
        finalValAcc: last(s.valAccHistory),
        bestValAcc: s.bestValAcc,
        trainAccHistory: s.trainAccHistory,
        valAccHistory: s.valAccHistory,
        diverged: r.diverged ?? null,
      };
    }
    const panel = (title: string, key: "trainAccHistory" | "valAccHistory") => ({
      title,
      xLabel: "Epoch",
      yLabel: "Accuracy",
      integerX: true,
      series: runs.map(([name, r]): PlotSeries => ({
        name,
        y: r.solver[key],
        style: "both",
      })),
    });
    const path = join(dir, `batch_size_${normalization}.svg`);
    await writeSvg(
      path,
      figure([
        panel(`Training accuracy (${normalization})`, "trainAccHistory"),
        panel(`Validation accuracy (${normalization})`, "valAccHistory"),
      ], { title: `Effect of batch size on ${normalization}` }),
    );
    console.log(`Wrote ${path}`);
    report.table(
      `Batch size and ${normalization}`,
      ["run", "final train acc", "final val acc", "best val acc", "seconds"],
      rows,
      `Hidden [100 × 5], weight scale 2e-2, Adam lr 10^-3.5, ${epochs} epochs. ` +
        `Plot: batch_size_${normalization}.svg.`,
    );
    out[normalization] = summary;
  }
  return out;
}

/**
 * cs231n assignment 2, "Dropout", on real data (Fashion-MNIST by default):
 *
 * 1. checks: dropout's train/test output statistics, its gradient check, and the gradient
 *    check of a FullyConnectedNet with dropout (keep ratios 1, 0.75, 0.5; seed 123);
 * 2. the regularization experiment: 500 training images, one hidden layer of 500 units,
 *    keep ratios 1 and 0.25, train and validation accuracy per epoch;
 * 3. a finer sweep of keep ratios, reporting the train–validation gap in numbers.
 *
 * Outputs go to `out/dropout/` (SVG plots, results.json, results.md).
 *
 * @module
 */

import { join } from "node:path";
import {
  evalNumericalGradient,
  evalNumericalGradientArray,
  relError,
} from "../lib/gradient_check.ts";
import { dropoutBackward, dropoutForward } from "../lib/layers/dropout.ts";
import { FullyConnectedNet } from "../lib/models/fc_net.ts";
import { Rng, setSeed } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import type { DataSplits } from "../lib/data/preprocess.ts";
import { Tensor } from "../lib/tensor.ts";
import { figure, type PlotSeries, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  isInteger,
  isListOf,
  isNumber,
  last,
  listFlag,
  loadData,
  MarkdownReport,
  section,
  startScript,
  trainingSubset,
  writeResults,
} from "./_cli.ts";

const SCRIPT = "dropout";
const SECTIONS = ["checks", "regularization", "sweep"] as const;

const ctx = await startScript({
  script: SCRIPT,
  description: "Reproduces the cs231n 'Dropout' notebook on Fashion-MNIST: layer checks, the\n" +
    "regularization experiment (keep ratios 1 and 0.25) and a finer sweep of keep ratios.",
  sections: SECTIONS,
  extra: {
    "num-train": {
      type: "string",
      default: "500",
      value: "N",
      help: "training images (the notebook's 500; quick: 200)",
      check: isInteger(1),
    },
    epochs: {
      type: "string",
      default: "25",
      value: "N",
      help: "epochs per run (notebook: 25; quick: 3)",
      check: isInteger(1),
    },
    ratios: {
      type: "string",
      default: "1,0.9,0.75,0.5,0.25,0.1",
      value: "LIST",
      help: "keep ratios of the sweep (quick: 1,0.5,0.25)",
      check: isListOf(isNumber({ above: 0, atMost: 1 })),
    },
    repeats: {
      type: "string",
      default: "3",
      value: "N",
      help: "seeds per keep ratio in the sweep (seed, seed+1, ...); results are averaged " +
        "(quick: 2)",
      check: isInteger(1),
    },
  },
});
const { flags, quick, seed, only, dir } = ctx;

const numTrain = ctx.int("num-train", 200);
const epochs = ctx.int("epochs", 3);
const sweepRatios = quick && !ctx.given.has("ratios") ? [1, 0.5, 0.25] : listFlag(flags, "ratios");
const repeats = ctx.int("repeats", 2);
const report = new MarkdownReport();

const needsData = only.has("regularization") || only.has("sweep");
const data = needsData
  ? await loadData(ctx, quick ? { numTraining: 1000, numValidation: 500, numTest: 0 } : {})
  : null;
/** The training images of both experiments: the first `numTrain` of the training split. */
const small = data && trainingSubset(ctx, data, numTrain, "--num-train");
const results: Record<string, unknown> = {};

/** Every trained run by keep ratio and seed, shared by the two training sections. */
const runs = new Map<string, Solver>();

if (only.has("checks")) results.checks = runChecks();
if (small && only.has("regularization")) results.regularization = await runRegularization(small);
if (small && only.has("sweep")) results.sweep = runSweep(small);
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
  `Dropout (${quick ? "quick run" : "full run"})`,
  merged,
  ["checks", "regularization", "sweep"],
);

// ---------------------------------------------------------------------------------------

function meanOf(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += v;
  return s / t.size;
}

// ---------------------------------------------------------------------------------- checks

/** The notebook's checks of the dropout layer and of a net using it. */
function runChecks(): Record<string, unknown> {
  section("Dropout checks (float64, the notebook's sizes)");
  report.begin("checks");
  const rng = new Rng(seed);
  const x = Tensor.randn([500, 500], rng).add(10);
  const forwardRows: (string | number)[][] = [];
  const forward: Record<string, unknown>[] = [];
  for (const p of [0.25, 0.4, 0.7]) {
    const [outTrain] = dropoutForward(x, { mode: "train", p, seed: 123 });
    const [outTest] = dropoutForward(x, { mode: "test", p, seed: 123 });
    let zeros = 0;
    for (const v of outTrain.data) if (v === 0) zeros++;
    const row = {
      p,
      inputMean: meanOf(x),
      trainMean: meanOf(outTrain),
      testMean: meanOf(outTest),
      trainZeroFraction: zeros / outTrain.size,
    };
    forward.push(row);
    forwardRows.push([
      p,
      row.inputMean.toFixed(4),
      row.trainMean.toFixed(4),
      row.testMean.toFixed(4),
      row.trainZeroFraction.toFixed(4),
    ]);
  }
  report.table(
    "Dropout forward statistics (x = randn(500, 500) + 10)",
    ["keep p", "input mean", "train output mean", "test output mean", "fraction zeroed (train)"],
    forwardRows,
  );

  const xs = Tensor.randn([10, 10], rng).add(10);
  const dout = Tensor.randn([10, 10], rng);
  const param = { mode: "train" as const, p: 0.2, seed: 123 };
  const [, cache] = dropoutForward(xs, param);
  const dx = dropoutBackward(dout, cache);
  const dxNum = evalNumericalGradientArray((t) => dropoutForward(t, param)[0], xs, dout);
  const backwardError = relError(dx, dxNum);
  console.log(`\ndropoutBackward dx relative error: ${backwardError.toExponential(2)}`);

  // A FullyConnectedNet with dropout (N=2, D=15, hidden [20, 30], C=10, seed 123).
  const [N, D, C] = [2, 15, 10];
  const X = Tensor.randn([N, D], rng);
  const y = Int32Array.from({ length: N }, () => rng.randint(C));
  const netRows: (string | number)[][] = [];
  const nets: Record<string, unknown> = {};
  for (const keep of [1, 0.75, 0.5]) {
    const model = new FullyConnectedNet({
      hiddenDims: [20, 30],
      inputDim: D,
      numClasses: C,
      weightScale: 5e-2,
      dtype: "float64",
      dropoutKeepRatio: keep,
      seed: 123,
      rng,
    });
    const [loss, grads] = model.loss(X, y);
    let worst = 0;
    for (const name of Object.keys(model.params)) {
      const numeric = evalNumericalGradient(() => model.loss(X, y)[0], model.params[name]);
      worst = Math.max(worst, relError(numeric, grads[name]));
    }
    nets[`keep=${keep}`] = { initialLoss: loss, maxRelativeError: worst };
    netRows.push([keep, loss.toFixed(4), worst.toExponential(2)]);
  }
  report.table(
    "FullyConnectedNet with dropout: initial loss and gradient check",
    ["keep ratio", "initial loss", "max relative error"],
    netRows,
    `N=2, D=15, hidden [20, 30], C=10, float64, seed 123. dropoutBackward alone: dx relative ` +
      `error ${backwardError.toExponential(2)}.`,
  );
  return { forward, backwardError, fcNet: nets };
}

// ---------------------------------------------------------------------------------- training

function trainWithKeep(d: DataSplits, keep: number, runSeed = seed): Solver {
  const key = `${keep}/${runSeed}`;
  const cached = runs.get(key);
  if (cached) return cached;
  // The notebook's settings: default weight scale 1e-2, Adam lr 5e-4, batch 100.
  const model = new FullyConnectedNet({
    hiddenDims: [500],
    inputDim: d.XTrain.size / d.XTrain.shape[0],
    dropoutKeepRatio: keep,
    rng: new Rng(runSeed),
  });
  const solver = new Solver(model, d, {
    updateRule: "adam",
    optimConfig: { learningRate: 5e-4 },
    batchSize: 100,
    numEpochs: epochs,
    printEvery: 100,
    verbose: false,
    rng: new Rng(runSeed),
  });
  // The masks come from the global generator (a model `seed` would freeze one mask for the
  // whole run): reseed it per run, so a run's result does not depend on the runs before it.
  setSeed(runSeed);
  const t0 = performance.now();
  solver.train();
  console.log(
    `keep ${keep}, seed ${runSeed}: final train ${
      last(solver.trainAccHistory).toFixed(3)
    }, final val ` +
      `${last(solver.valAccHistory).toFixed(3)}, best val ${solver.bestValAcc.toFixed(3)} ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  runs.set(key, solver);
  return solver;
}

function summarize(s: Solver): Record<string, number> {
  const finalTrain = last(s.trainAccHistory), finalVal = last(s.valAccHistory);
  return {
    finalTrainAcc: finalTrain,
    finalValAcc: finalVal,
    bestValAcc: s.bestValAcc,
    gap: finalTrain - finalVal,
    finalLoss: last(s.lossHistory),
  };
}

/** Keep ratios 1 and 0.25 on 500 images: the notebook's regularization experiment. */
async function runRegularization(d: DataSplits): Promise<Record<string, unknown>> {
  section(
    `Regularization experiment: hidden [500], ${d.XTrain.shape[0]} ` +
      `images, ${epochs} epochs, keep ratios 1 and 0.25`,
  );
  report.begin("regularization");
  const keeps = [1, 0.25];
  const solvers = keeps.map((k) => trainWithKeep(d, k));
  const panel = (title: string, key: "trainAccHistory" | "valAccHistory") => ({
    title,
    xLabel: "Epoch",
    yLabel: "Accuracy",
    integerX: true,
    series: solvers.map((s, i): PlotSeries => ({
      name: `${keeps[i].toFixed(2)} dropout keep ratio`,
      y: s[key],
      style: "both",
    })),
  });
  const path = join(dir, "regularization.svg");
  await writeSvg(
    path,
    figure([panel("Train accuracy", "trainAccHistory"), panel("Val accuracy", "valAccHistory")], {
      title: `Dropout as regularization: ${d.XTrain.shape[0]} training images, hidden [500]`,
    }),
  );
  console.log(`Wrote ${path}`);
  const out: Record<string, unknown> = {};
  const rows: (string | number)[][] = [];
  for (const [i, s] of solvers.entries()) {
    const sum = summarize(s);
    out[`keep=${keeps[i]}`] = {
      ...sum,
      trainAccHistory: s.trainAccHistory,
      valAccHistory: s.valAccHistory,
    };
    rows.push([
      keeps[i],
      sum.finalTrainAcc.toFixed(3),
      sum.finalValAcc.toFixed(3),
      sum.bestValAcc.toFixed(3),
      sum.gap.toFixed(3),
    ]);
  }
  report.table(
    "Regularization experiment (keep ratios 1 and 0.25)",
    ["keep ratio", "final train acc", "final val acc", "best val acc", "train − val gap"],
    rows,
    `Hidden [500], weight scale 1e-2, Adam lr 5e-4, batch 100, ${epochs} epochs. ` +
      "Plot: regularization.svg.",
  );
  return out;
}

/**
 * A finer sweep of keep ratios with the same setup, each trained with `repeats` seeds
 * (weights, minibatches and masks all change with the seed): on 500 images a single run's
 * validation accuracy moves by about a percent from seed to seed, as much as the effect.
 */
function runSweep(d: DataSplits): Record<string, unknown> {
  section(`Keep-ratio sweep: ${sweepRatios.join(", ")}; ${repeats} seeds each`);
  report.begin("sweep");
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown> = {};
  const stats = (values: number[]) => {
    const mean = values.reduce((p, q) => p + q, 0) / values.length;
    const variance = values.reduce((p, q) => p + (q - mean) ** 2, 0) / values.length;
    return { mean, std: Math.sqrt(variance) };
  };
  const fmt = ({ mean, std }: { mean: number; std: number }) =>
    repeats > 1 ? `${mean.toFixed(3)} ± ${std.toFixed(3)}` : mean.toFixed(3);
  for (const keep of sweepRatios) {
    const summaries = Array.from(
      { length: repeats },
      (_, r) => summarize(trainWithKeep(d, keep, seed + r)),
    );
    const field = (k: string) => stats(summaries.map((s) => s[k]));
    const entry = {
      finalTrainAcc: field("finalTrainAcc"),
      finalValAcc: field("finalValAcc"),
      bestValAcc: field("bestValAcc"),
      gap: field("gap"),
      seeds: summaries,
    };
    out[`keep=${keep}`] = entry;
    rows.push([
      keep,
      fmt(entry.finalTrainAcc),
      fmt(entry.finalValAcc),
      fmt(entry.bestValAcc),
      fmt(entry.gap),
    ]);
  }
  report.table(
    "Keep-ratio sweep",
    ["keep ratio", "final train acc", "final val acc", "best val acc", "train − val gap"],
    rows,
    `Mean ± standard deviation over seeds ${seed}..${seed + repeats - 1}, ${epochs} epochs ` +
      "each. The gap between training and validation accuracy measures overfitting: " +
      "dropout should narrow it.",
  );
  return out;
}

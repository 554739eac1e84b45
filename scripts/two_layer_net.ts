/**
 * cs231n assignment 1, "Fully-connected Neural Nets" (two_layer_net), on Fashion-MNIST:
 *
 * 1. checks: the affine, ReLU and affine–ReLU layers, the SVM and softmax losses, and
 *    TwoLayerNet (N = 3, D = 5, H = 50, C = 7) against numerical gradients (float64);
 * 2. search: hidden size × learning rate × regularization on a training subset, judged on
 *    the validation set (the table is printed);
 * 3. train: the best setting on the full training set with the Solver (Adam, learning-rate
 *    decay), loss and accuracy curves, the first-layer weights as images, test accuracy.
 *
 * Outputs go to `out/two_layer_net/` (train.svg, W1.png, results.json, results.md).
 *
 * @module
 */

import { join } from "node:path";
import type { DataSplits } from "../lib/data/preprocess.ts";
import {
  evalNumericalGradient,
  evalNumericalGradientArray,
  relError,
} from "../lib/gradient_check.ts";
import { affineBackward, affineForward } from "../lib/layers/affine.ts";
import { affineReluBackward, affineReluForward } from "../lib/layers/affine_relu.ts";
import { softmaxLoss, svmLoss } from "../lib/layers/losses.ts";
import { reluBackward, reluForward } from "../lib/layers/relu.ts";
import { TwoLayerNet } from "../lib/models/two_layer_net.ts";
import { defaultNumThreads, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
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
import { writeFirstLayerWeights, writeTrainingCurves } from "./_plots.ts";

const SCRIPT = "two_layer_net";
const SECTIONS = ["checks", "search", "train"] as const;

const ctx = await startScript({
  script: SCRIPT,
  description: "Reproduces the cs231n two-layer net notebook (assignment 1) on Fashion-MNIST:\n" +
    "layer and model gradient checks, a hyperparameter search, and the best net trained\n" +
    "with the Solver on the full training set.",
  sections: SECTIONS,
  extra: {
    "search-train": {
      type: "string",
      default: "10000",
      value: "N",
      help: "training images of each search run (quick: 1000)",
      check: isInteger(1),
    },
    "search-epochs": {
      type: "string",
      default: "5",
      value: "N",
      help: "epochs per search run (quick: 1)",
      check: isInteger(1),
    },
    hiddens: {
      type: "string",
      default: "100,500",
      value: "LIST",
      help: "hidden sizes searched (quick: 50)",
      check: isListOf(isInteger(1)),
    },
    lrs: {
      type: "string",
      default: "5e-4,2e-3",
      value: "LIST",
      help: "Adam rates searched (quick: 1e-3)",
      check: isListOf(isNumber({ above: 0 })),
    },
    regs: {
      type: "string",
      default: "0,0.01",
      value: "LIST",
      help: "L2 strengths searched (quick: 0,0.01)",
      check: isListOf(isNumber({ atLeast: 0 })),
    },
    epochs: {
      type: "string",
      default: "15",
      value: "N",
      help: "epochs of the final training (quick: 2)",
      check: isInteger(1),
    },
    "lr-decay": {
      type: "string",
      default: "0.9",
      value: "X",
      help: "decay per epoch (final)",
      check: isNumber({ above: 0, atMost: 1 }),
    },
    "batch-size": {
      type: "string",
      default: "200",
      value: "N",
      help: "minibatch size",
      check: isInteger(1),
    },
    "weight-scale": {
      type: "string",
      default: "1e-3",
      value: "X",
      help: "init std",
      check: isNumber({ above: 0 }),
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
const list = (name: string, quickValue: number[]) =>
  quick && !ctx.given.has(name) ? quickValue : listFlag(flags, name);
const hiddens = list("hiddens", [50]);
const lrs = list("lrs", [1e-3]);
const regs = list("regs", [0, 0.01]);
const searchTrain = ctx.int("search-train", 1000);
const searchEpochs = ctx.int("search-epochs", 1);
const epochs = ctx.int("epochs", 2);
const lrDecay = ctx.number("lr-decay");
const batchSize = ctx.int("batch-size");
const weightScale = ctx.number("weight-scale");
const report = new MarkdownReport();

const needsData = only.has("search") || only.has("train");
const data = needsData
  ? await loadData(ctx, quick ? { numTraining: 1500, numValidation: 500, numTest: 500 } : {})
  : null;
const inputDim = data ? data.XTrain.size / data.XTrain.shape[0] : 0;
const results: Record<string, unknown> = {};

if (only.has("checks")) results.checks = runChecks();
let best = { hiddenDim: hiddens[0], learningRate: lrs[0], reg: regs[0] };
if (data && only.has("search")) {
  const search = runSearch(data);
  results.search = search;
  best = search.best;
}
if (data && only.has("train")) results.train = await runTrain(data, best);
const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  dataset: data && datasetSummary(data),
  seed,
  threads,
  about: data
    ? `data: ${data.dataset}${data.isMini ? " (mini subset)" : ""}, ${data.yTrain.length} ` +
      `training, ${data.yVal.length} validation, ${data.yTest.length} test images; seed ${seed}`
    : `seed ${seed}`,
}, results);
await report.write(
  dir,
  `Two-layer net (${quick ? "quick run" : "full run"})`,
  merged,
  ["checks", "search", "train"],
);
Deno.exit(0);

// ---------------------------------------------------------------------------------- checks

/** The notebook's layer and model checks, in float64. */
function runChecks(): Record<string, number> {
  section("Layers, losses and TwoLayerNet against numerical gradients (float64)");
  report.begin("checks");
  const rng = new Rng(seed);
  const errors: Record<string, number> = {};
  const put = (name: string, value: number) => {
    errors[name] = value;
    console.log(`${name}: ${value.toExponential(2)}`);
  };

  // Affine forward on the notebook's linspace inputs, against a plain double loop.
  {
    const x = Tensor.linspace(-0.1, 0.5, 2 * 120).reshape([2, 4, 5, 6]);
    const w = Tensor.linspace(-0.2, 0.3, 120 * 3).reshape([120, 3]);
    const b = Tensor.linspace(-0.3, 0.1, 3);
    const [out] = affineForward(x, w, b);
    const expected = Tensor.zeros([2, 3]).map((_, i) => {
      const n = Math.floor(i / 3), m = i % 3;
      let s = b.data[m];
      for (let d = 0; d < 120; d++) s += x.data[n * 120 + d] * w.data[d * 3 + m];
      return s;
    });
    put("affine forward: out", relError(out, expected));
  }
  {
    const x = Tensor.randn([10, 2, 3], rng), w = Tensor.randn([6, 5], rng);
    const b = Tensor.randn([5], rng), dout = Tensor.randn([10, 5], rng);
    const [, cache] = affineForward(x, w, b);
    const [dx, dw, db] = affineBackward(dout, cache);
    put(
      "affine backward: dx",
      relError(dx, evalNumericalGradientArray((t) => affineForward(t, w, b)[0], x, dout)),
    );
    put(
      "affine backward: dw",
      relError(dw, evalNumericalGradientArray((t) => affineForward(x, t, b)[0], w, dout)),
    );
    put(
      "affine backward: db",
      relError(db, evalNumericalGradientArray((t) => affineForward(x, w, t)[0], b, dout)),
    );
  }
  {
    const x = Tensor.linspace(-0.5, 0.5, 12).reshape([3, 4]);
    const [out] = reluForward(x);
    put("relu forward: out", relError(out, x.maximum(0)));
    const xr = Tensor.randn([10, 10], rng), dout = Tensor.randn([10, 10], rng);
    const [, cache] = reluForward(xr);
    put(
      "relu backward: dx",
      relError(
        reluBackward(dout, cache),
        evalNumericalGradientArray((t) => reluForward(t)[0], xr, dout),
      ),
    );
  }
  {
    const x = Tensor.randn([2, 3, 4], rng), w = Tensor.randn([12, 10], rng);
    const b = Tensor.randn([10], rng), dout = Tensor.randn([2, 10], rng);
    const [, cache] = affineReluForward(x, w, b);
    const [dx, dw, db] = affineReluBackward(dout, cache);
    put(
      "affine-relu: dx",
      relError(dx, evalNumericalGradientArray((t) => affineReluForward(t, w, b)[0], x, dout)),
    );
    put(
      "affine-relu: dw",
      relError(dw, evalNumericalGradientArray((t) => affineReluForward(x, t, b)[0], w, dout)),
    );
    put(
      "affine-relu: db",
      relError(db, evalNumericalGradientArray((t) => affineReluForward(x, w, t)[0], b, dout)),
    );
  }
  {
    const [N, C] = [50, 10];
    const x = Tensor.randn([N, C], rng).mul(0.001);
    const y = Int32Array.from({ length: N }, () => rng.randint(C));
    for (const [name, fn] of [["svm", svmLoss], ["softmax", softmaxLoss]] as const) {
      const [loss, dx] = fn(x, y);
      errors[`${name} loss: value`] = loss;
      console.log(`${name} loss: ${loss.toFixed(6)} (expected about ${name === "svm" ? 9 : 2.3})`);
      put(`${name} loss: dx`, relError(dx, evalNumericalGradient((t) => fn(t, y)[0], x)));
    }
  }
  {
    const [N, D, H, C] = [3, 5, 50, 7];
    const X = Tensor.randn([N, D], rng);
    const y = Int32Array.from({ length: N }, () => rng.randint(C));
    const model = new TwoLayerNet({
      inputDim: D,
      hiddenDim: H,
      numClasses: C,
      weightScale: 1e-3,
      rng,
    });
    const [initialLoss] = model.loss(X, y);
    errors["TwoLayerNet weight scale 1e-3: initial loss"] = initialLoss;
    console.log(
      `TwoLayerNet initial loss ${initialLoss.toFixed(6)} (log 7 = ${Math.log(7).toFixed(6)})`,
    );
    // The notebook's deterministic parameters and inputs (numpy linspace), for which it
    // lists the expected losses 3.4702243556 (reg 0) and 26.5948426952 (reg 1).
    const lin = (a: number, b: number, shape: number[]) =>
      Tensor.linspace(a, b, shape.reduce((p, q) => p * q, 1)).reshape(shape);
    model.params.W1 = lin(-0.7, 0.3, [D, H]);
    model.params.b1 = lin(-0.1, 0.9, [H]);
    model.params.W2 = lin(-0.3, 0.4, [H, C]);
    model.params.b2 = lin(-0.9, 0.1, [C]);
    const Xlin = lin(-5.5, 4.5, [D, N]).transpose();
    const ylin = Int32Array.from([0, 5, 1]);
    for (const [reg, expected] of [[0, 3.4702243556], [1, 26.5948426952]]) {
      model.reg = reg;
      const [loss] = model.loss(Xlin, ylin);
      console.log(
        `TwoLayerNet linspace loss, reg ${reg}: ${loss.toFixed(10)} (notebook: ${expected})`,
      );
      put(
        `TwoLayerNet linspace loss, reg ${reg}: |difference| to the notebook's`,
        Math.abs(loss - expected),
      );
    }
    for (const reg of [0, 0.7]) {
      model.reg = reg;
      const [, grads] = model.loss(Xlin, ylin);
      for (const name of ["W1", "b1", "W2", "b2"]) {
        const numeric = evalNumericalGradient(() => model.loss(Xlin, ylin)[0], model.params[name]);
        put(`TwoLayerNet reg ${reg}: ${name}`, relError(numeric, grads[name]));
      }
    }
  }
  report.table(
    "Checks (relative errors against numerical gradients, float64)",
    ["check", "value"],
    Object.entries(errors).map((
      [k, v],
    ) => [k, Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(6)]),
    "Loss values are listed as they are (the SVM loss of near-zero scores is about 9, the " +
      "softmax loss about log 10 ≈ 2.3, the net's initial loss about log 7 ≈ 1.95). The net's " +
      "gradient check uses the notebook's linspace parameters and inputs (N = 3, D = 5, " +
      "H = 50, C = 7).",
  );
  return errors;
}

// ---------------------------------------------------------------------------------- search

function train(
  d: DataSplits,
  numTrain: number,
  config: { hiddenDim: number; learningRate: number; reg: number },
  numEpochs: number,
  decay: number,
  verbose: boolean,
): Solver {
  const n = Math.min(numTrain, d.yTrain.length);
  const split = { ...d, XTrain: d.XTrain.sliceRows(0, n), yTrain: d.yTrain.subarray(0, n) };
  const model = new TwoLayerNet({
    inputDim,
    hiddenDim: config.hiddenDim,
    numClasses: 10,
    weightScale,
    reg: config.reg,
    dtype: "float32",
    rng: new Rng(seed),
  });
  const solver = new Solver(model, split, {
    updateRule: "adam",
    optimConfig: { learningRate: config.learningRate },
    lrDecay: decay,
    numEpochs,
    batchSize,
    printEvery: 100,
    verbose,
    rng: new Rng(seed),
  });
  solver.train();
  return solver;
}

function runSearch(d: DataSplits) {
  const n = Math.min(searchTrain, d.yTrain.length);
  section(
    `Search: ${
      hiddens.length * lrs.length * regs.length
    } settings, ${n} images, ${searchEpochs} epochs`,
  );
  report.begin("search");
  const rows: (string | number)[][] = [];
  const runs: Record<string, number>[] = [];
  let best = { hiddenDim: hiddens[0], learningRate: lrs[0], reg: regs[0], valAcc: -1 };
  for (const hiddenDim of hiddens) {
    for (const learningRate of lrs) {
      for (const reg of regs) {
        const t0 = performance.now();
        const solver = train(d, n, { hiddenDim, learningRate, reg }, searchEpochs, 0.95, false);
        const seconds = (performance.now() - t0) / 1000;
        const trainAcc = solver.trainAccHistory.at(-1) ?? NaN;
        const valAcc = solver.bestValAcc;
        runs.push({ hiddenDim, learningRate, reg, trainAcc, valAcc, seconds: round(seconds, 1) });
        rows.push([
          hiddenDim,
          learningRate,
          reg,
          trainAcc.toFixed(3),
          valAcc.toFixed(3),
          seconds.toFixed(1),
        ]);
        console.log(
          `hidden ${hiddenDim} lr ${learningRate} reg ${reg}: train acc ${trainAcc.toFixed(3)}, ` +
            `best val acc ${valAcc.toFixed(3)} (${seconds.toFixed(1)} s)`,
        );
        if (valAcc > best.valAcc) best = { hiddenDim, learningRate, reg, valAcc };
      }
    }
  }
  report.table(
    "Hyperparameter search",
    ["hidden", "learning rate", "reg", "train acc (sampled)", "best val acc", "seconds"],
    rows,
    `Adam, batch ${batchSize}, weight scale ${weightScale}, lr decay 0.95, ${searchEpochs} ` +
      `epochs on the first ${n} training images. Best: hidden ${best.hiddenDim}, lr ` +
      `${best.learningRate}, reg ${best.reg} (val ${best.valAcc.toFixed(3)}).`,
  );
  return { numTrain: n, epochs: searchEpochs, runs, best };
}

// ----------------------------------------------------------------------------------- train

async function runTrain(
  d: DataSplits,
  config: { hiddenDim: number; learningRate: number; reg: number },
) {
  section(
    `Train: ${inputDim}-${config.hiddenDim}-10, Adam lr ${config.learningRate}, decay ${lrDecay}, ` +
      `reg ${config.reg}, ${epochs} epochs on ${d.yTrain.length} images`,
  );
  report.begin("train");
  const t0 = performance.now();
  const solver = train(d, d.yTrain.length, config, epochs, lrDecay, true);
  const seconds = (performance.now() - t0) / 1000;
  // The Solver has swapped in the parameters with the best validation accuracy.
  const valAcc = solver.checkAccuracy(d.XVal, d.yVal);
  const testAcc = solver.checkAccuracy(d.XTest, d.yTest);
  console.log(`Validation accuracy: ${valAcc}\nTest accuracy: ${testAcc}`);
  await writeTrainingCurves(dir, "train", `TwoLayerNet ${inputDim}-${config.hiddenDim}-10`, {
    [`hidden ${config.hiddenDim}`]: solver,
  });
  await writeFirstLayerWeights(
    join(dir, "W1.png"),
    (solver.model as TwoLayerNet).params.W1,
    d.XTrain.shape.slice(1),
  );
  report.table(
    "Best net on the full training set",
    ["net", "epochs", "val acc", "test acc", "train seconds"],
    [[
      `${inputDim}-${config.hiddenDim}-10`,
      epochs,
      valAcc.toFixed(4),
      testAcc.toFixed(4),
      seconds.toFixed(1),
    ]],
    `Adam lr ${config.learningRate}, decay ${lrDecay} per epoch, reg ${config.reg}, batch ` +
      `${batchSize}, weight scale ${weightScale}, float32, ${threads} thread(s). Curves: ` +
      "train.svg; first-layer weights: W1.png.",
  );
  return {
    ...config,
    epochs,
    lrDecay,
    batchSize,
    weightScale,
    valAcc,
    testAcc,
    seconds: round(seconds, 1),
    trainAccHistory: solver.trainAccHistory,
    valAccHistory: solver.valAccHistory,
  };
}

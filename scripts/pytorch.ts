/**
 * cs231n assignment 2, "PyTorch" notebook, on our own autograd and module API
 * (Fashion-MNIST by default):
 *
 * - Part II, "barebones": `flatten`, `twoLayerFc` and `threeLayerConvnet` written with `F`
 *   ops on raw tensors that require grad, shape checks, and a training loop that updates the
 *   weights by hand, in place and outside the graph;
 * - Part III, the Module API: `TwoLayerFC` and `ThreeLayerConvNet` as `Module` subclasses with
 *   Kaiming-normal weights, trained by `trainPart34` with `optim.SGD`;
 * - Part IV, the Sequential API: the same two networks as `nn.Sequential`, trained with SGD
 *   and Nesterov momentum.
 *
 * Every network trains for one epoch (batch 64, the notebook's hyper-parameters); the table
 * gives validation and test accuracy. Inputs are standardised (mean image subtracted, then
 * divided by the pixels' standard deviation), as the notebook's `T.Normalize` does. Outputs
 * go to `out/pytorch/`: loss curves (SVG), results.json and results.md.
 *
 * @module
 */

import { join } from "node:path";
import { noGrad } from "../lib/autograd/grad_mode.ts";
import { DataLoader } from "../lib/data/data_loader.ts";
import type { DataSplits } from "../lib/data/preprocess.ts";
import * as nn from "../lib/nn/mod.ts";
import * as F from "../lib/nn/functional.ts";
import * as optim from "../lib/nn/optim/mod.ts";
import { Rng, setSeed } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { figure, type PlotSeries, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";

const SCRIPT = "pytorch";
const SECTIONS = ["barebones", "module", "sequential"] as const;
const NUM_CLASSES = 10;
const BATCH_SIZE = 64;
const PRINT_EVERY = 100;

const ctx = await startScript({
  script: SCRIPT,
  description: "Reproduces the cs231n 'PyTorch' notebook on our autograd: barebones F ops, the\n" +
    "Module API and the Sequential API, one epoch each, on Fashion-MNIST.",
  sections: SECTIONS,
});

const { flags, quick, seed, only, dir } = ctx;

setSeed(seed);
if (quick && flags.data === undefined) flags.data = "data/fashion-mnist-mini";
const data = standardise(
  await loadData(ctx, quick ? { numTraining: 1000, numValidation: 200, numTest: 500 } : {}),
);
const [C, H, W] = data.XTrain.shape.slice(1);
const hiddenSize = quick ? 200 : 4000;
const [channel1, channel2] = [32, 16];
const rng = new Rng(seed);
const report = new MarkdownReport();

/** One trained network: its accuracies after one epoch and its loss per iteration. */
interface Run {
  /** The `--only` section that trained it. */
  section: (typeof SECTIONS)[number];
  part: string;
  model: string;
  valAcc: number;
  testAcc: number;
  seconds: number;
  losses: number[];
}
const runs: Run[] = [];
/** The section running now: {@link record} files each network under it. */
let currentSection: (typeof SECTIONS)[number] = SECTIONS[0];

// ------------------------------------------------------------------------------- helpers

/** Divides the (mean-subtracted) images by the training pixels' standard deviation. */
function standardise(d: DataSplits): DataSplits {
  let sq = 0;
  for (const v of d.XTrain.data) sq += v * v;
  const std = Math.sqrt(sq / d.XTrain.size);
  return { ...d, XTrain: d.XTrain.div(std), XVal: d.XVal.div(std), XTest: d.XTest.div(std) };
}

function trainLoader(): DataLoader {
  return new DataLoader({ X: data.XTrain, y: data.yTrain }, {
    batchSize: BATCH_SIZE,
    shuffle: true,
    rng,
  });
}

/** `check_accuracy_part2/34`: the fraction of `X` that `scores` classifies right. */
function checkAccuracy(X: Tensor, y: Int32Array, scores: (x: Tensor) => Tensor): number {
  return noGrad(() => {
    let correct = 0;
    for (const [xb, yb] of new DataLoader({ X, y }, { batchSize: 500 })) {
      const pred = scores(xb).argmax(1);
      for (let i = 0; i < yb.length; i++) if (pred[i] === yb[i]) correct++;
    }
    return correct / y.length;
  });
}

function smooth(values: number[], window: number): number[] {
  return values.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    const part = values.slice(from, i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
}

function record(
  part: string,
  model: string,
  started: number,
  losses: number[],
  scores: (x: Tensor) => Tensor,
) {
  const valAcc = checkAccuracy(data.XVal, data.yVal, scores);
  const testAcc = checkAccuracy(data.XTest, data.yTest, scores);
  const seconds = round((performance.now() - started) / 1000, 1);
  console.log(
    `${part} / ${model}: val acc ${valAcc.toFixed(4)}, test acc ${
      testAcc.toFixed(4)
    } (${seconds} s)`,
  );
  runs.push({ section: currentSection, part, model, valAcc, testAcc, seconds, losses });
}

// ------------------------------------------------------------------------- Part II

/** `random_weight`: Kaiming normal, `randn · √(2 / fan_in)`, requiring grad. */
function randomWeight(shape: number[]): Tensor {
  const fanIn = shape.length === 2 ? shape[0] : shape.slice(1).reduce((a, b) => a * b, 1);
  const w = Tensor.randn(shape, rng, "float32").mul(Math.sqrt(2 / fanIn));
  w.requiresGrad = true;
  return w;
}

function zeroWeight(shape: number[]): Tensor {
  return Tensor.zeros(shape, { dtype: "float32", requiresGrad: true });
}

/** `flatten`: one row per example. */
function flatten(x: Tensor): Tensor {
  return x.reshape([x.shape[0], -1]);
}

/** `two_layer_fc`: `relu(x·w1)·w2`, no biases. */
function twoLayerFc(x: Tensor, params: Tensor[]): Tensor {
  const [w1, w2] = params;
  return F.relu(flatten(x).matmul(w1)).matmul(w2);
}

/** `three_layer_convnet`: conv 5×5 (pad 2) – ReLU – conv 3×3 (pad 1) – ReLU – fc. */
function threeLayerConvnet(x: Tensor, params: Tensor[]): Tensor {
  const [convW1, convB1, convW2, convB2, fcW, fcB] = params;
  const h1 = F.relu(F.conv2d(x, convW1, convB1, { padding: 2 }));
  const h2 = F.relu(F.conv2d(h1, convW2, convB2, { padding: 1 }));
  return flatten(h2).matmul(fcW).add(fcB);
}

/** `train_part2`: one epoch of SGD with the updates written by hand under `noGrad`. */
function trainPart2(
  model: (x: Tensor, params: Tensor[]) => Tensor,
  params: Tensor[],
  learningRate: number,
): number[] {
  const losses: number[] = [];
  let t = 0;
  for (const [x, y] of trainLoader()) {
    const loss = F.crossEntropy(model(x, params), y);
    loss.backward();
    // The notebook's `with torch.no_grad(): w -= learning_rate * w.grad`, in place.
    for (const w of params) {
      const g = w.grad!.data;
      for (let i = 0; i < g.length; i++) w.data[i] -= learningRate * g[i];
      w.grad = null;
    }
    losses.push(loss.item());
    if (t % PRINT_EVERY === 0) {
      const acc = checkAccuracy(data.XVal, data.yVal, (xb) => model(xb, params));
      console.log(`Iteration ${t}, loss = ${loss.item().toFixed(4)}, val acc ${acc.toFixed(4)}`);
    }
    t++;
  }
  return losses;
}

function runBarebones(): void {
  section("Part II: barebones (F ops on raw tensors)");
  const x = Tensor.zeros([64, C, H, W], "float32");
  console.log(`flatten: [${x.shape}] → [${flatten(x).shape}]`);
  const fcScores = twoLayerFc(Tensor.zeros([64, 50], "float32"), [
    Tensor.zeros([50, 42], "float32"),
    Tensor.zeros([42, NUM_CLASSES], "float32"),
  ]);
  console.log(`twoLayerFc shape test: [${fcScores.shape}] (expected [64,10])`);
  const convScores = threeLayerConvnet(x, [
    Tensor.zeros([6, C, 5, 5], "float32"),
    Tensor.zeros([6], "float32"),
    Tensor.zeros([9, 6, 3, 3], "float32"),
    Tensor.zeros([9], "float32"),
    Tensor.zeros([9 * H * W, NUM_CLASSES], "float32"),
    Tensor.zeros([NUM_CLASSES], "float32"),
  ]);
  console.log(`threeLayerConvnet shape test: [${convScores.shape}] (expected [64,10])`);

  let started = performance.now();
  const fcParams = [randomWeight([C * H * W, hiddenSize]), randomWeight([hiddenSize, NUM_CLASSES])];
  const fcLosses = trainPart2(twoLayerFc, fcParams, 1e-2);
  record("II barebones", "two-layer FC", started, fcLosses, (xb) => twoLayerFc(xb, fcParams));

  started = performance.now();
  const convParams = [
    randomWeight([channel1, C, 5, 5]),
    zeroWeight([channel1]),
    randomWeight([channel2, channel1, 3, 3]),
    zeroWeight([channel2]),
    randomWeight([channel2 * H * W, NUM_CLASSES]),
    zeroWeight([NUM_CLASSES]),
  ];
  const convLosses = trainPart2(threeLayerConvnet, convParams, 3e-3);
  record(
    "II barebones",
    "three-layer convnet",
    started,
    convLosses,
    (xb) => threeLayerConvnet(xb, convParams),
  );
}

// ------------------------------------------------------------------------ Part III

/** The notebook's `TwoLayerFC` module. */
class TwoLayerFC extends nn.Module {
  fc1: nn.Linear;
  fc2: nn.Linear;

  constructor(inputSize: number, hidden: number, numClasses: number) {
    super();
    this.fc1 = new nn.Linear(inputSize, hidden, { rng });
    nn.init.kaimingNormal(this.fc1.weight, { rng });
    this.fc2 = new nn.Linear(hidden, numClasses, { rng });
    nn.init.kaimingNormal(this.fc2.weight, { rng });
  }

  override forward(x: Tensor): Tensor {
    return this.fc2.forward(F.relu(this.fc1.forward(F.flatten(x))));
  }
}

/** The notebook's `ThreeLayerConvNet` module. */
class ThreeLayerConvNet extends nn.Module {
  conv1: nn.Conv2d;
  conv2: nn.Conv2d;
  fc: nn.Linear;

  constructor(inChannel: number, c1: number, c2: number, numClasses: number) {
    super();
    this.conv1 = new nn.Conv2d(inChannel, c1, 5, { padding: 2, rng });
    this.conv2 = new nn.Conv2d(c1, c2, 3, { padding: 1, rng });
    this.fc = new nn.Linear(c2 * H * W, numClasses, { rng });
    for (const layer of [this.conv1, this.conv2, this.fc]) {
      nn.init.kaimingNormal(layer.weight, { rng });
      nn.init.zeros(layer.bias!);
    }
  }

  override forward(x: Tensor): Tensor {
    const h1 = F.relu(this.conv1.forward(x));
    const h2 = F.relu(this.conv2.forward(h1));
    return this.fc.forward(F.flatten(h2));
  }
}

/** `train_part34`: one epoch with an optimizer object. */
function trainPart34(model: nn.Module, optimizer: optim.Optimizer): number[] {
  const losses: number[] = [];
  let t = 0;
  model.train();
  for (const [x, y] of trainLoader()) {
    const loss = F.crossEntropy(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
    if (t % PRINT_EVERY === 0) {
      const acc = checkAccuracyPart34(data.XVal, data.yVal, model);
      console.log(`Iteration ${t}, loss = ${loss.item().toFixed(4)}, val acc ${acc.toFixed(4)}`);
    }
    t++;
  }
  return losses;
}

/** `check_accuracy_part34`: evaluation mode, no graph. */
function checkAccuracyPart34(X: Tensor, y: Int32Array, model: nn.Module): number {
  model.eval();
  const acc = checkAccuracy(X, y, (xb) => model.forward(xb));
  model.train();
  return acc;
}

function trainModule(part: string, name: string, model: nn.Module, optimizer: optim.Optimizer) {
  console.log(model.toString());
  const started = performance.now();
  const losses = trainPart34(model, optimizer);
  model.eval();
  record(part, name, started, losses, (xb) => model.forward(xb));
}

function runModuleApi(): void {
  section("Part III: Module API");
  const shapeTest = new ThreeLayerConvNet(C, 12, 8, NUM_CLASSES);
  console.log(
    `ThreeLayerConvNet shape test: [${
      shapeTest.forward(Tensor.zeros([64, C, H, W], "float32")).shape
    }] (expected [64,10])`,
  );
  const fc = new TwoLayerFC(C * H * W, hiddenSize, NUM_CLASSES);
  trainModule("III Module API", "TwoLayerFC", fc, new optim.SGD(fc.parameters(), { lr: 1e-2 }));
  const conv = new ThreeLayerConvNet(C, channel1, channel2, NUM_CLASSES);
  trainModule(
    "III Module API",
    "ThreeLayerConvNet",
    conv,
    new optim.SGD(conv.parameters(), { lr: 3e-3 }),
  );
}

// ------------------------------------------------------------------------- Part IV

function runSequential(): void {
  section("Part IV: Sequential API (SGD with Nesterov momentum)");
  const sgd = (m: nn.Module) =>
    new optim.SGD(m.parameters(), { lr: 1e-2, momentum: 0.9, nesterov: true });
  const fc = new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(C * H * W, hiddenSize, { rng }),
    new nn.ReLU(),
    new nn.Linear(hiddenSize, NUM_CLASSES, { rng }),
  );
  trainModule("IV Sequential", "two-layer FC", fc, sgd(fc));
  const conv = new nn.Sequential(
    new nn.Conv2d(C, channel1, 5, { padding: 2, rng }),
    new nn.ReLU(),
    new nn.Conv2d(channel1, channel2, 3, { padding: 1, rng }),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(channel2 * H * W, NUM_CLASSES, { rng }),
  );
  trainModule("IV Sequential", "three-layer convnet", conv, sgd(conv));
}

// -------------------------------------------------------------------------- main

/** Runs the chosen parts, then prints and writes the summary. */
async function main(): Promise<void> {
  const parts = { barebones: runBarebones, module: runModuleApi, sequential: runSequential };
  for (const key of SECTIONS) {
    if (!only.has(key)) continue;
    currentSection = key;
    parts[key]();
  }

  section("Summary: accuracy after one epoch");
  const targets: Record<string, number> = {
    "II barebones / two-layer FC": 0.80,
    "II barebones / three-layer convnet": 0.85,
    "III Module API / ThreeLayerConvNet": 0.85,
    "IV Sequential / three-layer convnet": 0.88,
  };
  const header = ["part / model", "val acc", "test acc", "target (full data)", "seconds"];
  const row = (r: Run) => {
    const key = `${r.part} / ${r.model}`;
    return [
      key,
      r.valAcc.toFixed(3),
      r.testAcc.toFixed(3),
      targets[key]?.toFixed(2) ?? "",
      r.seconds,
    ];
  };
  // One table per section, so that an --only run replaces just its own in results.md.
  for (const key of SECTIONS) {
    const mine = runs.filter((r) => r.section === key);
    if (mine.length === 0) continue;
    report.begin(key);
    report.table(`Accuracy after one epoch: ${mine[0].part}`, header, mine.map(row));
  }

  if (runs.length > 0) {
    const series: PlotSeries[] = runs.map((r) => ({
      name: `${r.part}: ${r.model}`,
      y: smooth(r.losses, 20),
    }));
    const path = join(dir, "loss_curves.svg");
    await writeSvg(
      path,
      figure([{
        title: "Training loss (moving average of 20 iterations)",
        xLabel: "Iteration",
        yLabel: "Loss",
        series,
      }], {
        title: "cs231n PyTorch notebook on our autograd",
      }),
    );
    console.log(`Wrote ${path}`);
  }

  const sections: Record<string, unknown> = {};
  for (const key of SECTIONS) {
    const mine = runs.filter((r) => r.section === key);
    if (mine.length === 0) continue;
    sections[key] = mine.map(({ losses, section: _, ...r }) => ({
      ...r,
      valAcc: round(r.valAcc),
      testAcc: round(r.testAcc),
      iterations: losses.length,
      finalLoss: round(losses.at(-1) ?? NaN),
      target: targets[`${r.part} / ${r.model}`] ?? null,
    }));
  }
  const merged = await writeResults(ctx, {
    mode: quick ? "quick" : "full",
    dataset: datasetSummary(data),
    preprocessing: "mean image subtracted, then divided by the training pixels' standard deviation",
    seed,
    batchSize: BATCH_SIZE,
    hiddenSize,
    about: `data: ${data.dataset}${data.isMini ? " (mini subset)" : ""}, ` +
      `${data.XTrain.shape[0]} training images, one epoch per network, batch ${BATCH_SIZE}; ` +
      `seed ${seed}`,
  }, sections);
  await report.write(
    dir,
    `PyTorch notebook (${quick ? "quick run" : "full run"})`,
    merged,
    [...SECTIONS],
  );
}

await main();

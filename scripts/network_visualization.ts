/**
 * cs231n assignment 3's "Network Visualization" notebook on our pretrained Fashion-MNIST CNN
 * (`data/models/fashion_cnn.safetensors`): saliency maps, fooling images and class
 * visualization, with the model in eval mode and its parameters frozen throughout.
 *
 * Outputs in `out/network_visualization/`: `saliency.png` (each test image beside its
 * saliency map), `fooling.png` (original, fooled image, magnified difference),
 * `class_visualization.png` (one synthesised image per class), `results.json`, `results.md`.
 *
 * @module
 */

import { join } from "node:path";
import { noGrad } from "../lib/autograd/grad_mode.ts";
import type { Module } from "../lib/nn/module.ts";
import { Rng, setSeed } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { type RasterImage, writePng } from "../lib/vis/png.ts";
import {
  computeSaliencyMaps,
  createClassVisualization,
  makeFoolingImage,
} from "../lib/visualization/mod.ts";
import {
  datasetSummary,
  fail,
  isInteger,
  isNumber,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";
import { loadModel } from "./_model_file.ts";

const SCRIPT = "network_visualization";
const SECTIONS = ["saliency", "fooling", "class"] as const;

const ctx = await startScript({
  script: SCRIPT,
  description: "Saliency maps, fooling images and class visualization on the pretrained\n" +
    "Fashion-MNIST CNN (cs231n's network visualization notebook).",
  sections: SECTIONS,
  extra: {
    model: {
      type: "string",
      value: "PATH",
      default: "data/models/fashion_cnn.safetensors",
      help: "the model file (written by fashion_cnn.ts)",
    },
    "fool-lr": {
      type: "string",
      value: "LR",
      default: "0.1",
      help: "fooling step length (L2 norm of each step, 0..1 pixels)",
      check: isNumber({ above: 0 }),
    },
    iterations: {
      type: "string",
      value: "N",
      default: "200",
      help: "gradient steps of each class visualization",
      check: isInteger(1),
    },
    "class-lr": {
      type: "string",
      value: "LR",
      default: "1.5",
      help: "class visualization step length (L2 norm of each step, 0..1 pixels)",
      check: isNumber({ above: 0 }),
    },
    "l2-reg": {
      type: "string",
      value: "R",
      default: "1e-3",
      help: "class visualization L2 regularisation",
      check: isNumber({ atLeast: 0 }),
    },
  },
});

const { flags, quick, seed, only, dir } = ctx;
setSeed(seed);
const rng = new Rng(seed);
const modelPath = flags.model as string;
let loaded;
try {
  loaded = loadModel(modelPath);
} catch (e) {
  fail(SCRIPT, (e as Error).message, 1);
}
const { model, input, classes } = loaded;
const K = classes.length;
const [C, H, W] = input.shape;
console.log(`Model ${modelPath}: ${model.numParameters()} parameters, ${K} classes`);
if (quick && flags.data === undefined) flags.data = "data/fashion-mnist-mini";
const data = await loadData(ctx, { subtractMean: false });
const XTest = data.XTest.mul(input.scale);
const yTest = data.yTest;
const pred = noGrad(() => model.forward(XTest.sliceRows(0, Math.min(2000, XTest.shape[0]))))
  .argmax(1);
const report = new MarkdownReport();
const results: Record<string, unknown> = {};

/** Indices of the first `k` test images of class `c` that the model classifies right. */
function firstCorrect(c: number, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < pred.length && out.length < k; i++) {
    if (yTest[i] === c && pred[i] === c) out.push(i);
  }
  return out;
}

function scoresOf(m: Module, x: Tensor): Float32Array | Float64Array {
  return noGrad(() => m.forward(x)).data;
}

// --------------------------------------------------------------------------- canvas

const SCALE = 3, GAP = 4;

/** An RGB canvas of `rows × cols` cells of the image size, upscaled. */
function canvas(rows: number, cols: number): RasterImage {
  const width = cols * (W * SCALE + GAP) + GAP, height = rows * (H * SCALE + GAP) + GAP;
  return { width, height, channels: 3, data: new Uint8Array(width * height * 3).fill(255) };
}

/** Paints a cell from per-pixel RGB values in 0..255. */
function paint(img: RasterImage, row: number, col: number, rgb: (p: number) => number[]): void {
  const x0 = GAP + col * (W * SCALE + GAP), y0 = GAP + row * (H * SCALE + GAP);
  for (let i = 0; i < H * SCALE; i++) {
    for (let j = 0; j < W * SCALE; j++) {
      const [r, g, b] = rgb(Math.floor(i / SCALE) * W + Math.floor(j / SCALE));
      const k = ((y0 + i) * img.width + x0 + j) * 3;
      img.data[k] = r, img.data[k + 1] = g, img.data[k + 2] = b;
    }
  }
}

const clampByte = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
/** A gray image from 0..1 pixels (the first channel). */
const grayOf = (x: ArrayLike<number>, offset = 0) => (p: number) => {
  const v = clampByte(x[offset + p] * 255);
  return [v, v, v];
};
/** matplotlib's "hot" colour map on values scaled by `max`. */
const hotOf = (x: ArrayLike<number>, offset: number, max: number) => (p: number) => {
  const t = max > 0 ? x[offset + p] / max : 0;
  return [clampByte(t * 3 * 255), clampByte((t * 3 - 1) * 255), clampByte((t * 3 - 2) * 255)];
};
/** Signed values: blue (negative) – white (0) – red (positive), scaled by `max`. */
const divergingOf = (x: ArrayLike<number>, max: number) => (p: number) => {
  const t = max > 0 ? x[p] / max : 0;
  return t >= 0
    ? [255, clampByte(255 * (1 - t)), clampByte(255 * (1 - t))]
    : [clampByte(255 * (1 + t)), clampByte(255 * (1 + t)), 255];
};

// ------------------------------------------------------------------------- saliency

if (only.has("saliency")) {
  section("Saliency maps");
  const perClass = quick ? 1 : 3;
  const rows: number[][] = [];
  for (let c = 0; c < K; c++) rows.push(firstCorrect(c, perClass));
  const idx = rows.flat();
  const X = XTest.take(idx), y = Int32Array.from(idx, (i) => yTest[i]);
  const t0 = performance.now();
  const saliency = computeSaliencyMaps(X, y, model);
  const seconds = (performance.now() - t0) / 1000;
  const img = canvas(K, 2 * perClass);
  let n = 0;
  const plane = H * W;
  for (let c = 0; c < K; c++) {
    for (let j = 0; j < rows[c].length; j++, n++) {
      let max = 0;
      for (let p = 0; p < plane; p++) max = Math.max(max, saliency.data[n * plane + p]);
      paint(img, c, 2 * j, grayOf(X.data, n * C * plane));
      paint(img, c, 2 * j + 1, hotOf(saliency.data, n * plane, max));
    }
  }
  const path = join(dir, "saliency.png");
  await writePng(path, img);
  console.log(
    `${idx.length} saliency maps (${perClass} per class, rows in class order: ` +
      `${classes.join(", ")}) in ${seconds.toFixed(2)} s\nWrote ${path}`,
  );
  results.saliency = { images: idx, seconds: round(seconds, 3), png: path };
}

// -------------------------------------------------------------------------- fooling

if (only.has("fooling")) {
  section("Fooling images");
  report.begin("fooling");
  // Each class fooled into a look-alike and into a far class.
  const pairs: [number, number][] = quick
    ? [[0, 6], [9, 1]]
    : [[0, 6], [6, 0], [2, 4], [4, 3], [5, 7], [7, 9], [9, 5], [1, 3], [3, 8], [8, 2]];
  const foolLr = ctx.number("fool-lr");
  const maxIters = 100;
  const img = canvas(pairs.length, 3);
  const rows: (string | number)[][] = [];
  const records: Record<string, unknown>[] = [];
  for (const [r, [from, target]] of pairs.entries()) {
    const [i] = firstCorrect(from, 1);
    const X = XTest.take([i]);
    const t0 = performance.now();
    const { image, iterations, fooled } = makeFoolingImage(X, target, model, {
      learningRate: foolLr,
      maxIters,
    });
    const seconds = (performance.now() - t0) / 1000;
    const scores = scoresOf(model, image);
    let predicted = 0;
    for (let k = 1; k < K; k++) if (scores[k] > scores[predicted]) predicted = k;
    const diff = image.sub(X);
    let l2 = 0, maxAbs = 0;
    for (const v of diff.data) (l2 += v * v), (maxAbs = Math.max(maxAbs, Math.abs(v)));
    l2 = Math.sqrt(l2);
    if (!fooled || predicted !== target) {
      console.error(
        `fooling ${classes[from]} → ${classes[target]}: not fooled after ${maxIters} steps`,
      );
    }
    paint(img, r, 0, grayOf(X.data));
    paint(img, r, 1, grayOf(image.data));
    paint(img, r, 2, divergingOf(diff.data, maxAbs));
    rows.push([
      i,
      classes[from],
      classes[target],
      classes[predicted],
      iterations,
      l2.toFixed(3),
      maxAbs.toFixed(3),
      seconds.toFixed(2),
    ]);
    records.push({
      testIndex: i,
      from: classes[from],
      target: classes[target],
      predicted: classes[predicted],
      fooled: fooled && predicted === target,
      iterations,
      l2: round(l2),
      maxAbs: round(maxAbs),
    });
  }
  report.table(
    "Fooling images",
    ["test image", "true class", "target", "predicted", "iterations", "L2", "max abs Δ", "s"],
    rows,
    `Steps of L2 length ${foolLr} (at most ${maxIters}); pixels in 0..1 (28×28 = 784 of them); ` +
      "the change is fooled − original.",
  );
  const path = join(dir, "fooling.png");
  await writePng(path, img);
  console.log(`Wrote ${path} (columns: original, fooled, difference magnified to ±max)`);
  results.fooling = { learningRate: foolLr, maxIters, pairs: records, png: path };
}

// --------------------------------------------------------------- class visualization

if (only.has("class")) {
  section("Class visualization");
  report.begin("class");
  const numIterations = ctx.int("iterations", 20);
  const learningRate = ctx.number("class-lr");
  const l2Reg = ctx.number("l2-reg");
  const img = canvas(2, Math.ceil(K / 2));
  const rows: (string | number)[][] = [];
  const records: Record<string, unknown>[] = [];
  const t0 = performance.now();
  for (let c = 0; c < K; c++) {
    const init = Tensor.randn([1, C, H, W], rng, "float32");
    const before = scoresOf(model, init)[c];
    const out = createClassVisualization(c, model, {
      l2Reg,
      learningRate,
      numIterations,
      blurEvery: 10,
      maxJitter: 2,
      inputShape: input.shape,
      mean: new Array(C).fill(0),
      std: new Array(C).fill(1),
      init,
      rng,
    });
    const scores = scoresOf(model, out);
    const prob = softmaxProb(scores, c);
    let predicted = 0;
    for (let k = 1; k < K; k++) if (scores[k] > scores[predicted]) predicted = k;
    paint(img, Math.floor(c / Math.ceil(K / 2)), c % Math.ceil(K / 2), grayOf(out.data));
    rows.push([
      classes[c],
      before.toFixed(2),
      scores[c].toFixed(2),
      prob.toFixed(3),
      classes[predicted],
    ]);
    records.push({
      class: classes[c],
      scoreBefore: round(before),
      scoreAfter: round(scores[c]),
      probabilityAfter: round(prob),
      predicted: classes[predicted],
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  report.table(
    "Class visualization",
    ["class", "score before", "score after", "softmax prob. after", "predicted"],
    rows,
    `${numIterations} steps each, learning rate ${learningRate}, L2 ${l2Reg}, jitter ≤ 2 px, ` +
      `blur σ 0.5 every 10 steps, from standard normal pixels clamped to 0..1.`,
  );
  const path = join(dir, "class_visualization.png");
  await writePng(path, img);
  console.log(`${K} classes in ${seconds.toFixed(1)} s\nWrote ${path}`);
  results.class = {
    numIterations,
    learningRate,
    l2Reg,
    classes: records,
    png: path,
    seconds: round(seconds, 1),
  };
}

/** The softmax probability of class `c`. */
function softmaxProb(scores: ArrayLike<number>, c: number): number {
  let max = -Infinity;
  for (let k = 0; k < scores.length; k++) max = Math.max(max, scores[k]);
  let total = 0;
  for (let k = 0; k < scores.length; k++) total += Math.exp(scores[k] - max);
  return Math.exp(scores[c] - max) / total;
}

const merged = await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  seed,
  model: modelPath,
  dataset: { ...datasetSummary(data), preprocessing: "pixels / 255, nothing subtracted" },
  about: `model ${modelPath}, seed ${seed}`,
}, results);
await report.write(dir, "Network visualization", merged, [...SECTIONS]);

/**
 * cs231n assignment 2, "Convolutional networks", on real data (Fashion-MNIST by default):
 *
 * 1. `naive`: the naive convolution and max pool against the notebook's expected outputs
 *    and numerical gradients;
 * 2. `image`: the image-processing aside: a grayscale and an edge filter, set by hand, on two
 *    photos (data/images/chelsea.png and coffee.png, CC0);
 * 3. `fast`: naive versus fast layers (agreement and a timing table: naive, fast on 1 thread,
 *    fast on N threads, forward and backward);
 * 4. `sandwich`: gradient checks of the conv–relu and conv–relu–pool sandwich layers;
 * 5. `sanity`: the initial loss of ThreeLayerConvNet and a gradient check of a small one;
 * 6. `overfit`: overfitting 100 training images;
 * 7. `train`: one epoch on the full training split, its validation and test accuracy, the
 *    first-layer filters as a picture;
 * 8. `spatial-batchnorm` and `groupnorm`: what the normalizations do to per-channel and
 *    per-group statistics, and their gradient checks.
 *
 * Outputs go to `out/convolutional_networks/` (`quick/` for `--quick`).
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
import { convBackwardNaive, convForwardNaive, type ConvParam } from "../lib/layers/conv.ts";
import { convBackwardFast, convForwardFast } from "../lib/layers/conv_fast.ts";
import {
  convReluBackward,
  convReluForward,
  convReluPoolBackward,
  convReluPoolForward,
} from "../lib/layers/conv_sandwich.ts";
import {
  maxPoolBackwardFast,
  maxPoolBackwardNaive,
  maxPoolForwardFast,
  maxPoolForwardNaive,
  type PoolParam,
} from "../lib/layers/pool.ts";
import {
  spatialBatchnormBackward,
  spatialBatchnormForward,
} from "../lib/layers/spatial_batchnorm.ts";
import {
  spatialGroupnormBackward,
  spatialGroupnormForward,
} from "../lib/layers/spatial_groupnorm.ts";
import type { BatchnormParam } from "../lib/layers/batchnorm.ts";
import { ThreeLayerConvNet } from "../lib/models/cnn.ts";
import { defaultNumThreads, getNumThreads, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import type { DType } from "../lib/storage.ts";
import { Tensor } from "../lib/tensor.ts";
import { toImage } from "../lib/vis/grid.ts";
import { type RasterImage, readPng, writePng } from "../lib/vis/png.ts";
import {
  datasetSummary,
  formatTable,
  isInteger,
  isNumber,
  last,
  loadData,
  round,
  section,
  startScript,
  trainingSubset,
  writeResults,
} from "./_cli.ts";
import { writeFilterGrid, writeTrainingCurves } from "./_plots.ts";

const SCRIPT = "convolutional_networks";
const SECTIONS = [
  "naive",
  "image",
  "fast",
  "sandwich",
  "sanity",
  "overfit",
  "train",
  "spatial-batchnorm",
  "groupnorm",
] as const;

const ctx = await startScript({
  script: SCRIPT,
  description:
    "Reproduces the cs231n 'Convolutional networks' notebook: naive and fast layers with a\n" +
    "timing table, the image-processing aside, ThreeLayerConvNet checks, overfitting 100\n" +
    "images, one epoch on Fashion-MNIST, spatial batchnorm and group norm.",
  sections: SECTIONS,
  extra: {
    threads: {
      type: "string",
      default: String(defaultNumThreads()),
      value: "N",
      help: "threads for the fast layers and training (the timing table also shows 1)",
      check: isInteger(1, 4 * defaultNumThreads()),
    },
    epochs: {
      type: "string",
      default: "1",
      value: "N",
      help: "epochs of the train section",
      check: isInteger(1),
    },
    "batch-size": {
      type: "string",
      default: "50",
      value: "N",
      help: "minibatch size (train)",
      check: isInteger(1),
    },
    lr: {
      type: "string",
      default: "1e-3",
      value: "X",
      help: "Adam learning rate (train)",
      check: isNumber({ above: 0 }),
    },
    "num-filters": {
      type: "string",
      default: "32",
      value: "N",
      help: "conv filters (train)",
      check: isInteger(1),
    },
    "filter-size": {
      type: "string",
      default: "7",
      value: "N",
      help: "filter side (train)",
      check: isInteger(1),
    },
    "hidden-dim": {
      type: "string",
      default: "100",
      value: "N",
      help: "hidden units (train)",
      check: isInteger(1),
    },
    reg: {
      type: "string",
      default: "1e-3",
      value: "X",
      help: "L2 strength (train)",
      check: isNumber({ atLeast: 0 }),
    },
    "weight-scale": {
      type: "string",
      default: "1e-3",
      value: "X",
      help: "init std (train; cs231n's default)",
      check: isNumber({ above: 0 }),
    },
  },
});
const { quick, seed, only, dir } = ctx;

const threads = ctx.int("threads");
/** The train section's settings, read before anything runs. */
const trainConfig = {
  numFilters: ctx.int("num-filters"),
  filterSize: ctx.int("filter-size"),
  hiddenDim: ctx.int("hidden-dim"),
  weightScale: ctx.number("weight-scale"),
  reg: ctx.number("reg"),
  learningRate: ctx.number("lr"),
  batchSize: ctx.int("batch-size"),
  numEpochs: ctx.int("epochs"),
  updateRule: "adam",
  dtype: "float32" as const,
};
await setNumThreads(threads);

const needsData = only.has("overfit") || only.has("train");
// The quick sizes fit the committed mini subset (2,000 training and 500 test images) too.
const data = needsData
  ? await loadData(ctx, quick ? { numTraining: 1500, numValidation: 500, numTest: 500 } : {})
  : null;
const results: Record<string, unknown> = {};

if (only.has("naive")) results.naive = runNaiveChecks();
if (only.has("image")) results.imageFilters = await runImageFilters();
if (only.has("fast")) results.fast = await runFastVsNaive();
if (only.has("sandwich")) results.sandwich = runSandwichChecks();
if (only.has("sanity")) results.sanity = runSanityChecks();
if (data && only.has("overfit")) results.overfit = await runOverfit(data);
if (data && only.has("train")) results.train = await runTrain(data);
if (only.has("spatial-batchnorm")) results.spatialBatchnorm = runSpatialBatchnorm();
if (only.has("groupnorm")) results.groupnorm = runGroupnorm();
await writeResults(ctx, {
  mode: quick ? "quick" : "full",
  threads,
  hardwareConcurrency: defaultNumThreads(),
  dataset: data && datasetSummary(data),
  seed,
}, results);

// ---------------------------------------------------------------------------------------

function exp(x: number): string {
  return x.toExponential(2);
}

/** A random tensor `scale · N(0, 1) + shift`, like the notebook's `scale * randn(...) + shift`. */
function randn(shape: number[], rng: Rng, scale = 1, shift = 0, dtype: DType = "float64"): Tensor {
  const t = Tensor.randn(shape, rng, dtype);
  for (let i = 0; i < t.size; i++) t.data[i] = scale * t.data[i] + shift;
  return t;
}

/** Prints `name: relative error` lines and returns them as an object. */
function reportErrors(title: string, errors: Record<string, number>): Record<string, number> {
  console.log(title);
  for (const [name, e] of Object.entries(errors)) console.log(`  ${name} error: ${exp(e)}`);
  return errors;
}

// ------------------------------------------------------------------------------ naive layers

/** The notebook's tests of the naive layers: fixed expected outputs and numerical gradients. */
function runNaiveChecks(): Record<string, unknown> {
  section("Naive convolution and max pool (float64)");
  const rng = new Rng(seed);

  // conv_forward_naive on linspace inputs; the expected output is the notebook's.
  const x = Tensor.linspace(-0.1, 0.5, 2 * 3 * 4 * 4).reshape([2, 3, 4, 4]);
  const w = Tensor.linspace(-0.2, 0.3, 3 * 3 * 4 * 4).reshape([3, 3, 4, 4]);
  const b = Tensor.linspace(-0.1, 0.2, 3);
  const [convOut] = convForwardNaive(x, w, b, { stride: 2, pad: 1 });
  // deno-fmt-ignore
  const expectedConv = Tensor.fromArray([
    -0.08759809, -0.10987781, -0.18387192, -0.2109216, // image 0, filter 0 (2×2)
    0.21027089, 0.21661097, 0.22847626, 0.23004637,
    0.50813986, 0.54309974, 0.64082444, 0.67101435,
    -0.98053589, -1.03143541, -1.19128892, -1.24695841, // image 1
    0.69108355, 0.66880383, 0.59480972, 0.56776003,
    2.36270298, 2.36904306, 2.38090835, 2.38247847,
  ], [2, 3, 2, 2]);
  const convForward = relError(convOut, expectedConv);
  console.log(`convForwardNaive vs the notebook's values: ${exp(convForward)} (about 1e-8)`);

  // conv_backward_naive against centered differences.
  const cx = randn([4, 3, 5, 5], rng), cw = randn([2, 3, 3, 3], rng), cb = randn([2], rng);
  const cdout = randn([4, 2, 5, 5], rng);
  const convParam = { stride: 1, pad: 1 };
  const [, convCache] = convForwardNaive(cx, cw, cb, convParam);
  const [dx, dw, db] = convBackwardNaive(cdout, convCache);
  const conv = (xx: Tensor, ww: Tensor, bb: Tensor) => convForwardNaive(xx, ww, bb, convParam)[0];
  const convBackward = reportErrors("convBackwardNaive vs numerical gradients (about 1e-8):", {
    dx: relError(dx, evalNumericalGradientArray((t) => conv(t, cw, cb), cx, cdout)),
    dw: relError(dw, evalNumericalGradientArray((t) => conv(cx, t, cb), cw, cdout)),
    db: relError(db, evalNumericalGradientArray((t) => conv(cx, cw, t), cb, cdout)),
  });

  // max_pool_forward_naive on a linspace input: every window's maximum is its bottom-right.
  const px = Tensor.linspace(-0.3, 0.4, 2 * 3 * 4 * 4).reshape([2, 3, 4, 4]);
  const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
  const [poolOut] = maxPoolForwardNaive(px, poolParam);
  const expectedPool = Tensor.zeros([2, 3, 2, 2]);
  for (let i = 0; i < expectedPool.size; i++) {
    const [image, r, c] = [Math.floor(i / 4), Math.floor((i % 4) / 2), i % 2];
    expectedPool.data[i] = px.data[image * 16 + (2 * r + 1) * 4 + 2 * c + 1];
  }
  const poolForward = relError(poolOut, expectedPool);
  console.log(`maxPoolForwardNaive vs expected maxima: ${exp(poolForward)}`);

  const bx = randn([3, 2, 8, 8], rng), bdout = randn([3, 2, 4, 4], rng);
  const [, poolCache] = maxPoolForwardNaive(bx, poolParam);
  const poolBackward = relError(
    maxPoolBackwardNaive(bdout, poolCache),
    evalNumericalGradientArray((t) => maxPoolForwardNaive(t, poolParam)[0], bx, bdout),
  );
  console.log(`maxPoolBackwardNaive vs numerical dx: ${exp(poolBackward)} (about 1e-12)`);
  return { convForward, convBackward, poolForward, poolBackward };
}

// ------------------------------------------------------------------------------ image aside

/**
 * Centre-crops `image` to a square and resizes it to `size`×`size` by bilinear interpolation
 * (pixel centres aligned, as PIL's resize), writing `(3, size, size)` values into `dst` from
 * `offset`. A gray image is repeated into three channels; alpha is dropped.
 */
function cropAndResize(image: RasterImage, size: number, dst: Tensor, offset: number): void {
  const { width, channels, data: src } = image;
  const side = Math.min(width, image.height);
  const left = Math.floor((width - side) / 2), top = Math.floor((image.height - side) / 2);
  const scale = side / size;
  // Source coordinate, its two neighbours and the weight of the second, along one axis.
  const taps = (i: number): [number, number, number] => {
    const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), side - 1);
    const lo = Math.floor(s);
    return [lo, Math.min(lo + 1, side - 1), s - lo];
  };
  const at = (row: number, col: number, k: number) =>
    src[((top + row) * width + left + col) * channels + (channels >= 3 ? k : 0)];
  for (let i = 0; i < size; i++) {
    const [y0, y1, fy] = taps(i);
    for (let j = 0; j < size; j++) {
      const [x0, x1, fx] = taps(j);
      for (let k = 0; k < 3; k++) {
        const upper = at(y0, x0, k) * (1 - fx) + at(y0, x1, k) * fx;
        const lower = at(y1, x0, k) * (1 - fx) + at(y1, x1, k) * fx;
        dst.data[offset + (k * size + i) * size + j] = upper * (1 - fy) + lower * fy;
      }
    }
  }
}

/** Copies `tile` (gray or RGB) into the RGB `canvas` with its top-left corner at (top, left). */
function paste(canvas: RasterImage, tile: RasterImage, top: number, left: number): void {
  for (let i = 0; i < tile.height; i++) {
    for (let j = 0; j < tile.width; j++) {
      const dst = ((top + i) * canvas.width + left + j) * 3;
      const srcPixel = (i * tile.width + j) * tile.channels;
      for (let k = 0; k < 3; k++) {
        canvas.data[dst + k] = tile.data[srcPixel + (tile.channels >= 3 ? k : 0)];
      }
    }
  }
}

/** The notebook's aside: convolution filters set by hand turn photos gray and find edges. */
async function runImageFilters(): Promise<Record<string, unknown>> {
  section("Image processing via convolutions (grayscale and horizontal-edge filters)");
  const size = 200;
  const names = ["chelsea", "coffee"];
  const x = Tensor.zeros([names.length, 3, size, size]);
  const originals: RasterImage[] = [];
  for (const [n, name] of names.entries()) {
    // Found next to the script, so that it runs from any working directory.
    const path = `data/images/${name}.png`;
    const image = await readPng(new URL(`../${path}`, import.meta.url));
    console.log(`${path}: ${image.width}×${image.height}, ${image.channels} channels`);
    cropAndResize(image, size, x, n * 3 * size * size);
    // Back to interleaved bytes, unnormalized, as the notebook shows the originals.
    const bytes = new Uint8Array(size * size * 3);
    for (let k = 0; k < 3; k++) {
      for (let p = 0; p < size * size; p++) {
        bytes[p * 3 + k] = Math.round(x.data[(n * 3 + k) * size * size + p]);
      }
    }
    originals.push({ width: size, height: size, channels: 3, data: bytes });
  }

  // Filter 0 keeps the centre tap of each channel with the luma weights: a grayscale image.
  // Filter 1 is a horizontal Sobel on the blue channel; its bias 128 makes flat areas gray.
  const w = Tensor.zeros([2, 3, 3, 3]);
  const centre = 4;
  [0.3, 0.6, 0.1].forEach((v, c) => w.data[c * 9 + centre] = v);
  w.data.set([1, 2, 1, 0, 0, 0, -1, -2, -1], 27 + 2 * 9);
  const b = Tensor.fromArray([0, 128]);
  const t0 = performance.now();
  const [out] = convForwardNaive(x, w, b, { stride: 1, pad: 1 });
  const ms = performance.now() - t0;
  console.log(
    `convForwardNaive on x [${x.shape}], w [${w.shape}]: out [${out.shape}], ` +
      `${ms.toFixed(0)} ms`,
  );

  // Rows: one per photo; columns: original, grayscale, edges (each normalized to 0..255
  // on its own, like the notebook's imshow_no_ax).
  const gap = 4;
  const width = 3 * size + 2 * gap, height = names.length * size + (names.length - 1) * gap;
  const canvas: RasterImage = {
    width,
    height,
    channels: 3,
    data: new Uint8Array(width * height * 3).fill(255),
  };
  const stats: Record<string, unknown> = {};
  for (let n = 0; n < names.length; n++) {
    const top = n * (size + gap);
    paste(canvas, originals[n], top, 0);
    for (let f = 0; f < 2; f++) {
      const map = Tensor.zeros([size, size]);
      const start = (n * 2 + f) * size * size;
      map.data.set(out.data.subarray(start, start + size * size));
      paste(canvas, toImage(map), top, (f + 1) * (size + gap));
      stats[`${names[n]}.${f === 0 ? "gray" : "edges"}`] = {
        min: round(map.min().item(), 2),
        max: round(map.max().item(), 2),
      };
    }
  }
  const path = join(dir, "image_filters.png");
  await writePng(path, canvas);
  console.log(`Wrote ${path} (rows: ${names.join(", ")}; columns: original, gray, edges)`);
  return { size, file: path, convForwardMs: round(ms, 1), outputRanges: stats };
}

// ------------------------------------------------------------------------------ fast layers

/** Median wall time of `fn` over `repeats` calls, after one warm-up call, in milliseconds. */
function medianMs(fn: () => void, repeats: number): number {
  fn(); // compiles the code path, starts lazily created buffers
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(repeats / 2)];
}

/** `max |a − b| / max |a|`: the error measured against the largest reference value. */
function scaledError(a: Tensor, b: Tensor): number {
  let diff = 0, top = 0;
  for (let i = 0; i < a.size; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    top = Math.max(top, Math.abs(a.data[i]));
  }
  return top > 0 ? diff / top : diff;
}

interface Timing {
  naive: number;
  fast1: number;
  fastN: number;
}

/**
 * The notebook's comparison of the naive and fast layers: do they agree, and how much faster
 * is the fast one, on one thread and on `threads`?
 */
async function runFastVsNaive(): Promise<Record<string, unknown>> {
  const n = quick ? 10 : 100;
  const repeats = quick ? 3 : 5;
  const xShape = [n, 3, 31, 31], wShape = [25, 3, 3, 3];
  const poolShape = [n, 3, 32, 32];
  const convParam: ConvParam = { stride: 2, pad: 1 };
  const poolParam: PoolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
  section(
    `Naive vs fast layers: conv x [${xShape}] w [${wShape}] stride 2 pad 1, ` +
      `max pool x [${poolShape}] 2×2 stride 2`,
  );

  const rows: (string | number)[][] = [];
  const timings: Record<string, Timing> = {};
  const errors: Record<string, Record<string, number>> = {};
  const scaled: Record<string, Record<string, number>> = {};
  for (const dtype of ["float64", "float32"] as const) {
    const rng = new Rng(seed);
    const x = randn(xShape, rng, 1, 0, dtype), w = randn(wShape, rng, 1, 0, dtype);
    const b = randn([wShape[0]], rng, 1, 0, dtype);
    const [naiveOut, naiveCache] = convForwardNaive(x, w, b, convParam);
    const dout = randn(naiveOut.shape, rng, 1, 0, dtype);
    const [dxNaive, dwNaive, dbNaive] = convBackwardNaive(dout, naiveCache);
    const px = randn(poolShape, rng, 1, 0, dtype);
    const [poolNaive, poolNaiveCache] = maxPoolForwardNaive(px, poolParam);
    const pdout = randn(poolNaive.shape, rng, 1, 0, dtype);
    const pdxNaive = maxPoolBackwardNaive(pdout, poolNaiveCache);

    const time: Record<string, Timing> = {
      "conv forward": { naive: 0, fast1: 0, fastN: 0 },
      "conv backward": { naive: 0, fast1: 0, fastN: 0 },
      "max pool forward": { naive: 0, fast1: 0, fastN: 0 },
      "max pool backward": { naive: 0, fast1: 0, fastN: 0 },
    };
    time["conv forward"].naive = medianMs(() => convForwardNaive(x, w, b, convParam), repeats);
    time["conv backward"].naive = medianMs(() => convBackwardNaive(dout, naiveCache), repeats);
    time["max pool forward"].naive = medianMs(() => maxPoolForwardNaive(px, poolParam), repeats);
    time["max pool backward"].naive = medianMs(
      () => maxPoolBackwardNaive(pdout, poolNaiveCache),
      repeats,
    );

    for (const [key, count] of [["fast1", 1], ["fastN", threads]] as const) {
      await setNumThreads(count);
      const [fastOut, fastCache] = convForwardFast(x, w, b, convParam);
      const [dx, dw, db] = convBackwardFast(dout, fastCache);
      const [poolFast, poolFastCache] = maxPoolForwardFast(px, poolParam);
      const pdx = maxPoolBackwardFast(pdout, poolFastCache);
      errors[`${dtype}, ${count} thread${count > 1 ? "s" : ""}`] = {
        convOut: relError(naiveOut, fastOut),
        convDx: relError(dxNaive, dx),
        convDw: relError(dwNaive, dw),
        convDb: relError(dbNaive, db),
        poolOut: relError(poolNaive, poolFast),
        poolDx: relError(pdxNaive, pdx),
      };
      if (dtype === "float32") {
        scaled[`${dtype}, ${count} thread${count > 1 ? "s" : ""}`] = {
          convOut: scaledError(naiveOut, fastOut),
          convDx: scaledError(dxNaive, dx),
          convDw: scaledError(dwNaive, dw),
        };
      }
      time["conv forward"][key] = medianMs(() => convForwardFast(x, w, b, convParam), repeats);
      time["conv backward"][key] = medianMs(() => convBackwardFast(dout, fastCache), repeats);
      time["max pool forward"][key] = medianMs(
        () => maxPoolForwardFast(px, poolParam),
        repeats,
      );
      time["max pool backward"][key] = medianMs(
        () => maxPoolBackwardFast(pdout, poolFastCache),
        repeats,
      );
    }
    for (const [op, t] of Object.entries(time)) {
      timings[`${op} (${dtype})`] = {
        naive: round(t.naive, 3),
        fast1: round(t.fast1, 3),
        fastN: round(t.fastN, 3),
      };
      rows.push([
        op,
        dtype,
        t.naive.toFixed(2),
        t.fast1.toFixed(2),
        t.fastN.toFixed(2),
        `${(t.naive / t.fast1).toFixed(1)}×`,
        `${(t.naive / t.fastN).toFixed(1)}×`,
        `${(t.fast1 / t.fastN).toFixed(2)}×`,
      ]);
    }
  }
  await setNumThreads(threads);

  console.log("Relative errors, fast vs naive (float64 should be below 1e-9):");
  const names = Object.keys(Object.values(errors)[0]);
  console.log(formatTable(
    ["dtype, threads", ...names],
    Object.entries(errors).map(([k, e]) => [k, ...names.map((m) => exp(e[m]))]),
  ));
  // relError divides by |a| + |b| element by element, so in float32 outputs that nearly
  // cancel to zero inflate it; measured against the largest value the differences are tiny.
  const worst = Object.entries(scaled).map(([k, e]) =>
    `${k}: ${Object.entries(e).map(([m, v]) => `${m} ${exp(v)}`).join(", ")}`
  );
  console.log(
    "float32 relative errors are inflated by outputs near zero; max |fast − naive| / " +
      `max |naive|:\n  ${worst.join("\n  ")}`,
  );
  console.log(`\nMilliseconds, the median of ${repeats} repeats (N = ${threads} threads):`);
  const nT = `fast ${threads}T`;
  console.log(formatTable(
    ["op", "dtype", "naive", "fast 1T", nT, "naive/1T", `naive/${threads}T`, `1T/${threads}T`],
    rows,
  ));
  return {
    conv: { xShape, wShape, convParam },
    pool: { xShape: poolShape, poolParam },
    repeats,
    threads,
    relativeErrors: errors,
    float32ErrorsRelativeToMax: scaled,
    medianMs: timings,
  };
}

// ------------------------------------------------------------------------------ sandwiches

/** Gradient checks of the conv–relu–pool and conv–relu sandwiches, as in the notebook. */
function runSandwichChecks(): Record<string, unknown> {
  section("Sandwich layers: gradient checks (float64)");
  const rng = new Rng(seed);
  const convParam = { stride: 1, pad: 1 };
  const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };

  const x = randn([2, 3, 16, 16], rng), w = randn([3, 3, 3, 3], rng), b = randn([3], rng);
  const dout = randn([2, 3, 8, 8], rng);
  const [, cache] = convReluPoolForward(x, w, b, convParam, poolParam);
  const [dx, dw, db] = convReluPoolBackward(dout, cache);
  const f = (xx: Tensor, ww: Tensor, bb: Tensor) =>
    convReluPoolForward(xx, ww, bb, convParam, poolParam)[0];
  const convReluPool = reportErrors("convReluPool:", {
    dx: relError(dx, evalNumericalGradientArray((t) => f(t, w, b), x, dout)),
    dw: relError(dw, evalNumericalGradientArray((t) => f(x, t, b), w, dout)),
    db: relError(db, evalNumericalGradientArray((t) => f(x, w, t), b, dout)),
  });

  const x2 = randn([2, 3, 8, 8], rng), w2 = randn([3, 3, 3, 3], rng), b2 = randn([3], rng);
  const dout2 = randn([2, 3, 8, 8], rng);
  const [, cache2] = convReluForward(x2, w2, b2, convParam);
  const [dx2, dw2, db2] = convReluBackward(dout2, cache2);
  const g = (xx: Tensor, ww: Tensor, bb: Tensor) => convReluForward(xx, ww, bb, convParam)[0];
  const convRelu = reportErrors("convRelu:", {
    dx: relError(dx2, evalNumericalGradientArray((t) => g(t, w2, b2), x2, dout2)),
    dw: relError(dw2, evalNumericalGradientArray((t) => g(x2, t, b2), w2, dout2)),
    db: relError(db2, evalNumericalGradientArray((t) => g(x2, w2, t), b2, dout2)),
  });
  return { convReluPool, convRelu };
}

// ------------------------------------------------------------------------------ the model

/** Initial loss (≈ log 10, larger with reg) and a gradient check of a small net. */
function runSanityChecks(): Record<string, unknown> {
  section("ThreeLayerConvNet: initial loss and gradient check");
  const rng = new Rng(seed);
  const inputDim = [1, 28, 28];
  const N = 50;
  const model = new ThreeLayerConvNet({ inputDim, rng });
  const X = randn([N, ...inputDim], rng, 1, 0, "float32");
  const y = Int32Array.from({ length: N }, () => rng.randint(10));
  const [loss] = model.loss(X, y);
  model.reg = 0.5;
  const [lossWithReg] = model.loss(X, y);
  console.log(
    `Initial loss (no regularization): ${loss.toFixed(6)} (log 10 = ` +
      `${Math.log(10).toFixed(6)})`,
  );
  console.log(`Initial loss (reg 0.5): ${lossWithReg.toFixed(6)} (must be larger)`);

  // A small net in float64. The notebook uses inputs (3, 16, 16) and weightScale 1e-2 with
  // h = 1e-6; at that scale the loss barely moves away from log 10, so the gradients of W2
  // are ~1e-6 and the finite differences' rounding shows (errors up to ~1e-3 here). Larger
  // weights give gradients big enough to check to ~1e-7.
  const small = { inputDim: [1, 8, 8], numFilters: 3, filterSize: 3, hiddenDim: 7 };
  const weightScale = 0.1, h = 1e-5;
  const gradModel = new ThreeLayerConvNet({ ...small, weightScale, dtype: "float64", rng });
  const Xs = randn([2, ...small.inputDim], rng);
  const ys = Int32Array.from({ length: 2 }, () => rng.randint(10));
  const [, grads] = gradModel.loss(Xs, ys);
  const errors: Record<string, number> = {};
  for (const name of Object.keys(gradModel.params).sort()) {
    const numeric = evalNumericalGradient(
      () => gradModel.loss(Xs, ys)[0],
      gradModel.params[name],
      { h },
    );
    errors[name] = relError(numeric, grads[name]);
  }
  const config = { ...small, weightScale, h };
  reportErrors(`Gradient check, ${JSON.stringify(config)}, float64:`, errors);
  return {
    initialLoss: loss,
    initialLossReg05: lossWithReg,
    logNumClasses: Math.log(10),
    gradientCheck: { ...config, relativeErrors: errors },
  };
}

/** Overfits 100 training images (notebook: 15 epochs, batch 50, Adam 1e-3, init 1e-2). */
async function runOverfit(d: DataSplits): Promise<Record<string, unknown>> {
  const numTrain = 100;
  section(`Overfitting ${numTrain} training images`);
  const small = trainingSubset(ctx, d, numTrain, "overfitting");
  const model = new ThreeLayerConvNet({
    inputDim: d.XTrain.shape.slice(1),
    weightScale: 1e-2,
    rng: new Rng(seed),
  });
  const solver = new Solver(model, small, {
    updateRule: "adam",
    optimConfig: { learningRate: 1e-3 },
    numEpochs: 15,
    batchSize: 50,
    printEvery: 1,
    rng: new Rng(seed),
  });
  const t0 = performance.now();
  solver.train();
  const seconds = (performance.now() - t0) / 1000;
  const trainAcc = last(solver.trainAccHistory), valAcc = last(solver.valAccHistory);
  console.log(
    "\n" + formatTable(["images", "epochs", "final train acc", "final val acc", "seconds"], [[
      numTrain,
      15,
      trainAcc.toFixed(3),
      valAcc.toFixed(3),
      seconds.toFixed(1),
    ]]),
  );
  await writeTrainingCurves(dir, "overfit", `Overfitting ${numTrain} images`, {
    overfit: solver,
  });
  return {
    numTrain,
    numEpochs: 15,
    finalTrainAcc: trainAcc,
    finalValAcc: valAcc,
    trainAccHistory: solver.trainAccHistory,
    valAccHistory: solver.valAccHistory,
    seconds: round(seconds, 2),
  };
}

/** Trains ThreeLayerConvNet on the whole training split and reports val and test accuracy. */
async function runTrain(d: DataSplits): Promise<Record<string, unknown>> {
  const config = { ...trainConfig, threads: getNumThreads() };
  section(`ThreeLayerConvNet, ${d.XTrain.shape[0]} training images: ${JSON.stringify(config)}`);
  const model = new ThreeLayerConvNet({
    inputDim: d.XTrain.shape.slice(1),
    numFilters: config.numFilters,
    filterSize: config.filterSize,
    hiddenDim: config.hiddenDim,
    weightScale: config.weightScale,
    reg: config.reg,
    dtype: config.dtype,
    rng: new Rng(seed),
  });
  const solver = new Solver(model, d, {
    updateRule: "adam",
    optimConfig: { learningRate: config.learningRate },
    batchSize: config.batchSize,
    numEpochs: config.numEpochs,
    printEvery: quick ? 10 : 100,
    rng: new Rng(seed),
  });
  const t0 = performance.now();
  solver.train();
  const seconds = (performance.now() - t0) / 1000;
  // The Solver has swapped in the parameters with the best validation accuracy.
  const valAcc = solver.checkAccuracy(d.XVal, d.yVal);
  const testAcc = solver.checkAccuracy(d.XTest, d.yTest);
  const imagesPerSecond = (config.numEpochs * d.XTrain.shape[0]) / seconds;
  const secondsPerEpoch = seconds / config.numEpochs;
  console.log(
    "\n" + formatTable(
      ["train images", "epochs", "threads", "val acc", "test acc", "s/epoch", "images/s"],
      [[
        d.XTrain.shape[0],
        config.numEpochs,
        config.threads,
        valAcc.toFixed(4),
        testAcc.toFixed(4),
        secondsPerEpoch.toFixed(1),
        imagesPerSecond.toFixed(0),
      ]],
    ),
  );
  console.log(
    "(Training time includes the Solver's accuracy checks on 1,000 training and all " +
      "validation images.)",
  );
  await writeTrainingCurves(dir, "train", "ThreeLayerConvNet", { train: solver });
  await writeFilterGrid(join(dir, "train_W1.png"), model.params.W1, 6);
  return {
    config,
    valAcc,
    testAcc,
    trainSeconds: round(seconds, 1),
    secondsPerEpoch: round(secondsPerEpoch, 1),
    imagesPerSecond: Math.round(imagesPerSecond),
    trainAccHistory: solver.trainAccHistory,
    valAccHistory: solver.valAccHistory,
  };
}

// ------------------------------------------------------------------------------ normalization

/** Mean and (biased) standard deviation of each of `groups` consecutive equal blocks of `values`. */
function blockStats(values: ArrayLike<number>, groups: number): { mean: number[]; std: number[] } {
  const size = values.length / groups;
  const mean: number[] = [], std: number[] = [];
  for (let g = 0; g < groups; g++) {
    let sum = 0;
    for (let i = g * size; i < (g + 1) * size; i++) sum += values[i];
    const m = sum / size;
    let squares = 0;
    for (let i = g * size; i < (g + 1) * size; i++) squares += (values[i] - m) ** 2;
    mean.push(m);
    std.push(Math.sqrt(squares / size));
  }
  return { mean, std };
}

/** Per-channel mean and std of `x (N, C, H, W)`, over axes (0, 2, 3) as the notebook prints. */
function channelStats(x: Tensor): { mean: number[]; std: number[] } {
  const [N, C, H, W] = x.shape;
  // Gather each channel's N·H·W values into one block, then reuse blockStats.
  const byChannel = new Float64Array(x.size);
  for (let n = 0, k = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < H * W; p++, k++) byChannel[(c * N + n) * H * W + p] = x.data[k];
    }
  }
  return blockStats(byChannel, C);
}

/** One table row per line: label, then the means, then the stds, to 4 decimals. */
function statsTable(labels: string[], stats: { mean: number[]; std: number[] }[], unit: string) {
  const k = stats[0].mean.length;
  const header = [
    "",
    ...Array.from({ length: k }, (_, i) => `mean ${unit}${i}`),
    ...Array.from({ length: k }, (_, i) => `std ${unit}${i}`),
  ];
  return formatTable(
    header,
    stats.map((
      s,
      r,
    ) => [labels[r], ...s.mean.map((v) => v.toFixed(4)), ...s.std.map((v) => v.toFixed(4))]),
  );
}

/** The notebook's spatial batchnorm cells: statistics in train and test mode, gradients. */
function runSpatialBatchnorm(): Record<string, unknown> {
  section("Spatial batch normalization");
  const rng = new Rng(seed);
  const [N, C, H, W] = [2, 3, 4, 5];
  const x = randn([N, C, H, W], rng, 4, 10);
  const [plain] = spatialBatchnormForward(x, Tensor.ones([C]), Tensor.zeros([C]), {
    mode: "train",
  });
  const gamma = Tensor.fromArray([3, 4, 5]), beta = Tensor.fromArray([6, 7, 8]);
  const [scaled] = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
  const train = [channelStats(x), channelStats(plain), channelStats(scaled)];
  console.log(`x of shape [${x.shape}] = 4·randn + 10, train mode:`);
  console.log(statsTable(
    ["before", "after (gamma 1, beta 0)", "after (gamma [3,4,5], beta [6,7,8])"],
    train,
    "c",
  ));

  // Test mode: 50 training-mode passes build the running statistics first.
  const testShape = [10, 4, 11, 12];
  const bnParam: BatchnormParam = { mode: "train" };
  const ones = Tensor.ones([4]), zeros = Tensor.zeros([4]);
  for (let t = 0; t < 50; t++) {
    spatialBatchnormForward(randn(testShape, rng, 2.3, 13), ones, zeros, bnParam);
  }
  bnParam.mode = "test";
  const [testOut] = spatialBatchnormForward(randn(testShape, rng, 2.3, 13), ones, zeros, bnParam);
  const test = channelStats(testOut);
  console.log(
    `\nTest mode after 50 training passes, x [${testShape}] = 2.3·randn + 13 ` +
      "(means near 0, stds near 1, noisier than training mode):",
  );
  console.log(statsTable(["test mode"], [test], "c"));

  const gx = randn([2, 3, 4, 5], rng, 5, 12), gg = randn([3], rng), gb = randn([3], rng);
  const dout = randn([2, 3, 4, 5], rng);
  const f = (xx: Tensor, gm: Tensor, bt: Tensor) =>
    spatialBatchnormForward(xx, gm, bt, { mode: "train" })[0];
  const [, cache] = spatialBatchnormForward(gx, gg, gb, { mode: "train" });
  const [dx, dgamma, dbeta] = spatialBatchnormBackward(dout, cache);
  const gradients = reportErrors("\nspatialBatchnormBackward vs numerical gradients:", {
    dx: relError(dx, evalNumericalGradientArray((t) => f(t, gg, gb), gx, dout)),
    dgamma: relError(dgamma, evalNumericalGradientArray((t) => f(gx, t, gb), gg, dout)),
    dbeta: relError(dbeta, evalNumericalGradientArray((t) => f(gx, gg, t), gb, dout)),
  });
  const r = (s: { mean: number[]; std: number[] }) => ({
    mean: s.mean.map((v) => round(v, 6)),
    std: s.std.map((v) => round(v, 6)),
  });
  return {
    train: { before: r(train[0]), after: r(train[1]), afterGammaBeta: r(train[2]) },
    test: r(test),
    relativeErrors: gradients,
  };
}

/** The notebook's spatial group norm cells: per-group statistics and gradients. */
function runGroupnorm(): Record<string, unknown> {
  section("Spatial group normalization");
  const rng = new Rng(seed);
  const [N, C, H, W, G] = [2, 6, 4, 5, 2];
  const x = randn([N, C, H, W], rng, 4, 10);
  const gamma = Tensor.ones([1, C, 1, 1]), beta = Tensor.zeros([1, C, 1, 1]);
  const [out] = spatialGroupnormForward(x, gamma, beta, G, {});
  // Groups are consecutive blocks of C/G channels of one example: the rows of (N·G, -1).
  const stats = [blockStats(x.data, N * G), blockStats(out.data, N * G)];
  console.log(`x of shape [${x.shape}] = 4·randn + 10, G = ${G} (groups are example·group):`);
  console.log(statsTable(["before", "after (gamma 1, beta 0)"], stats, "g"));

  const gx = randn([N, C, H, W], rng, 5, 12);
  const gg = randn([1, C, 1, 1], rng), gb = randn([1, C, 1, 1], rng);
  const dout = randn([N, C, H, W], rng);
  const f = (xx: Tensor, gm: Tensor, bt: Tensor) => spatialGroupnormForward(xx, gm, bt, G)[0];
  const [, cache] = spatialGroupnormForward(gx, gg, gb, G);
  const [dx, dgamma, dbeta] = spatialGroupnormBackward(dout, cache);
  const gradients = reportErrors("\nspatialGroupnormBackward vs numerical gradients:", {
    dx: relError(dx, evalNumericalGradientArray((t) => f(t, gg, gb), gx, dout)),
    dgamma: relError(dgamma, evalNumericalGradientArray((t) => f(gx, t, gb), gg, dout)),
    dbeta: relError(dbeta, evalNumericalGradientArray((t) => f(gx, gg, t), gb, dout)),
  });
  const r = (s: { mean: number[]; std: number[] }) => ({
    mean: s.mean.map((v) => round(v, 6)),
    std: s.std.map((v) => round(v, 6)),
  });
  return { G, before: r(stats[0]), after: r(stats[1]), relativeErrors: gradients };
}

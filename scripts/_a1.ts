/**
 * What the assignment-1 scripts share: flattened splits with the bias column, accuracy,
 * mean ± std, the peak memory probe, and two pictures (class templates of a linear
 * classifier, rows of example images).
 *
 * @module
 */

import type { DataSplits } from "../lib/data/preprocess.ts";
import { Tensor } from "../lib/tensor.ts";
import { upscale } from "../lib/vis/grid.ts";
import { type RasterImage, writePng } from "../lib/vis/png.ts";

/** The splits with every image flattened to a row `(N, C·H·W)` (views, no copies). */
export function flattenSplits(data: DataSplits): DataSplits {
  const flat = (X: Tensor) => X.reshape([X.shape[0], X.shape.slice(1).reduce((a, b) => a * b, 1)]);
  return { ...data, XTrain: flat(data.XTrain), XVal: flat(data.XVal), XTest: flat(data.XTest) };
}

/** `X` with a column of ones appended: the bias trick of assignment 1. */
export function withBias(X: Tensor): Tensor {
  const [N, D] = X.shape;
  const out = Tensor.zeros([N, D + 1], X.dtype);
  for (let i = 0; i < N; i++) {
    out.data.set(X.data.subarray(i * D, (i + 1) * D), i * (D + 1));
    out.data[i * (D + 1) + D] = 1;
  }
  return out;
}

/** The fraction of predictions equal to the labels. */
export function accuracy(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) correct++;
  return y.length === 0 ? NaN : correct / y.length;
}

/** Mean and (population) standard deviation, as numpy's `mean` and `std`. */
export function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Runs `fn` and returns its value with the wall time in seconds. */
export function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const value = fn();
  return [value, (performance.now() - t0) / 1000];
}

/** The largest resident set size seen by {@link PeakRss.sample}, in MiB. */
export class PeakRss {
  #peak = Deno.memoryUsage().rss;
  /** Takes one reading. */
  sample(): void {
    this.#peak = Math.max(this.#peak, Deno.memoryUsage().rss);
  }
  /** The peak so far, in MiB. */
  get mib(): number {
    this.sample();
    return Math.round(this.#peak / 2 ** 20);
  }
}

/**
 * Lays out rows of images `(C, H, W)` (C 1 or 3) as one picture with `padding` pixels
 * between them, each image scaled by `scale(image)` to 0..255 (default: as 0..255
 * pixels, clamped), then upscaled by `factor`. Empty cells stay black.
 */
export function imageRows(
  rows: Tensor[][],
  options: { padding?: number; factor?: number; scale?: (t: Tensor) => [number, number] } = {},
): RasterImage {
  const { padding = 2, factor = 2, scale = () => [0, 255] } = options;
  const first = rows.flat()[0];
  if (first === undefined) throw new Error("imageRows: no images");
  const [C, H, W] = first.shape;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = cols * W + (cols - 1) * padding,
    height = rows.length * H + (rows.length - 1) * padding;
  const data = new Uint8Array(width * height * C);
  rows.forEach((row, r) => {
    row.forEach((im, c) => {
      const [low, high] = scale(im);
      const range = high - low || 1;
      for (let ch = 0; ch < C; ch++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            const v = (im.data[(ch * H + i) * W + j] - low) / range * 255;
            const y = r * (H + padding) + i, x = c * (W + padding) + j;
            data[(y * width + x) * C + ch] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      }
    });
  });
  return upscale({ width, height, channels: C as 1 | 3, data }, factor);
}

/**
 * Writes the weights of a linear classifier `(D + 1, classes)` (bias row last) as one row
 * of class templates `(C, H, W)`, all scaled by the same minimum and maximum (as the
 * notebook does), to `path`.
 */
export async function writeClassTemplates(
  path: string,
  W: Tensor,
  imageShape: readonly number[],
): Promise<void> {
  const [rows, classes] = W.shape;
  const D = rows - 1;
  const templates: Tensor[] = [];
  let low = Infinity, high = -Infinity;
  for (let c = 0; c < classes; c++) {
    const t = Tensor.zeros([D]);
    for (let d = 0; d < D; d++) {
      const v = W.data[d * classes + c];
      t.data[d] = v;
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
    templates.push(t.reshape(imageShape));
  }
  await writePng(path, imageRows([templates], { factor: 4, scale: () => [low, high] }));
  console.log(`Wrote ${path}`);
}

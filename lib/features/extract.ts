/**
 * `extractFeatures`, cs231n `features.extract_features`: runs feature functions over a
 * stack of images and concatenates their outputs.
 *
 * @module
 */

import { Tensor } from "../tensor.ts";
import { checkOptionKeys } from "../checks.ts";

/** A feature function: one image `(H, W[, C])` in, a 1-d Tensor out. */
export type FeatureFn = (im: Tensor) => Tensor;

/** Options of {@link extractFeatures}. */
export interface ExtractFeaturesOptions {
  /**
   * Report progress: `true` prints a line every tenth of the images (at most every 1,000),
   * a function receives `(done, total)` instead. Default: print when there are more than
   * 1,000 images.
   */
  progress?: boolean | ((done: number, total: number) => void);
}

/**
 * The features of every image: `images` is `(N, H, W)` or `(N, H, W, C)`; each function
 * gets one image as an `(H, W[, C])` Tensor (a view, not a copy) and returns a 1-d Tensor
 * of a fixed length. Returns a float64 `(N, F)` Tensor whose row `i` is the outputs for
 * image `i`, concatenated in the order of `featureFns`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { extractFeatures } from "./extract.ts";
 * import { hogFeature } from "./hog.ts";
 * import { intensityHistogram } from "./histogram.ts";
 * const images = Tensor.zeros([5, 28, 28]).map((_, i) => (i * 7) % 256);
 * const features = extractFeatures(images, [
 *   (im) => hogFeature(im, { cellSize: 7 }),
 *   intensityHistogram,
 * ]);
 * assert.deepEqual(features.shape, [5, 4 * 4 * 9 + 10]);
 * ```
 */
export function extractFeatures(
  images: Tensor,
  featureFns: readonly FeatureFn[],
  options: ExtractFeaturesOptions = {},
): Tensor {
  const fn = "extractFeatures";
  checkOptionKeys(fn, options, ["progress"]);
  if (!(images instanceof Tensor) || (images.ndim !== 3 && images.ndim !== 4)) {
    throw new Error(
      `${fn}: images must be a Tensor (N, H, W) or (N, H, W, C), got ` +
        (images instanceof Tensor ? `shape [${images.shape}]` : `${images}`),
    );
  }
  if (!Array.isArray(featureFns) || featureFns.length === 0) {
    throw new Error(`${fn}: featureFns must be a non-empty array of functions`);
  }
  featureFns.forEach((f, i) => {
    if (typeof f !== "function") throw new Error(`${fn}: featureFns[${i}] is not a function`);
  });
  const N = images.shape[0];
  const imageShape = images.shape.slice(1);
  const imageSize = imageShape.reduce((a, b) => a * b, 1);
  const imageAt = (i: number) =>
    new Tensor(images.data.subarray(i * imageSize, (i + 1) * imageSize), imageShape);
  if (N === 0) throw new Error(`${fn}: images has no images (shape [${images.shape}])`);

  // Dimensions from the first image, as the course does.
  const first = featureFns.map((f, k) => checkOutput(fn, k, f(imageAt(0)), -1));
  const dims = first.map((t) => t.size);
  const F = dims.reduce((a, b) => a + b, 0);
  const out = Tensor.zeros([N, F]);
  const report = progressReporter(options.progress, N);
  for (let i = 0; i < N; i++) {
    let offset = i * F;
    for (let k = 0; k < featureFns.length; k++) {
      const feature = i === 0 ? first[k] : checkOutput(fn, k, featureFns[k](imageAt(i)), dims[k]);
      out.data.set(feature.data, offset);
      offset += dims[k];
    }
    report(i + 1);
  }
  return out;
}

function checkOutput(fn: string, k: number, t: unknown, size: number): Tensor {
  if (!(t instanceof Tensor) || t.ndim !== 1) {
    throw new Error(
      `${fn}: featureFns[${k}] must return a 1-d Tensor, got ` +
        (t instanceof Tensor ? `shape [${t.shape}]` : `${t}`),
    );
  }
  if (size >= 0 && t.size !== size) {
    throw new Error(
      `${fn}: featureFns[${k}] returned ${t.size} values, but ${size} for the first image`,
    );
  }
  return t;
}

function progressReporter(
  progress: ExtractFeaturesOptions["progress"],
  total: number,
): (done: number) => void {
  if (typeof progress === "function") return (done) => progress(done, total);
  if (progress === false || (progress === undefined && total <= 1000)) return () => {};
  const every = Math.min(1000, Math.max(1, Math.ceil(total / 10)));
  return (done) => {
    if (done % every === 0 || done === total) {
      console.log(`Done extracting features for ${done} / ${total} images`);
    }
  };
}

/**
 * Saliency maps (Simonyan et al., 2014): which pixels the correct class score is most
 * sensitive to.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import { Tensor } from "../tensor.ts";
import { checkImages, classScoreGradient, withFrozenModel } from "./_frozen.ts";

/**
 * Saliency maps of images `X` `(N, C, H, W)` with labels `y` under `model`: the largest
 * absolute value over channels of the gradient of each image's correct-class score with
 * respect to its pixels, `S[n, h, w] = max_c |∂ s[n, y[n]] / ∂ X[n, c, h, w]|` → `(N, H, W)`.
 *
 * The model is put in eval mode (so the images do not interact through batchnorm) and its
 * parameters get no gradient; `X` itself is not modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import * as nn from "../nn/mod.ts";
 * import { computeSaliencyMaps } from "./saliency.ts";
 * // A linear classifier: the gradient of score k is row k of the weights.
 * const fc = new nn.Linear(4, 2);
 * fc.weight.data.set([1, -2, 3, -4, 5, 6, -7, 8]);
 * const model = new nn.Sequential(new nn.Flatten(), fc);
 * const X = Tensor.zeros([1, 1, 2, 2], "float32");
 * const s = computeSaliencyMaps(X, Int32Array.of(1), model);
 * assert.deepEqual(s.shape, [1, 2, 2]);
 * assert.deepEqual(Array.from(s.data), [5, 6, 7, 8]);
 * assert.equal(fc.weight.grad, null);
 * ```
 */
export function computeSaliencyMaps(X: Tensor, y: ArrayLike<number>, model: Module): Tensor {
  const fn = "computeSaliencyMaps";
  checkImages(fn, "X", X);
  const [N, C, H, W] = X.shape;
  if (y == null || y.length !== N) {
    throw new Error(`${fn}: y has ${y?.length} labels but X has ${N} images (shape [${X.shape}])`);
  }
  return withFrozenModel(fn, model, () => {
    const { grad } = classScoreGradient(fn, model, X, y, "y");
    const out = Tensor.zeros([N, H, W], X.dtype);
    const g = grad.data, s = out.data, plane = H * W;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < plane; p++) {
        let best = 0;
        for (let c = 0; c < C; c++) best = Math.max(best, Math.abs(g[(n * C + c) * plane + p]));
        s[n * plane + p] = best;
      }
    }
    return out;
  });
}

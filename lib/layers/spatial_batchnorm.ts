/**
 * Spatial batch normalization, cs231n `spatial_batchnorm_forward` /
 * `spatial_batchnorm_backward`: batchnorm for convolutional feature maps, where every
 * channel is normalized over the batch *and* all spatial positions, so a feature detector
 * is treated alike wherever it fires.
 *
 * cs231n transposes `(N, C, H, W)` to `(N·H·W, C)` and calls plain batchnorm; the kernels
 * here read the channels in place instead (the view `(N, C, H·W)`), with the same result.
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import {
  type BatchnormCache,
  type BatchnormParam,
  channelBatchnormBackward,
  channelBatchnormForward,
} from "./batchnorm.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Spatial batchnorm of `x` of shape `(N, C, H, W)` with `gamma`, `beta` of shape `(C,)`:
 * each channel is normalized with the mean and biased variance of its `N·H·W` values
 * (training mode, updating `bnParam.runningMean` / `runningVar` of shape `(C,)`) or with
 * the running statistics (test mode). Same `bnParam` as `batchnormForward`. Returns
 * `[out (N, C, H, W), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { spatialBatchnormForward } from "./spatial_batchnorm.ts";
 * // Channel 0 holds 1..4, channel 1 is constant: it normalizes to zeros, then beta.
 * const x = Tensor.fromArray([1, 2, 3, 4, 7, 7, 7, 7], [1, 2, 2, 2]);
 * const gamma = Tensor.ones([2]), beta = Tensor.fromArray([0, 3]);
 * const [out] = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
 * assert.ok(Math.abs(out.get(0, 0, 1, 1) - 1.5 / Math.sqrt(1.25 + 1e-5)) < 1e-12);
 * assert.equal(out.get(0, 1, 0, 0), 3);
 * ```
 */
export function spatialBatchnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): [Tensor, BatchnormCache] {
  const fn = "spatialBatchnormForward";
  checkTensor(fn, "x", x);
  if (x.ndim !== 4) {
    throw new Error(`${fn}: x must be 4-d, shape (N, C, H, W); got shape [${x.shape}]`);
  }
  const [N, C, H, W] = x.shape;
  return channelBatchnormForward(
    fn,
    x,
    { outer: N, channels: C, inner: H * W },
    gamma,
    beta,
    bnParam,
  );
}

/**
 * Backward pass of {@link spatialBatchnormForward} (training mode), in the closed form of
 * `batchnormBackwardAlt` with `N·H·W` values per channel. Returns
 * `[dx (N, C, H, W), dgamma (C,), dbeta (C,)]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { spatialBatchnormBackward, spatialBatchnormForward } from "./spatial_batchnorm.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4], [1, 1, 2, 2]);
 * const [, cache] = spatialBatchnormForward(x, Tensor.ones([1]), Tensor.zeros([1]), {
 *   mode: "train",
 * });
 * const [dx, dgamma, dbeta] = spatialBatchnormBackward(Tensor.ones([1, 1, 2, 2]), cache);
 * assert.ok(dx.data.every((v) => Math.abs(v) < 1e-12));
 * assert.ok(Math.abs(dgamma.get(0)) < 1e-12 && dbeta.get(0) === 4);
 * ```
 */
export function spatialBatchnormBackward(
  dout: Tensor,
  cache: BatchnormCache,
): [Tensor, Tensor, Tensor] {
  return channelBatchnormBackward("spatialBatchnormBackward", dout, cache, "alt");
}

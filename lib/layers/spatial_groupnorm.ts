/**
 * Spatial group normalization, cs231n `spatial_groupnorm_forward` /
 * `spatial_groupnorm_backward` (Wu and He, 2018): the channels of each example are split
 * into `G` groups, and each group is normalized over its channels and all positions.
 * Like layernorm (which is the case `G = 1`) it needs no batch statistics, so it behaves
 * the same in training and test mode and works with small batches.
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import type { ChannelLayout } from "./batchnorm.ts";
import {
  checkNormParam,
  groupNormBackwardPass,
  groupNormForward,
  type LayernormCache,
} from "./layernorm.ts";
import type { Tensor } from "../tensor.ts";

/** Settings of a groupnorm layer (cs231n's `gn_param`). */
export interface GroupnormParam {
  /** Added to the variance for numerical stability (default `1e-5`). */
  eps?: number;
}

/** What {@link spatialGroupnormForward} keeps for the backward pass. */
export type GroupnormCache = LayernormCache;

/**
 * Group normalization of `x` of shape `(N, C, H, W)` in `G` groups of `C / G` consecutive
 * channels, with `gamma` and `beta` of shape `(1, C, 1, 1)` as in cs231n: each (example,
 * group) block of `C/G · H · W` values is normalized with its own mean and biased variance,
 * then every channel is scaled and shifted. Returns `[out (N, C, H, W), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { spatialGroupnormForward } from "./spatial_groupnorm.ts";
 * // Two groups of one channel: channel 0 holds (1, 3), channel 1 holds (5, 5).
 * const x = Tensor.fromArray([1, 3, 5, 5], [1, 2, 1, 2]);
 * const gamma = Tensor.ones([1, 2, 1, 1]), beta = Tensor.fromArray([0, 2], [1, 2, 1, 1]);
 * const [out] = spatialGroupnormForward(x, gamma, beta, 2, { eps: 1e-12 });
 * assert.ok(out.data.every((v, i) => Math.abs(v - [-1, 1, 2, 2][i]) < 1e-9));
 * ```
 */
export function spatialGroupnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  G: number,
  gnParam: GroupnormParam = {},
): [Tensor, GroupnormCache] {
  const fn = "spatialGroupnormForward";
  checkTensor(fn, "x", x);
  if (x.ndim !== 4) {
    throw new Error(`${fn}: x must be 4-d, shape (N, C, H, W); got shape [${x.shape}]`);
  }
  const [N, C, H, W] = x.shape;
  if (!Number.isInteger(G) || G <= 0) {
    throw new Error(`${fn}: G must be a positive integer, got ${G}`);
  }
  if (C % G !== 0) {
    throw new Error(
      `${fn}: the ${C} channels of x (shape [${x.shape}]) cannot be split into G = ${G} ` +
        "equal groups; C must be divisible by G",
    );
  }
  for (const [name, t] of [["gamma", gamma], ["beta", beta]] as const) {
    checkTensor(fn, name, t);
    if (
      t.ndim !== 4 || t.shape[0] !== 1 || t.shape[1] !== C || t.shape[2] !== 1 || t.shape[3] !== 1
    ) {
      throw new Error(`${fn}: ${name} must have shape [1,${C},1,1], got shape [${t.shape}]`);
    }
    if (t.dtype !== x.dtype) {
      throw new Error(`${fn}: ${name} is ${t.dtype} but x is ${x.dtype}; they must match`);
    }
  }
  const eps = checkNormParam(fn, "gnParam", gnParam);
  const layout: ChannelLayout = { outer: N, channels: C, inner: H * W };
  return groupNormForward(fn, x, layout, G, gamma, beta, eps);
}

/**
 * Backward pass of {@link spatialGroupnormForward}: returns
 * `[dx (N, C, H, W), dgamma (1, C, 1, 1), dbeta (1, C, 1, 1)]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { spatialGroupnormBackward, spatialGroupnormForward } from "./spatial_groupnorm.ts";
 * const x = Tensor.fromArray([1, 3, 2, 7], [1, 2, 1, 2]);
 * const gamma = Tensor.ones([1, 2, 1, 1]), beta = Tensor.zeros([1, 2, 1, 1]);
 * const [, cache] = spatialGroupnormForward(x, gamma, beta, 1);
 * const [dx, dgamma, dbeta] = spatialGroupnormBackward(Tensor.ones([1, 2, 1, 2]), cache);
 * assert.ok(dx.data.every((v) => Math.abs(v) < 1e-12));
 * assert.deepEqual([dgamma.shape, dbeta.toNested()], [[1, 2, 1, 1], [[[[2]], [[2]]]]]);
 * ```
 */
export function spatialGroupnormBackward(
  dout: Tensor,
  cache: GroupnormCache,
): [Tensor, Tensor, Tensor] {
  return groupNormBackwardPass("spatialGroupnormBackward", dout, cache);
}

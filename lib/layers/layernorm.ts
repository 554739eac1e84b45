/**
 * Layer normalization, cs231n `layernorm_forward` / `layernorm_backward`.
 *
 * Each example is normalized with the mean and variance of its own features, so the
 * output does not depend on the rest of the batch: training and test mode are the same,
 * no running statistics are kept, and a batch of one works. `gamma` and `beta` still act
 * per feature.
 *
 * The code is shared with spatial groupnorm (`spatial_groupnorm.ts`): layernorm of
 * `(N, D)` is groupnorm with one group of `D` channels of one value each.
 *
 * @module
 */

import {
  groupNormBackward,
  inverseStd,
  normalizeGroups,
  rowMoments,
} from "../kernels/normalization.ts";
import { sameShape, Tensor } from "../tensor.ts";
import { checkTensor } from "../tensor_checks.ts";
import { type ChannelLayout, checkAffineParams, checkEps } from "./batchnorm.ts";

/**
 * Settings of a layernorm layer (cs231n's `ln_param`). `mode` is accepted, so that one
 * parameter object can serve either normalization, and ignored.
 */
export interface LayernormParam {
  /** Added to the variance for numerical stability (default `1e-5`). */
  eps?: number;
  /** Ignored: layernorm behaves the same in training and test mode. */
  mode?: "train" | "test";
}

/**
 * What {@link layernormForward} (and spatial groupnorm) keeps for the backward pass.
 * `mean` and `invStd` are float64 tensors with one entry per (example, group).
 */
export interface LayernormCache {
  /** The input. */
  x: Tensor;
  /** The normalized input, shaped like `x`. */
  xHat: Tensor;
  /** Mean per (example, group), float64. */
  mean: Tensor;
  /** `1 / sqrt(variance + eps)` per (example, group), float64. */
  invStd: Tensor;
  /** The scale parameter. */
  gamma: Tensor;
  /** The epsilon used. */
  eps: number;
  /** How `x` was viewed. */
  layout: ChannelLayout;
  /** Number of groups the channels were split into (1 for layernorm). */
  groups: number;
}

/**
 * Layer normalization of `x` of shape `(N, D)` with `gamma`, `beta` of shape `(D,)`:
 * `out = gamma · (x − μ) / sqrt(σ² + eps) + beta` where `μ` and `σ²` (biased) are taken
 * over each row. Returns `[out (N, D), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { layernormForward } from "./layernorm.ts";
 * const x = Tensor.fromArray([[1, 3], [10, 30]]);
 * const [out] = layernormForward(x, Tensor.ones([2]), Tensor.fromArray([0, 1]), { eps: 1e-12 });
 * // Each row is normalized on its own: both become (-1, 1), then beta is added.
 * assert.ok(out.data.every((v, i) => Math.abs(v - [-1, 2, -1, 2][i]) < 1e-9));
 * ```
 */
export function layernormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  lnParam: LayernormParam = {},
): [Tensor, LayernormCache] {
  const fn = "layernormForward";
  checkTensor(fn, "x", x);
  if (x.ndim !== 2) {
    throw new Error(`${fn}: x must be 2-d, shape (N, D); got shape [${x.shape}]`);
  }
  checkAffineParams(fn, x, gamma, beta, x.shape[1]);
  const eps = checkNormParam(fn, "lnParam", lnParam);
  return groupNormForward(
    fn,
    x,
    { outer: x.shape[0], channels: x.shape[1], inner: 1 },
    1,
    gamma,
    beta,
    eps,
  );
}

/**
 * Backward pass of {@link layernormForward}: returns `[dx (N, D), dgamma (D,), dbeta (D,)]`,
 * with `dx = invStd / D · (D · dxHat − Σ dxHat − xHat · Σ dxHat · xHat)` per row, where
 * `dxHat = dout · gamma`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { layernormBackward, layernormForward } from "./layernorm.ts";
 * const x = Tensor.fromArray([[1, 3], [2, 7]]);
 * const [, cache] = layernormForward(x, Tensor.ones([2]), Tensor.zeros([2]));
 * // A gradient that is constant along a row is removed by the row's mean.
 * const [dx, , dbeta] = layernormBackward(Tensor.fromArray([[1, 1], [2, 2]]), cache);
 * assert.ok(dx.data.every((v) => Math.abs(v) < 1e-12));
 * assert.deepEqual(dbeta.toNested(), [3, 3]);
 * ```
 */
export function layernormBackward(
  dout: Tensor,
  cache: LayernormCache,
): [Tensor, Tensor, Tensor] {
  return groupNormBackwardPass("layernormBackward", dout, cache);
}

/**
 * The forward pass shared by layernorm and spatial groupnorm: `x` viewed as `layout`, its
 * channels split into `groups` groups, each (example, group) block normalized with its own
 * statistics; then `gamma`, `beta` (one value per channel, any shape holding `channels`
 * values) scale and shift. The caller validates the arguments.
 */
export function groupNormForward(
  fn: string,
  x: Tensor,
  layout: ChannelLayout,
  groups: number,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
): [Tensor, LayernormCache] {
  const { outer, channels, inner } = layout;
  const blockSize = (channels / groups) * inner;
  if (blockSize === 0) {
    throw new Error(
      `${fn}: each example needs at least one value per group to take statistics over, ` +
        `got x of shape [${x.shape}]`,
    );
  }
  const rows = outer * groups;
  const mean = Tensor.zeros([rows], "float64");
  const variance = Tensor.zeros([rows], "float64");
  const invStd = Tensor.zeros([rows], "float64");
  const xHat = Tensor.zeros(x.shape, x.dtype);
  const out = Tensor.zeros(x.shape, x.dtype);
  rowMoments(x.data, rows, blockSize, mean.data, variance.data);
  inverseStd(variance.data, eps, rows, invStd.data);
  normalizeGroups(
    x.data,
    outer,
    channels,
    inner,
    groups,
    mean.data,
    invStd.data,
    gamma.data,
    beta.data,
    xHat.data,
    out.data,
  );
  return [out, { x, xHat, mean, invStd, gamma, eps, layout, groups }];
}

/**
 * The backward pass shared by layernorm and spatial groupnorm. Returns
 * `[dx, dgamma, dbeta]`, the parameter gradients shaped like `gamma`.
 */
export function groupNormBackwardPass(
  fn: string,
  dout: Tensor,
  cache: LayernormCache,
): [Tensor, Tensor, Tensor] {
  if (cache == null || typeof cache !== "object" || !(cache.xHat instanceof Tensor)) {
    throw new Error(`${fn}: cache must be the cache returned by the forward pass, got ${cache}`);
  }
  const { x, xHat, invStd, gamma, layout, groups } = cache;
  checkTensor(fn, "dout", dout);
  if (!sameShape(dout.shape, x.shape)) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward input had shape [${x.shape}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`${fn}: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
  const dx = Tensor.zeros(x.shape, x.dtype);
  const dgamma = Tensor.zeros(gamma.shape, gamma.dtype);
  const dbeta = Tensor.zeros(gamma.shape, gamma.dtype);
  groupNormBackward(
    dout.data,
    xHat.data,
    layout.outer,
    layout.channels,
    layout.inner,
    groups,
    gamma.data,
    invStd.data,
    dx.data,
    dgamma.data,
    dbeta.data,
  );
  return [dx, dgamma, dbeta];
}

/** Reads `eps` from a layernorm / groupnorm parameter object (which may be omitted). */
export function checkNormParam(fn: string, name: string, param: { eps?: number }): number {
  if (param == null || typeof param !== "object") {
    throw new Error(`${fn}: ${name} must be an object such as { eps: 1e-5 }, got ${param}`);
  }
  return checkEps(fn, `${name}.eps`, param.eps ?? 1e-5);
}

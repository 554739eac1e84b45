/**
 * Spatial batchnorm in training mode followed by 2×2 max pooling with stride 2, and
 * optionally a ReLU, as one layer that never stores the normalized activation (the kernels
 * are `kernels/norm_pool.ts`). Its results are bitwise those of `spatialBatchnormForward`
 * (training mode) followed by `maxPoolForwardFast` with 2×2 windows (then `reluForward`)
 * and their backward passes, and it checks its arguments as they do; it applies where
 * {@link batchnormMaxPoolFuses} says so.
 *
 * @module
 */

import {
  normalizeMaxPool2x2,
  normBackwardMaxPool2x2,
  normPoolApplies,
} from "../kernels/norm_pool.ts";
import { allocateOutput } from "../scratch.ts";
import type { FloatArray } from "../storage.ts";
import { sameShape, Tensor } from "../tensor.ts";
import { checkTensor } from "../tensor_checks.ts";
import { batchStatistics, checkAffineParams, checkEps } from "./batchnorm.ts";

/** What {@link batchnormMaxPoolForward} keeps for the backward pass. */
export interface BatchnormPoolCache {
  /** The input `(N, C, H, W)`. */
  x: Tensor;
  /** The scale parameter. */
  gamma: Tensor;
  /** Batch mean per channel (float64). */
  mean: Tensor;
  /** Biased batch variance per channel (float64). */
  variance: Tensor;
  /** `1 / sqrt(variance + eps)` per channel (float64). */
  invStd: Tensor;
  /** Each window's tap (`kh·2 + kw`, the first maximum), on {@link argmaxStore}. */
  argmax: Uint16Array;
  /**
   * The buffer-pool array `argmax` lives on (two taps per float32): the caller may give it
   * back (`giveBack`) once no backward pass can run any more.
   */
  argmaxStore: FloatArray;
  /**
   * With a ReLU after the pooling, the layer's output (the ReLU's): the backward pass masks
   * the gradient where it is not positive. Null without one.
   */
  reluOut: Tensor | null;
}

/**
 * Whether {@link batchnormMaxPoolForward} applies: a float32 `x (N, C, H, W)` with `N ≥ 1`
 * and even `H` and `W`, float32 `gamma` and `beta`, and this thread's WebAssembly kernels
 * (SIMD, the WebAssembly GEMM selected: `normPoolApplies`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { batchnormMaxPoolFuses } from "./batchnorm_pool.ts";
 * const g = Tensor.ones([3], "float32"), b = Tensor.zeros([3], "float32");
 * assert.equal(batchnormMaxPoolFuses(Tensor.zeros([2, 3, 5, 4], "float32"), g, b), false); // odd
 * assert.equal(batchnormMaxPoolFuses(Tensor.zeros([2, 3, 4, 4], "float64"), g, b), false);
 * ```
 */
export function batchnormMaxPoolFuses(x: Tensor, gamma: Tensor, beta: Tensor): boolean {
  if (x.ndim !== 4 || x.dtype !== "float32") return false;
  if (gamma.dtype !== x.dtype || beta.dtype !== x.dtype) return false;
  const [N, C, H, W] = x.shape;
  return normPoolApplies(x.data, N * C, H, W);
}

/**
 * Training-mode spatial batchnorm of `x (N, C, H, W)` (batch statistics, `eps` added to the
 * variance) followed by 2×2 max pooling with stride 2, and by a ReLU when `relu` is set:
 * returns the pooled `(N, C, H/2, W/2)` output and the cache of
 * {@link batchnormMaxPoolBackward}. The batch
 * statistics are in the cache (`mean`, `variance`) for the caller's running averages.
 * {@link batchnormMaxPoolFuses} must hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { batchnormMaxPoolForward, batchnormMaxPoolFuses } from "./batchnorm_pool.ts";
 * import { maxPoolForwardFast } from "./pool.ts";
 * import { spatialBatchnormForward } from "./spatial_batchnorm.ts";
 * const x = Tensor.randn([2, 3, 4, 6], new Rng(1), "float32");
 * const gamma = Tensor.ones([3], "float32"), beta = Tensor.zeros([3], "float32");
 * if (batchnormMaxPoolFuses(x, gamma, beta)) {
 *   const [pooled] = batchnormMaxPoolForward(x, gamma, beta, 1e-5);
 *   const [normalized] = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
 *   const [apart] = maxPoolForwardFast(normalized, { poolHeight: 2, poolWidth: 2, stride: 2 });
 *   assert.deepEqual(pooled.data, apart.data);
 * }
 * ```
 */
export function batchnormMaxPoolForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  relu = false,
): [Tensor, BatchnormPoolCache] {
  const fn = "batchnormMaxPoolForward";
  checkTensor(fn, "x", x);
  if (x.ndim !== 4) throw new Error(`${fn}: x must be 4-d (N, C, H, W), got shape [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  checkAffineParams(fn, x, gamma, beta, C);
  checkEps(fn, "eps", eps);
  if (!batchnormMaxPoolFuses(x, gamma, beta)) {
    throw new Error(
      `${fn}: needs float32 x with N ≥ 1, even height and width, and the WebAssembly ` +
        `kernels; got ${x.dtype} x of shape [${x.shape}]`,
    );
  }
  const { mean, variance, invStd } = batchStatistics(
    x,
    { outer: N, channels: C, inner: H * W },
    eps,
  );
  const size = (N * C * H * W) / 4;
  const pooled = new Tensor(allocateOutput(x.dtype, size, false), [N, C, H / 2, W / 2]);
  // The taps live on a pool buffer (two per float32 slot) so that the caller can give it
  // back: fresh memory every step would cost page faults.
  const argmaxStore = allocateOutput("float32", Math.ceil(size / 2), false);
  const argmax = new Uint16Array(argmaxStore.buffer, argmaxStore.byteOffset, size);
  normalizeMaxPool2x2(
    x.data as Float32Array,
    N,
    C,
    H,
    W,
    mean.data,
    invStd.data,
    gamma.data,
    beta.data,
    pooled.data as Float32Array,
    argmax,
    relu,
  );
  const reluOut = relu ? pooled : null;
  return [pooled, { x, gamma, mean, variance, invStd, argmax, argmaxStore, reluOut }];
}

/**
 * Backward pass of {@link batchnormMaxPoolForward}: from the gradient of the pooled output,
 * returns `[dx (N, C, H, W), dgamma (C,), dbeta (C,)]`, bitwise what the ReLU's (if any),
 * the pooling's and then batchnorm's closed-form backward passes give.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import {
 *   batchnormMaxPoolBackward,
 *   batchnormMaxPoolForward,
 *   batchnormMaxPoolFuses,
 * } from "./batchnorm_pool.ts";
 * const x = Tensor.randn([2, 3, 4, 6], new Rng(1), "float32");
 * const gamma = Tensor.ones([3], "float32"), beta = Tensor.zeros([3], "float32");
 * if (batchnormMaxPoolFuses(x, gamma, beta)) {
 *   const [pooled, cache] = batchnormMaxPoolForward(x, gamma, beta, 1e-5);
 *   const [dx, , dbeta] = batchnormMaxPoolBackward(Tensor.ones(pooled.shape, "float32"), cache);
 *   assert.deepEqual(dx.shape, [2, 3, 4, 6]);
 *   assert.deepEqual([...dbeta.data], [12, 12, 12]); // 2 examples × 2×3 windows
 * }
 * ```
 */
export function batchnormMaxPoolBackward(
  dout: Tensor,
  cache: BatchnormPoolCache,
): [Tensor, Tensor, Tensor] {
  const fn = "batchnormMaxPoolBackward";
  if (cache === null || typeof cache !== "object" || !(cache.argmax instanceof Uint16Array)) {
    throw new Error(`${fn}: cache must be the cache returned by batchnormMaxPoolForward`);
  }
  const { x, gamma, mean, invStd, argmax, reluOut } = cache;
  const [N, C, H, W] = x.shape;
  checkTensor(fn, "dout", dout);
  if (!sameShape(dout.shape, [N, C, H / 2, W / 2]) || dout.dtype !== x.dtype) {
    throw new Error(
      `${fn}: dout must be ${x.dtype} of shape [${[N, C, H / 2, W / 2]}] (the pooled output), ` +
        `got ${dout.dtype} of shape [${dout.shape}]`,
    );
  }
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  const dgamma = Tensor.zeros([C], gamma.dtype), dbeta = Tensor.zeros([C], gamma.dtype);
  normBackwardMaxPool2x2(
    dout.data as Float32Array,
    argmax,
    x.data as Float32Array,
    N,
    C,
    H,
    W,
    mean.data,
    gamma.data,
    invStd.data,
    dx.data as Float32Array,
    dgamma.data,
    dbeta.data,
    reluOut ? (reluOut.data as Float32Array) : null,
  );
  return [dx, dgamma, dbeta];
}

/**
 * Batch normalization, cs231n `batchnorm_forward`, `batchnorm_backward` and
 * `batchnorm_backward_alt`.
 *
 * In training mode each feature is normalized with the mean and (biased) variance of the
 * minibatch, then scaled by `gamma` and shifted by `beta`; running averages of those
 * statistics are kept in `bnParam` and used instead at test time, so that a prediction
 * does not depend on the other examples of its batch.
 *
 * The same code serves spatial batchnorm (`spatial_batchnorm.ts`): both view their input as
 * `(outer, channels, inner)`, `(N, D, 1)` here and `(N, C, H·W)` there.
 *
 * @module
 */

import { allocateOutput } from "../scratch.ts";
import { checkTensor } from "../tensor_checks.ts";
import {
  channelMoments,
  channelNormBackward,
  channelNormBackwardFromInput,
  channelNormBackwardGraph,
  inverseStd,
  momentumAverage,
  normalizeChannels,
} from "../kernels/normalization.ts";
import { sameShape, Tensor } from "../tensor.ts";

/**
 * Settings and state of one batchnorm layer (cs231n's `bn_param` dict, in camelCase).
 * `runningMean` and `runningVar` are created (zeros of shape `(D,)`, x's dtype) by the
 * first training-mode forward pass and replaced by new tensors on every later one.
 */
export interface BatchnormParam {
  /** `"train"`: batch statistics (and update the running ones); `"test"`: running ones. */
  mode: "train" | "test";
  /** Added to the variance for numerical stability (default `1e-5`). */
  eps?: number;
  /** Weight of the old value in the running averages (default `0.9`). */
  momentum?: number;
  /** Running average of the batch means, shape `(D,)`. */
  runningMean?: Tensor;
  /** Running average of the batch variances, shape `(D,)`. */
  runningVar?: Tensor;
}

/** How a normalization layer views its input: `(outer, channels, inner)`, row-major. */
export interface ChannelLayout {
  /** Examples: `N`. */
  outer: number;
  /** Features or channels, each with its own statistics and `gamma`, `beta`: `D` or `C`. */
  channels: number;
  /** Positions sharing a channel's statistics within one example: 1, or `H·W`. */
  inner: number;
}

/**
 * What a training-mode {@link batchnormForward} keeps for the backward pass. `mean`,
 * `variance` and `invStd` (`1/sqrt(variance + eps)`) are float64 `(D,)` tensors; `xHat`, the
 * normalized input, has x's shape and dtype.
 */
export interface BatchnormTrainCache {
  /** Which forward mode produced this cache. */
  mode: "train";
  /** The input. */
  x: Tensor;
  /**
   * `(x − mean) · invStd`, or null when the forward pass was asked not to keep it
   * (`keepXHat: false`); the backward pass then recomputes it from `x`.
   */
  xHat: Tensor | null;
  /** Batch mean per channel (float64). */
  mean: Tensor;
  /** Biased batch variance per channel (float64). */
  variance: Tensor;
  /** `1 / sqrt(variance + eps)` per channel (float64). */
  invStd: Tensor;
  /** The scale parameter. */
  gamma: Tensor;
  /** The epsilon used. */
  eps: number;
  /** How `x` was viewed. */
  layout: ChannelLayout;
}

/**
 * What a test-mode forward pass keeps: only the mode. The test-mode output uses fixed
 * running statistics, and the backward passes here (like cs231n's) differentiate the
 * training-mode computation, so they reject this cache instead of returning a wrong
 * gradient.
 */
export interface BatchnormTestCache {
  /** Which forward mode produced this cache. */
  mode: "test";
}

/** What {@link batchnormForward} returns as its cache. */
export type BatchnormCache = BatchnormTrainCache | BatchnormTestCache;

/**
 * Batch normalization of `x` of shape `(N, D)`, with `gamma` and `beta` of shape `(D,)`.
 *
 * Training mode: `out = gamma · (x − μ) / sqrt(σ² + eps) + beta` with the batch mean `μ`
 * and biased variance `σ²` of each column; then
 * `running = momentum · running + (1 − momentum) · batch` for both statistics, stored back
 * into `bnParam` (running statistics start at zero). Test mode uses `runningMean` and
 * `runningVar` instead, and needs them to exist. Returns `[out (N, D), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { type BatchnormParam, batchnormForward } from "./batchnorm.ts";
 * const x = Tensor.fromArray([[1, 10], [3, 30]]);
 * const bnParam: BatchnormParam = { mode: "train", eps: 1e-12 };
 * const [out] = batchnormForward(x, Tensor.fromArray([1, 2]), Tensor.fromArray([0, 5]), bnParam);
 * // Columns (1, 3) and (10, 30) both normalize to (-1, 1); then gamma and beta apply.
 * assert.ok(out.data.every((v, i) => Math.abs(v - [-1, 3, 1, 7][i]) < 1e-9));
 * // running = 0.9 · 0 + 0.1 · batch statistics (means 2 and 20)
 * const running = bnParam.runningMean;
 * assert.ok(running && Math.abs(running.get(0) - 0.2) < 1e-15);
 * assert.ok(Math.abs(running.get(1) - 2) < 1e-15);
 * ```
 */
export function batchnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): [Tensor, BatchnormCache] {
  const fn = "batchnormForward";
  checkTensor(fn, "x", x);
  if (x.ndim !== 2) {
    throw new Error(`${fn}: x must be 2-d, shape (N, D); got shape [${x.shape}]`);
  }
  const layout = { outer: x.shape[0], channels: x.shape[1], inner: 1 };
  return channelBatchnormForward(fn, x, layout, gamma, beta, bnParam);
}

/**
 * Backward pass of {@link batchnormForward} (training mode), following the forward
 * computation graph node by node as cs231n's `batchnorm_backward` does. Returns
 * `[dx (N, D), dgamma (D,), dbeta (D,)]`. Same result as {@link batchnormBackwardAlt}, which
 * is faster.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { batchnormBackward, batchnormForward } from "./batchnorm.ts";
 * const x = Tensor.fromArray([[1], [3]]);
 * const [, cache] = batchnormForward(x, Tensor.ones([1]), Tensor.zeros([1]), { mode: "train" });
 * // A constant upstream gradient is absorbed by beta: normalization removes any shift.
 * const [dx, , dbeta] = batchnormBackward(Tensor.fromArray([[1], [1]]), cache);
 * assert.ok(dx.data.every((v) => Math.abs(v) < 1e-12) && dbeta.get(0) === 2);
 * ```
 */
export function batchnormBackward(
  dout: Tensor,
  cache: BatchnormCache,
): [Tensor, Tensor, Tensor] {
  return channelBatchnormBackward("batchnormBackward", dout, cache, "graph");
}

/**
 * Backward pass of {@link batchnormForward} in the simplified closed form (cs231n's
 * `batchnorm_backward_alt`): with `M` examples,
 * `dx = gamma · invStd / M · (M · dout − Σ dout − xHat · Σ dout · xHat)`. Two sweeps over
 * the data instead of three. Returns `[dx, dgamma, dbeta]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { batchnormBackward, batchnormBackwardAlt, batchnormForward } from "./batchnorm.ts";
 * const x = Tensor.fromArray([[1, 2], [3, 5], [4, -1]]);
 * const [, cache] = batchnormForward(x, Tensor.fromArray([2, 3]), Tensor.zeros([2]), {
 *   mode: "train",
 * });
 * const dout = Tensor.fromArray([[1, 0], [0, 2], [-1, 1]]);
 * const [dx] = batchnormBackwardAlt(dout, cache);
 * const [dxGraph] = batchnormBackward(dout, cache);
 * assert.ok(dx.data.every((v, i) => Math.abs(v - dxGraph.data[i]) < 1e-12));
 * ```
 */
export function batchnormBackwardAlt(
  dout: Tensor,
  cache: BatchnormCache,
): [Tensor, Tensor, Tensor] {
  return channelBatchnormBackward("batchnormBackwardAlt", dout, cache, "alt");
}

/**
 * The forward pass shared by {@link batchnormForward} and `spatialBatchnormForward`:
 * batchnorm of `x` viewed as `layout`, with `gamma`, `beta` and the running statistics of
 * shape `(layout.channels,)`. `fn` names the caller in error messages. The caller checks
 * that `layout` describes `x`. With `keepXHat` false the training-mode cache holds no
 * normalized copy of `x` (`xHat: null`) and the backward pass recomputes it: the module
 * API's choice, as PyTorch's, to save a whole activation's worth of memory traffic.
 */
export function channelBatchnormForward(
  fn: string,
  x: Tensor,
  layout: ChannelLayout,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
  keepXHat = true,
): [Tensor, BatchnormCache] {
  const { outer, channels, inner } = layout;
  checkAffineParams(fn, x, gamma, beta, channels);
  const { mode, eps, momentum } = checkBatchnormParam(fn, bnParam);
  const out = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);

  if (mode === "test") {
    const { runningMean, runningVar } = bnParam;
    if (runningMean === undefined || runningVar === undefined) {
      throw new Error(
        `${fn}: test mode needs bnParam.runningMean and bnParam.runningVar, but ` +
          `${runningMean === undefined ? "runningMean" : "runningVar"} is missing; ` +
          "run a training-mode forward pass first",
      );
    }
    checkRunning(fn, "runningMean", runningMean, channels);
    checkRunning(fn, "runningVar", runningVar, channels);
    const invStd = Tensor.zeros([channels], "float64");
    inverseStd(runningVar.data, eps, channels, invStd.data);
    normalizeChannels(
      x.data,
      outer,
      channels,
      inner,
      runningMean.data,
      invStd.data,
      gamma.data,
      beta.data,
      null,
      out.data,
    );
    return [out, { mode: "test" }];
  }

  if (outer * inner === 0) {
    throw new Error(
      `${fn}: training mode needs at least one value per channel to take statistics over, ` +
        `got x of shape [${x.shape}]`,
    );
  }
  const runningMean = bnParam.runningMean ?? Tensor.zeros([channels], x.dtype);
  const runningVar = bnParam.runningVar ?? Tensor.zeros([channels], x.dtype);
  checkRunning(fn, "runningMean", runningMean, channels);
  checkRunning(fn, "runningVar", runningVar, channels);

  const { mean, variance, invStd } = batchStatistics(x, layout, eps);
  const xHat = keepXHat ? new Tensor(allocateOutput(x.dtype, x.size, false), x.shape) : null;
  normalizeChannels(
    x.data,
    outer,
    channels,
    inner,
    mean.data,
    invStd.data,
    gamma.data,
    beta.data,
    xHat === null ? null : xHat.data,
    out.data,
  );
  // New tensors rather than in-place updates, as numpy rebinds the dict entries: a caller
  // holding the previous running statistics keeps them unchanged.
  const nextMean = Tensor.zeros([channels], runningMean.dtype);
  const nextVar = Tensor.zeros([channels], runningVar.dtype);
  momentumAverage(runningMean.data, mean.data, momentum, channels, nextMean.data);
  momentumAverage(runningVar.data, variance.data, momentum, channels, nextVar.data);
  bnParam.runningMean = nextMean;
  bnParam.runningVar = nextVar;

  return [out, { mode: "train", x, xHat, mean, variance, invStd, gamma, eps, layout }];
}

/**
 * Training mode's statistics of `x` viewed as `layout`: per channel the mean, the biased
 * variance and `invStd = 1 / sqrt(variance + eps)`, float64 `(channels,)` tensors.
 */
export function batchStatistics(
  x: Tensor,
  layout: ChannelLayout,
  eps: number,
): { mean: Tensor; variance: Tensor; invStd: Tensor } {
  const { outer, channels, inner } = layout;
  const mean = Tensor.zeros([channels], "float64");
  const variance = Tensor.zeros([channels], "float64");
  const invStd = Tensor.zeros([channels], "float64");
  channelMoments(x.data, outer, channels, inner, mean.data, variance.data);
  inverseStd(variance.data, eps, channels, invStd.data);
  return { mean, variance, invStd };
}

/**
 * The backward pass shared by the batchnorm layers: `form` `"graph"` walks the computation
 * graph, `"alt"` uses the closed form. Returns `[dx, dgamma, dbeta]`, `dx` shaped like the
 * forward input and the parameter gradients like `gamma`.
 */
export function channelBatchnormBackward(
  fn: string,
  dout: Tensor,
  cache: BatchnormCache,
  form: "graph" | "alt",
): [Tensor, Tensor, Tensor] {
  if (cache == null || typeof cache !== "object" || !("mode" in cache)) {
    throw new Error(`${fn}: cache must be the cache returned by the forward pass, got ${cache}`);
  }
  if (cache.mode !== "train") {
    throw new Error(
      `${fn}: the cache comes from a test-mode forward pass; the backward pass ` +
        "differentiates the training-mode computation (batch statistics), so run the " +
        'forward pass with mode "train"',
    );
  }
  const { x, xHat, mean, variance, invStd, gamma, eps, layout } = cache;
  checkTensor(fn, "dout", dout);
  if (!sameShape(dout.shape, x.shape)) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward input had shape [${x.shape}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`${fn}: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
  const { outer, channels, inner } = layout;
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  const dgamma = Tensor.zeros(gamma.shape, gamma.dtype);
  const dbeta = Tensor.zeros(gamma.shape, gamma.dtype);
  if (form === "graph") {
    channelNormBackwardGraph(
      dout.data,
      x.data,
      outer,
      channels,
      inner,
      mean.data,
      variance.data,
      eps,
      gamma.data,
      dx.data,
      dgamma.data,
      dbeta.data,
    );
  } else if (xHat === null) {
    channelNormBackwardFromInput(
      dout.data,
      x.data,
      outer,
      channels,
      inner,
      mean.data,
      gamma.data,
      invStd.data,
      dx.data,
      dgamma.data,
      dbeta.data,
    );
  } else {
    channelNormBackward(
      dout.data,
      xHat.data,
      outer,
      channels,
      inner,
      gamma.data,
      invStd.data,
      dx.data,
      dgamma.data,
      dbeta.data,
    );
  }
  return [dx, dgamma, dbeta];
}

/**
 * Checks that `gamma` and `beta` are `(channels,)` tensors of x's dtype: the parameter
 * shape of batchnorm, spatial batchnorm and layernorm.
 */
export function checkAffineParams(
  fn: string,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  channels: number,
): void {
  for (const [name, t] of [["gamma", gamma], ["beta", beta]] as const) {
    checkTensor(fn, name, t);
    if (t.ndim !== 1 || t.shape[0] !== channels) {
      throw new Error(
        `${fn}: ${name} must have shape [${channels}] (one value per channel of x, shape ` +
          `[${x.shape}]), got shape [${t.shape}]`,
      );
    }
    if (t.dtype !== x.dtype) {
      throw new Error(`${fn}: ${name} is ${t.dtype} but x is ${x.dtype}; they must match`);
    }
  }
}

/** Checks an `eps` setting: finite and positive, so a constant feature cannot divide by 0. */
export function checkEps(fn: string, name: string, eps: unknown): number {
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps <= 0) {
    throw new Error(`${fn}: ${name} must be a finite number > 0, got ${eps}`);
  }
  return eps;
}

interface BatchnormSettings {
  mode: "train" | "test";
  eps: number;
  momentum: number;
}

function checkBatchnormParam(fn: string, bnParam: BatchnormParam): BatchnormSettings {
  if (bnParam == null || typeof bnParam !== "object") {
    throw new Error(`${fn}: bnParam must be an object such as { mode: "train" }, got ${bnParam}`);
  }
  const { mode } = bnParam;
  if (mode !== "train" && mode !== "test") {
    throw new Error(`${fn}: bnParam.mode must be "train" or "test", got ${JSON.stringify(mode)}`);
  }
  const eps = checkEps(fn, "bnParam.eps", bnParam.eps ?? 1e-5);
  const momentum = bnParam.momentum ?? 0.9;
  if (typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1)) {
    throw new Error(`${fn}: bnParam.momentum must be in [0, 1], got ${momentum}`);
  }
  return { mode, eps, momentum };
}

function checkRunning(fn: string, name: string, t: unknown, channels: number): void {
  checkTensor(fn, `bnParam.${name}`, t);
  if (t.ndim !== 1 || t.shape[0] !== channels) {
    throw new Error(
      `${fn}: bnParam.${name} must have shape [${channels}], got shape [${t.shape}]`,
    );
  }
}

/**
 * `F.batchNorm`, `F.layerNorm` and `F.groupNorm`, on the normalization layers, and
 * `F.batchNormMaxPool2d`, batchnorm fused with the 2×2 max pooling that follows it.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { checkBoolean } from "../../checks.ts";
import { giveBack } from "../../buffer_pool.ts";
import { momentumAverage } from "../../kernels/normalization.ts";
import { layernormBackward, layernormForward } from "../../layers/layernorm.ts";
import {
  type BatchnormTrainCache,
  channelBatchnormBackward,
  channelBatchnormForward,
  checkEps,
} from "../../layers/batchnorm.ts";
import {
  batchnormMaxPoolBackward,
  batchnormMaxPoolForward,
  batchnormMaxPoolFuses,
} from "../../layers/batchnorm_pool.ts";
import { spatialBatchnormForward } from "../../layers/spatial_batchnorm.ts";
import {
  spatialGroupnormBackward,
  spatialGroupnormForward,
} from "../../layers/spatial_groupnorm.ts";
import type { FloatArray } from "../../storage.ts";
import { sameShape, shapeSize, Tensor } from "../../tensor.ts";
import { checkTensor, view } from "./args.ts";
import { relu as reluOp } from "./activation.ts";
import { maxPool2d } from "./pool.ts";

/** Options of {@link batchNorm} (PyTorch's names and defaults). */
export interface BatchNormOptions {
  /** Scale `(C,)` (default: none, i.e. 1). */
  weight?: Tensor | null;
  /** Shift `(C,)` (default: none, i.e. 0). */
  bias?: Tensor | null;
  /** Batch statistics (true) or the running ones (false, the default, as in PyTorch). */
  training?: boolean;
  /** Weight of the **new** batch in the running averages (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalization of `x (N, C, *)` per channel `C` (PyTorch's `F.batch_norm`).
 * Training: batch mean and biased variance normalize `x`, and the running statistics, when
 * given, are updated in place: `running = (1 − momentum)·running + momentum·batch`, with
 * the **unbiased** batch variance for `runningVar`. Evaluation uses the running statistics.
 * Training runs on the batchnorm layers' shared forward and backward passes
 * (`channelBatchnormForward`), saving only `x` and the statistics; evaluation runs the
 * layers' test-mode pass with or without a graph, its gradient being that of an affine map
 * per channel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { batchNorm } from "./normalization.ts";
 * const x = Tensor.fromArray([[1], [3]]);
 * const mean = Tensor.zeros([1]), variance = Tensor.ones([1]);
 * const y = batchNorm(x, mean, variance, { training: true, eps: 1e-12 });
 * assert.ok(Math.abs(y.get(0, 0) + 1) < 1e-9 && Math.abs(y.get(1, 0) - 1) < 1e-9);
 * assert.ok(Math.abs(mean.get(0) - 0.2) < 1e-15); // 0.9·0 + 0.1·2
 * assert.ok(Math.abs(variance.get(0) - 1.1) < 1e-15); // 0.9·1 + 0.1·2 (unbiased)
 * ```
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const fn = "F.batchNorm";
  checkBatchNormArgs(fn, x, runningMean, runningVar, options);
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options;
  const [N, C] = x.shape;
  const inner = shapeSize(x.shape.slice(2));
  const gamma = weight ?? Tensor.ones([C], x.dtype);
  const beta = bias ?? Tensor.zeros([C], x.dtype);
  const x4 = view(x, [N, C, inner, 1]);

  if (!training) {
    if (runningMean === null || runningVar === null) {
      throw new Error(`${fn}: evaluation mode (training false) needs runningMean and runningVar`);
    }
    // The same kernel with or without a graph, so that recording changes no bit of the
    // output (as in PyTorch).
    const [out4] = spatialBatchnormForward(x4, gamma.detach(), beta.detach(), {
      mode: "test",
      eps,
      runningMean,
      runningVar,
    });
    const out = view(out4, x.shape);
    if (needsGrad(x, weight, bias)) {
      // The evaluation-mode map is affine per channel, y = γ·(x − μ)/σ + β: its gradients
      // are dx = g·γ/σ, dγ = Σ g·(x − μ)/σ and dβ = Σ g over all but the channel axis.
      const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
      recordOp(out, "batchNorm", inputs, (g) => {
        const perChannel = [C, ...x.shape.slice(2).map(() => 1)];
        const sigma = runningVar.add(eps).sqrt();
        const dx = x.requiresGrad ? g.mul(gamma.div(sigma).reshape(perChannel)) : null;
        const channelSums = (t: Tensor) => view(t, [N, C, inner]).sum(0).sum(1);
        const dgamma = weight?.requiresGrad
          ? channelSums(
            g.mul(x.sub(runningMean.reshape(perChannel)).div(sigma.reshape(perChannel))),
          )
          : null;
        const dbeta = bias?.requiresGrad ? channelSums(g) : null;
        return [dx, ...(weight ? [dgamma] : []), ...(bias ? [dbeta] : [])];
      });
    }
    return out;
  }

  // Only x and the statistics are saved (keepXHat false): the backward pass normalizes x
  // again rather than reading back a stored copy, as PyTorch does.
  const [out4, cache] = channelBatchnormForward(
    fn,
    x4,
    { outer: N, channels: C, inner },
    gamma.detach(),
    beta.detach(),
    { mode: "train", eps },
    false,
  );
  const { mean, variance } = cache as BatchnormTrainCache;
  updateRunningStats(runningMean, runningVar, mean.data, variance.data, N * inner, momentum);
  const out = view(out4, x.shape);
  if (needsGrad(x, weight, bias)) {
    const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
    recordOp(out, "batchNorm", inputs, (g) => {
      const [dx, dgamma, dbeta] = channelBatchnormBackward(fn, view(g, x4.shape), cache, "alt");
      return [view(dx, x.shape), ...(weight ? [dgamma] : []), ...(bias ? [dbeta] : [])];
    });
  }
  return out;
}

/** The argument checks of {@link batchNorm} (and of {@link batchNormMaxPool2d}). */
function checkBatchNormArgs(
  fn: string,
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions,
): void {
  checkTensor(fn, "x", x);
  if (x.ndim < 2) throw new Error(`${fn}: x must be (N, C, *), got shape [${x.shape}]`);
  const { weight = null, bias = null } = options;
  const C = x.shape[1];
  for (
    const [name, t] of [["runningMean", runningMean], ["runningVar", runningVar], [
      "weight",
      weight,
    ], ["bias", bias]] as const
  ) {
    if (t !== null && (!(t instanceof Tensor) || !sameShape(t.shape, [C]))) {
      throw new Error(
        `${fn}: ${name} must have shape [${C}] (one per channel of x, shape [${x.shape}]), got ` +
          `${t instanceof Tensor ? `shape [${t.shape}]` : t}`,
      );
    }
  }
}

/**
 * Training mode's update of the running statistics, in place:
 * `running = (1 − momentum)·running + momentum·batch`, with the unbiased batch variance
 * (`count` values per channel).
 */
function updateRunningStats(
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  mean: FloatArray,
  variance: FloatArray,
  count: number,
  momentum: number,
): void {
  const C = mean.length;
  if (runningMean !== null) {
    momentumAverage(runningMean.data, mean, 1 - momentum, C, runningMean.data);
  }
  if (runningVar !== null) {
    const unbiased = Float64Array.from(variance, (v) => count > 1 ? (v * count) / (count - 1) : v);
    momentumAverage(runningVar.data, unbiased, 1 - momentum, C, runningVar.data);
  }
}

/**
 * Whether {@link batchNormMaxPool2d} runs fused for these arguments (else it is the
 * composition of `batchNorm` and `maxPool2d`): a float32 `x (N, C, H, W)` with `N ≥ 1` and
 * even `H` and `W`, float32 parameters and running statistics (or none), and the
 * WebAssembly kernels (SIMD, the WebAssembly GEMM selected).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { batchNormMaxPool2dFuses } from "./normalization.ts";
 * assert.equal(batchNormMaxPool2dFuses(Tensor.zeros([2, 3, 6, 6]), null, null), false); // float64
 * ```
 */
export function batchNormMaxPool2dFuses(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: Omit<BatchNormOptions, "training"> = {},
): boolean {
  const { weight = null, bias = null } = options;
  if (!(x instanceof Tensor) || x.ndim !== 4) return false;
  for (const t of [runningMean, runningVar, weight, bias]) {
    if (t !== null && (!(t instanceof Tensor) || t.dtype !== x.dtype)) return false;
  }
  const C = x.shape[1];
  return batchnormMaxPoolFuses(
    x,
    weight ?? Tensor.ones([C], x.dtype),
    bias ?? Tensor.zeros([C], x.dtype),
  );
}

/** Options of {@link batchNormMaxPool2d}. */
export interface BatchNormMaxPoolOptions extends Omit<BatchNormOptions, "training"> {
  /** Pass the pooled output through a ReLU (default false). */
  relu?: boolean;
}

/**
 * Training-mode batch normalization of `x (N, C, H, W)` followed by 2×2 max pooling with
 * stride 2, and by a ReLU with `relu: true`: the same result, running statistics and
 * gradients as `maxPool2d(batchNorm(x, runningMean, runningVar, { ...options, training:
 * true }), 2)` (then `relu`), bitwise, for any number of threads. Where
 * {@link batchNormMaxPool2dFuses} holds it runs as one op (`layers/batchnorm_pool.ts`): the
 * normalized activation is never stored, forward or backward, and the graph holds one
 * node, `batchNormMaxPool2d` (`batchNormMaxPool2dRelu` with the ReLU, which then runs on
 * the pooled values while they are in WebAssembly memory and keeps the output for its
 * backward pass), whose window taps go back to the buffer pool once the graph is freed.
 * Otherwise it is that composition. `nn.Sequential` runs a training `BatchNorm2d` followed
 * by a 2×2 `MaxPool2d`, with or without a `ReLU` between them, through it. (A ReLU before
 * the pooling gives the same output as one after it, since ReLU is monotonic.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../../rng.ts";
 * import { Tensor } from "../../tensor.ts";
 * import { batchNorm, batchNormMaxPool2d } from "./normalization.ts";
 * import { maxPool2d } from "./pool.ts";
 * const x = Tensor.randn([4, 3, 6, 8], new Rng(0), "float32");
 * const fused = batchNormMaxPool2d(x, null, null);
 * const apart = maxPool2d(batchNorm(x, null, null, { training: true }), 2);
 * assert.deepEqual([...fused.data], [...apart.data]);
 * ```
 */
export function batchNormMaxPool2d(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormMaxPoolOptions = {},
): Tensor {
  const fn = "F.batchNormMaxPool2d";
  checkBatchNormArgs(fn, x, runningMean, runningVar, options);
  // Every check before any running statistic changes, whichever way it runs.
  const eps = checkEps(fn, "eps", options.eps ?? 1e-5);
  const { weight = null, bias = null, momentum = 0.1 } = options;
  const relu = checkBoolean(fn, "options.relu", options.relu ?? false);
  if (x.ndim !== 4 || x.shape[0] < 1 || x.shape[2] < 2 || x.shape[3] < 2) {
    throw new Error(
      `${fn}: x must be (N, C, H, W) with N ≥ 1 and H and W at least 2 (the window), got ` +
        `shape [${x.shape}]`,
    );
  }
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t !== null && t.dtype !== x.dtype) {
      throw new Error(`${fn}: ${name} is ${t.dtype} but x is ${x.dtype}; they must match`);
    }
  }
  if (!batchNormMaxPool2dFuses(x, runningMean, runningVar, options)) {
    const training = { weight, bias, momentum, eps, training: true };
    const pooled = maxPool2d(batchNorm(x, runningMean, runningVar, training), 2);
    return relu ? reluOp(pooled) : pooled;
  }
  const [N, C, H, W] = x.shape;
  const gamma = weight ?? Tensor.ones([C], x.dtype);
  const beta = bias ?? Tensor.zeros([C], x.dtype);
  const [pooled, cache] = batchnormMaxPoolForward(
    x.detach(),
    gamma.detach(),
    beta.detach(),
    eps,
    relu,
  );
  updateRunningStats(
    runningMean,
    runningVar,
    cache.mean.data,
    cache.variance.data,
    N * H * W,
    momentum,
  );
  if (needsGrad(x, weight, bias)) {
    const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
    const name = relu ? "batchNormMaxPool2dRelu" : "batchNormMaxPool2d";
    recordOp(pooled, name, inputs, (g) => {
      const [dx, dgamma, dbeta] = batchnormMaxPoolBackward(g, cache);
      return [dx, ...(weight ? [dgamma] : []), ...(bias ? [dbeta] : [])];
    });
    // Released: the backward function (the taps' only reader) can never run again.
    pooled.gradFn!.afterRelease(() => giveBack(cache.argmaxStore));
  } else {
    giveBack(cache.argmaxStore);
  }
  return pooled;
}

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Scale, shaped like `normalizedShape` (default: none). */
  weight?: Tensor | null;
  /** Shift, shaped like `normalizedShape` (default: none). */
  bias?: Tensor | null;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Layer normalization over the trailing dims `normalizedShape` of `x` (PyTorch's
 * `F.layer_norm`), on `layernormForward` / `layernormBackward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { layerNorm } from "./normalization.ts";
 * const y = layerNorm(Tensor.fromArray([[1, 3], [5, 5]]), [2], { eps: 1e-12 });
 * assert.ok(y.data.every((v, i) => Math.abs(v - [-1, 1, 0, 0][i]) < 1e-9));
 * ```
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  options: LayerNormOptions = {},
): Tensor {
  const fn = "F.layerNorm";
  checkTensor(fn, "x", x);
  const k = normalizedShape.length;
  if (k > x.ndim || !sameShape(x.shape.slice(x.ndim - k), normalizedShape)) {
    throw new Error(
      `${fn}: x of shape [${x.shape}] does not end with normalizedShape [${normalizedShape}]`,
    );
  }
  const { weight = null, bias = null, eps = 1e-5 } = options;
  const D = shapeSize(normalizedShape);
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t !== null && !sameShape(t.shape, normalizedShape)) {
      throw new Error(`${fn}: ${name} must have shape [${normalizedShape}], got [${t.shape}]`);
    }
  }
  const gamma = weight === null ? Tensor.ones([D], x.dtype) : view(weight, [D]);
  const beta = bias === null ? Tensor.zeros([D], x.dtype) : view(bias, [D]);
  const [out2, cache] = layernormForward(view(x, [x.size / Math.max(D, 1), D]), gamma, beta, {
    eps,
  });
  const out = view(out2, x.shape);
  if (needsGrad(x, weight, bias)) {
    const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
    recordOp(out, "layerNorm", inputs, (g) => {
      const [dx, dgamma, dbeta] = layernormBackward(view(g, out2.shape), cache);
      return [
        view(dx, x.shape),
        ...(weight ? [view(dgamma, weight.shape)] : []),
        ...(bias ? [view(dbeta, bias.shape)] : []),
      ];
    });
  }
  return out;
}

/** Options of {@link groupNorm}. */
export interface GroupNormOptions {
  /** Scale `(C,)` (default: none). */
  weight?: Tensor | null;
  /** Shift `(C,)` (default: none). */
  bias?: Tensor | null;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Group normalization of `x (N, C, *)` in `numGroups` groups of channels (PyTorch's
 * `F.group_norm`), on `spatialGroupnormForward` / `spatialGroupnormBackward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { groupNorm } from "./normalization.ts";
 * const y = groupNorm(Tensor.fromArray([[[1, 3], [5, 5]]]), 2, { eps: 1e-12 });
 * assert.ok(y.data.every((v, i) => Math.abs(v - [-1, 1, 0, 0][i]) < 1e-9));
 * ```
 */
export function groupNorm(x: Tensor, numGroups: number, options: GroupNormOptions = {}): Tensor {
  const fn = "F.groupNorm";
  checkTensor(fn, "x", x);
  if (x.ndim < 2) throw new Error(`${fn}: x must be (N, C, *), got shape [${x.shape}]`);
  const { weight = null, bias = null, eps = 1e-5 } = options;
  const [N, C] = x.shape;
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t !== null && !sameShape(t.shape, [C])) {
      throw new Error(`${fn}: ${name} must have shape [${C}], got [${t.shape}]`);
    }
  }
  const inner = shapeSize(x.shape.slice(2));
  const x4 = view(x, [N, C, inner, 1]);
  const gamma = weight === null ? Tensor.ones([1, C, 1, 1], x.dtype) : view(weight, [1, C, 1, 1]);
  const beta = bias === null ? Tensor.zeros([1, C, 1, 1], x.dtype) : view(bias, [1, C, 1, 1]);
  const [out4, cache] = spatialGroupnormForward(x4, gamma, beta, numGroups, { eps });
  const out = view(out4, x.shape);
  if (needsGrad(x, weight, bias)) {
    const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
    recordOp(out, "groupNorm", inputs, (g) => {
      const [dx, dgamma, dbeta] = spatialGroupnormBackward(view(g, x4.shape), cache);
      return [
        view(dx, x.shape),
        ...(weight ? [view(dgamma, [C])] : []),
        ...(bias ? [view(dbeta, [C])] : []),
      ];
    });
  }
  return out;
}

/**
 * The hot loops of the normalization layers (batch, spatial batch, layer and group
 * normalization).
 *
 * Every normalization of the course is one of two patterns over a tensor viewed, in
 * row-major order, as `(outer, channels, inner)`:
 *
 * - **per-channel** statistics, over the `outer × inner` elements of each channel:
 *   batchnorm of `(N, D)` is `(N, D, 1)`, spatial batchnorm of `(N, C, H, W)` is
 *   `(N, C, H·W)`;
 * - **per-group** statistics, where the `channels` of each outer index are split into
 *   `groups` consecutive groups, so that each (example, group) pair is one contiguous block:
 *   layernorm of `(N, D)` is `(N, D, 1)` with one group, spatial groupnorm of
 *   `(N, C, H, W)` is `(N, C, H·W)` with `G` groups.
 *
 * In both, `gamma` and `beta` hold one value per channel. Writing the loops once for this
 * layout lets every layer share them and never transpose its input (cs231n's
 * spatial batchnorm reshapes to `(N·H·W, C)`; here that copy is not needed).
 *
 * Statistics and gradient sums accumulate in float64 whatever the storage type, and the
 * per-channel sums go into reused scratch buffers, so a call allocates nothing: the layers
 * sit on the training hot path and fresh allocations are costly on this platform.
 *
 * The fully-connected case `inner = 1` gets its own loops: the general ones would start an
 * inner loop of length one per element, which measured 2–3× slower on a (200, 512) float32
 * batch than walking each row straight through.
 *
 * @module
 */

import { needLength } from "./_checks.ts";
import {
  channelMomentsBlocks,
  channelNormBackwardBlocks,
  normalizeChannelsBlocks,
} from "./channel_blocks.ts";
import type { FloatArray } from "../storage.ts";

/**
 * Per-channel mean and biased variance (numpy's `var`, dividing by the count) of `x`
 * viewed as `(outer, channels, inner)`: `mean[c]` averages the `outer · inner` elements of
 * channel `c`. Two passes (the mean first, then squared deviations from it) rather than
 * `E[x²] − E[x]²`, which cancels catastrophically when the mean is large next to the spread.
 * With `inner > 1` the two passes run per `(n, c)` block and the blocks are combined
 * exactly, on the worker pool when it pays (`channel_blocks.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelMoments } from "./normalization.ts";
 * // (N=2, D=2): columns (1, 3) and (2, 6).
 * const mean = new Float64Array(2), variance = new Float64Array(2);
 * channelMoments(new Float64Array([1, 2, 3, 6]), 2, 2, 1, mean, variance);
 * assert.deepEqual([...mean, ...variance], [2, 4, 1, 4]);
 * ```
 */
export function channelMoments(
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  mean: FloatArray,
  variance: FloatArray,
): void {
  needLength("channelMoments", "x", x, outer * channels * inner);
  needLength("channelMoments", "mean", mean, channels);
  needLength("channelMoments", "variance", variance, channels);
  if (inner !== 1) {
    channelMomentsBlocks(x, outer, channels, inner, mean, variance);
    return;
  }
  const count = outer;
  const acc = scratch(0, channels);
  const mu = scratch(1, channels);
  for (let n = 0; n < outer; n++) {
    const base = n * channels;
    for (let c = 0; c < channels; c++) acc[c] += x[base + c];
  }
  for (let c = 0; c < channels; c++) mu[c] = acc[c] / count;
  acc.fill(0, 0, channels);
  for (let n = 0; n < outer; n++) {
    const base = n * channels;
    for (let c = 0; c < channels; c++) {
      const d = x[base + c] - mu[c];
      acc[c] += d * d;
    }
  }
  for (let c = 0; c < channels; c++) {
    mean[c] = mu[c];
    variance[c] = acc[c] / count;
  }
}

/**
 * Mean and biased variance of each of the `rows` contiguous blocks of `size` elements of
 * `x`: per example for layernorm (`size = D`), per (example, group) for groupnorm
 * (`size = C/G · H·W`). Two passes per block, as in {@link channelMoments}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowMoments } from "./normalization.ts";
 * const mean = new Float64Array(2), variance = new Float64Array(2);
 * rowMoments(new Float64Array([1, 3, 2, 6]), 2, 2, mean, variance);
 * assert.deepEqual([...mean, ...variance], [2, 4, 1, 4]);
 * ```
 */
export function rowMoments(
  x: FloatArray,
  rows: number,
  size: number,
  mean: FloatArray,
  variance: FloatArray,
): void {
  needLength("rowMoments", "x", x, rows * size);
  needLength("rowMoments", "mean", mean, rows);
  needLength("rowMoments", "variance", variance, rows);
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    let s = 0;
    for (let k = 0; k < size; k++) s += x[base + k];
    const m = s / size;
    let q = 0;
    for (let k = 0; k < size; k++) {
      const d = x[base + k] - m;
      q += d * d;
    }
    mean[r] = m;
    variance[r] = q / size;
  }
}

/**
 * `out[i] = 1 / sqrt(variance[i] + eps)` for the first `count` entries: the factor that
 * turns a deviation from the mean into a normalized value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inverseStd } from "./normalization.ts";
 * const out = new Float64Array(2);
 * inverseStd(new Float64Array([4, 0.25]), 0, 2, out);
 * assert.deepEqual([...out], [0.5, 2]);
 * ```
 */
export function inverseStd(
  variance: FloatArray,
  eps: number,
  count: number,
  out: FloatArray,
): void {
  needLength("inverseStd", "variance", variance, count);
  needLength("inverseStd", "out", out, count);
  for (let i = 0; i < count; i++) out[i] = 1 / Math.sqrt(variance[i] + eps);
}

/**
 * The running-average update of batchnorm's statistics:
 * `out[i] = momentum · running[i] + (1 − momentum) · batch[i]` for `count` entries,
 * computed in double precision and stored in `out`'s type (`out` may be `running` itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { momentumAverage } from "./normalization.ts";
 * const out = new Float64Array(1);
 * momentumAverage(new Float64Array([10]), new Float64Array([20]), 0.75, 1, out);
 * assert.equal(out[0], 12.5);
 * ```
 */
export function momentumAverage(
  running: FloatArray,
  batch: FloatArray,
  momentum: number,
  count: number,
  out: FloatArray,
): void {
  needLength("momentumAverage", "running", running, count);
  needLength("momentumAverage", "batch", batch, count);
  needLength("momentumAverage", "out", out, count);
  for (let i = 0; i < count; i++) out[i] = momentum * running[i] + (1 - momentum) * batch[i];
}

/**
 * Per-channel normalization and affine map of `x` viewed as `(outer, channels, inner)`:
 * `xHat = (x − shift[c]) · scale[c]` and `out = gamma[c] · xHat + beta[c]`. Training passes
 * the batch mean and inverse standard deviation; test mode the running ones. `xHat` may be
 * `null` when no backward pass will need it (test mode).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeChannels } from "./normalization.ts";
 * const out = new Float64Array(4), xHat = new Float64Array(4);
 * normalizeChannels(
 *   new Float64Array([1, 2, 3, 6]), 2, 2, 1,
 *   new Float64Array([2, 4]), new Float64Array([1, 0.5]), // shift, scale
 *   new Float64Array([10, 1]), new Float64Array([0, 100]), // gamma, beta
 *   xHat, out,
 * );
 * assert.deepEqual([...xHat], [-1, -1, 1, 1]);
 * assert.deepEqual([...out], [-10, 99, 10, 101]);
 * ```
 */
export function normalizeChannels(
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  shift: FloatArray,
  scale: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  xHat: FloatArray | null,
  out: FloatArray,
): void {
  const size = outer * channels * inner;
  needLength("normalizeChannels", "x", x, size);
  for (const [name, a] of [["shift", shift], ["scale", scale], ["gamma", gamma], ["beta", beta]]) {
    needLength("normalizeChannels", name as string, a as FloatArray, channels);
  }
  if (xHat !== null) needLength("normalizeChannels", "xHat", xHat, size);
  needLength("normalizeChannels", "out", out, size);
  if (inner === 1) {
    for (let n = 0; n < outer; n++) {
      const base = n * channels;
      if (xHat === null) {
        for (let c = 0; c < channels; c++) {
          out[base + c] = gamma[c] * ((x[base + c] - shift[c]) * scale[c]) + beta[c];
        }
      } else {
        for (let c = 0; c < channels; c++) {
          const h = (x[base + c] - shift[c]) * scale[c];
          xHat[base + c] = h;
          out[base + c] = gamma[c] * h + beta[c];
        }
      }
    }
    return;
  }
  normalizeChannelsBlocks(x, outer, channels, inner, shift, scale, gamma, beta, xHat, out);
}

/**
 * Per-group normalization and per-channel affine map of `x` viewed as
 * `(outer, channels, inner)` with the channels split into `groups` consecutive groups:
 * element `(n, c, k)` uses `mean[r]` and `invStd[r]` of block `r = n · groups + ⌊c / (channels
 * / groups)⌋`, then `gamma[c]`, `beta[c]`. Writes `xHat` and `out` as
 * {@link normalizeChannels} does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeGroups } from "./normalization.ts";
 * // layernorm of one example (1, 2): mean 2, inverse std 1.
 * const out = new Float64Array(2), xHat = new Float64Array(2);
 * normalizeGroups(
 *   new Float64Array([1, 3]), 1, 2, 1, 1,
 *   new Float64Array([2]), new Float64Array([1]),
 *   new Float64Array([1, 2]), new Float64Array([0, 5]),
 *   xHat, out,
 * );
 * assert.deepEqual([...out], [-1, 7]);
 * ```
 */
export function normalizeGroups(
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  groups: number,
  mean: FloatArray,
  invStd: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  xHat: FloatArray,
  out: FloatArray,
): void {
  const size = outer * channels * inner;
  needLength("normalizeGroups", "x", x, size);
  needLength("normalizeGroups", "mean", mean, outer * groups);
  needLength("normalizeGroups", "invStd", invStd, outer * groups);
  needLength("normalizeGroups", "gamma", gamma, channels);
  needLength("normalizeGroups", "beta", beta, channels);
  needLength("normalizeGroups", "xHat", xHat, size);
  needLength("normalizeGroups", "out", out, size);
  const perGroup = channels / groups;
  if (inner === 1) {
    for (let n = 0; n < outer; n++) {
      for (let g = 0; g < groups; g++) {
        const r = n * groups + g;
        const m = mean[r], s = invStd[r];
        const base = n * channels;
        for (let c = g * perGroup; c < (g + 1) * perGroup; c++) {
          const h = (x[base + c] - m) * s;
          xHat[base + c] = h;
          out[base + c] = gamma[c] * h + beta[c];
        }
      }
    }
    return;
  }
  for (let n = 0; n < outer; n++) {
    for (let c = 0; c < channels; c++) {
      const r = n * groups + Math.floor(c / perGroup);
      const m = mean[r], s = invStd[r], g = gamma[c], b = beta[c];
      const base = (n * channels + c) * inner;
      for (let k = base; k < base + inner; k++) {
        const h = (x[k] - m) * s;
        xHat[k] = h;
        out[k] = g * h + b;
      }
    }
  }
}

/**
 * Backward pass of per-channel normalization in the simplified closed form (cs231n's
 * `batchnorm_backward_alt`), for `x` viewed as `(outer, channels, inner)` with
 * `M = outer · inner` elements per channel:
 *
 * `dbeta = Σ dout`, `dgamma = Σ dout · xHat`,
 * `dx = gamma · invStd / M · (M · dout − dbeta − xHat · dgamma)`.
 *
 * The first pass gathers both sums, the second writes `dx`: two sweeps over the data and
 * no intermediate arrays, against the several of the step-by-step
 * {@link channelNormBackwardGraph}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelNormBackward } from "./normalization.ts";
 * // One channel, xHat = (-1, 1): a gradient along xHat passes to dgamma, not to dx.
 * const dx = new Float64Array(2), dgamma = new Float64Array(1), dbeta = new Float64Array(1);
 * channelNormBackward(
 *   new Float64Array([-3, 3]), new Float64Array([-1, 1]), 2, 1, 1,
 *   new Float64Array([1]), new Float64Array([0.5]), dx, dgamma, dbeta,
 * );
 * assert.deepEqual([...dx, dgamma[0], dbeta[0]], [0, 0, 6, 0]);
 * ```
 */
export function channelNormBackward(
  dout: FloatArray,
  xHat: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  normBackward("channelNormBackward", dout, xHat, null, outer, channels, inner, gamma, invStd, [
    dx,
    dgamma,
    dbeta,
  ]);
}

/**
 * {@link channelNormBackward} for a forward pass that kept no `xHat`: the normalized input
 * is recomputed from the input `x` as `(x − mean[c]) · invStd[c]`. The module API's
 * `F.batchNorm` saves only `x` and the statistics, as PyTorch does, which spares writing
 * (and later reading back) a normalized copy of every activation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelNormBackwardFromInput } from "./normalization.ts";
 * // One channel, x = (1, 3): mean 2, inverse std 1, so xHat = (-1, 1) as above.
 * const dx = new Float64Array(2), dgamma = new Float64Array(1), dbeta = new Float64Array(1);
 * channelNormBackwardFromInput(
 *   new Float64Array([-3, 3]), new Float64Array([1, 3]), 2, 1, 1,
 *   new Float64Array([2]), new Float64Array([1]), new Float64Array([1]), dx, dgamma, dbeta,
 * );
 * assert.deepEqual([...dx, dgamma[0], dbeta[0]], [0, 0, 6, 0]);
 * ```
 */
export function channelNormBackwardFromInput(
  dout: FloatArray,
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  mean: FloatArray,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  normBackward(
    "channelNormBackwardFromInput",
    dout,
    x,
    mean,
    outer,
    channels,
    inner,
    gamma,
    invStd,
    [
      dx,
      dgamma,
      dbeta,
    ],
  );
}

/**
 * The checks and dispatch of {@link channelNormBackward} (`mean` null: `values` is
 * `xHat`) and {@link channelNormBackwardFromInput} (`values` is `x`, normalized again with
 * `mean` and `invStd`).
 */
function normBackward(
  fn: string,
  dout: FloatArray,
  values: FloatArray,
  mean: FloatArray | null,
  outer: number,
  channels: number,
  inner: number,
  gamma: FloatArray,
  invStd: FloatArray,
  [dx, dgamma, dbeta]: [FloatArray, FloatArray, FloatArray],
): void {
  const size = outer * channels * inner;
  needLength(fn, "dout", dout, size);
  needLength(fn, mean === null ? "xHat" : "x", values, size);
  if (mean !== null) needLength(fn, "mean", mean, channels);
  needLength(fn, "gamma", gamma, channels);
  needLength(fn, "invStd", invStd, channels);
  needLength(fn, "dx", dx, size);
  needLength(fn, "dgamma", dgamma, channels);
  needLength(fn, "dbeta", dbeta, channels);
  if (inner !== 1) {
    channelNormBackwardBlocks(
      dout,
      values,
      mean,
      outer,
      channels,
      inner,
      gamma,
      invStd,
      dx,
      dgamma,
      dbeta,
    );
  } else if (mean !== null) {
    rowsNormBackward(dout, values, mean, invStd, outer, channels, gamma, invStd, dx, dgamma, dbeta);
  } else {
    // (xHat − 0) · 1 is xHat exactly: the stored xHat goes through the same loops as an
    // input normalized again, with the same bits.
    const zeros = scratch(3, channels), ones = scratch(4, channels).fill(1, 0, channels);
    rowsNormBackward(dout, values, zeros, ones, outer, channels, gamma, invStd, dx, dgamma, dbeta);
  }
}

/**
 * The closed-form backward pass for `inner = 1` (batchnorm of `(N, D)`), with the normalized
 * input taken as `(values − shift[c]) · scale[c]`.
 */
function rowsNormBackward(
  dout: FloatArray,
  values: FloatArray,
  shift: FloatArray,
  scale: FloatArray,
  outer: number,
  channels: number,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  const sumDout = scratch(0, channels);
  const sumDoutXHat = scratch(1, channels);
  const coef = scratch(2, channels);
  for (let n = 0; n < outer; n++) {
    const base = n * channels;
    for (let c = 0; c < channels; c++) {
      const d = dout[base + c];
      sumDout[c] += d;
      sumDoutXHat[c] += d * ((values[base + c] - shift[c]) * scale[c]);
    }
  }
  for (let c = 0; c < channels; c++) coef[c] = (gamma[c] * invStd[c]) / outer;
  for (let n = 0; n < outer; n++) {
    const base = n * channels;
    for (let c = 0; c < channels; c++) {
      const k = base + c;
      const xHat = (values[k] - shift[c]) * scale[c];
      dx[k] = coef[c] * (outer * dout[k] - sumDout[c] - xHat * sumDoutXHat[c]);
    }
  }
  for (let c = 0; c < channels; c++) {
    dgamma[c] = sumDoutXHat[c];
    dbeta[c] = sumDout[c];
  }
}

/**
 * Backward pass of per-channel normalization, node by node through the computation graph
 * of the forward pass (cs231n's `batchnorm_backward`):
 *
 * ```
 * xmu = x − mean;  var = mean(xmu²);  sqrtvar = sqrt(var + eps);  ivar = 1 / sqrtvar
 * xHat = xmu · ivar;  out = gamma · xHat + beta
 * ```
 *
 * Walking it backwards: `dxHat = dout · gamma`; `divar = Σ dxHat · xmu`;
 * `dvar = −divar / (2 · sqrtvar³)`; `dxmu = dxHat · ivar + 2 · xmu · dvar / M` (both
 * branches that reach `xmu`); `dmean = −Σ dxmu`; `dx = dxmu + dmean / M`. Three sweeps over
 * the data (sums; `dxmu`; the mean's share) and `xmu` recomputed each time: the benchmark
 * compares this with {@link channelNormBackward}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelNormBackwardGraph } from "./normalization.ts";
 * const dx = new Float64Array(2), dgamma = new Float64Array(1), dbeta = new Float64Array(1);
 * // x = (1, 3): mean 2, variance 1; eps 0 makes xHat exactly (-1, 1).
 * channelNormBackwardGraph(
 *   new Float64Array([-3, 3]), new Float64Array([1, 3]), 2, 1, 1,
 *   new Float64Array([2]), new Float64Array([1]), 0, new Float64Array([1]),
 *   dx, dgamma, dbeta,
 * );
 * assert.deepEqual([...dx, dgamma[0], dbeta[0]], [0, 0, 6, 0]);
 * ```
 */
export function channelNormBackwardGraph(
  dout: FloatArray,
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  mean: FloatArray,
  variance: FloatArray,
  eps: number,
  gamma: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  const size = outer * channels * inner;
  const fn = "channelNormBackwardGraph";
  needLength(fn, "dout", dout, size);
  needLength(fn, "x", x, size);
  needLength(fn, "mean", mean, channels);
  needLength(fn, "variance", variance, channels);
  needLength(fn, "gamma", gamma, channels);
  needLength(fn, "dx", dx, size);
  needLength(fn, "dgamma", dgamma, channels);
  needLength(fn, "dbeta", dbeta, channels);
  const count = outer * inner;
  const sumDout = scratch(0, channels); // dbeta
  const sumDoutXHat = scratch(1, channels); // dgamma
  const divar = scratch(2, channels);
  const dmean = scratch(3, channels);
  const ivar = scratch(4, channels);
  const dvarOverCount = scratch(5, channels);
  for (let c = 0; c < channels; c++) ivar[c] = 1 / Math.sqrt(variance[c] + eps);
  // Sweep 1: out = gamma·xHat + beta gives dbeta and dgamma; xHat = xmu·ivar gives divar.
  if (inner === 1) {
    for (let n = 0; n < outer; n++) {
      const base = n * channels;
      for (let c = 0; c < channels; c++) {
        const d = dout[base + c];
        const xmu = x[base + c] - mean[c];
        sumDout[c] += d;
        sumDoutXHat[c] += d * (xmu * ivar[c]); // xHat, bracketed as the forward pass had it
        divar[c] += d * gamma[c] * xmu;
      }
    }
  } else {
    for (let n = 0; n < outer; n++) {
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * inner;
        const m = mean[c], iv = ivar[c], g = gamma[c];
        let sb = 0, sg = 0, si = 0;
        for (let k = base; k < base + inner; k++) {
          const d = dout[k];
          const xmu = x[k] - m;
          sb += d;
          sg += d * (xmu * iv);
          si += d * g * xmu;
        }
        sumDout[c] += sb;
        sumDoutXHat[c] += sg;
        divar[c] += si;
      }
    }
  }
  // ivar = 1/sqrtvar, sqrtvar = sqrt(var + eps), var = mean(xmu²): chain the scalars.
  for (let c = 0; c < channels; c++) {
    const sqrtvar = 1 / ivar[c];
    const dsqrtvar = -divar[c] / (sqrtvar * sqrtvar);
    const dvar = (0.5 * dsqrtvar) / sqrtvar;
    dvarOverCount[c] = dvar / count;
  }
  // Sweep 2: dxmu from its two uses (xHat directly, and var through xmu²).
  // Sweep 3: xmu = x − mean, and mean = Σx / M hands each x an equal share of dmean.
  if (inner === 1) {
    for (let n = 0; n < outer; n++) {
      const base = n * channels;
      for (let c = 0; c < channels; c++) {
        const xmu = x[base + c] - mean[c];
        const dxmu = dout[base + c] * gamma[c] * ivar[c] + 2 * xmu * dvarOverCount[c];
        dx[base + c] = dxmu;
        dmean[c] -= dxmu;
      }
    }
    for (let n = 0; n < outer; n++) {
      const base = n * channels;
      for (let c = 0; c < channels; c++) dx[base + c] += dmean[c] / count;
    }
  } else {
    for (let n = 0; n < outer; n++) {
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * inner;
        const m = mean[c], iv = ivar[c], g = gamma[c], dsq = dvarOverCount[c];
        let s = 0;
        for (let k = base; k < base + inner; k++) {
          const xmu = x[k] - m;
          const dxmu = dout[k] * g * iv + 2 * xmu * dsq;
          dx[k] = dxmu;
          s += dxmu;
        }
        dmean[c] -= s;
      }
    }
    for (let n = 0; n < outer; n++) {
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * inner;
        const share = dmean[c] / count;
        for (let k = base; k < base + inner; k++) dx[k] += share;
      }
    }
  }
  for (let c = 0; c < channels; c++) {
    dgamma[c] = sumDoutXHat[c];
    dbeta[c] = sumDout[c];
  }
}

/**
 * Backward pass of per-group normalization (layernorm, groupnorm) in closed form, for `x`
 * viewed as `(outer, channels, inner)` in `groups` groups of `M = channels / groups · inner`
 * elements. With `dxHat = dout · gamma[c]`, each block gets
 * `dx = invStd / M · (M · dxHat − Σ dxHat − xHat · Σ dxHat · xHat)`, while
 * `dgamma[c] = Σ dout · xHat` and `dbeta[c] = Σ dout` sum over examples and positions.
 * The block sums are assembled from per-channel sums, so each block is swept twice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupNormBackward } from "./normalization.ts";
 * const dx = new Float64Array(2), dgamma = new Float64Array(2), dbeta = new Float64Array(2);
 * // layernorm of one example with xHat = (-1, 1), gamma = (1, 1), invStd 0.5.
 * groupNormBackward(
 *   new Float64Array([-3, 3]), new Float64Array([-1, 1]), 1, 2, 1, 1,
 *   new Float64Array([1, 1]), new Float64Array([0.5]), dx, dgamma, dbeta,
 * );
 * assert.deepEqual([...dx, ...dgamma, ...dbeta], [0, 0, 3, 3, -3, 3]);
 * ```
 */
export function groupNormBackward(
  dout: FloatArray,
  xHat: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  groups: number,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  const size = outer * channels * inner;
  const fn = "groupNormBackward";
  needLength(fn, "dout", dout, size);
  needLength(fn, "xHat", xHat, size);
  needLength(fn, "gamma", gamma, channels);
  needLength(fn, "invStd", invStd, outer * groups);
  needLength(fn, "dx", dx, size);
  needLength(fn, "dgamma", dgamma, channels);
  needLength(fn, "dbeta", dbeta, channels);
  const perGroup = channels / groups;
  const count = perGroup * inner;
  const sumDout = scratch(0, channels);
  const sumDoutXHat = scratch(1, channels);
  if (inner === 1) {
    for (let n = 0; n < outer; n++) {
      const base = n * channels;
      for (let g = 0; g < groups; g++) {
        const c0 = g * perGroup, c1 = c0 + perGroup;
        let s1 = 0, s2 = 0; // Σ dxHat and Σ dxHat · xHat over the block
        for (let c = c0; c < c1; c++) {
          const d = dout[base + c], dh = d * xHat[base + c];
          sumDout[c] += d;
          sumDoutXHat[c] += dh;
          s1 += gamma[c] * d;
          s2 += gamma[c] * dh;
        }
        const k1 = invStd[n * groups + g] / count;
        for (let c = c0; c < c1; c++) {
          const k = base + c;
          dx[k] = k1 * (count * gamma[c] * dout[k] - s1 - xHat[k] * s2);
        }
      }
    }
  } else {
    for (let n = 0; n < outer; n++) {
      for (let g = 0; g < groups; g++) {
        const c0 = g * perGroup;
        let s1 = 0, s2 = 0; // Σ dxHat and Σ dxHat · xHat over the block
        for (let c = c0; c < c0 + perGroup; c++) {
          const base = (n * channels + c) * inner;
          let sb = 0, sg = 0;
          for (let k = base; k < base + inner; k++) {
            const d = dout[k];
            sb += d;
            sg += d * xHat[k];
          }
          sumDout[c] += sb;
          sumDoutXHat[c] += sg;
          s1 += gamma[c] * sb;
          s2 += gamma[c] * sg;
        }
        const k1 = invStd[n * groups + g] / count;
        for (let c = c0; c < c0 + perGroup; c++) {
          const base = (n * channels + c) * inner;
          const gc = count * gamma[c];
          for (let k = base; k < base + inner; k++) {
            dx[k] = k1 * (gc * dout[k] - s1 - xHat[k] * s2);
          }
        }
      }
    }
  }
  for (let c = 0; c < channels; c++) {
    dgamma[c] = sumDoutXHat[c];
    dbeta[c] = sumDout[c];
  }
}

/**
 * Reused float64 buffers for per-channel sums, one per slot so a kernel can hold several
 * at once; handed out zero-filled. They grow to the widest layer seen and stay.
 */
const scratchBuffers: Float64Array[] = [];

function scratch(slot: number, length: number): Float64Array {
  let buf = scratchBuffers[slot];
  if (buf === undefined || buf.length < length) {
    buf = new Float64Array(Math.max(length, 1024));
    scratchBuffers[slot] = buf;
  }
  buf.fill(0, 0, length);
  return buf;
}

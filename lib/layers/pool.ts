/**
 * Pooling layers: max pooling (cs231n `max_pool_forward_naive` / `_fast` and their
 * backward passes) and average pooling (PyTorch `AvgPool2d` without padding).
 *
 * Windows of `poolHeight × poolWidth` pixels move by `stride` over each channel of
 * `x (N, C, H, W)`, giving `(N, C, Ho, Wo)` with `Ho = (H − poolHeight) / stride + 1`, which
 * must be a whole number (likewise `Wo`). When several pixels of a window tie for the
 * maximum, the first in row-major order receives the gradient.
 *
 * @module
 */

import { checkBoolean, checkOptionKeys } from "../checks.ts";
import { checkTensor } from "../tensor_checks.ts";
import type { WindowGeometry } from "../kernels/im2col.ts";
import {
  avgPoolBackwardRange,
  avgPoolForwardRange,
  maxPoolBackwardBatch,
  maxPoolForwardBatch,
} from "../kernels/pooling.ts";
import { allocateOutput } from "../scratch.ts";
import { sameShape, Tensor } from "../tensor.ts";

/** Hyper-parameters of a pooling layer (cs231n's `pool_param`). */
export interface PoolParam {
  /** Window height. */
  poolHeight: number;
  /** Window width. */
  poolWidth: number;
  /** Step between windows, in both directions. */
  stride: number;
}

/** What {@link maxPoolForwardNaive} and {@link avgPoolForward} keep: `(x, poolParam)`. */
export type PoolCache = [x: Tensor, poolParam: PoolParam];

/** What {@link maxPoolForwardFast} keeps for the backward pass. */
export interface MaxPoolFastCache {
  /** The input. */
  x: Tensor;
  /** The pooling parameters. */
  poolParam: PoolParam;
  /** For each output, the tap `kh·poolWidth + kw` of its window that held the maximum. */
  argmax: Uint16Array;
  /** Which forward strategy ran: `"reshape"` (windows tile the input) or `"im2col"`. */
  method: "reshape" | "im2col";
  /**
   * With `relu` (a ReLU after the pooling, in the same pass), the output: the backward pass
   * masks the gradient where it is not positive. Absent or null without.
   */
  reluOut?: Tensor | null;
}

/** Options of {@link maxPoolForwardFast}. */
export interface MaxPoolFastOptions {
  /**
   * Pass the pooled output through a ReLU as well (default false): bitwise `reluForward` of
   * the pooled output, and its gradient bitwise `reluBackward`'s, without a separate pass
   * (with the maxima in WebAssembly memory, for 2×2 windows that tile the input).
   */
  relu?: boolean;
}

/**
 * Max pooling with explicit loops over every window: the readable reference. Returns
 * `[out (N, C, Ho, Wo), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { maxPoolForwardNaive } from "./pool.ts";
 * const x = Tensor.arange(16).reshape([1, 1, 4, 4]);
 * const [out] = maxPoolForwardNaive(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
 * assert.deepEqual(out.toNested(), [[[[5, 7], [13, 15]]]]);
 * ```
 */
export function maxPoolForwardNaive(x: Tensor, poolParam: PoolParam): [Tensor, PoolCache] {
  const { N, C, g } = poolGeometry("maxPoolForwardNaive", x, poolParam);
  const out = Tensor.zeros([N, C, g.outH, g.outW], x.dtype);
  const argmax = naiveArgmax(x, g, N * C);
  for (let o = 0; o < out.size; o++) {
    const p = Math.floor(o / (g.outH * g.outW));
    out.data[o] = x.data[p * g.height * g.width + argmax[o]];
  }
  return [out, [x, poolParam]];
}

/**
 * Backward pass of {@link maxPoolForwardNaive}: each window's gradient goes to the pixel
 * that was its maximum. Returns `dx`, shaped like `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { maxPoolBackwardNaive, maxPoolForwardNaive } from "./pool.ts";
 * const x = Tensor.fromArray([[[[1, 3], [2, 0]]]]);
 * const [, cache] = maxPoolForwardNaive(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
 * const dx = maxPoolBackwardNaive(Tensor.fromArray([[[[7]]]]), cache);
 * assert.deepEqual(dx.toNested(), [[[[0, 7], [0, 0]]]]);
 * ```
 */
export function maxPoolBackwardNaive(dout: Tensor, cache: PoolCache): Tensor {
  const { x, N, C, g } = checkPoolBackward("maxPoolBackwardNaive", dout, cache);
  const argmax = naiveArgmax(x, g, N * C);
  const dx = new Tensor(allocateOutput(x.dtype, x.size), x.shape);
  const outPlane = g.outH * g.outW, plane = g.height * g.width;
  for (let o = 0; o < dout.size; o++) {
    dx.data[Math.floor(o / outPlane) * plane + argmax[o]] += dout.data[o];
  }
  return dx;
}

/** For each window of each plane, the in-plane index of its first maximum. */
function naiveArgmax(x: Tensor, g: WindowGeometry, planes: number): Int32Array {
  const { height: H, width: W, kernelH: PH, kernelW: PW, stride, outH, outW } = g;
  const argmax = new Int32Array(planes * outH * outW);
  for (let p = 0, o = 0; p < planes; p++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++, o++) {
        let best = -Infinity, bestAt = -1;
        for (let kh = 0; kh < PH; kh++) {
          for (let kw = 0; kw < PW; kw++) {
            const at = (i * stride + kh) * W + j * stride + kw;
            const v = x.data[p * H * W + at];
            // The first NaN is the maximum (numpy's max propagates NaN).
            if (bestAt < 0 || v > best || (v !== v && best === best)) {
              best = v;
              bestAt = at;
            }
          }
        }
        argmax[o] = bestAt;
      }
    }
  }
  return argmax;
}

/**
 * Max pooling by the fast kernels: when the windows tile the input (`poolHeight =
 * poolWidth = stride` and the sizes divide), one pass over the input (cs231n's "reshape"
 * method); otherwise im2col and a column-wise maximum. Returns `[out, cache]`; the cache
 * records which tap of each window was the maximum, so the backward pass is one scatter.
 * With `{ relu: true }` the output also goes through a ReLU (see {@link MaxPoolFastOptions}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { maxPoolForwardFast } from "./pool.ts";
 * const x = Tensor.arange(16).reshape([1, 1, 4, 4]);
 * const [out, cache] = maxPoolForwardFast(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
 * assert.deepEqual(out.toNested(), [[[[5, 7], [13, 15]]]]);
 * assert.equal(cache.method, "reshape");
 * const [, overlapping] = maxPoolForwardFast(x, { poolHeight: 3, poolWidth: 3, stride: 1 });
 * assert.equal(overlapping.method, "im2col");
 * ```
 */
export function maxPoolForwardFast(
  x: Tensor,
  poolParam: PoolParam,
  options: MaxPoolFastOptions = {},
): [Tensor, MaxPoolFastCache] {
  checkOptionKeys("maxPoolForwardFast", options, ["relu"]);
  const relu = checkBoolean("maxPoolForwardFast", "options.relu", options.relu ?? false);
  const { N, C, g } = poolGeometry("maxPoolForwardFast", x, poolParam);
  const planes = N * C;
  const size = planes * g.outH * g.outW;
  const out = new Tensor(allocateOutput(x.dtype, size, false), [N, C, g.outH, g.outW]);
  const argmax = new Uint16Array(size);
  const tiles = g.kernelH === g.stride && g.kernelW === g.stride &&
    g.outH * g.stride === g.height && g.outW * g.stride === g.width;
  maxPoolForwardBatch(x.data, g, planes, out.data, argmax, tiles, relu);
  const method = tiles ? "reshape" : "im2col";
  return [out, { x, poolParam, argmax, method, reluOut: relu ? out : null }];
}

/**
 * Backward pass of {@link maxPoolForwardFast}: scatters `dout` to the recorded maxima
 * (after the ReLU's mask when the forward pass had `relu`: `dout` is then the gradient of
 * the ReLU's output). Returns `dx`, shaped like `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { maxPoolBackwardFast, maxPoolForwardFast } from "./pool.ts";
 * const x = Tensor.fromArray([[[[1, 3], [2, 0]]]]);
 * const [, cache] = maxPoolForwardFast(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
 * const dx = maxPoolBackwardFast(Tensor.fromArray([[[[7]]]]), cache);
 * assert.deepEqual(dx.toNested(), [[[[0, 7], [0, 0]]]]);
 * ```
 */
export function maxPoolBackwardFast(dout: Tensor, cache: MaxPoolFastCache): Tensor {
  const fn = "maxPoolBackwardFast";
  if (cache === null || typeof cache !== "object" || !(cache.argmax instanceof Uint16Array)) {
    throw new Error(`${fn}: cache must be the object returned by maxPoolForwardFast`);
  }
  const { x, N, C, g } = checkPoolBackward(fn, dout, [cache.x, cache.poolParam]);
  if (cache.argmax.length !== dout.size) {
    throw new Error(
      `${fn}: cache.argmax has ${cache.argmax.length} entries but dout has ${dout.size}`,
    );
  }
  const reluOut = cache.reluOut ?? null;
  if (
    reluOut !== null &&
    (!(reluOut instanceof Tensor) || !sameShape(reluOut.shape, dout.shape) ||
      reluOut.dtype !== dout.dtype)
  ) {
    const got = reluOut instanceof Tensor ? `${reluOut.dtype} [${reluOut.shape}]` : reluOut;
    throw new Error(
      `${fn}: cache.reluOut must be the pooled output, ${dout.dtype} [${dout.shape}] like ` +
        `dout, got ${got}`,
    );
  }
  const planes = N * C;
  // maxPoolBackwardBatch overwrites every element of dx.
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  const tiles = cache.method === "reshape";
  maxPoolBackwardBatch(dout.data, cache.argmax, g, planes, dx.data, tiles, reluOut?.data);
  return dx;
}

/**
 * Average pooling: each output is the mean of its window. Returns `[out, cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { avgPoolForward } from "./pool.ts";
 * const x = Tensor.arange(16).reshape([1, 1, 4, 4]);
 * const [out] = avgPoolForward(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
 * assert.deepEqual(out.toNested(), [[[[2.5, 4.5], [10.5, 12.5]]]]);
 * ```
 */
export function avgPoolForward(x: Tensor, poolParam: PoolParam): [Tensor, PoolCache] {
  const { N, C, g } = poolGeometry("avgPoolForward", x, poolParam);
  const out = Tensor.zeros([N, C, g.outH, g.outW], x.dtype);
  avgPoolForwardRange(x.data, g, 0, N * C, out.data);
  return [out, [x, poolParam]];
}

/**
 * Backward pass of {@link avgPoolForward}: every pixel of a window receives
 * `dout / (poolHeight·poolWidth)`. Returns `dx`, shaped like `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { avgPoolBackward, avgPoolForward } from "./pool.ts";
 * const [, cache] = avgPoolForward(Tensor.zeros([1, 1, 2, 2]), {
 *   poolHeight: 2,
 *   poolWidth: 2,
 *   stride: 2,
 * });
 * const dx = avgPoolBackward(Tensor.fromArray([[[[8]]]]), cache);
 * assert.deepEqual(dx.toNested(), [[[[2, 2], [2, 2]]]]);
 * ```
 */
export function avgPoolBackward(dout: Tensor, cache: PoolCache): Tensor {
  const { x, N, C, g } = checkPoolBackward("avgPoolBackward", dout, cache);
  const dx = new Tensor(allocateOutput(x.dtype, x.size), x.shape);
  avgPoolBackwardRange(dout.data, g, 0, N * C, dx.data);
  return dx;
}

/** The sizes of a pooling layer, from {@link poolGeometry}. */
export interface PoolGeometry {
  /** Examples. */
  N: number;
  /** Channels. */
  C: number;
  /** One plane's geometry, as the pooling kernels take it. */
  g: WindowGeometry;
}

/**
 * Validates a pooling layer's input and parameters and returns the plane geometry the
 * kernels take. Every failure names `fn`, the field and the shapes.
 */
export function poolGeometry(fn: string, x: Tensor, poolParam: PoolParam): PoolGeometry {
  checkTensor(fn, "x", x);
  if (x.ndim !== 4) {
    throw new Error(`${fn}: x must be 4-d, shape (N, C, H, W); got shape [${x.shape}]`);
  }
  if (poolParam === null || typeof poolParam !== "object") {
    throw new Error(
      `${fn}: poolParam must be an object { poolHeight, poolWidth, stride }, got ${poolParam}`,
    );
  }
  for (const key of ["poolHeight", "poolWidth", "stride"] as const) {
    const v = poolParam[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`${fn}: poolParam.${key} must be an integer ≥ 1, got ${v}`);
    }
  }
  const { poolHeight: PH, poolWidth: PW, stride } = poolParam;
  const [N, C, H, W] = x.shape;
  const where = `(x shape [${x.shape}], poolHeight ${PH}, poolWidth ${PW}, stride ${stride})`;
  const size = (axis: string, S: string, n: number, k: number, K: string) => {
    if (n < k) {
      throw new Error(`${fn}: ${K} ${k} is larger than the input ${axis} ${n} ${where}`);
    }
    if ((n - k) % stride !== 0) {
      throw new Error(
        `${fn}: output ${axis} (${S} - ${K}) / stride + 1 = (${n} - ${k}) / ${stride} + 1 = ` +
          `${(n - k) / stride + 1} is not a whole number ${where}`,
      );
    }
    return (n - k) / stride + 1;
  };
  const outH = size("height", "H", H, PH, "poolHeight");
  const outW = size("width", "W", W, PW, "poolWidth");
  return {
    N,
    C,
    g: {
      channels: 1,
      height: H,
      width: W,
      kernelH: PH,
      kernelW: PW,
      stride,
      pad: 0,
      dilation: 1,
      outH,
      outW,
    },
  };
}

function checkPoolBackward(
  fn: string,
  dout: Tensor,
  cache: PoolCache,
): PoolGeometry & { x: Tensor } {
  if (!Array.isArray(cache) || cache.length !== 2) {
    throw new Error(`${fn}: cache must be the [x, poolParam] returned by the forward pass`);
  }
  const [x, poolParam] = cache;
  const dims = poolGeometry(fn, x, poolParam);
  checkTensor(fn, "dout", dout);
  const expected = [dims.N, dims.C, dims.g.outH, dims.g.outW];
  if (dout.ndim !== 4 || dout.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward output had shape [${expected}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`${fn}: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
  return { ...dims, x };
}

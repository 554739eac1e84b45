/**
 * Pooling kernels: max pooling (two forward strategies, one backward) and average pooling.
 *
 * Pooling treats every channel of every example the same way, so these kernels see the
 * batch `(N, C, H, W)` as `N·C` independent planes of `H × W` pixels, and work on a range
 * of planes `[p0, p1)` (examples `[n0, n1)` are planes `[n0·C, n1·C)`). The sizes come in
 * a `WindowGeometry` whose `channels` is 1 and `pad` 0.
 *
 * Max pooling records, for each output, which tap of its window held the maximum (`argmax`,
 * the tap `kh·poolWidth + kw`, in a `Uint16Array`): the backward pass is then a scatter of
 * `dout` through those taps. When several pixels of a window tie for the maximum, the first
 * in row-major order gets the whole gradient (as PyTorch and cs231n's im2col path do;
 * cs231n's reshape path would split it among the ties). A NaN in a window is its maximum,
 * as with `numpy.max`, so a diverging network is not masked by its pooling layers.
 *
 * Both JavaScript forward strategies reduce tap by tap: the running maximum of a whole
 * plane (or chunk) is compared with one tap's values at a time, so the inner loop is a plain
 * strided sweep with no per-window index arithmetic. What limits it is the comparison
 * itself: on random data the branch that keeps or replaces the maximum is mispredicted about
 * once per window (`Math.max` compiles to branches too, for its NaN and −0 rules), so a 2×2
 * pool runs at 4–5 ns per input pixel. The 2×2 stride-2 case — nearly every network's —
 * therefore runs in WebAssembly when the engine has SIMD (`wasm/pool_module.ts`): the same
 * fold with lane masks instead of branches, forward and backward, at well under 1 ns per
 * pixel including the copies in and out of WebAssembly memory.
 *
 * @module
 */

import { dtypeOf, type FloatArray, isShared } from "../storage.ts";
import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import {
  copyBack,
  defaultScratch,
  ScratchBuffers,
  sharedTarget,
  sharedUint16,
  sharedView,
} from "../scratch.ts";
import { needLength, sameDType } from "./_checks.ts";
import { reluJs, reluMaskJs } from "./elementwise.ts";
import { im2col, type WindowGeometry } from "./im2col.ts";
import { type LayerKernels, layerKernels } from "./wasm/layer_kernels.ts";

/** Most taps a max-pooling window may have: `argmax` entries are 16-bit. */
export const MAX_POOL_TAPS = 65536;

/**
 * Max pooling when the windows tile the input (window = stride, sizes divisible; cs231n's
 * "reshape" case): each tap of the windows is a regular sub-grid of the plane, read with a
 * stride of the window size. Writes `out` and `argmax` for planes `[p0, p1)`, and with
 * `relu` passes `out` through a ReLU (the ReLU layer's arithmetic: `x > 0 ? x : +0`, NaN
 * kept), in WebAssembly memory on the 2×2 path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPoolTiledRange } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 4, kernelH: 2, kernelW: 2, stride: 2, pad: 0,
 *   dilation: 1, outH: 1, outW: 2 };
 * const out = new Float64Array(2), argmax = new Uint16Array(2);
 * maxPoolTiledRange(new Float64Array([1, 5, 2, 0, 3, 4, 9, 9]), g, 0, 1, out, argmax);
 * assert.deepEqual([...out], [5, 9]);
 * assert.deepEqual([...argmax], [1, 2]); // ties: the first tap in row-major order
 * ```
 */
export function maxPoolTiledRange(
  x: FloatArray,
  geometry: WindowGeometry,
  p0: number,
  p1: number,
  out: FloatArray,
  argmax: Uint16Array,
  relu = false,
): void {
  const { height: H, width: W, kernelH: PH, kernelW: PW, outH, outW } = geometry;
  if (PH * outH !== H || PW * outW !== W || geometry.stride !== PH || PH !== PW) {
    throw new Error(
      `maxPoolTiledRange: the ${PH}×${PW} windows with stride ${geometry.stride} do not ` +
        `tile the ${H}×${W} input`,
    );
  }
  checkPlanes("maxPoolTiledRange", ["x", x], ["out", out], argmax, geometry, p0, p1);
  const f32 = sameDType("maxPoolTiledRange", "x", x, "out", out);
  const wasm = PH === 2 ? layerKernels() : null;
  if (wasm !== null) {
    maxPool2x2Wasm(wasm, x, geometry, p0, p1, out, argmax, relu);
    return;
  }
  const plane = H * W, outPlane = outH * outW;
  startMax(out, argmax, p0 * outPlane, p1 * outPlane);
  for (let p = p0; p < p1; p++) {
    const o = p * outPlane;
    for (let kh = 0; kh < PH; kh++) {
      for (let kw = 0; kw < PW; kw++) {
        // Tap (kh, kw) of window (oh, ow) is pixel (oh·PH + kh, ow·PW + kw).
        const s = p * plane + kh * W + kw, k = kh * PW + kw;
        if (f32) {
          maxTapF32(
            x as Float32Array,
            s,
            PH * W,
            PW,
            out as Float32Array,
            o,
            argmax,
            k,
            outH,
            outW,
          );
        } else {
          maxTapF64(
            x as Float64Array,
            s,
            PH * W,
            PW,
            out as Float64Array,
            o,
            argmax,
            k,
            outH,
            outW,
          );
        }
      }
    }
  }
  if (relu) reluRange(out, p0 * outPlane, p1 * outPlane);
}

/**
 * Max pooling for any window and stride, cs231n's im2col strategy: copy the windows of a
 * chunk of planes into the columns of a matrix, then take the maximum of every column,
 * one row (tap) at a time. Writes `out` and `argmax` for planes `[p0, p1)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPoolIm2colRange } from "./pooling.ts";
 * // 2×2 windows with stride 1 overlap: three windows over a 2×4 plane.
 * const g = { channels: 1, height: 2, width: 4, kernelH: 2, kernelW: 2, stride: 1, pad: 0,
 *   dilation: 1, outH: 1, outW: 3 };
 * const out = new Float64Array(3), argmax = new Uint16Array(3);
 * maxPoolIm2colRange(new Float64Array([1, 5, 2, 0, 3, 4, 9, 8]), g, 0, 1, out, argmax);
 * assert.deepEqual([...out], [5, 9, 9]);
 * assert.deepEqual([...argmax], [1, 3, 2]); // taps (0,1), (1,1), (1,0)
 * ```
 */
export function maxPoolIm2colRange(
  x: FloatArray,
  geometry: WindowGeometry,
  p0: number,
  p1: number,
  out: FloatArray,
  argmax: Uint16Array,
  scratch: ScratchBuffers = defaultScratch,
): void {
  checkPlanes("maxPoolIm2colRange", ["x", x], ["out", out], argmax, geometry, p0, p1);
  const f32 = sameDType("maxPoolIm2colRange", "x", x, "out", out);
  const taps = geometry.kernelH * geometry.kernelW;
  const outPlane = geometry.outH * geometry.outW;
  const chunk = Math.max(1, Math.floor(POOL_COLS_BUDGET / Math.max(1, taps * outPlane)));
  for (let c0 = p0; c0 < p1; c0 += chunk) {
    const c1 = Math.min(p1, c0 + chunk);
    const m = (c1 - c0) * outPlane;
    const cols = scratch.get("pool.cols", f32 ? "float32" : "float64", taps * m);
    im2col(x, geometry, c0, c1, 0, 1, cols);
    // The chunk's columns are its outputs in order: row k of cols is tap k of every window.
    const o = c0 * outPlane;
    startMax(out, argmax, o, o + m);
    for (let k = 0; k < taps; k++) {
      if (f32) {
        maxTapF32(cols as Float32Array, k * m, 0, 1, out as Float32Array, o, argmax, k, 1, m);
      } else maxTapF64(cols as Float64Array, k * m, 0, 1, out as Float64Array, o, argmax, k, 1, m);
    }
  }
}

/** Target size, in elements, of a chunk's im2col matrix (as for the convolution). */
const POOL_COLS_BUDGET = 1 << 18;

/**
 * Input pixels per round trip through WebAssembly memory (whole planes, at least one):
 * 16,384 float32 pixels (64 KiB) plus their outputs stay in cache between the copy in, the
 * kernel and the copy out.
 */
const WASM_CHUNK_PIXELS = 16384;

/** Planes `[p0, p1)` in chunks: `body(c0, c1)` per chunk of whole planes. */
function planeChunks(
  g: WindowGeometry,
  p0: number,
  p1: number,
  body: (c0: number, c1: number) => void,
): void {
  const per = Math.max(1, Math.floor(WASM_CHUNK_PIXELS / (g.height * g.width)));
  for (let c0 = p0; c0 < p1; c0 += per) body(c0, Math.min(p1, c0 + per));
}

/** {@link maxPoolTiledRange} for 2×2 windows, by the WebAssembly kernel. */
function maxPool2x2Wasm(
  wasm: LayerKernels,
  x: FloatArray,
  g: WindowGeometry,
  p0: number,
  p1: number,
  out: FloatArray,
  argmax: Uint16Array,
  relu: boolean,
): void {
  const dtype = dtypeOf(x);
  const plane = g.height * g.width, outPlane = g.outH * g.outW;
  const f32 = dtype === "float32", ex = wasm.exports;
  const kernel = f32 ? ex.f32_maxPool2x2 : ex.f64_maxPool2x2;
  const reluKernel = f32 ? ex.f32_relu : ex.f64_relu;
  const mark = wasm.gemm.mark();
  try {
    const most = Math.min(p1 - p0, Math.max(1, Math.floor(WASM_CHUNK_PIXELS / plane)));
    const xAt = wasm.alloc(dtype, most * plane), outAt = wasm.alloc(dtype, most * outPlane);
    const argAt = wasm.alloc("float32", Math.ceil(most * outPlane / 2));
    const xView = wasm.view(dtype, xAt, most * plane);
    const outView = wasm.view(dtype, outAt, most * outPlane);
    const argView = new Uint16Array(wasm.gemm.memory.buffer, argAt, most * outPlane);
    planeChunks(g, p0, p1, (c0, c1) => {
      const n = c1 - c0;
      xView.set(x.subarray(c0 * plane, c1 * plane));
      kernel(xAt, outAt, argAt, n, g.outH, g.outW);
      // The ReLU layer's kernel, on the maxima while they are in WebAssembly memory.
      if (relu) reluKernel(outAt, outAt, n * outPlane);
      out.set(outView.subarray(0, n * outPlane), c0 * outPlane);
      argmax.set(argView.subarray(0, n * outPlane), c0 * outPlane);
    });
  } finally {
    wasm.gemm.release(mark);
  }
}

/** {@link maxPoolScatterRange} for 2×2 windows that tile the input, in WebAssembly. */
function maxPool2x2BackWasm(
  wasm: LayerKernels,
  dout: FloatArray,
  argmax: Uint16Array,
  g: WindowGeometry,
  p0: number,
  p1: number,
  dx: FloatArray,
  reluOut: FloatArray | null,
): void {
  const dtype = dtypeOf(dx);
  const plane = g.height * g.width, outPlane = g.outH * g.outW;
  const f32 = dtype === "float32", ex = wasm.exports;
  const kernel = f32 ? ex.f32_maxPool2x2Back : ex.f64_maxPool2x2Back;
  const maskKernel = f32 ? ex.f32_reluMask : ex.f64_reluMask;
  const mark = wasm.gemm.mark();
  try {
    const most = Math.min(p1 - p0, Math.max(1, Math.floor(WASM_CHUNK_PIXELS / plane)));
    const dxAt = wasm.alloc(dtype, most * plane), doutAt = wasm.alloc(dtype, most * outPlane);
    const argAt = wasm.alloc("float32", Math.ceil(most * outPlane / 2));
    const reluAt = reluOut !== null ? wasm.alloc(dtype, most * outPlane) : 0;
    const reluView = reluOut !== null ? wasm.view(dtype, reluAt, most * outPlane) : null;
    const dxView = wasm.view(dtype, dxAt, most * plane);
    const doutView = wasm.view(dtype, doutAt, most * outPlane);
    const argView = new Uint16Array(wasm.gemm.memory.buffer, argAt, most * outPlane);
    planeChunks(g, p0, p1, (c0, c1) => {
      const n = c1 - c0;
      doutView.set(dout.subarray(c0 * outPlane, c1 * outPlane));
      if (reluView !== null) {
        // The ReLU layer's backward kernel first: dout · (out > 0 ? 1 : 0).
        reluView.set(reluOut!.subarray(c0 * outPlane, c1 * outPlane));
        maskKernel(doutAt, reluAt, doutAt, n * outPlane);
      }
      argView.set(argmax.subarray(c0 * outPlane, c1 * outPlane));
      kernel(doutAt, argAt, dxAt, n, g.outH, g.outW);
      dx.set(dxView.subarray(0, n * plane), c0 * plane);
    });
  } finally {
    wasm.gemm.release(mark);
  }
}

/** Running maxima start at −∞ with tap 0, so that an all-(−∞) window still names a tap. */
function startMax(out: FloatArray, argmax: Uint16Array, from: number, to: number): void {
  out.fill(-Infinity, from, to);
  argmax.fill(0, from, to);
}

// V8 compiles each function's typed-array accesses for the array types that function has
// seen, and a loop that has seen both float32 and float64 arrays runs far slower: the
// innermost loops exist once per dtype, with identical bodies.

/**
 * Folds tap `k` into the running maxima of `rows × cols` outputs at `o`: output `(i, j)`
 * compares `x[s + i·rowStep + j·colStep]`. NaN wins once (so it propagates, as in numpy);
 * a later equal value does not replace an earlier one (the first maximum is kept).
 */
function maxTapF32(
  x: Float32Array,
  s: number,
  rowStep: number,
  colStep: number,
  out: Float32Array,
  o: number,
  argmax: Uint16Array,
  k: number,
  rows: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++, s += rowStep) {
    for (let j = 0, at = s; j < cols; j++, o++, at += colStep) {
      const v = x[at], best = out[o];
      if (v > best || (v !== v && best === best)) {
        out[o] = v;
        argmax[o] = k;
      }
    }
  }
}

/** {@link maxTapF32} for float64. */
function maxTapF64(
  x: Float64Array,
  s: number,
  rowStep: number,
  colStep: number,
  out: Float64Array,
  o: number,
  argmax: Uint16Array,
  k: number,
  rows: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++, s += rowStep) {
    for (let j = 0, at = s; j < cols; j++, o++, at += colStep) {
      const v = x[at], best = out[o];
      if (v > best || (v !== v && best === best)) {
        out[o] = v;
        argmax[o] = k;
      }
    }
  }
}

/**
 * Max pooling backward for planes `[p0, p1)`: overwrites those planes of `dx` with zeros
 * and adds each `dout` element to the pixel of its window that `argmax` names. Works for
 * both forward strategies, overlapping windows included. With `reluOut` (the output of a
 * pooling run with `relu`), `dout` is first masked as the ReLU layer's backward pass masks
 * it, `dout · (reluOut > 0 ? 1 : 0)`: in WebAssembly memory on the 2×2 path, else in a
 * copy of `dout`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPoolScatterRange } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 4, kernelH: 2, kernelW: 2, stride: 1, pad: 0,
 *   dilation: 1, outH: 1, outW: 3 };
 * const dx = new Float64Array(8);
 * maxPoolScatterRange(new Float64Array([1, 2, 3]), new Uint16Array([1, 3, 2]), g, 0, 1, dx);
 * assert.deepEqual([...dx], [0, 1, 0, 0, 0, 0, 5, 0]);
 * ```
 */
export function maxPoolScatterRange(
  dout: FloatArray,
  argmax: Uint16Array,
  geometry: WindowGeometry,
  p0: number,
  p1: number,
  dx: FloatArray,
  reluOut: FloatArray | null = null,
): void {
  checkPlanes("maxPoolScatterRange", ["dx", dx], ["dout", dout], argmax, geometry, p0, p1);
  if (reluOut !== null) needLength("maxPoolScatterRange", "reluOut", reluOut, dout.length);
  const f32 = sameDType("maxPoolScatterRange", "dx", dx, "dout", dout);
  const { height: H, width: W, kernelH: PH, kernelW: PW, stride, outH, outW } = geometry;
  const taps = PH * PW;
  // Where tap k lies relative to its window's top-left pixel.
  const tapOffset = new Int32Array(taps);
  for (let k = 0; k < taps; k++) tapOffset[k] = Math.floor(k / PW) * W + (k % PW);
  checkTaps(argmax, p0 * outH * outW, p1 * outH * outW, taps, PH, PW);
  const tiles2x2 = PH === 2 && PW === 2 && stride === 2 && H === 2 * outH && W === 2 * outW;
  const wasm = tiles2x2 ? layerKernels() : null;
  if (wasm !== null) {
    maxPool2x2BackWasm(wasm, dout, argmax, geometry, p0, p1, dx, reluOut);
    return;
  }
  // With a ReLU, this range of dout masked as the ReLU layer's backward pass masks it, in a
  // copy of the range (its taps are read from the same offset).
  const first = reluOut === null ? 0 : p0 * outH * outW;
  if (reluOut !== null) {
    const to = p1 * outH * outW;
    const masked = f32 ? new Float32Array(to - first) : new Float64Array(to - first);
    reluMaskJs(dout.subarray(first, to), reluOut.subarray(first, to), masked);
    dout = masked;
    argmax = argmax.subarray(first);
  }
  dx.fill(0, p0 * H * W, p1 * H * W);
  for (let p = p0; p < p1; p++) {
    const s = p * H * W, o = p * outH * outW - first;
    if (f32) {
      scatterTapsF32(
        dout as Float32Array,
        o,
        argmax,
        tapOffset,
        dx as Float32Array,
        s,
        stride * W,
        stride,
        outH,
        outW,
      );
    } else {
      scatterTapsF64(
        dout as Float64Array,
        o,
        argmax,
        tapOffset,
        dx as Float64Array,
        s,
        stride * W,
        stride,
        outH,
        outW,
      );
    }
  }
}

/**
 * Throws unless every `argmax[o]`, o in `[from, to)`, names one of the `taps` taps. OR-ing
 * the values that are too large keeps the common, valid case free of branches.
 */
function checkTaps(
  argmax: Uint16Array,
  from: number,
  to: number,
  taps: number,
  PH: number,
  PW: number,
): void {
  let tooLarge = 0;
  if ((taps & (taps - 1)) === 0) {
    // A power of two: a valid tap has no bit at or above log2(taps).
    const high = ~(taps - 1) & 0xffff;
    for (let o = from; o < to; o++) tooLarge |= argmax[o] & high;
  } else {
    for (let o = from; o < to; o++) tooLarge |= argmax[o] >= taps ? 1 : 0;
  }
  if (tooLarge === 0) return;
  for (let o = from; o < to; o++) {
    if (argmax[o] >= taps) {
      throw new Error(
        `maxPoolScatterRange: argmax[${o}] = ${argmax[o]} is not a tap of a ${PH}×${PW} window`,
      );
    }
  }
}

/** `dx[s + i·rowStep + j·colStep + tapOffset[argmax[o]]] += dout[o]` over one plane. */
function scatterTapsF32(
  dout: Float32Array,
  o: number,
  argmax: Uint16Array,
  tapOffset: Int32Array,
  dx: Float32Array,
  s: number,
  rowStep: number,
  colStep: number,
  rows: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++, s += rowStep) {
    for (let j = 0, at = s; j < cols; j++, o++, at += colStep) {
      dx[at + tapOffset[argmax[o]]] += dout[o];
    }
  }
}

/** {@link scatterTapsF32} for float64. */
function scatterTapsF64(
  dout: Float64Array,
  o: number,
  argmax: Uint16Array,
  tapOffset: Int32Array,
  dx: Float64Array,
  s: number,
  rowStep: number,
  colStep: number,
  rows: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++, s += rowStep) {
    for (let j = 0, at = s; j < cols; j++, o++, at += colStep) {
      dx[at + tapOffset[argmax[o]]] += dout[o];
    }
  }
}

/**
 * Average pooling forward for planes `[p0, p1)`: each output is the mean of its window
 * (summed in float64, rounded once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { avgPoolForwardRange } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 4, kernelH: 2, kernelW: 2, stride: 2, pad: 0,
 *   dilation: 1, outH: 1, outW: 2 };
 * const out = new Float64Array(2);
 * avgPoolForwardRange(new Float64Array([1, 5, 2, 0, 3, 4, 9, 9]), g, 0, 1, out);
 * assert.deepEqual([...out], [3.25, 5]);
 * ```
 */
export function avgPoolForwardRange(
  x: FloatArray,
  geometry: WindowGeometry,
  p0: number,
  p1: number,
  out: FloatArray,
): void {
  checkPlanes("avgPoolForwardRange", ["x", x], ["out", out], null, geometry, p0, p1);
  const { height: H, width: W, kernelH: PH, kernelW: PW, stride, outH, outW } = geometry;
  const scale = 1 / (PH * PW);
  const plane = H * W;
  for (let p = p0, o = p0 * outH * outW; p < p1; p++) {
    const base = p * plane;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, o++) {
        let acc = 0;
        for (let kh = 0; kh < PH; kh++) {
          const row = base + (oh * stride + kh) * W + ow * stride;
          for (let kw = 0; kw < PW; kw++) acc += x[row + kw];
        }
        out[o] = acc * scale;
      }
    }
  }
}

/**
 * Average pooling backward for planes `[p0, p1)`: overwrites those planes of `dx` with the
 * sum, over the windows covering each pixel, of `dout / (poolHeight·poolWidth)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { avgPoolBackwardRange } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 4, kernelH: 2, kernelW: 2, stride: 2, pad: 0,
 *   dilation: 1, outH: 1, outW: 2 };
 * const dx = new Float64Array(8);
 * avgPoolBackwardRange(new Float64Array([4, 8]), g, 0, 1, dx);
 * assert.deepEqual([...dx], [1, 1, 2, 2, 1, 1, 2, 2]);
 * ```
 */
export function avgPoolBackwardRange(
  dout: FloatArray,
  geometry: WindowGeometry,
  p0: number,
  p1: number,
  dx: FloatArray,
): void {
  checkPlanes("avgPoolBackwardRange", ["dx", dx], ["dout", dout], null, geometry, p0, p1);
  const { height: H, width: W, kernelH: PH, kernelW: PW, stride, outH, outW } = geometry;
  const scale = 1 / (PH * PW);
  const plane = H * W;
  dx.fill(0, p0 * plane, p1 * plane);
  for (let p = p0, o = p0 * outH * outW; p < p1; p++) {
    const base = p * plane;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, o++) {
        const share = dout[o] * scale;
        for (let kh = 0; kh < PH; kh++) {
          const row = base + (oh * stride + kh) * W + ow * stride;
          for (let kw = 0; kw < PW; kw++) dx[row + kw] += share;
        }
      }
    }
  }
}

/** Checks the plane range and that every array is long enough for it. */
function checkPlanes(
  fn: string,
  image: [name: string, array: FloatArray],
  pooled: [name: string, array: FloatArray],
  argmax: Uint16Array | null,
  g: WindowGeometry,
  p0: number,
  p1: number,
): void {
  if (g.channels !== 1 || g.pad !== 0 || g.dilation !== 1) {
    throw new Error(
      `${fn}: pooling geometry must have channels 1, pad 0, dilation 1 (planes are the ` +
        `examples), got channels ${g.channels}, pad ${g.pad}, dilation ${g.dilation}`,
    );
  }
  if (g.kernelH * g.kernelW > MAX_POOL_TAPS) {
    throw new Error(
      `${fn}: a ${g.kernelH}×${g.kernelW} window has more than ${MAX_POOL_TAPS} taps`,
    );
  }
  if (!(Number.isInteger(p0) && Number.isInteger(p1) && 0 <= p0 && p0 <= p1)) {
    throw new Error(`${fn}: plane range [${p0}, ${p1}) must be integers with 0 ≤ p0 ≤ p1`);
  }
  const inLen = p1 * g.height * g.width, outLen = p1 * g.outH * g.outW;
  needLength(fn, image[0], image[1], inLen);
  needLength(fn, pooled[0], pooled[1], outLen);
  if (argmax !== null) needLength(fn, "argmax", argmax, outLen);
}

// ------------------------------------------------------------------ the parallel split
//
// Pooling treats each plane (one channel of one example) on its own, so pool tasks are
// planes: every plane's outputs are written by exactly one thread, with the same code
// whatever the split, and results are bitwise identical for any number of threads.

/**
 * Below this many input pixels, handing the work to the pool costs more than it saves: a
 * 2×2 pool runs at ~0.4 ns per pixel here, while waking a worker and copying the planes in
 * and out of shared memory cost ~0.3 ms (measured: 1.25M pixels took 0.5 ms on one thread
 * and 0.9 ms on two).
 */
const PARALLEL_MIN_PIXELS = 1 << 21;
/**
 * The same when the image and result arrays are shared memory already (no copies): only
 * the hand-off remains, ~0.05 ms.
 */
const PARALLEL_MIN_PIXELS_SHARED = 1 << 18;

/**
 * Whether pooling `planes` planes of this geometry is worth handing to the pool; `shared`:
 * the big operands need no copy.
 */
function worthSplitting(g: WindowGeometry, planes: number, shared: boolean): boolean {
  const least = shared ? PARALLEL_MIN_PIXELS_SHARED : PARALLEL_MIN_PIXELS;
  return planes * g.height * g.width >= least && useParallel(planes);
}

/** Buffers that the pool's workers read or write: shared memory, owned by the caller. */
const sharedScratch = new ScratchBuffers({ shared: true });

interface MaxPoolJob {
  x: FloatArray;
  g: WindowGeometry;
  out: FloatArray;
  argmax: Uint16Array;
  /** The windows tile the input (the "reshape" strategy), else im2col. */
  tiles: boolean;
  /** Pass the maxima through a ReLU. */
  relu: boolean;
}

interface MaxPoolBackJob {
  dout: FloatArray;
  argmax: Uint16Array;
  g: WindowGeometry;
  dx: FloatArray;
  /** The output of a ReLU after the pooling, or null: see {@link maxPoolBackwardBatch}. */
  reluOut: FloatArray | null;
}

function maxPoolForwardPlanes(a: MaxPoolJob, p0: number, p1: number): void {
  if (a.tiles) {
    maxPoolTiledRange(a.x, a.g, p0, p1, a.out, a.argmax, a.relu);
    return;
  }
  maxPoolIm2colRange(a.x, a.g, p0, p1, a.out, a.argmax);
  const outPlane = a.g.outH * a.g.outW;
  if (a.relu) reluRange(a.out, p0 * outPlane, p1 * outPlane);
}

// The pool's workers load this module, so they know the jobs registered below.
registerWorkerModule(import.meta.url);

registerJob("pool.maxForward", maxPoolForwardPlanes);
registerJob("pool.maxBackward", (a: MaxPoolBackJob, p0: number, p1: number) => {
  maxPoolScatterRange(a.dout, a.argmax, a.g, p0, p1, a.dx, a.reluOut);
});

/** `out[i] = relu(out[i])` for i in `[from, to)`: the ReLU layer's arithmetic, in place. */
function reluRange(out: FloatArray, from: number, to: number): void {
  const range = out.subarray(from, to);
  reluJs(range, range);
}

/**
 * Max pooling of `planes` planes (all of a batch's `N·C`), on the worker pool when it pays:
 * writes `out` and `argmax` as {@link maxPoolTiledRange} (`tiles`: the windows tile the
 * input) or {@link maxPoolIm2colRange} do, and with `relu` passes `out` through a ReLU (in
 * WebAssembly memory, with the maxima, for 2×2 windows that tile the input).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPoolForwardBatch } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 2, kernelH: 2, kernelW: 2, stride: 2, pad: 0,
 *   dilation: 1, outH: 1, outW: 1 };
 * const out = new Float32Array(2), argmax = new Uint16Array(2);
 * maxPoolForwardBatch(new Float32Array([1, 5, 2, 0, 7, 1, 1, 1]), g, 2, out, argmax, true);
 * assert.deepEqual([...out], [5, 7]);
 * assert.deepEqual([...argmax], [1, 0]);
 * ```
 */
export function maxPoolForwardBatch(
  x: FloatArray,
  g: WindowGeometry,
  planes: number,
  out: FloatArray,
  argmax: Uint16Array,
  tiles: boolean,
  relu = false,
): void {
  if (!worthSplitting(g, planes, isShared(x) && isShared(out))) {
    maxPoolForwardPlanes({ x, g, out, argmax, tiles, relu }, 0, planes);
    return;
  }
  const job: MaxPoolJob = {
    x: sharedView(x, sharedScratch, "pool.x"),
    g,
    out: sharedTarget(out, sharedScratch, "pool.out"),
    argmax: sharedUint16(sharedScratch, "pool.argmax", argmax.length),
    tiles,
    relu,
  };
  getPool().run("pool.maxForward", job, planes);
  copyBack(out, job.out);
  if (job.argmax !== argmax) argmax.set(job.argmax);
}

/**
 * The backward pass of {@link maxPoolForwardBatch}: overwrites `dx` with `dout` scattered
 * through `argmax`, on the worker pool when it pays (`tiles` as in the forward call). When
 * the forward call had `relu`, `reluOut` is its `out` and `dout` the gradient of that
 * output: it is first masked as the ReLU layer's backward pass masks it (`dout · (out > 0 ?
 * 1 : 0)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPoolBackwardBatch } from "./pooling.ts";
 * const g = { channels: 1, height: 2, width: 2, kernelH: 2, kernelW: 2, stride: 2, pad: 0,
 *   dilation: 1, outH: 1, outW: 1 };
 * const dx = new Float64Array(4);
 * maxPoolBackwardBatch(new Float64Array([3]), new Uint16Array([2]), g, 1, dx, true);
 * assert.deepEqual([...dx], [0, 0, 3, 0]);
 * ```
 */
export function maxPoolBackwardBatch(
  dout: FloatArray,
  argmax: Uint16Array,
  g: WindowGeometry,
  planes: number,
  dx: FloatArray,
  tiles: boolean,
  reluOut: FloatArray | null = null,
): void {
  // The 2×2 tiling case writes dx at memory speed on one thread (WebAssembly): sharing it
  // out pays only when dout and dx are shared memory already (recycled buffers are), as
  // copies through shared memory would cost more than it saves (measured on
  // x(128,32,28,28) with plain arrays: 1.3 ms on one thread, 2.5 ms on two).
  const operandsShared = isShared(dout) && isShared(dx) && (reluOut === null || isShared(reluOut));
  const memoryBound = tiles && g.kernelH === 2 && g.kernelW === 2 && !operandsShared;
  if (memoryBound || !worthSplitting(g, planes, operandsShared)) {
    maxPoolScatterRange(dout, argmax, g, 0, planes, dx, reluOut);
    return;
  }
  const shared = sharedUint16(sharedScratch, "pool.argmax", argmax.length);
  shared.set(argmax);
  const job: MaxPoolBackJob = {
    dout: sharedView(dout, sharedScratch, "pool.dout"),
    argmax: shared,
    g,
    dx: sharedTarget(dx, sharedScratch, "pool.dx"),
    reluOut: reluOut === null ? null : sharedView(reluOut, sharedScratch, "pool.reluOut"),
  };
  getPool().run("pool.maxBackward", job, planes);
  copyBack(dx, job.dx);
}

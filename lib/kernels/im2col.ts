/**
 * `im2col` and `col2im`: the data movement that turns a convolution into one matrix
 * product.
 *
 * `im2col` copies every receptive field of the input into a column of a matrix, so that
 * the convolution becomes `out = W · cols`, with `W` the filters flattened to rows of
 * length `C·KH·KW`. `col2im` is its adjoint: it adds each column back onto the pixels it
 * was read from, which is how the gradient with respect to the input (and the transposed
 * convolution) is computed.
 *
 * Both work on an explicit range of examples `[n0, n1)` and a range of channels `[c0, c1)`
 * of a batch `(N, C, H, W)`: the example range lets a caller (or a worker) process a batch
 * in cache-sized chunks, the channel range selects one group of a grouped convolution.
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";
import { needLength, sameDType } from "./_checks.ts";

/**
 * The sizes of a sliding-window operation on one `(C, H, W)` example: PyTorch `Conv2d`
 * semantics with square stride, zero padding and dilation. `outH`/`outW` are stored, not
 * derived, so that a caller may ask for fewer output rows than would fit (the transposed
 * convolution with output padding needs that).
 */
export interface WindowGeometry {
  /** Channels of the input. */
  channels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Window (kernel) height. */
  kernelH: number;
  /** Window (kernel) width. */
  kernelW: number;
  /** Step between windows, in both directions. */
  stride: number;
  /** Zeros added on every side. */
  pad: number;
  /** Spacing between the taps of a window (1: adjacent pixels). */
  dilation: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
}

/**
 * Writes the receptive fields of examples `[n0, n1)`, channels `[c0, c1)` of `x` (a batch
 * `(N, C, H, W)` laid out as `geometry` says) into `cols`, a row-major matrix with
 * `(c1 - c0)·KH·KW` rows and `(n1 - n0)·outH·outW` columns. Row `((c - c0)·KH + kh)·KW + kw`
 * matches the layout of a weight tensor `(F, C, KH, KW)`; column `(n - n0)·outH·outW +
 * oh·outW + ow` is one output pixel. Taps that fall in the padding are written as 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { im2col } from "./im2col.ts";
 * // One 1×3×3 image, 2×2 windows, stride 1: four windows, four taps each.
 * const x = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * const g = { channels: 1, height: 3, width: 3, kernelH: 2, kernelW: 2, stride: 1, pad: 0,
 *   dilation: 1, outH: 2, outW: 2 };
 * const cols = new Float64Array(16);
 * im2col(x, g, 0, 1, 0, 1, cols);
 * // Row (kh, kw) = (0, 0) holds the top-left tap of each window, and so on.
 * assert.deepEqual([...cols], [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9]);
 * ```
 */
export function im2col(
  x: FloatArray,
  geometry: WindowGeometry,
  n0: number,
  n1: number,
  c0: number,
  c1: number,
  cols: FloatArray,
): void {
  const { channels: C, height: H, width: W, kernelH: KH, kernelW: KW } = geometry;
  const { stride, pad, dilation, outH, outW } = geometry;
  checkRanges("im2col", "x", x, geometry, n0, n1, c0, c1);
  const f32 = sameDType("im2col", "x", x, "cols", cols);
  const plane = H * W;
  const outPlane = outH * outW;
  const ld = (n1 - n0) * outPlane;
  needLength("im2col", "cols", cols, (c1 - c0) * KH * KW * ld);
  // With stride 1 and as many output columns as input columns ("same" padding), a tap's
  // values for consecutive output pixels are consecutive pixels of x, across row ends too:
  // one bulk copy per plane, then zeros where a row's tap fell off the left or right edge.
  const contiguous = stride === 1 && outW === W;

  let row = 0;
  for (let c = c0; c < c1; c++) {
    for (let kh = 0; kh < KH; kh++) {
      const ih0 = kh * dilation - pad;
      // Output rows whose tap row lies inside the image; the others are all padding.
      const ohLo = firstInside(ih0, stride, outH);
      const ohHi = lastInside(ih0, stride, H, ohLo, outH);
      for (let kw = 0; kw < KW; kw++, row++) {
        const iw0 = kw * dilation - pad;
        // Likewise the output columns: computing both ranges once per row keeps the
        // innermost loops free of bounds tests (their cost is the whole kernel).
        const owLo = firstInside(iw0, stride, outW);
        const owHi = lastInside(iw0, stride, W, owLo, outW);
        for (let n = n0, o = row * ld; n < n1; n++, o += outPlane) {
          const src = (n * C + c) * plane;
          cols.fill(0, o, o + ohLo * outW);
          cols.fill(0, o + ohHi * outW, o + outPlane);
          if (owLo === owHi) {
            cols.fill(0, o + ohLo * outW, o + ohHi * outW);
          } else if (contiguous) {
            // cols[o + q] = x[src + ih0·W + iw0 + q] for q over the valid rows, except the
            // first and last |iw0| positions, which would lie outside the plane.
            const from = ohLo * W + owLo, to = ohHi * W - (W - owHi);
            const shift = src + ih0 * W + iw0;
            cols.set(x.subarray(shift + from, shift + to), o + from);
            for (let oh = ohLo; oh < ohHi; oh++) {
              const r = o + oh * W;
              for (let ow = 0; ow < owLo; ow++) cols[r + ow] = 0;
              for (let ow = owHi; ow < W; ow++) cols[r + ow] = 0;
            }
          } else {
            const s = src + (ohLo * stride + ih0) * W + owLo * stride + iw0;
            const r = o + ohLo * outW, rows = ohHi - ohLo, step = stride * W;
            if (f32) {
              gatherF32(
                x as Float32Array,
                s,
                step,
                stride,
                cols as Float32Array,
                r,
                outW,
                owLo,
                owHi,
                rows,
              );
            } else {
              gatherF64(
                x as Float64Array,
                s,
                step,
                stride,
                cols as Float64Array,
                r,
                outW,
                owLo,
                owHi,
                rows,
              );
            }
          }
        }
      }
    }
  }
}

/**
 * The adjoint of {@link im2col}: adds every entry of `cols` (same layout) onto the pixel
 * of `dx` it was copied from, for examples `[n0, n1)` and channels `[c0, c1)`. Entries that
 * came from the padding are dropped. `dx` is accumulated into, not overwritten, because
 * overlapping windows send several columns to one pixel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { col2im } from "./im2col.ts";
 * const g = { channels: 1, height: 3, width: 3, kernelH: 2, kernelW: 2, stride: 1, pad: 0,
 *   dilation: 1, outH: 2, outW: 2 };
 * const dx = new Float64Array(9);
 * col2im(new Float64Array(16).fill(1), g, 0, 1, 0, 1, dx);
 * // Each pixel receives one 1 per window that covers it.
 * assert.deepEqual([...dx], [1, 2, 1, 2, 4, 2, 1, 2, 1]);
 * ```
 */
export function col2im(
  cols: FloatArray,
  geometry: WindowGeometry,
  n0: number,
  n1: number,
  c0: number,
  c1: number,
  dx: FloatArray,
): void {
  const { channels: C, height: H, width: W, kernelH: KH, kernelW: KW } = geometry;
  const { stride, pad, dilation, outH, outW } = geometry;
  checkRanges("col2im", "dx", dx, geometry, n0, n1, c0, c1);
  const f32 = sameDType("col2im", "dx", dx, "cols", cols);
  const plane = H * W;
  const outPlane = outH * outW;
  const ld = (n1 - n0) * outPlane;
  needLength("col2im", "cols", cols, (c1 - c0) * KH * KW * ld);

  let row = 0;
  for (let c = c0; c < c1; c++) {
    for (let kh = 0; kh < KH; kh++) {
      const ih0 = kh * dilation - pad;
      const ohLo = firstInside(ih0, stride, outH);
      const ohHi = lastInside(ih0, stride, H, ohLo, outH);
      for (let kw = 0; kw < KW; kw++, row++) {
        const iw0 = kw * dilation - pad;
        const owLo = firstInside(iw0, stride, outW);
        const owHi = lastInside(iw0, stride, W, owLo, outW);
        for (let n = n0, o = row * ld; n < n1; n++, o += outPlane) {
          const dst = (n * C + c) * plane;
          const d = dst + (ohLo * stride + ih0) * W + owLo * stride + iw0;
          const r = o + ohLo * outW, rows = ohHi - ohLo, step = stride * W;
          if (f32) {
            scatterAddF32(
              cols as Float32Array,
              r,
              outW,
              dx as Float32Array,
              d,
              step,
              stride,
              owLo,
              owHi,
              rows,
            );
          } else {
            scatterAddF64(
              cols as Float64Array,
              r,
              outW,
              dx as Float64Array,
              d,
              step,
              stride,
              owLo,
              owHi,
              rows,
            );
          }
        }
      }
    }
  }
}

// V8 compiles each function's typed-array accesses for the array types that function has
// seen: a loop that has seen both Float32Array and Float64Array runs about half as fast
// (measured on im2col: 0.85 → 1.6 ns per element). So the innermost loops exist once per
// dtype, each copy only ever seeing its own type. Their bodies are identical.

/**
 * Fills `rows` rows of `cols` (starting at `o`, `outW` apart) from rows of `x` (starting at
 * `s`, `step` apart): `cols[o + ow] = x[s + (ow − lo)·stride]` for `ow` in `[lo, hi)`, and 0
 * for the rest of `[0, outW)`.
 */
function gatherF32(
  x: Float32Array,
  s: number,
  step: number,
  stride: number,
  cols: Float32Array,
  o: number,
  outW: number,
  lo: number,
  hi: number,
  rows: number,
): void {
  for (let r = 0; r < rows; r++, s += step, o += outW) {
    for (let ow = 0; ow < lo; ow++) cols[o + ow] = 0;
    for (let ow = lo, i = s; ow < hi; ow++, i += stride) cols[o + ow] = x[i];
    for (let ow = hi; ow < outW; ow++) cols[o + ow] = 0;
  }
}

/** {@link gatherF32} for float64. */
function gatherF64(
  x: Float64Array,
  s: number,
  step: number,
  stride: number,
  cols: Float64Array,
  o: number,
  outW: number,
  lo: number,
  hi: number,
  rows: number,
): void {
  for (let r = 0; r < rows; r++, s += step, o += outW) {
    for (let ow = 0; ow < lo; ow++) cols[o + ow] = 0;
    for (let ow = lo, i = s; ow < hi; ow++, i += stride) cols[o + ow] = x[i];
    for (let ow = hi; ow < outW; ow++) cols[o + ow] = 0;
  }
}

/** The adjoint of {@link gatherF32}: `dx[d + (ow − lo)·stride] += cols[o + ow]`, row by row. */
function scatterAddF32(
  cols: Float32Array,
  o: number,
  outW: number,
  dx: Float32Array,
  d: number,
  step: number,
  stride: number,
  lo: number,
  hi: number,
  rows: number,
): void {
  for (let r = 0; r < rows; r++, d += step, o += outW) {
    for (let ow = lo, i = d; ow < hi; ow++, i += stride) dx[i] += cols[o + ow];
  }
}

/** {@link scatterAddF32} for float64. */
function scatterAddF64(
  cols: Float64Array,
  o: number,
  outW: number,
  dx: Float64Array,
  d: number,
  step: number,
  stride: number,
  lo: number,
  hi: number,
  rows: number,
): void {
  for (let r = 0; r < rows; r++, d += step, o += outW) {
    for (let ow = lo, i = d; ow < hi; ow++, i += stride) dx[i] += cols[o + ow];
  }
}

/** The first output index `o` with `o·stride + offset ≥ 0` (at most `outSize`). */
function firstInside(offset: number, stride: number, outSize: number): number {
  return offset >= 0 ? 0 : Math.min(outSize, Math.ceil(-offset / stride));
}

/** One past the last index `o` in `[lo, outSize)` with `o·stride + offset < size`. */
function lastInside(
  offset: number,
  stride: number,
  size: number,
  lo: number,
  outSize: number,
): number {
  const last = offset >= size ? 0 : Math.floor((size - 1 - offset) / stride) + 1;
  return Math.max(lo, Math.min(outSize, last));
}

function checkRanges(
  fn: string,
  name: string,
  image: FloatArray,
  g: WindowGeometry,
  n0: number,
  n1: number,
  c0: number,
  c1: number,
): void {
  const perExample = g.channels * g.height * g.width;
  if (!(Number.isInteger(n0) && Number.isInteger(n1) && 0 <= n0 && n0 <= n1)) {
    throw new Error(`${fn}: example range [${n0}, ${n1}) must be integers with 0 ≤ n0 ≤ n1`);
  }
  if (!(Number.isInteger(c0) && Number.isInteger(c1) && 0 <= c0 && c0 <= c1 && c1 <= g.channels)) {
    throw new Error(
      `${fn}: channel range [${c0}, ${c1}) must lie within the ${g.channels} channels`,
    );
  }
  needLength(fn, name, image, n1 * perExample);
}

/**
 * The convolution kernels behind cs231n's `conv_forward_fast` / `conv_backward_fast`: im2col
 * plus the GEMM kernel, with PyTorch `Conv2d` semantics (`stride`, `pad`, `dilation`,
 * `groups`), on raw row-major arrays. The layer front doors (`layers/conv_fast.ts`) validate
 * Tensors and call {@link convForwardBatch} / {@link convBackwardBatch}.
 *
 * **How the work is laid out.** A batch is processed in chunks of `convChunkSize(geometry)`
 * examples, small enough that the im2col matrix of a chunk (`C·HH·WW` rows, one column per
 * output pixel of the chunk) stays in cache between being written and being read by GEMM,
 * and large enough that GEMM sees a few hundred columns. Per chunk and channel group:
 *
 * - forward: `cols = im2col(x_chunk)`, `out_chunk = W · cols` (one GEMM), then the bias;
 * - backward: `dW_chunk = dout_chunk · colsᵀ` and `dcols = Wᵀ · dout_chunk` (GEMM reads the
 *   transposes in place), then `dx_chunk = col2im(dcols)` — a transposed convolution.
 *
 * **In WebAssembly memory.** With the WebAssembly GEMM (the default), a chunk is copied
 * into the memory of the thread's GEMM instance with one bulk `set`; im2col, GEMM (on
 * operands in place), col2im and the reordering between a tensor's (example, filter,
 * pixel) layout and GEMM's (filter, example·pixel) rows all run there, and one bulk `set`
 * copies each result out. The JavaScript path (JavaScript GEMM selected, or no SIMD) does
 * the same with the JavaScript im2col and `gemm`. Per-element JavaScript never touches the
 * big arrays; measured on 3×3 convolutions of 32–64 channels the layer runs at 80–90% of
 * the GEMM kernel's own rate on the same products (see `bench/conv_bench.ts`).
 *
 * **Split across threads.** The range functions ({@link convForwardRange},
 * {@link convBackwardRange}) take raw arrays, a validated geometry, an example range
 * `[n0, n1)` and the caller's scratch memory, and write only their own examples' outputs.
 * The weight gradient is a sum over the batch, so each chunk writes its own partial
 * `dW`/`db` into a slot of a partials buffer, and {@link sumPartials} adds the slots in
 * chunk order. On the worker pool, threads claim chunks one at a time from a shared
 * counter. Chunk boundaries depend only on the geometry, so the result is bitwise the same
 * however the chunks are shared out, and for any number of threads.
 *
 * **Winograd.** {@link convForwardBatch} and {@link convBackwardBatch} (the batch entry
 * points every layer and `F.conv2d` use) hand float32 3×3 stride-1 convolutions to the
 * Winograd kernels of `winograd.ts` (forward, `dx`, and `dw` with `db`) when
 * {@link convAlgorithmFor} says so; im2col is the reference and the fallback (float64,
 * other filter sizes, strides, dilations, groups, `dx` with a pad above 2).
 * {@link setConvAlgorithm} forces one algorithm (tests, benchmarks). The range functions
 * are always im2col.
 *
 * **First layers.** A float32 convolution with stride 1 and a short reduction `C·KH·KW`
 * (a 1-channel image under a 7×7 filter bank) leaves GEMM too thin a product: the batch
 * functions hand its forward pass and its weight gradient to the direct kernels of
 * `conv_direct.ts` instead (`"direct"` in {@link convAlgorithmFor}).
 *
 * @module
 */

import { copyBack, defaultScratch, ScratchBuffers, sharedTarget, sharedView } from "../scratch.ts";
import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { bytesPerElement, type DType, dtypeOf, type FloatArray } from "../storage.ts";
import { needLength } from "./_checks.ts";
import {
  directConvApplies,
  directConvForwardBatch,
  directConvParamGradsBatch,
  directConvPays,
} from "./conv_direct.ts";
import { rowSums } from "./elementwise.ts";
import { gemm, gemmInstance, gemmMatchesWorkers } from "./gemm.ts";
import { col2im, im2col, type WindowGeometry } from "./im2col.ts";
import { GEMM_BLOCKING } from "./wasm/gemm_module.ts";
import { im2colBounds } from "./wasm/im2col_module.ts";
import { type LayerKernels, layerKernels } from "./wasm/layer_kernels.ts";
import {
  winogradApplies,
  winogradBackwardData,
  winogradBackwardFilter,
  winogradForward,
  winogradMatrices,
  winogradVariantFor,
} from "./winograd.ts";

/**
 * Every size a convolution needs: the sliding window of one example plus the batch, the
 * filters and the channel groups. The layers derive and validate it from their Tensors
 * (`convGeometry` in `layers/conv.ts`); kernels trust it.
 */
export interface ConvGeometry extends WindowGeometry {
  /** Examples in the batch, `N`. */
  batch: number;
  /** Output channels (filters), `F`. */
  filters: number;
  /** Channel groups. */
  groups: number;
}

/**
 * Target size, in elements, of one chunk's im2col matrix: 2^18 elements (1 MiB in float32)
 * fits the 1 MiB L2 of the machines we measure on, so GEMM reads back from cache what
 * im2col has just written.
 */
const COLS_BUDGET = 1 << 18;

/**
 * Examples per chunk for a convolution of this geometry: as many as fit
 * {@link COLS_BUDGET} (at least one). It depends on the geometry only — never on the batch
 * size or the number of threads — so that weight-gradient partials are summed identically
 * however a batch is split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convChunkSize } from "./conv.ts";
 * // x (128, 32, 14, 14), w (64, 32, 3, 3), stride 1, pad 1.
 * const g = { batch: 128, channels: 32, height: 14, width: 14, filters: 64, groups: 1,
 *   kernelH: 3, kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 14, outW: 14 };
 * assert.equal(convChunkSize(g), 4); // 288 rows × 196 pixels per example
 * ```
 */
export function convChunkSize(geometry: ConvGeometry): number {
  const { channels, groups, kernelH, kernelW, outH, outW } = geometry;
  const perExample = (channels / groups) * kernelH * kernelW * outH * outW;
  return Math.max(1, Math.floor(COLS_BUDGET / Math.max(1, perExample)));
}

/**
 * Number of chunks (and so of partial-gradient slots) of a batch of `geometry.batch`
 * examples.
 */
export function convChunkCount(geometry: ConvGeometry): number {
  return Math.ceil(geometry.batch / convChunkSize(geometry));
}

/**
 * Forward convolution of examples `[n0, n1)`: writes `out[n] = conv(x[n], w) + b` for those
 * examples only. `x (N, C, H, W)`, `w (F, C/groups, HH, WW)`, `b (F,)` (or `null` for no
 * bias) and `out (N, F, Ho, Wo)` are raw row-major arrays of one dtype, sized as `geometry`
 * says. `scratch` must belong to the calling thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convForwardRange } from "./conv.ts";
 * import { ScratchBuffers } from "../scratch.ts";
 * // Three 1×2×2 images of ones, one 2×2 filter of ones, no bias.
 * const g = { batch: 3, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const x = new Float64Array(12).fill(1), w = new Float64Array(4).fill(1);
 * const out = new Float64Array(3).fill(-1);
 * convForwardRange(x, w, null, g, out, 1, 3, new ScratchBuffers());
 * assert.deepEqual([...out], [-1, 4, 4]); // example 0 left alone
 * ```
 */
export function convForwardRange(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  geometry: ConvGeometry,
  out: FloatArray,
  n0: number,
  n1: number,
  scratch: ScratchBuffers = defaultScratch,
): void {
  checkRange("convForwardRange", geometry, n0, n1);
  const wasm = wasmFor(x, w, out);
  if (wasm !== null) {
    forwardChunksWasm(wasm, x, w, b, geometry, out, rangeChunks(geometry, n0, n1));
  } else {
    forwardRangeJs(x, w, b, geometry, out, n0, n1, scratch);
  }
}

/** The next chunk `[c0, c1)` to process, or null when there is none left. */
type ChunkSource = () => [number, number] | null;

/** The chunks of `[n0, n1)` in order: `nb` examples each from `n0`, the last one shorter. */
function rangeChunks(g: ConvGeometry, n0: number, n1: number): ChunkSource {
  const nb = convChunkSize(g);
  let c0 = n0;
  return () => {
    if (c0 >= n1) return null;
    const chunk: [number, number] = [c0, Math.min(n1, c0 + nb)];
    c0 += nb;
    return chunk;
  };
}

/**
 * The batch's chunks, each handed to whichever thread asks first: `next[0]` is a shared
 * counter that every thread of a call increments atomically. A thread that starts late
 * (waking a worker takes 0.1–0.3 ms here) simply takes fewer chunks. Who computes a chunk
 * never changes its result, so this keeps results bitwise identical for any thread count.
 */
function claimedChunks(g: ConvGeometry, next: Int32Array): ChunkSource {
  const nb = convChunkSize(g), count = convChunkCount(g);
  return () => {
    const k = Atomics.add(next, 0, 1);
    return k < count ? [k * nb, Math.min(g.batch, (k + 1) * nb)] : null;
  };
}

/** The WebAssembly kernels to use for these operands, or null for the JavaScript path. */
function wasmFor(...arrays: (FloatArray | null)[]): LayerKernels | null {
  const dtype = dtypeOf(arrays[0]!);
  if (arrays.some((a) => a !== null && dtypeOf(a) !== dtype)) return null;
  // The WebAssembly path calls the selected GEMM instance directly; with the JavaScript
  // GEMM kernel selected (tests, or no SIMD), the whole layer stays in JavaScript.
  const instance = gemmInstance();
  return instance === null ? null : layerKernels(instance);
}

/**
 * {@link convForwardRange} in WebAssembly memory: per chunk, one bulk copy brings the
 * chunk's examples in, `im2col` writes the matrix next to them, GEMM reads it in place and
 * writes `W · cols` (seeded with the bias), and one swap of blocks plus one bulk copy put
 * the result into `out`'s (example, filter, pixel) layout.
 */
function forwardChunksWasm(
  wasm: LayerKernels,
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  g: ConvGeometry,
  out: FloatArray,
  chunks: ChunkSource,
): void {
  const { channels: C, height: H, width: W, filters: F, groups, kernelH, kernelW } = g;
  const { stride, outH, outW } = g;
  const Cg = C / groups, Fg = F / groups;
  const Kg = Cg * kernelH * kernelW;
  const P = outH * outW, CHW = C * H * W;
  const nb = convChunkSize(g);
  const dtype = dtypeOf(x), bytes = bytesPerElement(dtype);
  let chunk = chunks();
  if (chunk === null) return;
  const most = Math.min(nb, g.batch);
  const gemm = wasm.gemm;
  const walk = dtype === "float32" ? wasm.exports.f32_im2col : wasm.exports.f64_im2col;
  const window = [H, W, kernelH, kernelW, stride, outH, outW] as const;
  const mark = gemm.mark();
  try {
    const wAt = wasm.copyIn(w.length === F * Kg ? w : w.subarray(0, F * Kg));
    const boundsAt = copyBounds(wasm, g);
    const xAt = wasm.alloc(dtype, most * CHW);
    const colsAt = wasm.alloc(dtype, Kg * most * P);
    const gemmAt = wasm.alloc(dtype, F * most * P);
    const outAt = most > 1 ? wasm.alloc(dtype, most * F * P) : gemmAt;
    const xView = wasm.view(dtype, xAt, most * CHW);
    const gemmView = wasm.view(dtype, gemmAt, F * most * P);
    const outView = wasm.view(dtype, outAt, most * F * P);
    for (; chunk !== null; chunk = chunks()) {
      const [c0, c1] = chunk, m = c1 - c0, cols = m * P;
      xView.set(x.subarray(c0 * CHW, c1 * CHW));
      // Seeding each filter's row with its bias lets GEMM add W·cols on top (beta = 1).
      if (b !== null) { for (let f = 0; f < F; f++) gemmView.fill(b[f], f * cols, (f + 1) * cols); }
      for (let grp = 0; grp < groups; grp++) {
        const [cLo, cHi] = [grp * Cg, (grp + 1) * Cg];
        walk(xAt, colsAt, boundsAt, m, C, cLo, cHi, ...window);
        gemm.gemmInPlace(
          dtype,
          false,
          false,
          Fg,
          cols,
          Kg,
          1,
          wAt + grp * Fg * Kg * bytes,
          Kg,
          colsAt,
          cols,
          b === null ? 0 : 1,
          gemmAt + grp * Fg * cols * bytes,
          cols,
        );
      }
      // GEMM's rows are filters, each holding the chunk's examples side by side; a tensor
      // holds each example's filters together.
      // With separate buffers (chunks of several examples), a last chunk of one example
      // must be moved too: outView would otherwise still hold the previous chunk.
      if (outAt !== gemmAt) wasm.exports.swapBlocks(gemmAt, outAt, F, m, P * bytes);
      out.set(outView.subarray(0, m * F * P), c0 * F * P);
    }
  } finally {
    gemm.release(mark);
  }
}

/** Elements of the whole GEMM tiles that cover an M × N product (edges rounded up). */
function tileArea(M: number, N: number, dtype: DType): number {
  const { MR, NR } = GEMM_BLOCKING[dtype];
  return Math.ceil(M / MR) * MR * Math.ceil(N / NR) * NR;
}

/** Copies the run table of `im2colBounds(g)` into WebAssembly memory; returns its offset. */
function copyBounds(wasm: LayerKernels, g: ConvGeometry): number {
  const table = im2colBounds(g);
  const at = wasm.alloc("float32", table.length); // 4-byte entries, like Int32
  new Int32Array(wasm.gemm.memory.buffer, at, table.length).set(table);
  return at;
}

/** {@link convForwardRange} in JavaScript: the fallback, and the readable version. */
function forwardRangeJs(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  geometry: ConvGeometry,
  out: FloatArray,
  n0: number,
  n1: number,
  scratch: ScratchBuffers,
): void {
  const { channels: C, filters: F, groups, kernelH, kernelW, outH, outW } = geometry;
  const Cg = C / groups, Fg = F / groups;
  const Kg = Cg * kernelH * kernelW;
  const P = outH * outW;
  const nb = convChunkSize(geometry);
  const dtype = dtypeOf(x);
  for (let c0 = n0; c0 < n1; c0 += nb) {
    const c1 = Math.min(n1, c0 + nb);
    const cols = (c1 - c0) * P;
    const colsBuf = scratch.get("conv.cols", dtype, Kg * cols);
    // A single example's GEMM output (F, Ho·Wo) already has the layout of out[n]: write it
    // there directly. Several examples interleave, so they go through a buffer.
    const direct = c1 - c0 === 1;
    const target = direct
      ? out.subarray(c0 * F * P, c1 * F * P)
      : scratch.get("conv.out", dtype, F * cols);
    // Seeding each filter's row with its bias lets GEMM add W·cols on top (beta = 1).
    if (b !== null) {
      for (let f = 0; f < F; f++) target.fill(b[f], f * cols, (f + 1) * cols);
    }
    for (let grp = 0; grp < groups; grp++) {
      im2col(x, geometry, c0, c1, grp * Cg, (grp + 1) * Cg, colsBuf);
      gemm(
        false,
        false,
        Fg,
        cols,
        Kg,
        1,
        w.subarray(grp * Fg * Kg),
        Kg,
        colsBuf,
        cols,
        b === null ? 0 : 1,
        target.subarray(grp * Fg * cols),
        cols,
      );
    }
    if (!direct) {
      // Row f of the chunk holds filter f's planes of examples c0, c0+1, ...: move each.
      for (let n = c0; n < c1; n++) {
        for (let f = 0; f < F; f++) {
          const src = f * cols + (n - c0) * P;
          out.set(target.subarray(src, src + P), (n * F + f) * P);
        }
      }
    }
  }
}

/**
 * Backward convolution of examples `[n0, n1)`, any of its three results optional (pass
 * `null` to skip it; `x` is only read for `dwPartials` and may then be `null` too):
 *
 * - `dx`: overwrites `dx[n]` for the examples of the range with `col2im(Wᵀ · dout[n])`;
 * - `dwPartials`: for each chunk `k` of the range, writes that chunk's share of `dW` (laid
 *   out like `w`) at offset `k · w.length`;
 * - `dbPartials`: likewise writes the chunk's share of `db` at offset `k · F` (float64).
 *
 * With partials, the range must start on a chunk boundary (`n0` a multiple of
 * {@link convChunkSize}) and end on one or at the end of the batch, so that no two ranges
 * write the same slot. Sum the slots with {@link sumPartials}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convBackwardRange, convChunkCount, sumPartials } from "./conv.ts";
 * // Two 1×3×3 images of ones, one 2×2 filter of ones.
 * const g = { batch: 2, channels: 1, height: 3, width: 3, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 2, outW: 2 };
 * const x = new Float64Array(18).fill(1), w = new Float64Array(4).fill(1);
 * const dout = new Float64Array(8).fill(1);
 * const k = convChunkCount(g); // 1: both examples fit one chunk
 * const dwPartials = new Float64Array(k * 4), dbPartials = new Float64Array(k);
 * convBackwardRange(dout, x, w, g, 0, 2, null, dwPartials, dbPartials);
 * const dw = new Float64Array(4), db = new Float64Array(1);
 * sumPartials(dwPartials, k, 4, dw);
 * sumPartials(dbPartials, k, 1, db);
 * assert.deepEqual([...dw, ...db], [8, 8, 8, 8, 8]);
 * ```
 */
export function convBackwardRange(
  dout: FloatArray,
  x: FloatArray | null,
  w: FloatArray,
  geometry: ConvGeometry,
  n0: number,
  n1: number,
  dx: FloatArray | null,
  dwPartials: FloatArray | null,
  dbPartials: Float64Array | null,
  scratch: ScratchBuffers = defaultScratch,
): void {
  const fn = "convBackwardRange";
  const { batch: N, channels: C, height: H, width: W, filters: F, groups } = geometry;
  checkRange(fn, geometry, n0, n1);
  const Kg = (C / groups) * geometry.kernelH * geometry.kernelW;
  const nb = convChunkSize(geometry);
  if (dwPartials !== null || dbPartials !== null) {
    if (n0 % nb !== 0 || (n1 % nb !== 0 && n1 !== N)) {
      throw new Error(
        `${fn}: with partials, the range [${n0}, ${n1}) must start and end on chunk ` +
          `boundaries (multiples of ${nb}, or the batch end ${N})`,
      );
    }
    const slots = Math.ceil(n1 / nb);
    if (dwPartials !== null) needLength(fn, "dwPartials", dwPartials, slots * F * Kg);
    if (dbPartials !== null) needLength(fn, "dbPartials", dbPartials, slots * F);
  }
  if (dx !== null) needLength(fn, "dx", dx, n1 * C * H * W);
  if (dwPartials !== null && x === null) {
    throw new Error(`${fn}: x is needed to compute dwPartials, got null`);
  }
  const wasm = wasmFor(dout, x, w, dx, dwPartials);
  if (wasm !== null) {
    const chunks = rangeChunks(geometry, n0, n1);
    backwardChunksWasm(wasm, dout, x, w, geometry, chunks, dx, dwPartials, dbPartials);
  } else {
    backwardRangeJs(dout, x, w, geometry, n0, n1, dx, dwPartials, dbPartials, scratch);
  }
}

/**
 * {@link convBackwardRange} in WebAssembly memory. Per chunk: `dout` comes in with one bulk
 * copy and is rearranged into GEMM's (filter, pixel) rows; `dW_chunk = dout · colsᵀ` reads
 * an im2col matrix built in place; `dcols = Wᵀ · dout` is folded back onto a zeroed `dx`
 * chunk by `col2im`, which one bulk copy then moves into `dx`.
 */
function backwardChunksWasm(
  wasm: LayerKernels,
  dout: FloatArray,
  x: FloatArray | null,
  w: FloatArray,
  g: ConvGeometry,
  chunks: ChunkSource,
  dx: FloatArray | null,
  dwPartials: FloatArray | null,
  dbPartials: Float64Array | null,
): void {
  const { channels: C, height: H, width: W, filters: F, groups, kernelH, kernelW } = g;
  const { stride, outH, outW } = g;
  const Cg = C / groups, Fg = F / groups;
  const Kg = Cg * kernelH * kernelW;
  const P = outH * outW, CHW = C * H * W;
  const nb = convChunkSize(g);
  const dtype = dtypeOf(dout), bytes = bytesPerElement(dtype);
  let chunk = chunks();
  if (chunk === null) return;
  const most = Math.min(nb, g.batch);
  const gemm = wasm.gemm;
  const ex = wasm.exports;
  const [im2colWalk, col2imWalk] = dtype === "float32"
    ? [ex.f32_im2col, ex.f32_col2im]
    : [ex.f64_im2col, ex.f64_col2im];
  const window = [H, W, kernelH, kernelW, stride, outH, outW] as const;
  // dW_g = dout_g · colsᵀ is Fg × Kg. When Fg and Kg fit GEMM's 6×8 (or 6×4) tiles badly
  // the other way round (the Fashion-MNIST net's 32 × 49: 78% of the tiles' lanes useful,
  // against 91% for 49 × 32), compute dW_gᵀ = cols · dout_gᵀ and transpose it.
  const transposedDw = tileArea(Kg, Fg, dtype) < 0.95 * tileArea(Fg, Kg, dtype);
  const mark = gemm.mark();
  try {
    const wAt = dx !== null ? wasm.copyIn(w.length === F * Kg ? w : w.subarray(0, F * Kg)) : 0;
    const boundsAt = copyBounds(wasm, g);
    const doutAt = wasm.alloc(dtype, most * F * P);
    const matrixAt = most > 1 ? wasm.alloc(dtype, F * most * P) : doutAt;
    const colsAt = dx !== null || dwPartials !== null ? wasm.alloc(dtype, Kg * most * P) : 0;
    const imageAt = dx !== null || dwPartials !== null ? wasm.alloc(dtype, most * CHW) : 0;
    const dwAt = dwPartials !== null ? wasm.alloc(dtype, F * Kg) : 0;
    const dwTAt = dwPartials !== null && transposedDw ? wasm.alloc(dtype, Fg * Kg) : 0;
    const doutView = wasm.view(dtype, doutAt, most * F * P);
    const matrixView = wasm.view(dtype, matrixAt, F * most * P);
    const imageView = wasm.view(dtype, imageAt, imageAt === 0 ? 0 : most * CHW);
    const dwView = wasm.view(dtype, dwAt, dwAt === 0 ? 0 : F * Kg);
    for (; chunk !== null; chunk = chunks()) {
      const [c0, c1] = chunk, m = c1 - c0, cols = m * P;
      const slot = c0 / nb;
      doutView.set(dout.subarray(c0 * F * P, c1 * F * P));
      // GEMM wants this chunk's dout as one (F, m·P) matrix; one example already is one.
      // Also for a last chunk of one example: matrixAt would still hold the previous chunk.
      if (matrixAt !== doutAt) ex.swapBlocks(doutAt, matrixAt, m, F, P * bytes);
      if (dbPartials !== null) rowSums(matrixView, F, cols, dbPartials.subarray(slot * F));
      const groupRows = (grp: number) => [grp * Cg, (grp + 1) * Cg] as const;
      if (dwPartials !== null && x !== null) {
        imageView.set(x.subarray(c0 * CHW, c1 * CHW));
        for (let grp = 0; grp < groups; grp++) {
          const [cLo, cHi] = groupRows(grp);
          im2colWalk(imageAt, colsAt, boundsAt, m, C, cLo, cHi, ...window);
          const doutAt = matrixAt + grp * Fg * cols * bytes, dwGroup = dwAt + grp * Fg * Kg * bytes;
          if (transposedDw) {
            gemm.gemmInPlace(
              dtype,
              false,
              true,
              Kg,
              Fg,
              cols,
              1,
              colsAt,
              cols,
              doutAt,
              cols,
              0,
              dwTAt,
              Fg,
            );
            ex.swapBlocks(dwTAt, dwGroup, Kg, Fg, bytes);
          } else {
            gemm.gemmInPlace(
              dtype,
              false,
              true,
              Fg,
              Kg,
              cols,
              1,
              doutAt,
              cols,
              colsAt,
              cols,
              0,
              dwGroup,
              Kg,
            );
          }
        }
        dwPartials.set(dwView, slot * F * Kg);
      }
      if (dx !== null) {
        imageView.fill(0, 0, m * CHW);
        for (let grp = 0; grp < groups; grp++) {
          const [cLo, cHi] = groupRows(grp);
          // colsAt now receives dcols = W_gᵀ · dout_g, which col2im folds back onto dx.
          gemm.gemmInPlace(
            dtype,
            true,
            false,
            Kg,
            cols,
            Fg,
            1,
            wAt + grp * Fg * Kg * bytes,
            Kg,
            matrixAt + grp * Fg * cols * bytes,
            cols,
            0,
            colsAt,
            cols,
          );
          col2imWalk(imageAt, colsAt, boundsAt, m, C, cLo, cHi, ...window);
        }
        dx.set(imageView.subarray(0, m * CHW), c0 * CHW);
      }
    }
  } finally {
    gemm.release(mark);
  }
}

/** {@link convBackwardRange} in JavaScript: the fallback, and the readable version. */
function backwardRangeJs(
  dout: FloatArray,
  x: FloatArray | null,
  w: FloatArray,
  geometry: ConvGeometry,
  n0: number,
  n1: number,
  dx: FloatArray | null,
  dwPartials: FloatArray | null,
  dbPartials: Float64Array | null,
  scratch: ScratchBuffers,
): void {
  const { channels: C, height: H, width: W, filters: F, groups } = geometry;
  const { kernelH, kernelW, outH, outW } = geometry;
  const Cg = C / groups, Fg = F / groups;
  const Kg = Cg * kernelH * kernelW;
  const P = outH * outW;
  const nb = convChunkSize(geometry);
  const dtype = dtypeOf(dout);
  for (let c0 = n0; c0 < n1; c0 += nb) {
    const c1 = Math.min(n1, c0 + nb);
    const cols = (c1 - c0) * P;
    const slot = c0 / nb;
    // GEMM wants this chunk's dout as one (F, m·P) matrix; one example already is one.
    const doutChunk = c1 - c0 === 1
      ? dout.subarray(c0 * F * P, c1 * F * P)
      : gatherChunk(dout, scratch.get("conv.dout", dtype, F * cols), c0, c1, F, P);
    if (dbPartials !== null) rowSums(doutChunk, F, cols, dbPartials.subarray(slot * F));
    if (dwPartials === null && dx === null) continue;
    const colsBuf = scratch.get("conv.cols", dtype, Kg * cols);
    if (dwPartials !== null && x !== null) {
      for (let grp = 0; grp < groups; grp++) {
        im2col(x, geometry, c0, c1, grp * Cg, (grp + 1) * Cg, colsBuf);
        gemm(
          false,
          true,
          Fg,
          Kg,
          cols,
          1,
          doutChunk.subarray(grp * Fg * cols),
          cols,
          colsBuf,
          cols,
          0,
          dwPartials.subarray((slot * F + grp * Fg) * Kg),
          Kg,
        );
      }
    }
    if (dx !== null) {
      dx.fill(0, c0 * C * H * W, c1 * C * H * W);
      for (let grp = 0; grp < groups; grp++) {
        // colsBuf now receives dcols = W_gᵀ · dout_g, which col2im folds back onto dx.
        gemm(
          true,
          false,
          Kg,
          cols,
          Fg,
          1,
          w.subarray(grp * Fg * Kg),
          Kg,
          doutChunk.subarray(grp * Fg * cols),
          cols,
          0,
          colsBuf,
          cols,
        );
        col2im(colsBuf, geometry, c0, c1, grp * Cg, (grp + 1) * Cg, dx);
      }
    }
  }
}

/** Copies `dout[c0..c1)` `(m, F, P)` into `chunk` as an `(F, m·P)` matrix. */
function gatherChunk(
  dout: FloatArray,
  chunk: FloatArray,
  c0: number,
  c1: number,
  F: number,
  P: number,
): FloatArray {
  const ld = (c1 - c0) * P;
  for (let n = c0; n < c1; n++) {
    for (let f = 0; f < F; f++) {
      const src = (n * F + f) * P;
      chunk.set(dout.subarray(src, src + P), f * ld + (n - c0) * P);
    }
  }
  return chunk;
}

/**
 * `out[i] = Σ_{k < count} partials[k·size + i]`, adding the slots in order `k = 0, 1, …`
 * in float64 and rounding once into `out`'s dtype. A fixed order makes the sum independent
 * of how the slots were produced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sumPartials } from "./conv.ts";
 * const out = new Float32Array(2);
 * sumPartials(new Float64Array([1, 2, 10, 20, 100, 200]), 3, 2, out);
 * assert.deepEqual([...out], [111, 222]);
 * ```
 */
export function sumPartials(
  partials: FloatArray,
  count: number,
  size: number,
  out: FloatArray,
  scratch: ScratchBuffers = defaultScratch,
): void {
  needLength("sumPartials", "partials", partials, count * size);
  needLength("sumPartials", "out", out, size);
  if (count === 0) {
    out.fill(0, 0, size);
    return;
  }
  const acc = scratch.getFloat64("conv.sum", size);
  for (let i = 0; i < size; i++) acc[i] = partials[i];
  for (let k = 1; k < count; k++) {
    const base = k * size;
    for (let i = 0; i < size; i++) acc[i] += partials[base + i];
  }
  for (let i = 0; i < size; i++) out[i] = acc[i];
}

// ------------------------------------------------------------------ the parallel split
//
// Pool tasks are chunks (see convChunkSize): the chunking depends on the layer's shape
// only, each chunk's outputs and gradient partials have their own place in memory, and
// the partials are summed in chunk order on the calling thread. So results are bitwise
// identical for any number of threads. Every thread uses its own `defaultScratch`.

/** Buffers that the pool's workers read or write: shared memory, owned by the caller. */
const sharedScratch = new ScratchBuffers({ shared: true });

// The pool's workers load this module, so they know the jobs registered below.
registerWorkerModule(import.meta.url);

interface ForwardJob {
  x: FloatArray;
  w: FloatArray;
  b: FloatArray | null;
  geometry: ConvGeometry;
  out: FloatArray;
  /** The shared chunk counter of {@link claimedChunks}. */
  next: Int32Array;
}

interface BackwardJob {
  dout: FloatArray;
  x: FloatArray | null;
  w: FloatArray;
  geometry: ConvGeometry;
  dx: FloatArray | null;
  dwPartials: FloatArray | null;
  dbPartials: Float64Array | null;
  /** The shared chunk counter of {@link claimedChunks}. */
  next: Int32Array;
}

// Each thread of a call runs its job once and claims chunks until none is left; the
// task range the pool hands it is not used.
registerJob("conv.forward", (a: ForwardJob) => {
  const chunks = claimedChunks(a.geometry, a.next);
  const wasm = wasmFor(a.x, a.w, a.out);
  if (wasm !== null) {
    forwardChunksWasm(wasm, a.x, a.w, a.b, a.geometry, a.out, chunks);
    return;
  }
  for (let c = chunks(); c !== null; c = chunks()) {
    forwardRangeJs(a.x, a.w, a.b, a.geometry, a.out, c[0], c[1], defaultScratch);
  }
});

registerJob("conv.backward", (a: BackwardJob) => {
  const chunks = claimedChunks(a.geometry, a.next);
  const wasm = wasmFor(a.dout, a.x, a.w, a.dx, a.dwPartials);
  if (wasm !== null) {
    const { dout, x, w, geometry, dx, dwPartials, dbPartials } = a;
    backwardChunksWasm(wasm, dout, x, w, geometry, chunks, dx, dwPartials, dbPartials);
    return;
  }
  for (let c = chunks(); c !== null; c = chunks()) {
    const { dout, x, w, geometry: g, dx, dwPartials, dbPartials } = a;
    backwardRangeJs(dout, x, w, g, c[0], c[1], dx, dwPartials, dbPartials, defaultScratch);
  }
});

/** A fresh chunk counter for one parallel call (see {@link claimedChunks}). */
function chunkCounter(): Int32Array {
  const next = new Int32Array(sharedScratch.get("conv.next", "float32", 1).buffer, 0, 1);
  next[0] = 0;
  return next;
}

/** One job per thread that would share a call made now (each claims its own chunks). */
function threadsNow(): number {
  return getPool().activeThreads;
}

/**
 * Whether the im2col path hands `tasks` chunks to the pool. The workers multiply with
 * their own GEMM kernel; with another one selected on this thread (`setGemmKernel`), the
 * convolution stays here, or its bits would depend on which thread took which chunk.
 */
function onPool(tasks: number): boolean {
  return useParallel(tasks) && gemmMatchesWorkers();
}

/**
 * How {@link convForwardBatch} and {@link convBackwardBatch} compute a convolution:
 * `"im2col"` (im2col + GEMM, every shape and dtype), `"winograd"` (Winograd's algorithm
 * wherever it applies: float32, 3×3, stride 1, dilation 1, one group, the WebAssembly GEMM;
 * im2col elsewhere), `"direct"` (the direct kernels of `conv_direct.ts` wherever they
 * apply: float32, stride 1, dilation 1, one group, the WebAssembly GEMM, the output and
 * the weight gradient; im2col elsewhere) or `"auto"` (each where it applies and was
 * measured faster, see {@link convAlgorithmFor}).
 */
export type ConvAlgorithm = "auto" | "im2col" | "winograd" | "direct";

let algorithmChoice: ConvAlgorithm = "auto";

/**
 * Selects the convolution algorithm of the batch entry points (default `"auto"`), for
 * tests and benchmarks. It applies to calls made on this thread (the choice is made before
 * the work is split across the pool).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getConvAlgorithm, setConvAlgorithm } from "./conv.ts";
 * setConvAlgorithm("im2col");
 * assert.equal(getConvAlgorithm(), "im2col");
 * setConvAlgorithm("auto");
 * ```
 */
export function setConvAlgorithm(algorithm: ConvAlgorithm): void {
  if (!["auto", "im2col", "winograd", "direct"].includes(algorithm)) {
    const got = typeof algorithm === "string" ? JSON.stringify(algorithm) : String(algorithm);
    throw new Error(
      `setConvAlgorithm: algorithm must be "auto", "im2col", "winograd" or "direct", got ${got}`,
    );
  }
  algorithmChoice = algorithm;
}

/** The algorithm selected with {@link setConvAlgorithm}. */
export function getConvAlgorithm(): ConvAlgorithm {
  return algorithmChoice;
}

/**
 * The three passes of a convolution: the output, the input gradient `dx`, and the weight
 * and bias gradients `dw`, `db`.
 */
export type ConvPass = "forward" | "backwardData" | "backwardFilter";

/**
 * The algorithm the batch entry points use for one pass of a convolution (see
 * {@link ConvPass}).
 * Winograd needs float32, a 3×3 filter, stride 1, dilation 1, one group and the
 * WebAssembly GEMM, and for `dx` a pad ≤ 2. The direct kernels need float32, stride 1,
 * dilation 1, one group and the WebAssembly GEMM, and compute no `dx`. Under `"auto"`,
 * Winograd where it applies and {@link winogradPays}, else the direct kernels where they
 * apply and `directConvPays` (a short reduction `C·KH·KW`: first layers), else im2col. On
 * the 3×3 layers both accept (8–16 channels) Winograd was measured as fast or faster.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convAlgorithmFor } from "./conv.ts";
 * const g = { batch: 64, channels: 64, height: 32, width: 32, filters: 64, groups: 1,
 *   kernelH: 3, kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 32, outW: 32 };
 * assert.equal(convAlgorithmFor(g, "float64"), "im2col"); // Winograd is float32 only
 * assert.equal(convAlgorithmFor({ ...g, stride: 2, outH: 16, outW: 16 }, "float32"), "im2col");
 * ```
 */
export function convAlgorithmFor(
  geometry: ConvGeometry,
  dtype: DType,
  pass: ConvPass = "forward",
): "im2col" | "winograd" | "direct" {
  if (algorithmChoice === "im2col") return "im2col";
  const winograd = winogradApplies(geometry, dtype, pass);
  const direct = pass !== "backwardData" && directConvApplies(geometry, dtype);
  if (algorithmChoice === "winograd") return winograd ? "winograd" : "im2col";
  if (algorithmChoice === "direct") return direct ? "direct" : "im2col";
  if (winograd && winogradPays(geometry)) return "winograd";
  if (direct && directConvPays(geometry, pass)) return "direct";
  return "im2col";
}

/**
 * Where Winograd was measured faster than im2col (`bench/conv_bench.ts` and the shapes
 * listed below): its transforms cost the same per pixel and channel whatever the other
 * side's channels, so they pay only when the GEMMs have enough channels on both sides to
 * save work on; and tiles that hang far over the output map are wasted work.
 *
 * Measured (fwd+bwd, float32, one thread, pad 1, ms im2col → Winograd): x(128,32,14,14)
 * w(64,32) 76 → 45; x(64,64,32,32) w(64,64) 394 → 145; x(128,16,28,28) w(16,16) 55 → 36;
 * x(128,8,28,28) w(16,8) 29 → 23; x(128,64,7,7) w(64,64) 42 → 26; but x(64,3,32,32)
 * w(32,3) 16 → 19 (the input gradient and weight gradient of a 3-channel input lose). The
 * 14×14 and 7×7 figures are F(2×2)'s, which those maps took then; they take F(4×4) now,
 * faster still (see `winogradVariantFor`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradPays } from "./conv.ts";
 * const g = { batch: 64, channels: 3, height: 32, width: 32, filters: 32, groups: 1,
 *   kernelH: 3, kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 32, outW: 32 };
 * assert.equal(winogradPays(g), false); // 3 input channels
 * assert.equal(winogradPays({ ...g, channels: 32 }), true);
 * ```
 */
export function winogradPays(geometry: ConvGeometry): boolean {
  const { channels, filters, outH, outW } = geometry;
  const m = winogradMatrices(winogradVariantFor(geometry)).m;
  const covered = Math.ceil(outH / m) * m * Math.ceil(outW / m) * m;
  return Math.min(channels, filters) >= WINOGRAD_MIN_CHANNELS &&
    outH * outW >= WINOGRAD_MIN_TILE_USE * covered;
}

/** See {@link winogradPays}. */
const WINOGRAD_MIN_CHANNELS = 8;
/** See {@link winogradPays}: the share of the tiles' outputs that must be real outputs. */
const WINOGRAD_MIN_TILE_USE = 0.5;

/**
 * The forward convolution of the whole batch, on the worker pool when it pays: writes
 * `out (N, F, Ho, Wo)` from `x (N, C, H, W)`, `w (F, C/groups, HH, WW)` and `b (F,)` (or
 * `null`), raw row-major arrays of one dtype sized as `geometry` says. Every element of
 * `out` is overwritten, whichever algorithm runs: it need not be zeroed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convForwardBatch } from "./conv.ts";
 * // Two 1×2×2 images, one 2×2 filter of ones, bias 0.5: each output is its image's sum + 0.5.
 * const g = { batch: 2, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const out = new Float64Array(2);
 * convForwardBatch(new Float64Array([1, 2, 3, 4, 5, 6, 7, 8]), new Float64Array([1, 1, 1, 1]),
 *   new Float64Array([0.5]), g, out);
 * assert.deepEqual([...out], [10.5, 26.5]);
 * ```
 */
export function convForwardBatch(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  geometry: ConvGeometry,
  out: FloatArray,
): void {
  const g = geometry;
  const algorithm = convAlgorithmFor(g, dtypeOf(x));
  if (algorithm === "winograd") {
    winogradForward(x, w, b, g, out);
    return;
  }
  if (algorithm === "direct") {
    directConvForwardBatch(x, w, b, g, out);
    return;
  }
  const chunks = convChunkCount(g);
  if (!onPool(chunks)) {
    convForwardRange(x, w, b, g, out, 0, g.batch, defaultScratch);
    return;
  }
  const job: ForwardJob = {
    x: sharedView(x, sharedScratch, "conv.x"),
    w: sharedView(w, sharedScratch, "conv.w"),
    b: b === null ? null : sharedView(b, sharedScratch, "conv.b"),
    geometry: g,
    out: sharedTarget(out, sharedScratch, "conv.out"),
    next: chunkCounter(),
  };
  getPool().run("conv.forward", job, threadsNow());
  copyBack(out, job.out);
}

/**
 * The backward convolution of the whole batch, on the worker pool when it pays: writes the
 * weight gradient `dw` (laid out like `w`) and the bias gradient `db (F,)`, and `dx` (laid
 * out like `x`) unless it is `null` — the first layer of a network needs no `dx`, and
 * skipping it saves its GEMM and the col2im pass, about half of the backward time. All
 * three are overwritten whole, whichever algorithm runs: they need not be zeroed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convBackwardBatch } from "./conv.ts";
 * const g = { batch: 2, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const x = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8]), w = new Float64Array([1, 0, 0, 2]);
 * const dx = new Float64Array(8), dw = new Float64Array(4), db = new Float64Array(1);
 * convBackwardBatch(new Float64Array([1, 10]), x, w, g, dx, dw, db);
 * assert.deepEqual([...dw], [51, 62, 73, 84]); // Σ_n dout[n] · x[n]
 * assert.deepEqual([...db], [11]);
 * assert.deepEqual([...dx], [1, 0, 0, 2, 10, 0, 0, 20]); // dout[n] · w
 * ```
 */
export function convBackwardBatch(
  dout: FloatArray,
  x: FloatArray,
  w: FloatArray,
  geometry: ConvGeometry,
  dx: FloatArray | null,
  dw: FloatArray,
  db: FloatArray,
): void {
  const g = geometry;
  const slots = convChunkCount(g);
  const wSize = g.filters * (g.channels / g.groups) * g.kernelH * g.kernelW;
  needLength("convBackwardBatch", "dw", dw, wSize);
  needLength("convBackwardBatch", "db", db, g.filters);
  // Winograd computes dx, or dW and db, or all three; the direct kernels dW and db (first
  // layers); im2col whatever is left.
  const winogradDx = dx !== null && convAlgorithmFor(g, dtypeOf(x), "backwardData") === "winograd";
  const dwAlgorithm = convAlgorithmFor(g, dtypeOf(x), "backwardFilter");
  if (dwAlgorithm === "winograd") winogradBackwardFilter(dout, x, g, dw, db);
  if (dwAlgorithm === "direct") directConvParamGradsBatch(dout, x, g, dw, db);
  if (winogradDx) winogradBackwardData(dout, w, g, dx!);
  const dwDone = dwAlgorithm !== "im2col";
  if (dwDone && (dx === null || winogradDx)) return;
  const dxIm2col = winogradDx ? null : dx;
  const parallel = onPool(slots);
  const scratch = parallel ? sharedScratch : defaultScratch;
  const dwPartials = dwDone ? null : scratch.get("conv.dwPartials", dtypeOf(x), slots * wSize);
  const dbPartials = dwDone ? null : scratch.getFloat64("conv.dbPartials", slots * g.filters);
  if (parallel) {
    const job: BackwardJob = {
      dout: sharedView(dout, sharedScratch, "conv.dout"),
      x: dwPartials === null ? null : sharedView(x, sharedScratch, "conv.x"),
      w: sharedView(w, sharedScratch, "conv.w"),
      geometry: g,
      dx: dxIm2col === null ? null : sharedTarget(dxIm2col, sharedScratch, "conv.dx"),
      dwPartials,
      dbPartials,
      next: chunkCounter(),
    };
    getPool().run("conv.backward", job, threadsNow());
    if (dxIm2col !== null) copyBack(dxIm2col, job.dx!);
  } else {
    const [from, to] = [0, g.batch];
    convBackwardRange(dout, x, w, g, from, to, dxIm2col, dwPartials, dbPartials, defaultScratch);
  }
  if (dwDone) return;
  sumPartials(dwPartials!, slots, wSize, dw, defaultScratch);
  sumPartials(dbPartials!, slots, g.filters, db, defaultScratch);
}

function checkRange(fn: string, g: ConvGeometry, n0: number, n1: number): void {
  if (!(Number.isInteger(n0) && Number.isInteger(n1) && 0 <= n0 && n0 <= n1 && n1 <= g.batch)) {
    throw new Error(
      `${fn}: example range [${n0}, ${n1}) must be integers with 0 ≤ n0 ≤ n1 ≤ ${g.batch}`,
    );
  }
}

/**
 * Per-channel normalization of a tensor viewed as `(outer, channels, inner)` with `inner > 1`
 * (spatial batchnorm of `(N, C, H, W)` is `(N, C, H·W)`), worked out one **block** at a time
 * and shared out across the worker pool.
 *
 * A block is the `inner` contiguous elements of one `(n, c)` pair: a few kilobytes, so both
 * passes a statistic needs (its mean, then the squared deviations from it) read it from L1
 * rather than from memory. Each block's partial result goes into its own slot (`blocks =
 * outer · channels` of them), and the slots of a channel are then added up on the calling
 * thread in the order `n = 0, 1, …`. Which thread computed a block does not change its
 * value, so the result is bitwise the same for any number of threads.
 *
 * - Moments: each block gives its sum and `M2 = Σ (x − blockMean)²`; a channel's variance is
 *   `Σ_n [M2_n + inner · (blockMean_n − mean)²] / count` (Chan, Golub and LeVeque's pairwise
 *   combination), as accurate as two passes over the whole channel and one pass over memory.
 * - Backward: each block gives `Σ dout` and `Σ dout · xHat`; then `dx` is one more pass.
 *
 * The inner loops keep four accumulators: a single running sum is one dependent floating
 * add per element (~1 ns), four let the additions overlap. Sums are float64 whatever the
 * storage type.
 *
 * For float32 storage the blocks go through WebAssembly SIMD kernels (`wasm/norm_module.ts`)
 * when the thread has them: groups of whole blocks are copied into the thread's WebAssembly
 * memory, worked on there and copied back out. Those kernels do the very same float64
 * operations in the same order as the JavaScript loops here (four sums as two pairs of
 * lanes), so the results are bitwise the same either way; the JavaScript stays the
 * reference and the fallback. The reductions (moments, backward sums) gain most: in
 * JavaScript they are bound by their dependent float64 adds, in SIMD by memory (measured on
 * (128, 32, 784): moments 1.7× and backward sums 1.2× faster, copies included). The
 * elementwise passes (normalize, dx) were already near memory speed and pay for the copies
 * in and out: alone on a warm benchmark they are 0.85–0.95× at (128, 32, 784) and 1.0–1.4× at
 * (128, 64, 196), but inside the training step of the conv-BN benchmark network every pass
 * in WebAssembly measured fastest (~130 → ~108 ms per step on one thread; with only the
 * reductions in WebAssembly ~118 ms), so all of them go.
 *
 * Each block's loop is a function of its own, called once per block. Written as a loop
 * nested in the loop over blocks, V8 compiles the inner loop on the fly (on-stack
 * replacement) and then throws that code away on every exit from it: measured in a training
 * step, the normalization ran 3–5× slower that way than the same loops in a function that is
 * called per block and optimized whole.
 *
 * @module
 */

import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { copyBack, defaultScratch, ScratchBuffers, sharedTarget, sharedView } from "../scratch.ts";
import { type FloatArray, isShared } from "../storage.ts";
import { STREAM_CHUNK, WASM_MIN_LENGTH } from "./_stream.ts";
import { gemmInstance } from "./gemm.ts";
import { type LayerKernels, layerKernels } from "./wasm/layer_kernels.ts";
import { BACKWARD_SLOTS, NORM_TABLE_STRIDE, NORMALIZE_SLOTS } from "./wasm/norm_module.ts";

/**
 * Below this many elements one thread is quicker than waking the pool (and copying any
 * non-shared operand into shared memory).
 */
const PARALLEL_MIN_ELEMENTS = 1 << 18;

/** Buffers the pool's workers read or write: shared memory, owned by the calling thread. */
const sharedScratch = new ScratchBuffers({ shared: true });

/** Sum of `x[base … base + n)`, with four accumulators. */
function blockSum(x: FloatArray, base: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const end4 = base + (n & ~3);
  let k = base;
  for (; k < end4; k += 4) {
    s0 += x[k];
    s1 += x[k + 1];
    s2 += x[k + 2];
    s3 += x[k + 3];
  }
  for (; k < base + n; k++) s0 += x[k];
  return (s0 + s1) + (s2 + s3);
}

/** `Σ (x[k] − m)²` over `x[base … base + n)`, with four accumulators. */
function blockSquaredDeviations(x: FloatArray, base: number, n: number, m: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const end4 = base + (n & ~3);
  let k = base;
  for (; k < end4; k += 4) {
    const d0 = x[k] - m, d1 = x[k + 1] - m, d2 = x[k + 2] - m, d3 = x[k + 3] - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; k < base + n; k++) {
    const d = x[k] - m;
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

/**
 * For blocks `[b0, b1)` of `x`: `sums[b] = Σ x` and `m2[b] = Σ (x − Σx/inner)²` over block
 * `b`'s `inner` elements.
 */
export function blockMomentsRange(
  x: FloatArray,
  inner: number,
  b0: number,
  b1: number,
  sums: Float64Array,
  m2: Float64Array,
): void {
  for (let b = b0; b < b1; b++) {
    const base = b * inner;
    const s = blockSum(x, base, inner);
    sums[b] = s;
    m2[b] = blockSquaredDeviations(x, base, inner, s / inner);
  }
}

/**
 * For blocks `[b0, b1)`: `xHat = (x − shift[c]) · scale[c]` (skipped when `xHat` is null)
 * and `out = gamma[c] · xHat + beta[c]`, where `c = b mod channels`.
 */
export function normalizeBlocksRange(
  x: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  shift: FloatArray,
  scale: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  xHat: FloatArray | null,
  out: FloatArray,
): void {
  for (let b = b0; b < b1; b++) {
    const c = b % channels, base = b * inner;
    if (xHat === null) {
      normalizeBlock(x, base, base + inner, shift[c], scale[c], gamma[c], beta[c], out);
    } else {
      normalizeBlockKeep(x, base, base + inner, shift[c], scale[c], gamma[c], beta[c], xHat, out);
    }
  }
}

function normalizeBlock(
  x: FloatArray,
  start: number,
  end: number,
  shift: number,
  scale: number,
  gamma: number,
  beta: number,
  out: FloatArray,
): void {
  for (let k = start; k < end; k++) out[k] = gamma * ((x[k] - shift) * scale) + beta;
}

function normalizeBlockKeep(
  x: FloatArray,
  start: number,
  end: number,
  shift: number,
  scale: number,
  gamma: number,
  beta: number,
  xHat: FloatArray,
  out: FloatArray,
): void {
  for (let k = start; k < end; k++) {
    // out uses the unrounded value, so a float32 xHat costs out no precision.
    const h = (x[k] - shift) * scale;
    xHat[k] = h;
    out[k] = gamma * h + beta;
  }
}

/** For blocks `[b0, b1)`: `sumDout[b] = Σ dout` and `sumDoutXHat[b] = Σ dout · xHat`. */
export function blockGradientSumsRange(
  dout: FloatArray,
  xHat: FloatArray,
  inner: number,
  b0: number,
  b1: number,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
): void {
  // (xHat − 0) · 1 is xHat exactly, so the from-input loop with mean 0 and invStd 1 gives
  // the same bits as a loop of its own would.
  for (let b = b0; b < b1; b++) {
    gradientSumsBlockFromInput(dout, xHat, b, inner, 0, 1, sumDout, sumDoutXHat);
  }
}

/**
 * For blocks `[b0, b1)`: `dx = coef[c] · (count · dout − sumDout[c] − xHat · sumDoutXHat[c])`,
 * with the per-channel sums of the whole batch.
 */
export function normBackwardBlocksRange(
  dout: FloatArray,
  xHat: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  count: number,
  coef: Float64Array,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
  dx: FloatArray,
): void {
  for (let b = b0; b < b1; b++) {
    const c = b % channels, base = b * inner;
    // With mean 0 and invStd 1 the from-input loop reads xHat unchanged (see above).
    normBackwardBlockFromInput(
      dout,
      xHat,
      base,
      base + inner,
      count,
      0,
      1,
      coef[c],
      sumDout[c],
      sumDoutXHat[c],
      dx,
    );
  }
}

/**
 * Like {@link blockGradientSumsRange} without a stored `xHat`: recomputes it from the input as
 * `(x − mean[c]) · invStd[c]`, so the forward pass need not keep a normalized copy of its
 * input (a whole activation's worth of memory traffic saved in each direction).
 */
export function blockGradientSumsFromInputRange(
  dout: FloatArray,
  x: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  mean: Float64Array,
  invStd: Float64Array,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
): void {
  for (let b = b0; b < b1; b++) {
    const c = b % channels;
    gradientSumsBlockFromInput(dout, x, b, inner, mean[c], invStd[c], sumDout, sumDoutXHat);
  }
}

function gradientSumsBlockFromInput(
  dout: FloatArray,
  x: FloatArray,
  b: number,
  inner: number,
  mean: number,
  invStd: number,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
): void {
  const base = b * inner, end4 = base + (inner & ~3), end = base + inner;
  let d0 = 0, d1 = 0, d2 = 0, d3 = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0;
  let k = base;
  for (; k < end4; k += 4) {
    const a0 = dout[k], a1 = dout[k + 1], a2 = dout[k + 2], a3 = dout[k + 3];
    d0 += a0;
    d1 += a1;
    d2 += a2;
    d3 += a3;
    g0 += a0 * ((x[k] - mean) * invStd);
    g1 += a1 * ((x[k + 1] - mean) * invStd);
    g2 += a2 * ((x[k + 2] - mean) * invStd);
    g3 += a3 * ((x[k + 3] - mean) * invStd);
  }
  for (; k < end; k++) {
    d0 += dout[k];
    g0 += dout[k] * ((x[k] - mean) * invStd);
  }
  sumDout[b] = (d0 + d1) + (d2 + d3);
  sumDoutXHat[b] = (g0 + g1) + (g2 + g3);
}

/** Like {@link normBackwardBlocksRange}, recomputing `xHat` from the input `x`. */
export function normBackwardFromInputBlocksRange(
  dout: FloatArray,
  x: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  count: number,
  mean: Float64Array,
  invStd: Float64Array,
  coef: Float64Array,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
  dx: FloatArray,
): void {
  for (let b = b0; b < b1; b++) {
    const c = b % channels, base = b * inner;
    normBackwardBlockFromInput(
      dout,
      x,
      base,
      base + inner,
      count,
      mean[c],
      invStd[c],
      coef[c],
      sumDout[c],
      sumDoutXHat[c],
      dx,
    );
  }
}

function normBackwardBlockFromInput(
  dout: FloatArray,
  x: FloatArray,
  start: number,
  end: number,
  count: number,
  mean: number,
  invStd: number,
  coef: number,
  sumDout: number,
  sumDoutXHat: number,
  dx: FloatArray,
): void {
  for (let k = start; k < end; k++) {
    dx[k] = coef * (count * dout[k] - sumDout - ((x[k] - mean) * invStd) * sumDoutXHat);
  }
}

// ---------------------------------------------------------------------------------------
// The same block loops in WebAssembly SIMD (float32 storage)
// ---------------------------------------------------------------------------------------

/**
 * Elements of one group of whole blocks streamed through WebAssembly memory: 524,288
 * float32 (2 MiB) per buffer. Measured on the benchmark network's feature maps, groups
 * of 1,024 to 16,384 elements got steadily faster (fewer round trips; ~25% from the
 * smallest to the largest), and so did larger ones, past the L2 cache: 16,384 → 524,288
 * alone took the conv-BN training step on one thread from 104–111 to 98–99 ms, most of
 * the gain of the change made with `STREAM_CHUNK`'s. Fewer, longer round trips beat cache
 * residency here.
 */
export const GROUP_ELEMENTS = 2 * STREAM_CHUNK;

/**
 * This thread's WebAssembly kernels when every array is float32 and there are enough
 * elements to pay for the round trip; null otherwise (or without SIMD, or with the
 * JavaScript GEMM selected), and then the JavaScript loops run.
 */
export function blockKernels(
  arrays: (FloatArray | null)[],
  elements: number,
): LayerKernels | null {
  if (elements < WASM_MIN_LENGTH) return null;
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return null;
  const instance = gemmInstance();
  return instance === null ? null : layerKernels(instance);
}

/** Where a group's operands sit in WebAssembly memory (byte offsets). */
interface GroupOffsets {
  /** The float32 buffers: one per input (in order), then any extra output buffers. */
  buffers: number[];
  results: number[];
  table: number;
}

/**
 * Runs `kernel(at, first, count)` over blocks `[b0, b1)` a group of whole blocks at a time:
 * copies each group of `inputs` into WebAssembly buffers `0, 1, …`, calls the kernel on its
 * `count` blocks starting at block `first`, then copies buffer `slot` out into `array` for
 * each `[slot, array]` of `outputs`, and the `count` per-block float64 `results`. Kernels
 * write over their inputs where they can (a slot below `inputs.length`): fewer buffers,
 * less memory touched. `table` (per-channel constants) is copied in once.
 */
function streamBlocks(
  wasm: LayerKernels,
  inner: number,
  b0: number,
  b1: number,
  inputs: Float32Array[],
  outputs: [slot: number, array: Float32Array][],
  results: Float64Array[],
  table: Float64Array | null,
  kernel: (at: GroupOffsets, first: number, count: number) => void,
): void {
  const mark = wasm.gemm.mark();
  try {
    const group = Math.max(1, Math.min(b1 - b0, Math.floor(GROUP_ELEMENTS / inner)));
    const size = group * inner;
    const buffers = Math.max(inputs.length, ...outputs.map(([slot]) => slot + 1));
    const at: GroupOffsets = {
      buffers: Array.from({ length: buffers }, () => wasm.alloc("float32", size)),
      results: results.map(() => wasm.alloc("float64", group)),
      table: table === null ? 0 : wasm.alloc("float64", table.length),
    };
    // Views only after the last allocation: growing the memory detaches earlier ones.
    const views = at.buffers.map((o) => wasm.view("float32", o, size));
    const resultViews = at.results.map((o) => wasm.view("float64", o, group));
    if (table !== null) wasm.view("float64", at.table, table.length).set(table);
    for (let first = b0; first < b1; first += group) {
      const count = Math.min(group, b1 - first);
      const start = first * inner, n = count * inner;
      for (let i = 0; i < inputs.length; i++) {
        views[i].set(inputs[i].subarray(start, start + n));
      }
      kernel(at, first, count);
      for (const [slot, array] of outputs) {
        array.set(n === size ? views[slot] : views[slot].subarray(0, n), start);
      }
      for (let i = 0; i < results.length; i++) {
        results[i].set(count === group ? resultViews[i] : resultViews[i].subarray(0, count), first);
      }
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

/** Per-channel constants as the kernels read them: row `c` holds `columns[j][c]` at `j`. */
export function channelTable(channels: number, columns: (FloatArray | null)[]): Float64Array {
  const table = new Float64Array(channels * NORM_TABLE_STRIDE);
  for (let j = 0; j < columns.length; j++) {
    const column = columns[j];
    if (column === null) continue;
    for (let c = 0; c < channels; c++) table[c * NORM_TABLE_STRIDE + j] = column[c];
  }
  return table;
}

/** {@link blockMomentsRange} on float32 blocks in WebAssembly, with identical results. */
export function blockMomentsRangeWasm(
  wasm: LayerKernels,
  x: Float32Array,
  inner: number,
  b0: number,
  b1: number,
  sums: Float64Array,
  m2: Float64Array,
): void {
  const kernel = wasm.exports.f32_blockMoments;
  streamBlocks(wasm, inner, b0, b1, [x], [], [sums, m2], null, (at, _first, count) => {
    kernel(at.buffers[0], count, inner, at.results[0], at.results[1]);
  });
}

/** {@link normalizeBlocksRange} on float32 blocks in WebAssembly, with identical results. */
export function normalizeBlocksRangeWasm(
  wasm: LayerKernels,
  x: Float32Array,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  shift: FloatArray,
  scale: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  xHat: Float32Array | null,
  out: Float32Array,
): void {
  const table = normalizeTable(channels, shift, scale, gamma, beta);
  // out over x; xHat (kept) in a buffer of its own.
  const outputs: [number, Float32Array][] = xHat === null ? [[0, out]] : [[0, out], [1, xHat]];
  const kernel = xHat === null
    ? wasm.exports.f32_normalizeBlocks
    : wasm.exports.f32_normalizeBlocksKeep;
  streamBlocks(wasm, inner, b0, b1, [x], outputs, [], table, (at, first, count) => {
    const [xAt, xHatAt] = at.buffers;
    kernel(xAt, count, inner, first % channels, channels, at.table, xAt, xHatAt ?? 0);
  });
}

/** The per-channel table of the normalize kernels ({@link NORMALIZE_SLOTS}). */
export function normalizeTable(
  channels: number,
  shift: FloatArray,
  scale: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
): Float64Array {
  const slots = NORMALIZE_SLOTS;
  const columns: FloatArray[] = [];
  columns[slots.shift] = shift;
  columns[slots.scale] = scale;
  columns[slots.gamma] = gamma;
  columns[slots.beta] = beta;
  return channelTable(channels, columns);
}

/**
 * {@link blockGradientSumsRange} (`mean` null: `values` is `xHat`) or
 * {@link blockGradientSumsFromInputRange} (`values` is `x`) on float32 blocks in
 * WebAssembly, with identical results.
 */
export function blockGradientSumsRangeWasm(
  wasm: LayerKernels,
  dout: Float32Array,
  values: Float32Array,
  mean: FloatArray | null,
  invStd: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  sumDout: Float64Array,
  sumDoutXHat: Float64Array,
): void {
  const table = mean === null ? null : backwardTable(channels, mean, invStd, null, null, null);
  const kernel = mean === null
    ? wasm.exports.f32_gradientSums
    : wasm.exports.f32_gradientSumsFromInput;
  streamBlocks(
    wasm,
    inner,
    b0,
    b1,
    [dout, values],
    [],
    [sumDout, sumDoutXHat],
    table,
    (at, first, count) => {
      const [doutAt, valuesAt] = at.buffers;
      const [sumDoutAt, sumDoutXHatAt] = at.results;
      kernel(
        doutAt,
        valuesAt,
        count,
        inner,
        first % channels,
        channels,
        at.table,
        sumDoutAt,
        sumDoutXHatAt,
      );
    },
  );
}

/**
 * {@link normBackwardBlocksRange} (`mean` null: `values` is `xHat`) or
 * {@link normBackwardFromInputBlocksRange} (`values` is `x`) on float32 blocks in
 * WebAssembly, with identical results.
 */
export function normBackwardBlocksRangeWasm(
  wasm: LayerKernels,
  dout: Float32Array,
  values: Float32Array,
  mean: FloatArray | null,
  invStd: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  count: number,
  coef: FloatArray,
  sumDout: FloatArray,
  sumDoutXHat: FloatArray,
  dx: Float32Array,
): void {
  const table = backwardTable(channels, mean, invStd, coef, sumDout, sumDoutXHat);
  const kernel = mean === null
    ? wasm.exports.f32_normBackward
    : wasm.exports.f32_normBackwardFromInput;
  // dx over dout.
  streamBlocks(wasm, inner, b0, b1, [dout, values], [[0, dx]], [], table, (at, first, blocks) => {
    const [doutAt, valuesAt] = at.buffers;
    kernel(
      doutAt,
      valuesAt,
      blocks,
      inner,
      first % channels,
      channels,
      at.table,
      doutAt,
      count,
    );
  });
}

/** The per-channel table of the backward kernels ({@link BACKWARD_SLOTS}). */
export function backwardTable(
  channels: number,
  mean: FloatArray | null,
  invStd: FloatArray,
  coef: FloatArray | null,
  sumDout: FloatArray | null,
  sumDoutXHat: FloatArray | null,
): Float64Array {
  const slots = BACKWARD_SLOTS;
  const columns: (FloatArray | null)[] = [];
  columns[slots.mean] = mean;
  columns[slots.invStd] = invStd;
  columns[slots.coef] = coef;
  columns[slots.sumDout] = sumDout;
  columns[slots.sumDoutXHat] = sumDoutXHat;
  return channelTable(channels, columns);
}

/** {@link blockMomentsRange}, in WebAssembly when it applies. */
function momentsRange(
  x: FloatArray,
  inner: number,
  b0: number,
  b1: number,
  sums: Float64Array,
  m2: Float64Array,
): void {
  const wasm = blockKernels([x], (b1 - b0) * inner);
  if (wasm === null) blockMomentsRange(x, inner, b0, b1, sums, m2);
  else blockMomentsRangeWasm(wasm, x as Float32Array, inner, b0, b1, sums, m2);
}

/** {@link normalizeBlocksRange}, in WebAssembly when it applies. */
function normalizeRange(
  x: FloatArray,
  channels: number,
  inner: number,
  b0: number,
  b1: number,
  shift: FloatArray,
  scale: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  xHat: FloatArray | null,
  out: FloatArray,
): void {
  const wasm = blockKernels([x, xHat, out], (b1 - b0) * inner);
  if (wasm === null) {
    normalizeBlocksRange(x, channels, inner, b0, b1, shift, scale, gamma, beta, xHat, out);
  } else {
    normalizeBlocksRangeWasm(
      wasm,
      x as Float32Array,
      channels,
      inner,
      b0,
      b1,
      shift,
      scale,
      gamma,
      beta,
      xHat as Float32Array | null,
      out as Float32Array,
    );
  }
}

interface MomentsJob {
  x: FloatArray;
  inner: number;
  sums: Float64Array;
  m2: Float64Array;
}

interface NormalizeJob {
  x: FloatArray;
  channels: number;
  inner: number;
  shift: Float64Array;
  scale: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
  xHat: FloatArray | null;
  out: FloatArray;
}

/**
 * Where the backward pass gets the normalized input: the stored `xHat` (`mean` null), or
 * the input `x` itself, normalized again with `mean` and `invStd`.
 */
interface NormalizedSource {
  /** `xHat`, or `x` when `mean` is set. */
  values: FloatArray;
  mean: Float64Array | null;
  invStd: Float64Array;
}

interface GradientSumsJob extends NormalizedSource {
  dout: FloatArray;
  channels: number;
  inner: number;
  sumDout: Float64Array;
  sumDoutXHat: Float64Array;
}

interface BackwardJob extends NormalizedSource {
  dout: FloatArray;
  channels: number;
  inner: number;
  count: number;
  coef: Float64Array;
  sumDout: Float64Array;
  sumDoutXHat: Float64Array;
  dx: FloatArray;
}

// The pool's workers load this module, so they know the jobs registered below.
registerWorkerModule(import.meta.url);

registerJob("norm.moments", (a: MomentsJob, b0: number, b1: number) => {
  momentsRange(a.x, a.inner, b0, b1, a.sums, a.m2);
});
registerJob("norm.normalize", (a: NormalizeJob, b0: number, b1: number) => {
  normalizeRange(
    a.x,
    a.channels,
    a.inner,
    b0,
    b1,
    a.shift,
    a.scale,
    a.gamma,
    a.beta,
    a.xHat,
    a.out,
  );
});
registerJob("norm.gradientSums", gradientSumsRange);
registerJob("norm.backward", backwardRange);

function gradientSumsRange(a: GradientSumsJob, b0: number, b1: number): void {
  const wasm = blockKernels([a.dout, a.values], (b1 - b0) * a.inner);
  if (wasm !== null) {
    blockGradientSumsRangeWasm(
      wasm,
      a.dout as Float32Array,
      a.values as Float32Array,
      a.mean,
      a.invStd,
      a.channels,
      a.inner,
      b0,
      b1,
      a.sumDout,
      a.sumDoutXHat,
    );
  } else if (a.mean === null) {
    blockGradientSumsRange(a.dout, a.values, a.inner, b0, b1, a.sumDout, a.sumDoutXHat);
  } else {
    blockGradientSumsFromInputRange(
      a.dout,
      a.values,
      a.channels,
      a.inner,
      b0,
      b1,
      a.mean,
      a.invStd,
      a.sumDout,
      a.sumDoutXHat,
    );
  }
}

function backwardRange(a: BackwardJob, b0: number, b1: number): void {
  const wasm = blockKernels([a.dout, a.values, a.dx], (b1 - b0) * a.inner);
  if (wasm !== null) {
    normBackwardBlocksRangeWasm(
      wasm,
      a.dout as Float32Array,
      a.values as Float32Array,
      a.mean,
      a.invStd,
      a.channels,
      a.inner,
      b0,
      b1,
      a.count,
      a.coef,
      a.sumDout,
      a.sumDoutXHat,
      a.dx as Float32Array,
    );
  } else if (a.mean === null) {
    normBackwardBlocksRange(
      a.dout,
      a.values,
      a.channels,
      a.inner,
      b0,
      b1,
      a.count,
      a.coef,
      a.sumDout,
      a.sumDoutXHat,
      a.dx,
    );
  } else {
    normBackwardFromInputBlocksRange(
      a.dout,
      a.values,
      a.channels,
      a.inner,
      b0,
      b1,
      a.count,
      a.mean,
      a.invStd,
      a.coef,
      a.sumDout,
      a.sumDoutXHat,
      a.dx,
    );
  }
}

/**
 * Whether to split a pass over the pool. The WebAssembly kernels run close to memory speed
 * on one thread, so for them the pool pays only when no operand has to be copied into (or
 * out of) shared memory first. Measured in the conv-BN training step on two threads, with
 * the activations on plain memory as the layers allocate them: on (128, 32, 28, 28) the
 * forward pass took 7.0–7.3 ms on the calling thread against 8.8–9.2 ms split with the
 * copies, the backward pass 12.7–12.8 against 19.1–19.2.
 */
export function parallelBlocks(
  blocks: number,
  inner: number,
  operands: (FloatArray | null)[],
): boolean {
  if (blocks * inner < PARALLEL_MIN_ELEMENTS || !useParallel(blocks)) return false;
  const wasm = blockKernels(operands, blocks * inner) !== null;
  return !wasm || operands.every((a) => a === null || isShared(a));
}

/** Per-channel arrays copied into shared memory (workers cannot read plain memory). */
function sharedFloat64(src: FloatArray, name: string): Float64Array {
  const copy = sharedScratch.getFloat64(name, src.length);
  copy.set(src);
  return copy;
}

/**
 * Per-channel mean and biased variance of `x (outer, channels, inner)`, `inner > 1`, block by
 * block on the worker pool when it pays (see the module notes).
 */
export function channelMomentsBlocks(
  x: FloatArray,
  outer: number,
  channels: number,
  inner: number,
  mean: FloatArray,
  variance: FloatArray,
): void {
  const blocks = outer * channels;
  const par = parallelBlocks(blocks, inner, [x]);
  const scratch = par ? sharedScratch : defaultScratch;
  const sums = scratch.getFloat64("norm.sums", blocks);
  const m2 = scratch.getFloat64("norm.m2", blocks);
  if (par) {
    const job: MomentsJob = { x: sharedView(x, sharedScratch, "norm.x"), inner, sums, m2 };
    getPool().run("norm.moments", job, blocks);
  } else {
    momentsRange(x, inner, 0, blocks, sums, m2);
  }
  const count = outer * inner;
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let n = 0; n < outer; n++) s += sums[n * channels + c];
    const mu = s / count;
    let q = 0;
    for (let n = 0; n < outer; n++) {
      const b = n * channels + c;
      const d = sums[b] / inner - mu;
      q += m2[b] + inner * d * d;
    }
    mean[c] = mu;
    variance[c] = q / count;
  }
}

/** {@link normalizeBlocksRange} over every block, on the worker pool when it pays. */
export function normalizeChannelsBlocks(
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
  const blocks = outer * channels;
  if (!parallelBlocks(blocks, inner, [x, xHat, out])) {
    normalizeRange(x, channels, inner, 0, blocks, shift, scale, gamma, beta, xHat, out);
    return;
  }
  const job: NormalizeJob = {
    x: sharedView(x, sharedScratch, "norm.x"),
    channels,
    inner,
    shift: sharedFloat64(shift, "norm.shift"),
    scale: sharedFloat64(scale, "norm.scale"),
    gamma: sharedFloat64(gamma, "norm.gamma"),
    beta: sharedFloat64(beta, "norm.beta"),
    xHat: xHat === null ? null : sharedTarget(xHat, sharedScratch, "norm.xHat"),
    out: sharedTarget(out, sharedScratch, "norm.out"),
  };
  getPool().run("norm.normalize", job, blocks);
  if (xHat !== null) copyBack(xHat, job.xHat!);
  copyBack(out, job.out);
}

/**
 * The closed-form backward pass of per-channel normalization for `inner > 1`, block by block
 * on the worker pool when it pays: writes `dx`, `dgamma = Σ dout · xHat` and
 * `dbeta = Σ dout`. The normalized input comes from the stored `xHat`, or, when `mean` is
 * given, from `x` (passed as `values`) normalized again with `mean` and `invStd`.
 */
export function channelNormBackwardBlocks(
  dout: FloatArray,
  values: FloatArray,
  mean: FloatArray | null,
  outer: number,
  channels: number,
  inner: number,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  const blocks = outer * channels;
  const par = parallelBlocks(blocks, inner, [dout, values, dx]);
  const scratch = par ? sharedScratch : defaultScratch;
  const perChannel = (src: FloatArray, name: string) => {
    const copy = scratch.getFloat64(name, channels);
    copy.set(src);
    return copy;
  };
  const source: NormalizedSource = {
    values: par ? sharedView(values, sharedScratch, "norm.x") : values,
    mean: mean === null ? null : perChannel(mean, "norm.mean"),
    invStd: perChannel(invStd, "norm.invStd"),
  };
  const sums: GradientSumsJob = {
    ...source,
    dout: par ? sharedView(dout, sharedScratch, "norm.dout") : dout,
    channels,
    inner,
    sumDout: scratch.getFloat64("norm.blockDout", blocks),
    sumDoutXHat: scratch.getFloat64("norm.blockDoutXHat", blocks),
  };
  if (par) getPool().run("norm.gradientSums", sums, blocks);
  else gradientSumsRange(sums, 0, blocks);

  const count = outer * inner;
  const { sumDout, sumDoutXHat, coef } = channelGradientSums(
    sums.sumDout,
    sums.sumDoutXHat,
    outer,
    channels,
    count,
    gamma,
    invStd,
    scratch,
    dgamma,
    dbeta,
  );
  const job: BackwardJob = {
    ...source,
    dout: sums.dout,
    channels,
    inner,
    count,
    coef,
    sumDout,
    sumDoutXHat,
    dx: par ? sharedTarget(dx, sharedScratch, "norm.dx") : dx,
  };
  if (par) {
    getPool().run("norm.backward", job, blocks);
    copyBack(dx, job.dx);
  } else {
    backwardRange(job, 0, blocks);
  }
}

/**
 * A channel's backward sums from its blocks' (block `n·channels + c`, added in the order
 * `n = 0, 1, …`, whichever threads computed them) and `coef = γ·invStd / count`, in
 * float64 arrays of `scratch`; the sums are also the parameter gradients, written to
 * `dgamma = Σ dout·xHat` and `dbeta = Σ dout`.
 */
export function channelGradientSums(
  blockDout: Float64Array,
  blockDoutXHat: Float64Array,
  outer: number,
  channels: number,
  count: number,
  gamma: FloatArray,
  invStd: FloatArray,
  scratch: ScratchBuffers,
  dgamma: FloatArray,
  dbeta: FloatArray,
): { sumDout: Float64Array; sumDoutXHat: Float64Array; coef: Float64Array } {
  const sumDout = scratch.getFloat64("norm.sumDout", channels);
  const sumDoutXHat = scratch.getFloat64("norm.sumDoutXHat", channels);
  const coef = scratch.getFloat64("norm.coef", channels);
  for (let c = 0; c < channels; c++) {
    let sb = 0, sg = 0;
    for (let n = 0; n < outer; n++) {
      sb += blockDout[n * channels + c];
      sg += blockDoutXHat[n * channels + c];
    }
    coef[c] = (gamma[c] * invStd[c]) / count;
    sumDout[c] = dbeta[c] = sb;
    sumDoutXHat[c] = dgamma[c] = sg;
  }
  return { sumDout, sumDoutXHat, coef };
}

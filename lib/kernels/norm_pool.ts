/**
 * Per-channel normalization followed by 2×2 max pooling (stride 2, windows tiling each
 * plane), fused: the normalized activation is made, pooled and, in the backward pass,
 * rebuilt from the pooled gradient inside WebAssembly memory, and never exists as an array
 * of its own.
 *
 * Unfused, a batchnorm → max-pool pair in training writes the normalized `(N, C, H, W)`
 * activation out of WebAssembly memory and the pooling copies it back in; backward, the
 * pooling's scatter writes a full-size gradient that batchnorm's two passes copy in twice.
 * Here every group of blocks (a block is one `(n, c)` plane, as in `channel_blocks.ts`)
 * goes in once per pass:
 *
 * - forward: `x` in; `out = γ·(x − mean)·invStd + β` in place; the 2×2 maxima and their
 *   taps; only the quarter-size maxima and taps come out;
 * - backward: `x`, the pooled gradient and the taps in; the pooling's scatter rebuilds the
 *   block's full gradient in WebAssembly memory; then the batchnorm block kernels, first the
 *   per-block sums and, once every channel's sums are known, `dx`.
 *
 * The kernels are the very ones the two layers run apart (`f32_normalizeBlocks`,
 * `f32_maxPool2x2`, `f32_maxPool2x2Back`, `f32_gradientSumsFromInput`,
 * `f32_normBackwardFromInput`), on the same values per block, and the per-block sums are
 * added on the calling thread in the same order: results are bitwise those of the
 * batchnorm followed by the pooling, for any number of threads. Float32 with WebAssembly
 * SIMD only ({@link normPoolApplies}); elsewhere the layers run apart.
 *
 * @module
 */

import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool } from "../parallel/worker_pool.ts";
import { defaultScratch, ScratchBuffers, sharedUint16 } from "../scratch.ts";
import type { FloatArray } from "../storage.ts";
import { needLength } from "./_checks.ts";
import {
  backwardTable,
  blockKernels,
  channelGradientSums,
  GROUP_ELEMENTS,
  normalizeTable,
  parallelBlocks,
} from "./channel_blocks.ts";
import type { LayerKernels } from "./wasm/layer_kernels.ts";

/**
 * Whether the fused kernels run for a float32 `x (outer, channels, height, width)`: even
 * plane sides (the 2×2 windows tile every plane) and this thread's WebAssembly kernels
 * (SIMD, the WebAssembly GEMM selected), the conditions under which the two layers apart
 * would run the same kernels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normPoolApplies } from "./norm_pool.ts";
 * assert.equal(normPoolApplies(new Float64Array(4 * 36), 4, 6, 6), false); // float64
 * assert.equal(normPoolApplies(new Float32Array(4 * 35), 4, 5, 7), false); // odd sides
 * ```
 */
export function normPoolApplies(
  x: FloatArray,
  planes: number,
  height: number,
  width: number,
): boolean {
  if (!(x instanceof Float32Array) || height % 2 !== 0 || width % 2 !== 0) return false;
  return planes > 0 && height > 0 && width > 0 && kernelsFor(x) !== null;
}

/**
 * This thread's WebAssembly kernels for float32 `x`, or null. Whatever the length: apart,
 * the layers would run small inputs through their JavaScript loops, which give the same
 * bits.
 */
function kernelsFor(x: FloatArray): LayerKernels | null {
  return blockKernels([x], Number.POSITIVE_INFINITY);
}

/** The operands of a forward pass over blocks (planes) `[b0, b1)`. */
interface ForwardJob {
  x: Float32Array;
  channels: number;
  height: number;
  width: number;
  /** {@link normalizeTable}: mean, invStd, γ, β per channel. */
  table: Float64Array;
  pooled: Float32Array;
  argmax: Uint16Array;
  /** Whether a ReLU follows the pooling (applied to the maxima in WebAssembly memory). */
  relu: boolean;
}

/** The operands of the backward passes over blocks `[b0, b1)`. */
interface BackwardJob {
  x: Float32Array;
  dpooled: Float32Array;
  argmax: Uint16Array;
  /** The ReLU's output when one followed the pooling: its gradient passes where this is > 0. */
  reluOut: Float32Array | null;
  channels: number;
  height: number;
  width: number;
  /** {@link backwardTable}: mean and invStd (sums pass), plus coef and sums (dx pass). */
  table: Float64Array;
  /** Sums pass: per-block `Σ dout` and `Σ dout·xHat`. */
  blockDout: Float64Array | null;
  blockDoutXHat: Float64Array | null;
  /** dx pass: `N·H·W`, and where dx goes. */
  count: number;
  dx: Float32Array | null;
}

/** Buffers that the pool's workers read or write: shared memory, owned by the caller. */
const sharedScratch = new ScratchBuffers({ shared: true });

// The pool's workers load this module, so they know the jobs registered below.
registerWorkerModule(import.meta.url);
registerJob("normPool.forward", forwardRange);
registerJob("normPool.backward", backwardRange);

/** Blocks per group, and the elements of a plane and of its pooled plane. */
function sizes(a: { height: number; width: number }, b0: number, b1: number) {
  const inner = a.height * a.width, pooledInner = inner / 4;
  const group = Math.max(1, Math.min(b1 - b0, Math.floor(GROUP_ELEMENTS / inner)));
  return { inner, pooledInner, group };
}

function kernels(fn: string, x: Float32Array): LayerKernels {
  const wasm = kernelsFor(x);
  if (wasm === null) {
    throw new Error(
      `${fn}: needs float32 x and this thread's WebAssembly kernels (normPoolApplies), got ` +
        `${x instanceof Float32Array ? "no WebAssembly kernels" : "a non-float32 x"}`,
    );
  }
  return wasm;
}

/** The forward pass of blocks `[b0, b1)` on this thread, a group of blocks at a time. */
function forwardRange(a: ForwardJob, b0: number, b1: number): void {
  const { inner, pooledInner, group } = sizes(a, b0, b1);
  const wasm = kernels("normalizeMaxPool2x2", a.x), ex = wasm.exports;
  const outH = a.height / 2, outW = a.width / 2;
  const mark = wasm.gemm.mark();
  try {
    const xAt = wasm.alloc("float32", group * inner);
    const pooledAt = wasm.alloc("float32", group * pooledInner);
    const argAt = wasm.alloc("float32", Math.ceil((group * pooledInner) / 2));
    const tableAt = wasm.alloc("float64", a.table.length);
    // Views only after the last allocation: growing the memory detaches earlier ones.
    const xView = wasm.view("float32", xAt, group * inner);
    const pooledView = wasm.view("float32", pooledAt, group * pooledInner);
    const argView = new Uint16Array(wasm.gemm.memory.buffer, argAt, group * pooledInner);
    wasm.view("float64", tableAt, a.table.length).set(a.table);
    for (let first = b0; first < b1; first += group) {
      const count = Math.min(group, b1 - first), n = count * pooledInner;
      xView.set(a.x.subarray(first * inner, (first + count) * inner));
      ex.f32_normalizeBlocks(xAt, count, inner, first % a.channels, a.channels, tableAt, xAt, 0);
      ex.f32_maxPool2x2(xAt, pooledAt, argAt, count, outH, outW);
      // The ReLU's kernel, on the maxima where they are: bitwise a ReLU after the pooling.
      if (a.relu) ex.f32_relu(pooledAt, pooledAt, n);
      a.pooled.set(pooledView.subarray(0, n), first * pooledInner);
      a.argmax.set(argView.subarray(0, n), first * pooledInner);
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

/**
 * One backward pass of blocks `[b0, b1)` on this thread: the per-block sums when
 * `a.blockDout` is set, else `dx`.
 */
function backwardRange(a: BackwardJob, b0: number, b1: number): void {
  const { inner, pooledInner, group } = sizes(a, b0, b1);
  const wasm = kernels("normBackwardMaxPool2x2", a.x), ex = wasm.exports;
  const outH = a.height / 2, outW = a.width / 2;
  const sums = a.blockDout !== null;
  const mark = wasm.gemm.mark();
  try {
    const xAt = wasm.alloc("float32", group * inner);
    const doutAt = wasm.alloc("float32", group * inner);
    const pooledAt = wasm.alloc("float32", group * pooledInner);
    const argAt = wasm.alloc("float32", Math.ceil((group * pooledInner) / 2));
    const reluAt = a.reluOut !== null ? wasm.alloc("float32", group * pooledInner) : 0;
    const tableAt = wasm.alloc("float64", a.table.length);
    const sumDoutAt = sums ? wasm.alloc("float64", group) : 0;
    const sumDoutXHatAt = sums ? wasm.alloc("float64", group) : 0;
    const xView = wasm.view("float32", xAt, group * inner);
    const doutView = wasm.view("float32", doutAt, group * inner);
    const pooledView = wasm.view("float32", pooledAt, group * pooledInner);
    const argView = new Uint16Array(wasm.gemm.memory.buffer, argAt, group * pooledInner);
    const reluView = a.reluOut !== null ? wasm.view("float32", reluAt, group * pooledInner) : null;
    const sumDoutView = sums ? wasm.view("float64", sumDoutAt, group) : null;
    const sumDoutXHatView = sums ? wasm.view("float64", sumDoutXHatAt, group) : null;
    wasm.view("float64", tableAt, a.table.length).set(a.table);
    for (let first = b0; first < b1; first += group) {
      const count = Math.min(group, b1 - first), c0 = first % a.channels;
      const p0 = first * pooledInner, p1 = (first + count) * pooledInner;
      xView.set(a.x.subarray(first * inner, (first + count) * inner));
      pooledView.set(a.dpooled.subarray(p0, p1));
      if (reluView !== null) {
        // The ReLU's backward kernel: the pooled gradient times (out > 0 ? 1 : 0).
        reluView.set(a.reluOut!.subarray(p0, p1));
        ex.f32_reluMask(pooledAt, reluAt, pooledAt, p1 - p0);
      }
      argView.set(a.argmax.subarray(p0, p1));
      // The pooling's backward pass, into WebAssembly memory: the block's full gradient.
      ex.f32_maxPool2x2Back(pooledAt, argAt, doutAt, count, outH, outW);
      // Both block kernels take the gradient, x, the blocks and the per-channel table.
      const blocks = [doutAt, xAt, count, inner, c0, a.channels, tableAt] as const;
      if (sums) {
        ex.f32_gradientSumsFromInput(...blocks, sumDoutAt, sumDoutXHatAt);
        a.blockDout!.set(sumDoutView!.subarray(0, count), first);
        a.blockDoutXHat!.set(sumDoutXHatView!.subarray(0, count), first);
      } else {
        // dx over the gradient.
        ex.f32_normBackwardFromInput(...blocks, doutAt, a.count);
        a.dx!.set(doutView.subarray(0, count * inner), first * inner);
      }
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

/**
 * Whether some entry of `argmax` is above 3 (not a tap of a 2×2 window). OR-ing the bits
 * above the taps keeps the valid case free of branches, and reading two entries per 32-bit
 * word halves the loop (0.6 → 0.3 ms over the conv-BN net's 1.2 million taps per step).
 */
function tapsAbove3(argmax: Uint16Array): boolean {
  let tooLarge = 0, o = 0;
  if (argmax.byteOffset % 4 === 0) {
    const pairs = new Uint32Array(argmax.buffer, argmax.byteOffset, argmax.length >> 1);
    for (let k = 0; k < pairs.length; k++) tooLarge |= pairs[k] & 0xfffcfffc;
    o = pairs.length * 2;
  }
  for (; o < argmax.length; o++) tooLarge |= argmax[o] & ~3;
  return tooLarge !== 0;
}

/** A copy of `src` in the shared scratch buffer `name`, for the pool's workers. */
function sharedTable(src: Float64Array, name: string): Float64Array {
  const copy = sharedScratch.getFloat64(name, src.length);
  copy.set(src);
  return copy;
}

/** `argmax` itself when the workers can share it, else its copy in shared scratch. */
function sharedTaps(argmax: Uint16Array): Uint16Array {
  if (argmax.buffer instanceof SharedArrayBuffer) return argmax;
  const copy = sharedUint16(sharedScratch, "normPool.argmax", argmax.length);
  copy.set(argmax);
  return copy;
}

/** Checks the sizes (integers; at least one channel; even sides ≥ 2) and the arrays' lengths. */
function checkSizes(
  fn: string,
  [outer, channels, height, width]: [number, number, number, number],
  arrays: [name: string, array: FloatArray | Uint16Array, length: number][],
): void {
  const sizes = { outer, channels, height, width };
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isSafeInteger(v) || v < (name === "outer" ? 0 : 1)) {
      throw new Error(`${fn}: ${name} must be an integer ≥ ${name === "outer" ? 0 : 1}, got ${v}`);
    }
  }
  if (height % 2 !== 0 || width % 2 !== 0) {
    throw new Error(
      `${fn}: 2×2 windows must tile the planes: height and width must be even, got ` +
        `${height}×${width}`,
    );
  }
  for (const [name, array, length] of arrays) needLength(fn, name, array as FloatArray, length);
}

/**
 * Normalizes `x (outer, channels, height, width)` per channel, `γ·(x − mean)·invStd + β`,
 * and max-pools the result over 2×2 windows with stride 2: writes `pooled (outer,
 * channels, height/2, width/2)` and `argmax` (each window's tap, `kh·2 + kw`, the first
 * maximum in row-major order) as the batchnorm then the max pooling would. With `relu`,
 * `pooled` is then passed through a ReLU (`x > 0 ? x : +0`, NaN kept), as the ReLU layer
 * after the pooling would. On the worker pool when it pays; {@link normPoolApplies} must
 * hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeMaxPool2x2, normPoolApplies } from "./norm_pool.ts";
 * const x = Float32Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => (i * 7) % 11);
 * if (normPoolApplies(x, 4, 4, 4)) {
 *   const [mean, invStd] = [new Float64Array([5, 4]), new Float64Array([0.5, 0.25])];
 *   const [gamma, beta] = [new Float32Array([1, -1]), new Float32Array([0, 1])];
 *   const pooled = new Float32Array(16), argmax = new Uint16Array(16);
 *   normalizeMaxPool2x2(x, 2, 2, 4, 4, mean, invStd, gamma, beta, pooled, argmax);
 *   const first = [0, 1, 4, 5].map((k) => 1 * ((x[k] - 5) * 0.5) + 0); // plane 0, window 0
 *   assert.equal(pooled[0], Math.fround(Math.max(...first.map(Math.fround))));
 * }
 * ```
 */
export function normalizeMaxPool2x2(
  x: Float32Array,
  outer: number,
  channels: number,
  height: number,
  width: number,
  mean: FloatArray,
  invStd: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  pooled: Float32Array,
  argmax: Uint16Array,
  relu = false,
): void {
  const fn = "normalizeMaxPool2x2", blocks = outer * channels, inner = height * width;
  checkSizes(fn, [outer, channels, height, width], [
    ["x", x, blocks * inner],
    ["pooled", pooled, (blocks * inner) / 4],
    ["argmax", argmax, (blocks * inner) / 4],
  ]);
  for (const [name, a] of [["mean", mean], ["invStd", invStd], ["gamma", gamma], ["beta", beta]]) {
    needLength(fn, name as string, a as FloatArray, channels);
  }
  const table = normalizeTable(channels, mean, invStd, gamma, beta);
  const job: ForwardJob = { x, channels, height, width, table, pooled, argmax, relu };
  // On the pool only when x and pooled are shared memory already (see parallelBlocks).
  if (!parallelBlocks(blocks, inner, [x, pooled])) {
    forwardRange(job, 0, blocks);
    return;
  }
  const shared = argmax.buffer instanceof SharedArrayBuffer
    ? argmax
    : sharedUint16(sharedScratch, "normPool.argmax", argmax.length);
  getPool().run(
    "normPool.forward",
    { ...job, table: sharedTable(table, "normPool.table"), argmax: shared },
    blocks,
  );
  if (shared !== argmax) argmax.set(shared);
}

/**
 * The backward pass of {@link normalizeMaxPool2x2} in training mode (batch statistics):
 * from the gradient `dpooled` of the pooled output and the forward pass's `argmax`, `x`,
 * `mean` and `invStd`, writes `dx (outer, channels, height, width)`, `dgamma` and `dbeta`
 * as the max pooling's backward pass followed by batchnorm's closed-form one would
 * (`channelNormBackwardFromInput`). When a ReLU followed the pooling, `reluOut` is its
 * output (`pooled` of {@link normalizeMaxPool2x2} with `relu`) and `dpooled` the gradient
 * of that output: it is first masked as the ReLU layer's backward pass masks it. On the
 * worker pool when it pays; {@link normPoolApplies} must hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normBackwardMaxPool2x2, normPoolApplies } from "./norm_pool.ts";
 * // One 2×2 plane: the whole gradient goes to its maximum, so Σ dout = 3.
 * const x = new Float32Array([1, 4, 2, 3]);
 * if (normPoolApplies(x, 1, 2, 2)) {
 *   const dx = new Float32Array(4), dgamma = new Float64Array(1), dbeta = new Float64Array(1);
 *   normBackwardMaxPool2x2(new Float32Array([3]), new Uint16Array([1]), x, 1, 1, 2, 2,
 *     new Float64Array([2.5]), new Float32Array([1]), new Float64Array([1]), dx, dgamma, dbeta);
 *   assert.equal(dbeta[0], 3);
 *   assert.equal(dgamma[0], 3 * 1.5); // xHat of the maximum: (4 − 2.5)·1
 * }
 * ```
 */
export function normBackwardMaxPool2x2(
  dpooled: Float32Array,
  argmax: Uint16Array,
  x: Float32Array,
  outer: number,
  channels: number,
  height: number,
  width: number,
  mean: FloatArray,
  gamma: FloatArray,
  invStd: FloatArray,
  dx: Float32Array,
  dgamma: FloatArray,
  dbeta: FloatArray,
  reluOut: Float32Array | null = null,
): void {
  const fn = "normBackwardMaxPool2x2", blocks = outer * channels, inner = height * width;
  checkSizes(fn, [outer, channels, height, width], [
    ["dpooled", dpooled, (blocks * inner) / 4],
    ["argmax", argmax, (blocks * inner) / 4],
    ["x", x, blocks * inner],
    ["dx", dx, blocks * inner],
    ["mean", mean, channels],
    ["gamma", gamma, channels],
    ["invStd", invStd, channels],
    ["dgamma", dgamma, channels],
    ["dbeta", dbeta, channels],
  ]);
  if (reluOut !== null) needLength(fn, "reluOut", reluOut, (blocks * inner) / 4);
  if (tapsAbove3(argmax)) {
    const o = argmax.findIndex((tap) => tap > 3);
    throw new Error(`${fn}: argmax[${o}] = ${argmax[o]} is not a tap of a 2×2 window`);
  }
  // On the pool only when x, dpooled and dx are shared memory already (see parallelBlocks).
  const par = parallelBlocks(blocks, inner, [x, dpooled, dx, ...(reluOut ? [reluOut] : [])]);
  const scratch = par ? sharedScratch : defaultScratch;
  const meanF64 = Float64Array.from(mean), invStdF64 = Float64Array.from(invStd);
  const base: BackwardJob = {
    x,
    dpooled,
    argmax: par ? sharedTaps(argmax) : argmax,
    reluOut,
    channels,
    height,
    width,
    table: backwardTable(channels, meanF64, invStdF64, null, null, null),
    blockDout: scratch.getFloat64("normPool.blockDout", blocks),
    blockDoutXHat: scratch.getFloat64("normPool.blockDoutXHat", blocks),
    count: outer * inner,
    dx: null,
  };
  if (par) {
    base.table = sharedTable(base.table, "normPool.table");
    getPool().run("normPool.backward", base, blocks);
  } else {
    backwardRange(base, 0, blocks);
  }
  const { sumDout, sumDoutXHat, coef } = channelGradientSums(
    base.blockDout!,
    base.blockDoutXHat!,
    outer,
    channels,
    outer * inner,
    gamma,
    invStd,
    scratch,
    dgamma,
    dbeta,
  );
  const table = backwardTable(channels, meanF64, invStdF64, coef, sumDout, sumDoutXHat);
  const job: BackwardJob = { ...base, table, blockDout: null, blockDoutXHat: null, dx };
  if (par) {
    job.table = sharedTable(table, "normPool.table");
    getPool().run("normPool.backward", job, blocks);
  } else {
    backwardRange(job, 0, blocks);
  }
}

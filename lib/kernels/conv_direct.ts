/**
 * Direct convolution for first layers: float32, stride 1, dilation 1, one channel group,
 * and a short reduction `C·KH·KW` (a 1-channel image under a 7×7 or 3×3 filter bank).
 *
 * **Why.** im2col + GEMM turns such a layer into a product whose depth is only
 * `C·KH·KW` = 49 or 9: GEMM runs far below its rate on so thin a product, and im2col
 * copies the image 49 (or 9) times over into a matrix that GEMM then packs again. Here
 * each image is copied once into WebAssembly memory with its zero padding, and the
 * kernels of `wasm/conv_direct_module.ts` slide the filters over it with the outputs (or,
 * for the weight gradient, the sums) in registers. `convForwardBatch` and
 * `convBackwardBatch` (in `conv.ts`; the weight and bias gradient only, `dx` goes
 * elsewhere) come here on their own for the shapes that {@link directConvPays} for, unless
 * Winograd does (`convAlgorithmFor`); im2col + GEMM stays the general path and the
 * reference. `setConvAlgorithm("direct")` forces the direct kernels wherever they apply.
 *
 * **Chunks and threads.** As in `conv.ts`: a batch is cut into chunks of
 * {@link directConvChunkSize} examples, a size that depends on the geometry only; the
 * pool's threads claim chunks from a shared counter; each chunk writes its own outputs,
 * and its own slot of weight- and bias-gradient partials. Within a chunk the kernel adds
 * each image's sums into per-lane float32 partials; the chunk's slot holds their lane sums
 * in float64, and the slots are added in chunk order and rounded once. Nothing depends on
 * which thread took which chunk, so results are bitwise the same for any thread count.
 *
 * **The reference.** {@link directConvForwardReference} and
 * {@link directConvParamGradsReference} are plain JavaScript with the kernels' loop order
 * and float32 rounding after every operation: with `mul` + `add` the WebAssembly kernels
 * must match them bitwise, and with the fused `relaxed_madd` within one rounding per term.
 *
 * **Not here.** `dx`: the first layers of our networks need none; when a backward call
 * wants it, im2col + GEMM (col2im) or Winograd computes it alone while the weight gradient
 * still comes from here (measured 15–27% faster than im2col doing both, on 1 and 2
 * threads, for the first-layer shapes and x(64,3,32,32) w(32,3,5,5)). Tiles of 6 filters × 2
 * vectors (12 accumulators, as the GEMM's) were tried for the forward pass and measured
 * slower on the 7×7 layer (4.0–5.2 ms against 2.7 for the kernel alone): with 49 taps
 * unrolled, V8 no longer kept every value in a register. A weight-gradient lane adds
 * `Ho·⌈Wo/4⌉` products of an image in float32 before the float64 sums: on 28×28 outputs
 * 196 terms, against GEMM's blocks of 384.
 *
 * @module
 */

import { ScratchBuffers, sharedTarget, sharedView } from "../scratch.ts";
import { registerJob, registerWorkerModule, threadSlot } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { type DType, dtypeOf, type FloatArray } from "../storage.ts";
import type { ConvGeometry, ConvPass } from "./conv.ts";
import { gemmInstance, gemmMatchesWorkers } from "./gemm.ts";
import { directConvLayout, FILTER_BLOCK } from "./wasm/conv_direct_module.ts";
import { type LayerKernels, layerKernels } from "./wasm/layer_kernels.ts";

/**
 * The longest reduction `C·KH·KW` for which {@link directConvPays}. Measured on one and
 * two threads (`bench/conv_bench.ts` for the first layers; float32, 1 thread, ms, direct
 * against im2col + GEMM): forward x(50,1,28,28) w(32,1,7,7) 3.0 vs 4.7, x(32,3,32,32)
 * w(32,3,7,7) (K = 147) 6.6 vs 11.5, x(64,16,14,14) w(64,16,3,3) (K = 144) 6.2 vs 6.7; at
 * K = 288 (x(32,32,14,14) w(64,32,3,3)) the two are level.
 */
export const DIRECT_CONV_MAX_TAPS = 160;

/**
 * The most input channels for which {@link directConvPays} for the weight gradient. Each
 * channel is one more pass over `dout`, whose per-pass costs (masked steps, adding the
 * partials) GEMM does not have: with 16 channels the direct weight gradient was measured
 * slower on 14×14 images (x(64,16,14,14) w(64,16,3,3): 8.0 vs 7.1 ms) though faster on
 * 28×28 ones; with 1–6 channels it was 1.4–2.6× faster.
 */
export const DIRECT_CONV_MAX_CHANNELS_WEIGHTS = 8;

/**
 * Whether the direct kernels can compute this convolution at all: float32, stride 1,
 * dilation 1, one group, and the WebAssembly kernels in use (SIMD, and the WebAssembly GEMM
 * selected: with the JavaScript GEMM the whole layer stays in JavaScript).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvApplies } from "./conv_direct.ts";
 * const g = { batch: 50, channels: 1, height: 28, width: 28, filters: 32, groups: 1,
 *   kernelH: 7, kernelW: 7, stride: 1, pad: 3, dilation: 1, outH: 28, outW: 28 };
 * assert.equal(directConvApplies(g, "float64"), false);
 * assert.equal(directConvApplies({ ...g, stride: 2, outH: 14, outW: 14 }, "float32"), false);
 * ```
 */
export function directConvApplies(g: ConvGeometry, dtype: DType): boolean {
  return g.stride === 1 && g.dilation === 1 && g.groups === 1 && dtype === "float32" &&
    kernelsNow() !== null;
}

/**
 * Whether the direct kernels were measured faster than im2col + GEMM for this pass of a
 * convolution they apply to (`"backwardData"` never: they compute no `dx`): when
 * `C·KH·KW ≤` {@link DIRECT_CONV_MAX_TAPS}, and for the weight gradient also
 * `C ≤` {@link DIRECT_CONV_MAX_CHANNELS_WEIGHTS}. `convAlgorithmFor` in `conv.ts` makes the
 * choice (Winograd first, where it pays).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvPays } from "./conv_direct.ts";
 * // The ThreeLayerConvNet's first layer, and a 16-channel 3×3 layer.
 * const g = { batch: 50, channels: 1, height: 28, width: 28, filters: 32, groups: 1,
 *   kernelH: 7, kernelW: 7, stride: 1, pad: 3, dilation: 1, outH: 28, outW: 28 };
 * assert.equal(directConvPays(g, "forward"), true);
 * assert.equal(directConvPays(g, "backwardFilter"), true);
 * const wide = { ...g, channels: 16, kernelH: 3, kernelW: 3, pad: 1 };
 * assert.equal(directConvPays(wide, "forward"), true);
 * assert.equal(directConvPays(wide, "backwardFilter"), false);
 * ```
 */
export function directConvPays(g: ConvGeometry, pass: ConvPass): boolean {
  if (pass === "backwardData") return false;
  const short = g.channels * g.kernelH * g.kernelW <= DIRECT_CONV_MAX_TAPS;
  return short && (pass === "forward" || g.channels <= DIRECT_CONV_MAX_CHANNELS_WEIGHTS);
}

/** This thread's kernels, or null without SIMD or with the JavaScript GEMM selected. */
function kernelsNow(): LayerKernels | null {
  const instance = gemmInstance();
  return instance === null ? null : layerKernels(instance);
}

/**
 * Target elements of one chunk's padded images and outputs: 2^16 float32 (256 KiB) stay
 * in L2 between being computed and copied out, and make chunks of a few 28×28 examples,
 * enough of them to share a batch of 50 evenly between threads.
 */
const CHUNK_BUDGET = 1 << 16;

/**
 * Examples per chunk of the direct kernels for this geometry (at least one). Like
 * `convChunkSize`, it depends on the geometry only, never on the batch or the threads.
 */
export function directConvChunkSize(g: ConvGeometry): number {
  const l = directConvLayout(g);
  const perExample = roundUp(g.filters, FILTER_BLOCK) * l.pixels + l.imageStride;
  return Math.max(1, Math.floor(CHUNK_BUDGET / perExample));
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** The next chunk `[c0, c1)` to process, or null when there is none left. */
type ChunkSource = () => [number, number] | null;

/** The chunks of `[n0, n1)` in order. */
function rangeChunks(g: ConvGeometry, n0: number, n1: number): ChunkSource {
  const nb = directConvChunkSize(g);
  let c0 = n0;
  return () => {
    if (c0 >= n1) return null;
    const chunk: [number, number] = [c0, Math.min(n1, c0 + nb)];
    c0 += nb;
    return chunk;
  };
}

/** The batch's chunks, claimed by whichever thread asks first (see `conv.ts`). */
function claimedChunks(g: ConvGeometry, next: Int32Array): ChunkSource {
  const nb = directConvChunkSize(g), count = Math.ceil(g.batch / nb);
  return () => {
    const k = Atomics.add(next, 0, 1);
    return k < count ? [k * nb, Math.min(g.batch, (k + 1) * nb)] : null;
  };
}

/** `w (F, C, KH, KW)` in blocks of 4 filters, `[block][c][ky][kx][4]`, zero past F. */
function packWeights(w: FloatArray, F: number, taps: number, into: FloatArray): void {
  into.fill(0);
  for (let f = 0; f < F; f++) {
    const block = Math.floor(f / FILTER_BLOCK) * taps * FILTER_BLOCK, lane = f % FILTER_BLOCK;
    for (let t = 0; t < taps; t++) into[block + t * FILTER_BLOCK + lane] = w[f * taps + t];
  }
}

/**
 * The forward pass of the chunks that `chunks` hands out, in this thread's WebAssembly
 * memory: per chunk one bulk copy in, the padding copy, the kernel writing straight into
 * the `(N, F, Ho, Wo)` layout, one bulk copy out.
 */
function forwardChunks(
  wasm: LayerKernels,
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  g: ConvGeometry,
  out: FloatArray,
  chunks: ChunkSource,
): void {
  let chunk = chunks();
  if (chunk === null) return;
  const l = directConvLayout(g);
  const F = g.filters, F4 = roundUp(F, FILTER_BLOCK), P = l.pixels;
  const CHW = g.channels * g.height * g.width;
  const most = Math.min(directConvChunkSize(g), g.batch);
  const kernels = wasm.directConv(g);
  const mark = wasm.gemm.mark();
  try {
    const wAt = wasm.alloc("float32", F4 * l.taps), biasAt = wasm.alloc("float32", F4);
    const rawAt = wasm.alloc("float32", most * CHW);
    const padAt = wasm.alloc("float32", most * l.imageStride);
    // Room for the zero filters of the last block of the last image.
    const outAt = wasm.alloc("float32", most * F * P + (F4 - F) * P);
    packWeights(w, F, l.taps, wasm.view("float32", wAt, F4 * l.taps));
    const bias = wasm.view("float32", biasAt, F4).fill(0);
    if (b !== null) bias.set(b.subarray(0, F));
    // The padding is never written afterwards: zero it once per call.
    wasm.view("float32", padAt, most * l.imageStride).fill(0);
    const raw = wasm.view("float32", rawAt, most * CHW);
    const result = wasm.view("float32", outAt, most * F * P);
    for (; chunk !== null; chunk = chunks()) {
      const [c0, c1] = chunk, m = c1 - c0;
      raw.set(x.subarray(c0 * CHW, c1 * CHW));
      kernels.pad(rawAt, padAt, m);
      kernels.forward(padAt, wAt, biasAt, outAt, F4 / FILTER_BLOCK, F * P * 4, m);
      out.set(result.subarray(0, m * F * P), c0 * F * P);
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

/**
 * The weight- and bias-gradient slots of the chunks that `chunks` hands out: chunk k
 * writes the lane sums of its per-lane partials into `dwSlots[k·F·K ..]` and
 * `dbSlots[k·F ..]` (float64).
 */
function paramGradChunks(
  wasm: LayerKernels,
  dout: FloatArray,
  x: FloatArray,
  g: ConvGeometry,
  chunks: ChunkSource,
  dwSlots: Float64Array,
  dbSlots: Float64Array,
): void {
  let chunk = chunks();
  if (chunk === null) return;
  const l = directConvLayout(g);
  const F = g.filters, F4 = roundUp(F, FILTER_BLOCK), P = l.pixels, K = l.taps;
  const CHW = g.channels * g.height * g.width;
  const nb = directConvChunkSize(g), most = Math.min(nb, g.batch);
  const kernels = wasm.directConv(g);
  const mark = wasm.gemm.mark();
  try {
    const rawAt = wasm.alloc("float32", most * CHW);
    const padAt = wasm.alloc("float32", most * l.imageStride);
    // The kernels read the zero filters of the last block and 3 elements past a plane.
    const doutAt = wasm.alloc("float32", most * F * P + (F4 - F) * P + 4);
    const dwAt = wasm.alloc("float32", F4 * K * 4), dbAt = wasm.alloc("float32", F4 * 4);
    const dwTotalsAt = wasm.alloc("float64", F * K), dbTotalsAt = wasm.alloc("float64", F);
    wasm.view("float32", padAt, most * l.imageStride).fill(0);
    // Whatever lies past the chunk's dout only reaches filters past F, but keep it finite.
    wasm.view("float32", doutAt, most * F * P + (F4 - F) * P + 4).fill(0);
    const raw = wasm.view("float32", rawAt, most * CHW);
    const doutView = wasm.view("float32", doutAt, most * F * P);
    const dwLanes = wasm.view("float32", dwAt, F4 * K * 4);
    const dbLanes = wasm.view("float32", dbAt, F4 * 4);
    const dwTotals = wasm.view("float64", dwTotalsAt, F * K);
    const dbTotals = wasm.view("float64", dbTotalsAt, F);
    for (; chunk !== null; chunk = chunks()) {
      const [c0, c1] = chunk, m = c1 - c0, slot = c0 / nb;
      raw.set(x.subarray(c0 * CHW, c1 * CHW));
      kernels.pad(rawAt, padAt, m);
      doutView.set(dout.subarray(c0 * F * P, c1 * F * P));
      dwLanes.fill(0);
      dbLanes.fill(0);
      kernels.weightGrad(padAt, doutAt, dwAt, dbAt, F4 / FILTER_BLOCK, F * P * 4, m);
      kernels.laneTotals(dwAt, dwTotalsAt, F * K);
      kernels.laneTotals(dbAt, dbTotalsAt, F);
      dwSlots.set(dwTotals, slot * F * K);
      dbSlots.set(dbTotals, slot * F);
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

/**
 * `into[at + i] = (v0 + v2) + (v1 + v3)` in float64 over the 4 lanes of entry i: what the
 * kernels' `laneTotals` computes, for the reference.
 */
function laneTotals(lanes: FloatArray, count: number, into: Float64Array, at: number): void {
  for (let i = 0; i < count; i++) {
    const v = 4 * i;
    into[at + i] = (lanes[v] + lanes[v + 2]) + (lanes[v + 1] + lanes[v + 3]);
  }
}

/**
 * `out[i] = Σ_k slots[k·size + i]` in float64, adding the slots in order k = 0, 1, … and
 * rounding once into `out` (slot by slot, so that the reads run along memory).
 */
function sumSlots(slots: Float64Array, count: number, size: number, out: FloatArray): void {
  const acc = sumScratch.getFloat64("convDirect.sum", size).fill(0);
  for (let k = 0; k < count; k++) addSlot(slots, k * size, size, acc);
  for (let i = 0; i < size; i++) out[i] = acc[i];
}

function addSlot(slots: Float64Array, at: number, size: number, acc: Float64Array): void {
  for (let i = 0; i < size; i++) acc[i] += slots[at + i];
}

/** The accumulator of {@link sumSlots} (the calling thread's). */
const sumScratch = new ScratchBuffers();

// ------------------------------------------------------------------ the parallel split

/** Buffers that the pool's workers read or write: shared memory, owned by the caller. */
const sharedScratch = new ScratchBuffers({ shared: true });
/** The calling thread's own gradient slots when it works alone. */
const ownScratch = new ScratchBuffers();

registerWorkerModule(import.meta.url);

interface ForwardJob {
  x: FloatArray;
  w: FloatArray;
  b: FloatArray | null;
  geometry: ConvGeometry;
  /** Where the workers write (shared memory). */
  out: FloatArray;
  next: Int32Array;
  /** 1 for each chunk a worker computed (into `out`), 0 for the calling thread's. */
  byWorker: Int32Array;
}

/**
 * The calling thread's own destination during a parallel forward call, when the caller's
 * output is plain memory that the workers cannot reach: its chunks go straight there, and
 * only the workers' chunks are copied over from shared memory afterwards (copying the
 * whole output back on one thread took a third of a two-thread call's time).
 */
let callerOut: FloatArray | null = null;

interface ParamGradJob {
  dout: FloatArray;
  x: FloatArray;
  geometry: ConvGeometry;
  dwSlots: Float64Array;
  dbSlots: Float64Array;
  next: Int32Array;
}

/** The thread's kernels inside a job: the caller checked that its own exist. */
function jobKernels(): LayerKernels {
  const wasm = kernelsNow();
  if (wasm === null) throw new Error("convDirect: a worker has no WebAssembly SIMD kernels");
  return wasm;
}

registerJob("convDirect.forward", (a: ForwardJob) => {
  const claimed = claimedChunks(a.geometry, a.next), nb = directConvChunkSize(a.geometry);
  const onCaller = threadSlot() === 0 && callerOut !== null;
  const chunks: ChunkSource = () => {
    const chunk = claimed();
    if (chunk !== null) a.byWorker[chunk[0] / nb] = onCaller ? 0 : 1;
    return chunk;
  };
  const out = onCaller ? callerOut! : a.out;
  forwardChunks(jobKernels(), a.x, a.w, a.b, a.geometry, out, chunks);
});

registerJob("convDirect.paramGrads", (a: ParamGradJob) => {
  const chunks = claimedChunks(a.geometry, a.next);
  paramGradChunks(jobKernels(), a.dout, a.x, a.geometry, chunks, a.dwSlots, a.dbSlots);
});

function chunkCounter(): Int32Array {
  const next = new Int32Array(sharedScratch.get("convDirect.next", "float32", 1).buffer, 0, 1);
  next[0] = 0;
  return next;
}

function chunkCount(g: ConvGeometry): number {
  return Math.ceil(g.batch / directConvChunkSize(g));
}

/**
 * The forward convolution of the whole batch with the direct kernels, on the worker pool
 * when it pays: `out (N, F, Ho, Wo) = conv(x (N, C, H, W), w (F, C, KH, KW)) + b`, all
 * float32, for a geometry that {@link directConvApplies} accepts. `kernels` pins the
 * WebAssembly kernels to use (tests: e.g. on a GEMM instance without fused multiply-add)
 * and runs on the calling thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvForwardBatch } from "./conv_direct.ts";
 * import { gemmInstance } from "./gemm.ts";
 * // One 1×2×2 image, one 2×2 filter of ones, bias 0.5.
 * const g = { batch: 1, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const out = new Float32Array(1);
 * if (gemmInstance() !== null) {
 *   directConvForwardBatch(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 1, 1, 1]),
 *     new Float32Array([0.5]), g, out);
 *   assert.deepEqual([...out], [10.5]);
 * }
 * ```
 */
export function directConvForwardBatch(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  g: ConvGeometry,
  out: FloatArray,
  kernels?: LayerKernels,
): void {
  checkApplies("directConvForwardBatch", g, x, w, b, out);
  // Workers use the default (fused or not) kernels: another choice here stays here.
  if (kernels !== undefined || !useParallel(chunkCount(g)) || !gemmMatchesWorkers()) {
    const wasm = kernels ?? jobKernels();
    forwardChunks(wasm, x, w, b, g, out, rangeChunks(g, 0, g.batch));
    return;
  }
  const count = chunkCount(g), nb = directConvChunkSize(g);
  const flags = sharedScratch.get("convDirect.byWorker", "float32", count);
  const job: ForwardJob = {
    x: sharedView(x, sharedScratch, "convDirect.x"),
    w: sharedView(w, sharedScratch, "convDirect.w"),
    b: b === null ? null : sharedView(b, sharedScratch, "convDirect.b"),
    geometry: g,
    out: sharedTarget(out, sharedScratch, "convDirect.out"),
    next: chunkCounter(),
    byWorker: new Int32Array(flags.buffer, flags.byteOffset, count).fill(0),
  };
  callerOut = job.out === out ? null : out;
  try {
    getPool().run("convDirect.forward", job, getPool().activeThreads);
  } finally {
    callerOut = null;
  }
  if (job.out === out) return;
  const perExample = g.filters * g.outH * g.outW;
  for (let k = 0; k < count; k++) {
    if (job.byWorker[k] === 0) continue;
    const [from, to] = [k * nb * perExample, Math.min(g.batch, (k + 1) * nb) * perExample];
    out.set(job.out.subarray(from, to), from);
  }
}

/**
 * The weight and bias gradients of the whole batch with the direct kernels (no `dx`: a
 * network's first layer needs none, and others get it elsewhere), on the worker pool when
 * it pays: writes `dw` laid out like `w` and `db (F,)` from `dout (N, F, Ho, Wo)` and
 * `x (N, C, H, W)`, all float32. `kernels` as in {@link directConvForwardBatch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvParamGradsBatch } from "./conv_direct.ts";
 * import { gemmInstance } from "./gemm.ts";
 * const g = { batch: 2, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const dw = new Float32Array(4), db = new Float32Array(1);
 * if (gemmInstance() !== null) {
 *   directConvParamGradsBatch(new Float32Array([1, 10]),
 *     new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), g, dw, db);
 *   assert.deepEqual([...dw], [51, 62, 73, 84]); // Σ_n dout[n] · x[n]
 *   assert.deepEqual([...db], [11]);
 * }
 * ```
 */
export function directConvParamGradsBatch(
  dout: FloatArray,
  x: FloatArray,
  g: ConvGeometry,
  dw: FloatArray,
  db: FloatArray,
  kernels?: LayerKernels,
): void {
  checkApplies("directConvParamGradsBatch", g, dout, x, dw, db);
  const slots = chunkCount(g), K = g.channels * g.kernelH * g.kernelW, F = g.filters;
  const parallel = kernels === undefined && useParallel(slots) && gemmMatchesWorkers();
  const scratch = parallel ? sharedScratch : ownScratch;
  const dwSlots = scratch.getFloat64("convDirect.dwSlots", slots * F * K);
  const dbSlots = scratch.getFloat64("convDirect.dbSlots", slots * F);
  if (parallel) {
    const job: ParamGradJob = {
      dout: sharedView(dout, sharedScratch, "convDirect.dout"),
      x: sharedView(x, sharedScratch, "convDirect.x"),
      geometry: g,
      dwSlots,
      dbSlots,
      next: chunkCounter(),
    };
    getPool().run("convDirect.paramGrads", job, getPool().activeThreads);
  } else {
    const wasm = kernels ?? jobKernels();
    paramGradChunks(wasm, dout, x, g, rangeChunks(g, 0, g.batch), dwSlots, dbSlots);
  }
  sumSlots(dwSlots, slots, F * K, dw);
  sumSlots(dbSlots, slots, F, db);
}

function checkApplies(fn: string, g: ConvGeometry, ...arrays: (FloatArray | null)[]): void {
  if (
    g.stride !== 1 || g.dilation !== 1 || g.groups !== 1 ||
    !arrays.every((a) => a === null || dtypeOf(a) === "float32")
  ) {
    throw new Error(
      `${fn}: needs float32 operands, stride 1, dilation 1 and groups 1 (got stride ` +
        `${g.stride}, dilation ${g.dilation}, groups ${g.groups})`,
    );
  }
}

// ------------------------------------------------------------------ the reference

/** `fround`, short: every operation of the reference rounds to float32 like the kernels. */
const f32 = Math.fround;

/** The padded image value `x[n][c][row − pad][col − pad]`, 0 in the padding. */
function padded(x: FloatArray, g: ConvGeometry, n: number, c: number, row: number, col: number) {
  const h = row - g.pad, w = col - g.pad;
  if (h < 0 || h >= g.height || w < 0 || w >= g.width) return 0;
  return x[((n * g.channels + c) * g.height + h) * g.width + w];
}

/** One output pixel, from the bias then tap by tap in (c, ky, kx) order. */
function referencePixel(
  x: FloatArray,
  w: FloatArray,
  bias: number,
  g: ConvGeometry,
  n: number,
  f: number,
  oh: number,
  ow: number,
): number {
  let acc = f32(bias);
  let t = f * g.channels * g.kernelH * g.kernelW;
  for (let c = 0; c < g.channels; c++) {
    for (let ky = 0; ky < g.kernelH; ky++) {
      for (let kx = 0; kx < g.kernelW; kx++, t++) {
        acc = f32(acc + f32(w[t] * padded(x, g, n, c, oh + ky, ow + kx)));
      }
    }
  }
  return acc;
}

/**
 * The forward pass in plain JavaScript, in the loop order and float32 rounding of the
 * direct kernel (multiply, round, add, round): the reference the kernels are tested
 * against. Slow; for tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvForwardReference } from "./conv_direct.ts";
 * const g = { batch: 1, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const out = new Float32Array(1);
 * directConvForwardReference(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 1, 1, 1]),
 *   new Float32Array([0.5]), g, out);
 * assert.deepEqual([...out], [10.5]);
 * ```
 */
export function directConvForwardReference(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  g: ConvGeometry,
  out: FloatArray,
): void {
  const { filters: F, outH, outW } = g;
  for (let n = 0; n < g.batch; n++) {
    for (let f = 0; f < F; f++) referencePlane(x, w, b === null ? 0 : b[f], g, n, f, out);
  }
  function referencePlane(
    x: FloatArray,
    w: FloatArray,
    bias: number,
    g: ConvGeometry,
    n: number,
    f: number,
    out: FloatArray,
  ): void {
    const at = (n * F + f) * outH * outW;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        out[at + oh * outW + ow] = referencePixel(x, w, bias, g, n, f, oh, ow);
      }
    }
  }
}

/**
 * The per-lane sums of one image, filter and tap: lane j adds `dout · x` over output rows,
 * then over steps of 4 pixels, for the pixels `ow ≡ j (mod 4)`; pixels past `outW` add
 * `0 · x` as the kernel's masked lanes do.
 */
function referenceTapLanes(
  dout: FloatArray,
  x: FloatArray,
  g: ConvGeometry,
  n: number,
  f: number,
  c: number,
  ky: number,
  kx: number,
  lanes: Float32Array,
): void {
  const { outH, outW } = g;
  const plane = (n * g.filters + f) * outH * outW;
  lanes.fill(0);
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < roundUp(outW, 4); ow++) {
      const d = ow < outW ? dout[plane + oh * outW + ow] : 0;
      const j = ow % 4;
      lanes[j] = f32(lanes[j] + f32(d * paddedOrZero(x, g, n, c, oh + ky, ow + kx)));
    }
  }
}

/** Like {@link padded}, and 0 in the columns of the kernel's rounded-up rows too. */
function paddedOrZero(x: FloatArray, g: ConvGeometry, n: number, c: number, r: number, q: number) {
  return q >= g.width + 2 * g.pad ? 0 : padded(x, g, n, c, r, q);
}

/**
 * The per-lane sums of one image's `dout` plane, in the kernel's order: output rows, then
 * steps of 4 pixels, pixels past `outW` adding 0 (like {@link referenceTapLanes}).
 */
function referencePlaneLanes(
  dout: FloatArray,
  g: ConvGeometry,
  n: number,
  f: number,
  lanes: Float32Array,
): void {
  const { outH, outW } = g;
  const plane = (n * g.filters + f) * outH * outW;
  lanes.fill(0);
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < roundUp(outW, 4); ow++) {
      const d = ow < outW ? dout[plane + oh * outW + ow] : 0;
      lanes[ow % 4] = f32(lanes[ow % 4] + d);
    }
  }
}

/**
 * The weight and bias gradients in plain JavaScript, in the order and float32 rounding of
 * the direct kernels and with the same chunking: per chunk, per-lane partials summed image
 * by image; their lane sums in float64; the chunks added in order and rounded once. The
 * reference the kernels are tested against. Slow; for tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvParamGradsReference } from "./conv_direct.ts";
 * const g = { batch: 2, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 2,
 *   kernelW: 2, stride: 1, pad: 0, dilation: 1, outH: 1, outW: 1 };
 * const dw = new Float32Array(4), db = new Float32Array(1);
 * directConvParamGradsReference(new Float32Array([1, 10]),
 *   new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), g, dw, db);
 * assert.deepEqual([...dw], [51, 62, 73, 84]);
 * assert.deepEqual([...db], [11]);
 * ```
 */
export function directConvParamGradsReference(
  dout: FloatArray,
  x: FloatArray,
  g: ConvGeometry,
  dw: FloatArray,
  db: FloatArray,
): void {
  const { filters: F, channels: C, kernelH: KH, kernelW: KW } = g;
  const K = C * KH * KW;
  const nb = directConvChunkSize(g), slots = Math.ceil(g.batch / nb);
  const dwSlots = new Float64Array(slots * F * K), dbSlots = new Float64Array(slots * F);
  const dwLanes = new Float32Array(F * K * 4), dbLanes = new Float32Array(F * 4);
  const lanes = new Float32Array(4);
  for (let slot = 0; slot < slots; slot++) {
    dwLanes.fill(0);
    dbLanes.fill(0);
    for (let n = slot * nb; n < Math.min(g.batch, (slot + 1) * nb); n++) {
      for (let f = 0; f < F; f++) {
        for (let t = 0; t < K; t++) {
          const c = Math.floor(t / (KH * KW)), ky = Math.floor(t / KW) % KH, kx = t % KW;
          referenceTapLanes(dout, x, g, n, f, c, ky, kx, lanes);
          for (let j = 0; j < 4; j++) {
            dwLanes[(f * K + t) * 4 + j] = f32(dwLanes[(f * K + t) * 4 + j] + lanes[j]);
          }
        }
        referencePlaneLanes(dout, g, n, f, lanes);
        for (let j = 0; j < 4; j++) dbLanes[f * 4 + j] = f32(dbLanes[f * 4 + j] + lanes[j]);
      }
    }
    laneTotals(dwLanes, F * K, dwSlots, slot * F * K);
    laneTotals(dbLanes, F, dbSlots, slot * F);
  }
  sumSlots(dwSlots, slots, F * K, dw);
  sumSlots(dbSlots, slots, F, db);
}

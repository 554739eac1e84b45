/**
 * The fast convolutional layer, cs231n `conv_forward_fast` / `conv_backward_fast`: im2col
 * plus the GEMM kernel, with PyTorch `Conv2d` semantics (`stride`, `pad`, `dilation`,
 * `groups`).
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
 * **Ready to be split across threads.** The range functions ({@link convForwardRange},
 * {@link convBackwardRange}) take raw arrays, a validated geometry, an example range
 * `[n0, n1)` and the caller's scratch memory, and write only their own examples' outputs.
 * The weight gradient is a sum over the batch, so each chunk writes its own partial
 * `dW`/`db` into a slot of a partials buffer, and {@link sumPartials} adds the slots in
 * chunk order. Chunk boundaries depend only on the geometry, so the result is bitwise the
 * same however the chunks are shared out.
 *
 * All big buffers come from a {@link ScratchBuffers} and are reused across calls, and the
 * copies around GEMM are bulk `set`/`fill` calls, so that GEMM dominates: measured on 3×3
 * convolutions of 32–64 channels, the convolution runs at 75–95% of the GEMM kernel's own
 * rate on the same products (see `bench/conv_bench.ts`). Thin layers (few channels, e.g.
 * an RGB input) are bound by the data movement instead.
 *
 * @module
 */

import { gemm } from "../kernels/gemm.ts";
import { col2im, defaultScratch, im2col, rowSums, ScratchBuffers } from "../kernels/im2col.ts";
import { registerJob } from "../parallel/jobs.ts";
import { getPool } from "../parallel/pool.ts";
import { sharedView, useParallel } from "../parallel/shared.ts";
import { allocate, dtypeOf, type FloatArray } from "../storage.ts";
import { Tensor } from "../tensor.ts";
import {
  checkConvBackward,
  type ConvCache,
  type ConvGeometry,
  convGeometry,
  type ConvParam,
} from "./conv.ts";

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
 * import { Tensor } from "../tensor.ts";
 * import { convGeometry } from "./conv.ts";
 * import { convChunkSize } from "./conv_fast.ts";
 * const g = convGeometry("demo", Tensor.zeros([128, 32, 14, 14]), Tensor.zeros([64, 32, 3, 3]),
 *   Tensor.zeros([64]), { stride: 1, pad: 1 });
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
 * says (see `convGeometry`). `scratch` must belong to the calling thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convGeometry } from "./conv.ts";
 * import { convForwardRange } from "./conv_fast.ts";
 * import { ScratchBuffers } from "../kernels/im2col.ts";
 * const x = Tensor.ones([3, 1, 2, 2]), w = Tensor.ones([1, 1, 2, 2]), b = Tensor.zeros([1]);
 * const g = convGeometry("demo", x, w, b, { stride: 1, pad: 0 });
 * const out = new Float64Array(3).fill(-1);
 * convForwardRange(x.data, w.data, b.data, g, out, 1, 3, new ScratchBuffers());
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
  const { channels: C, filters: F, groups, kernelH, kernelW, outH, outW } = geometry;
  checkRange("convForwardRange", geometry, n0, n1);
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
 * import { Tensor } from "../tensor.ts";
 * import { convGeometry } from "./conv.ts";
 * import { convBackwardRange, convChunkCount, sumPartials } from "./conv_fast.ts";
 * const x = Tensor.ones([2, 1, 3, 3]), w = Tensor.ones([1, 1, 2, 2]), b = Tensor.zeros([1]);
 * const g = convGeometry("demo", x, w, b, { stride: 1, pad: 0 });
 * const dout = new Float64Array(8).fill(1);
 * const k = convChunkCount(g); // 1: both examples fit one chunk
 * const dwPartials = new Float64Array(k * 4), dbPartials = new Float64Array(k);
 * convBackwardRange(dout, x.data, w.data, g, 0, 2, null, dwPartials, dbPartials);
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
  const { kernelH, kernelW, outH, outW } = geometry;
  checkRange(fn, geometry, n0, n1);
  const Cg = C / groups, Fg = F / groups;
  const Kg = Cg * kernelH * kernelW;
  const P = outH * outW;
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
 * import { sumPartials } from "./conv_fast.ts";
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

interface ForwardJob {
  x: FloatArray;
  w: FloatArray;
  b: FloatArray | null;
  geometry: ConvGeometry;
  out: FloatArray;
}

interface BackwardJob {
  dout: FloatArray;
  x: FloatArray | null;
  w: FloatArray;
  geometry: ConvGeometry;
  dx: FloatArray | null;
  dwPartials: FloatArray | null;
  dbPartials: Float64Array | null;
}

/** Examples [n0, n1) of the chunks [k0, k1). */
function chunkExamples(g: ConvGeometry, k0: number, k1: number): [number, number] {
  const nb = convChunkSize(g);
  return [Math.min(g.batch, k0 * nb), Math.min(g.batch, k1 * nb)];
}

registerJob("conv.forward", (a: ForwardJob, k0: number, k1: number) => {
  const [n0, n1] = chunkExamples(a.geometry, k0, k1);
  convForwardRange(a.x, a.w, a.b, a.geometry, a.out, n0, n1);
});

registerJob("conv.backward", (a: BackwardJob, k0: number, k1: number) => {
  const [n0, n1] = chunkExamples(a.geometry, k0, k1);
  convBackwardRange(a.dout, a.x, a.w, a.geometry, n0, n1, a.dx, a.dwPartials, a.dbPartials);
});

/** Runs the forward pass over all chunks, on the pool when it pays. */
function forwardAll(x: Tensor, w: Tensor, b: Tensor, g: ConvGeometry): Tensor {
  const chunks = convChunkCount(g);
  const parallel = useParallel(chunks);
  const shape = [g.batch, g.filters, g.outH, g.outW];
  // On the pool, the output must be shared memory whatever the storage setting.
  const out = new Tensor(
    allocate(x.dtype, shape.reduce((a, d) => a * d, 1), parallel || undefined),
    shape,
  );
  if (!parallel) {
    convForwardRange(x.data, w.data, b.data, g, out.data, 0, g.batch, defaultScratch);
    return out;
  }
  const job: ForwardJob = {
    x: sharedView(x.data, sharedScratch, "conv.x"),
    w: sharedView(w.data, sharedScratch, "conv.w"),
    b: sharedView(b.data, sharedScratch, "conv.b"),
    geometry: g,
    out: out.data,
  };
  getPool().run("conv.forward", job, chunks);
  return out;
}

/**
 * The output of a convolution by im2col and GEMM; same contract as `convForwardNaive`
 * (returns `[out (N, F, Ho, Wo), cache]`) and also accepts `dilation` and `groups`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { convForwardNaive } from "./conv.ts";
 * import { convForwardFast } from "./conv_fast.ts";
 * const rng = new Rng(0);
 * const x = Tensor.randn([2, 4, 7, 7], rng), w = Tensor.randn([6, 2, 3, 3], rng);
 * const b = Tensor.randn([6], rng);
 * const param = { stride: 2, pad: 1, dilation: 1, groups: 2 };
 * const [fast] = convForwardFast(x, w, b, param);
 * const [naive] = convForwardNaive(x, w, b, param);
 * assert.deepEqual(fast.shape, [2, 6, 4, 4]);
 * assert.ok(fast.data.every((v, i) => Math.abs(v - naive.data[i]) < 1e-12));
 * ```
 */
export function convForwardFast(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
): [Tensor, ConvCache] {
  const g = convGeometry("convForwardFast", x, w, b, convParam);
  return [forwardAll(x, w, b, g), [x, w, b, convParam]];
}

/**
 * Backward pass of {@link convForwardFast} (or of `convForwardNaive`: the caches are the
 * same): returns `[dx, dw, db]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convBackwardFast, convForwardFast } from "./conv_fast.ts";
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const [, cache] = convForwardFast(x, Tensor.ones([1, 1, 2, 2]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dx, dw, db] = convBackwardFast(Tensor.ones([1, 1, 2, 2]), cache);
 * assert.deepEqual(dx.toNested(), [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
 * assert.deepEqual(dw.toNested(), [[[[8, 12], [20, 24]]]]);
 * assert.equal(db.get(0), 4);
 * ```
 */
export function convBackwardFast(dout: Tensor, cache: ConvCache): [Tensor, Tensor, Tensor] {
  const g = checkConvBackward("convBackwardFast", dout, cache);
  const [x] = cache;
  const parallel = useParallel(convChunkCount(g));
  const dx = new Tensor(allocate(x.dtype, x.size, parallel || undefined), x.shape);
  const [dw, db] = backward(dout, cache, g, dx);
  return [dx, dw, db];
}

/**
 * The `[dw, db]` part of {@link convBackwardFast} alone. The first layer of a network needs
 * nothing more (no one consumes the gradient with respect to the images), and skipping
 * `dx` saves its GEMM and the col2im pass: about half of the backward time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convForwardFast, convParamGradsFast } from "./conv_fast.ts";
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const [, cache] = convForwardFast(x, Tensor.ones([1, 1, 2, 2]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dw, db] = convParamGradsFast(Tensor.ones([1, 1, 2, 2]), cache);
 * assert.deepEqual(dw.toNested(), [[[[8, 12], [20, 24]]]]);
 * assert.equal(db.get(0), 4);
 * ```
 */
export function convParamGradsFast(dout: Tensor, cache: ConvCache): [Tensor, Tensor] {
  const g = checkConvBackward("convParamGradsFast", dout, cache);
  return backward(dout, cache, g, null);
}

function backward(
  dout: Tensor,
  cache: ConvCache,
  g: ConvGeometry,
  dx: Tensor | null,
): [Tensor, Tensor] {
  const [x, w, b] = cache;
  const slots = convChunkCount(g);
  const parallel = useParallel(slots);
  const scratch = parallel ? sharedScratch : defaultScratch;
  const dwPartials = scratch.get("conv.dwPartials", x.dtype, slots * w.size);
  const dbPartials = scratch.getFloat64("conv.dbPartials", slots * g.filters);
  if (parallel) {
    const job: BackwardJob = {
      dout: sharedView(dout.data, sharedScratch, "conv.dout"),
      x: sharedView(x.data, sharedScratch, "conv.x"),
      w: sharedView(w.data, sharedScratch, "conv.w"),
      geometry: g,
      dx: dx === null ? null : dx.data,
      dwPartials,
      dbPartials,
    };
    getPool().run("conv.backward", job, slots);
  } else {
    convBackwardRange(
      dout.data,
      x.data,
      w.data,
      g,
      0,
      g.batch,
      dx === null ? null : dx.data,
      dwPartials,
      dbPartials,
      defaultScratch,
    );
  }
  const dw = Tensor.zeros(w.shape, w.dtype);
  sumPartials(dwPartials, slots, w.size, dw.data, defaultScratch);
  const db = Tensor.zeros(b.shape, b.dtype);
  sumPartials(dbPartials, slots, g.filters, db.data, defaultScratch);
  return [dw, db];
}

function checkRange(fn: string, g: ConvGeometry, n0: number, n1: number): void {
  if (!(Number.isInteger(n0) && Number.isInteger(n1) && 0 <= n0 && n0 <= n1 && n1 <= g.batch)) {
    throw new Error(
      `${fn}: example range [${n0}, ${n1}) must be integers with 0 ≤ n0 ≤ n1 ≤ ${g.batch}`,
    );
  }
}

function needLength(fn: string, name: string, arr: FloatArray, length: number): void {
  if (arr.length < length) {
    throw new Error(`${fn}: ${name} needs at least ${length} elements, got ${arr.length}`);
  }
}

/**
 * Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2015) for float32 3×3 filters with stride 1, dilation 1 and one channel group: the fast
 * path that `conv.ts` picks for the forward pass, the input gradient `dx` and the weight
 * and bias gradients `dw`, `db`.
 *
 * **The idea.** F(m×m, 3×3) computes an m×m tile of outputs from an α×α tile of input
 * (α = m + 2) as `Y = Aᵀ [U ⊙ V] A`, with `U = G g Gᵀ` the transformed filter and
 * `V = Bᵀ d B` the transformed input tile: α² multiplications instead of 9m². Summed over
 * input channels, the products at each of the α² positions ξ of the transformed tile form
 * one matrix product,
 *
 * ```
 * M[ξ] (F × P) = U[ξ] (F × C) · V[ξ] (C × P)        (P = tiles of the chunk)
 * ```
 *
 * so a convolution becomes: transform the filters (once per call), transform the input
 * tiles, α² GEMMs (the existing WebAssembly GEMM, on operands in its memory), transform
 * the results back and add the bias. F(2×2) does 16/36 of the multiplications of the
 * direct method, F(4×4) 36/144 = 1/4, at the price of heavier transforms, larger float32
 * errors, and wasted tiles when m does not divide the output (14×14 maps: F(2×2) fits
 * them exactly with 7×7 tiles, F(4×4) computes 16×16).
 *
 * **The input gradient** of a stride-1 3×3 correlation is itself one: `dx` is the
 * correlation of `dout` (padded by `2 − pad`) with the filters rotated by 180° and with
 * input and output channels swapped ({@link winogradBackwardData}). The swap costs
 * nothing: its GEMMs read `U[ξ]` transposed. Pads above 2 would need a negative padding
 * (a crop), which `conv.ts` leaves to im2col.
 *
 * **The weight gradient** `dw[f][c] = Σ_n Σ_tiles (e_f ⋆ d_c)` correlates each input tile
 * with an m×m tile of `dout`: that is F(3×3, m×m), the same algorithm with the roles of
 * filter and output swapped (transposition principle): `dw = Gᵀ [Σ (A e Aᵀ) ⊙ (Bᵀ d B)] G`.
 * The input tiles get the forward's input transform, the `dout` tiles the transform
 * `E = A e Aᵀ`, and the sum over the batch's tiles is one GEMM per position,
 * `D[ξ] (F × C) += E[ξ] (F × P) · V[ξ]ᵀ (P × C)`, accumulated over the chunks of a *slot*;
 * the slots' partials are added in slot order and `Gᵀ D G` is applied once per call
 * ({@link winogradBackwardFilter}). The bias gradient comes free: position (1, 1) of `E`
 * is the sum of the tile.
 *
 * **Where the time goes, and the layout.** Per chunk of examples (its size depends on the
 * geometry only): one bulk copy of the chunk into the WebAssembly memory of the thread's
 * GEMM instance, a copy into zero-framed planes (the padding), the input transform
 * (`wasm/winograd_module.ts`, four tiles per SIMD vector) writing `V[ξ]`, α² GEMMs, the
 * output transform into planes rounded up to whole tiles, a crop, and one bulk copy out.
 * Chunks are claimed from a shared counter by the worker pool's threads as in `conv.ts`;
 * each example's result depends on nothing else, so results are bitwise the same for any
 * number of threads.
 *
 * **Feeding the GEMMs.** The GEMMs take about 60% of the time, and they are small: K is
 * the channel count (32–64 here) and a chunk has a few hundred tiles. A general GEMM call
 * packs both operands and sends partial micro-tiles through a scalar path, which cost
 * 15–20% of such a product (64×294×32: 35.7 µs, against 29.5 µs for the micro-kernel loop
 * alone). So the forward and input-gradient GEMMs run on operands already in the
 * micro-kernel's layout (`GemmInstance.gemmPacked`): the input transform writes `V[ξ]` as
 * packed B panels, `U[ξ]` is packed once per call and thread, and `M[ξ]` has room for
 * whole tiles (F rounded up to 6 rows, P to 8 columns); the α² matrices of `V` and `M` lie
 * an odd number of cache lines apart ({@link oddLines}). Layers with more than 384
 * channels (one GEMM depth slice) use the general GEMM. The weight gradient's GEMMs sum
 * over the tiles, so their packed operands hold each channel's tiles at a stride; the
 * transforms writing them lane by lane cost 30% more than the packing they saved (W2b
 * dw+db 14.9 → 15.5 ms on one thread, even on two), so it keeps the general GEMM.
 *
 * **The reference.** {@link filterTransform}, {@link inputTileTransform},
 * {@link outputTileTransform}, {@link outputGradientTileTransform} and
 * {@link filterGradientTransform} are the plain JavaScript transforms. The two on filters
 * run in float64 once per call, and the fast path uses their arithmetic; the WebAssembly
 * tile transforms reproduce the other three bit for bit (same terms, same order, float32
 * rounding after every operation).
 *
 * **Measured** (`bench/conv_bench.ts`, fwd+bwd, float32, Zen 5, ms im2col → Winograd):
 * x(128,32,14,14) w(64,32,3,3): 77 → 46 on one thread, 41 → 26 on two; x(64,64,32,32)
 * w(64,64,3,3): 391 → 135 on one thread, 205 → 73 on two. About 60% of Winograd's time is
 * in the GEMMs' micro-kernel. The packed operands took the forward and input-gradient
 * passes from 14.6–15.2 to 13.8–14.3 ms (W2b, one thread; `bench/winograd_quick.ts`),
 * 9.0 to 7.7–8.2 on two, and W3's from 45–47 to 40–41 on one, 25–27 to 22.6–23.4 on two.
 *
 * @module
 */

import { copyBack, ScratchBuffers, sharedTarget, sharedView } from "../scratch.ts";
import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import type { FloatArray } from "../storage.ts";
import { F2, F4, type WinogradMatrices } from "./_winograd_matrices.ts";
import { rowSums } from "./elementwise.ts";
import { gemmInstance, gemmMatchesWorkers } from "./gemm.ts";
import { GEMM_BLOCKING } from "./wasm/gemm_module.ts";
import type { WindowGeometry } from "./im2col.ts";
import { type LayerKernels, layerKernels } from "./wasm/layer_kernels.ts";

export { F2, F4, type WinogradMatrices };

/** The two algorithms: F(2×2, 3×3) and F(4×4, 3×3). */
export type WinogradVariant = "F2x2" | "F4x4";

/** The matrices of a variant. */
export function winogradMatrices(variant: WinogradVariant): WinogradMatrices {
  if (variant === "F2x2") return F2;
  if (variant === "F4x4") return F4;
  throw new Error(
    `winogradMatrices: variant must be "F2x2" or "F4x4", got ${JSON.stringify(variant)}`,
  );
}

// ------------------------------------------------------------------ reference transforms

/**
 * `U = G g Gᵀ` of one 3×3 filter `g` (row-major, 9 entries): the α×α transformed filter,
 * row-major, computed in float64 (`G` holds fractions such as 1/6 that float32 cannot
 * represent; rounding once at the end keeps the filter's share of the error small).
 * With `rotate`, transforms the filter rotated by 180° (`g[2 − r][2 − s]`), as the input
 * gradient needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, filterTransform } from "./winograd.ts";
 * // A filter with a single 1 in its centre: U = (column 1 of G)(column 1 of G)ᵀ.
 * const U = filterTransform([0, 0, 0, 0, 1, 0, 0, 0, 0], F2);
 * assert.deepEqual([...U.slice(0, 4)], [0, 0, 0, 0]);
 * assert.deepEqual([...U.slice(4, 8)], [0, 0.25, -0.25, 0]);
 * ```
 */
export function filterTransform(
  g: ArrayLike<number>,
  matrices: WinogradMatrices,
  rotate = false,
): Float64Array {
  const { alpha, G } = matrices;
  const at = (r: number, s: number) => rotate ? g[(2 - r) * 3 + 2 - s] : g[r * 3 + s];
  // t = G g (α × 3), then U = t Gᵀ (α × α).
  const t = new Float64Array(alpha * 3);
  for (let i = 0; i < alpha; i++) {
    for (let s = 0; s < 3; s++) {
      let sum = 0;
      for (let r = 0; r < 3; r++) sum += G[i][r] * at(r, s);
      t[i * 3 + s] = sum;
    }
  }
  const U = new Float64Array(alpha * alpha);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) {
      let sum = 0;
      for (let s = 0; s < 3; s++) sum += t[i * 3 + s] * G[j][s];
      U[i * alpha + j] = sum;
    }
  }
  return U;
}

/**
 * `Σ_k coefs[k] · terms[k]` in float32 arithmetic, in the order the WebAssembly kernels
 * use: ascending k, zero coefficients skipped, each product and each sum rounded to
 * float32. (Products by ±1 and sums with 0 are exact, so starting from 0 changes nothing.)
 */
function combine32(coefs: readonly number[], terms: (k: number) => number): number {
  let sum = 0;
  for (let k = 0; k < coefs.length; k++) {
    if (coefs[k] !== 0) sum = Math.fround(sum + Math.fround(coefs[k] * terms(k)));
  }
  return sum;
}

/**
 * `V = Bᵀ d B` of one α×α input tile `d` (row-major) in float32: first `T = Bᵀ d`, then
 * `V = T B`, each entry summed as the WebAssembly input transform sums it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, inputTileTransform } from "./winograd.ts";
 * // Bᵀ of F(2×2) maps a constant column (1, 1, 1, 1) to (0, 2, 0, 0).
 * const V = inputTileTransform(new Array(16).fill(1), F2);
 * assert.deepEqual([...V], [0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function inputTileTransform(d: ArrayLike<number>, matrices: WinogradMatrices): Float32Array {
  const { alpha, BT } = matrices;
  const T = new Float32Array(alpha * alpha);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) T[i * alpha + j] = combine32(BT[i], (k) => d[k * alpha + j]);
  }
  const V = new Float32Array(alpha * alpha);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) V[i * alpha + j] = combine32(BT[j], (k) => T[i * alpha + k]);
  }
  return V;
}

/**
 * `Y = Aᵀ M A + bias` of one α×α tile `M` (row-major) of GEMM results, in float32: first
 * `S = Aᵀ M`, then `Y = S A`, then the bias, as the WebAssembly output transform does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, outputTileTransform } from "./winograd.ts";
 * const M = new Array(16).fill(0);
 * M[0] = 1; // position (0, 0) feeds only output (0, 0)
 * assert.deepEqual([...outputTileTransform(M, F2, 0.5)], [1.5, 0.5, 0.5, 0.5]);
 * ```
 */
export function outputTileTransform(
  M: ArrayLike<number>,
  matrices: WinogradMatrices,
  bias = 0,
): Float32Array {
  const { m, alpha, AT } = matrices;
  const S = new Float32Array(m * alpha);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < alpha; j++) S[i * alpha + j] = combine32(AT[i], (k) => M[k * alpha + j]);
  }
  const Y = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      Y[i * m + j] = Math.fround(combine32(AT[j], (k) => S[i * alpha + k]) + bias);
    }
  }
  return Y;
}

/**
 * `E = A e Aᵀ` of one m×m tile `e` (row-major) of the output gradient, in float32 (first
 * `A e`, then `(A e) Aᵀ`, summed as the WebAssembly kernel sums them): the weight gradient's
 * counterpart of the input transform.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, outputGradientTileTransform } from "./winograd.ts";
 * // Column 1 of Aᵀ is all ones: position (1, 1) of E is the sum of the tile.
 * assert.equal(outputGradientTileTransform([1, 2, 3, 4], F2)[5], 10);
 * ```
 */
export function outputGradientTileTransform(
  e: ArrayLike<number>,
  matrices: WinogradMatrices,
): Float32Array {
  const { m, alpha, AT } = matrices;
  const A = (i: number) => AT.map((row) => row[i]); // row i of A = column i of Aᵀ
  const T = new Float32Array(alpha * m);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < m; j++) T[i * m + j] = combine32(A(i), (k) => e[k * m + j]);
  }
  const E = new Float32Array(alpha * alpha);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) E[i * alpha + j] = combine32(A(j), (k) => T[i * m + k]);
  }
  return E;
}

/**
 * `dw = Gᵀ D G` (3×3, float64) of the α×α sum `D` (row-major) of the products of
 * transformed input and output-gradient tiles: the last step of the weight gradient,
 * applied once per filter and channel after the sum over the batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, filterGradientTransform } from "./winograd.ts";
 * const D = new Array(16).fill(0);
 * D[0] = 1; // position (0, 0) comes from tap (0, 0) only: row 0 of G is (1, 0, 0)
 * assert.deepEqual([...filterGradientTransform(D, F2)], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function filterGradientTransform(
  D: ArrayLike<number>,
  matrices: WinogradMatrices,
): Float64Array {
  const { alpha, G } = matrices;
  // t = Gᵀ D (3 × α), then dw = t G (3 × 3).
  const t = new Float64Array(3 * alpha);
  for (let r = 0; r < 3; r++) {
    for (let j = 0; j < alpha; j++) {
      let sum = 0;
      for (let i = 0; i < alpha; i++) sum += G[i][r] * D[i * alpha + j];
      t[r * alpha + j] = sum;
    }
  }
  const dw = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let s = 0; s < 3; s++) {
      let sum = 0;
      for (let j = 0; j < alpha; j++) sum += t[r * alpha + j] * G[j][s];
      dw[r * 3 + s] = sum;
    }
  }
  return dw;
}

// ------------------------------------------------------------------ plans and chunks

/**
 * One stride-1 3×3 correlation as the Winograd kernels see it: `inChannels` planes of
 * `height × width` per example in, `outChannels` planes of `outH × outW` out, with `pad`
 * zeros around the input (`outH = height + 2·pad − 2`).
 */
export interface WinogradPlan {
  /** Examples in the batch. */
  batch: number;
  /** Channels of the input (C forward, F for the input gradient). */
  inChannels: number;
  /** Channels of the output. */
  outChannels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Zeros on each side of the input. */
  pad: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
  /** The algorithm. */
  variant: WinogradVariant;
  /**
   * Whether this is the input gradient: the filters `w (F, C, 3, 3)` are applied rotated
   * by 180° and with their two channel axes swapped (`inChannels = F`).
   */
  transposed: boolean;
}

/** A convolution's sizes, as `conv.ts` describes them (the fields the plans need). */
export interface WinogradGeometry extends WindowGeometry {
  /** Examples in the batch. */
  batch: number;
  /** Filters. */
  filters: number;
  /** Channel groups (1 for Winograd). */
  groups: number;
}

/**
 * Whether the Winograd kernels can compute this convolution: float32, 3×3, stride 1,
 * dilation 1, one group, and the WebAssembly GEMM selected (the kernels work in its
 * memory). For the input gradient (`pass = "backwardData"`), also `pad ≤ 2` (see the module
 * notes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradApplies } from "./winograd.ts";
 * const g = { batch: 8, channels: 32, height: 14, width: 14, filters: 64, groups: 1,
 *   kernelH: 3, kernelW: 3, stride: 2, pad: 1, dilation: 1, outH: 7, outW: 7 };
 * assert.equal(winogradApplies(g, "float32"), false); // stride 2
 * ```
 */
export function winogradApplies(
  geometry: WinogradGeometry,
  dtype: string,
  pass: "forward" | "backwardData" | "backwardFilter" = "forward",
): boolean {
  const g = geometry;
  return dtype === "float32" && g.kernelH === 3 && g.kernelW === 3 && g.stride === 1 &&
    g.dilation === 1 && g.groups === 1 && g.outH === g.height + 2 * g.pad - 2 &&
    g.outW === g.width + 2 * g.pad - 2 && g.outH > 0 && g.outW > 0 &&
    (pass === "forward" || g.pad <= 2) && gemmInstance() !== null && layerKernels() !== null;
}

/**
 * The plan of the forward pass (`transposed = false`) or of the input gradient
 * (`transposed = true`, requires `pad ≤ 2`) of a convolution.
 */
export function winogradPlan(
  g: WinogradGeometry,
  variant: WinogradVariant,
  transposed: boolean,
): WinogradPlan {
  return transposed
    ? {
      batch: g.batch,
      inChannels: g.filters,
      outChannels: g.channels,
      height: g.outH,
      width: g.outW,
      pad: 2 - g.pad,
      outH: g.height,
      outW: g.width,
      variant,
      transposed,
    }
    : {
      batch: g.batch,
      inChannels: g.channels,
      outChannels: g.filters,
      height: g.height,
      width: g.width,
      pad: g.pad,
      outH: g.outH,
      outW: g.outW,
      variant,
      transposed,
    };
}

/** The sizes of the buffers of one plan, all derived from the geometry. */
interface Layout {
  matrices: WinogradMatrices;
  /** Tile rows and columns per output plane. */
  th: number;
  tw: number;
  /** Padded input plane: rows and row length (whole groups of four tiles, plus slack). */
  Hp: number;
  Wp: number;
  /** Padded output plane row length (whole groups of four tiles). */
  OW: number;
  /** Examples per chunk. */
  chunk: number;
  /** Row length of the GEMM operands V[ξ] and M[ξ]: a chunk's tiles plus slack. */
  ld: number;
}

/**
 * Target elements of a chunk's transformed input plus GEMM results, V and M: 2^19
 * float32 values (2 MiB), which keeps each GEMM's operands in L2 and gives the GEMMs a few
 * hundred columns.
 */
const CHUNK_BUDGET = 1 << 19;
/**
 * At most this many examples per chunk, so that small layers still make several chunks
 * for the pool's threads to share (a batch of 32 small images would otherwise be one).
 */
const MAX_CHUNK_EXAMPLES = 8;

function layoutOf(plan: WinogradPlan): Layout {
  const matrices = winogradMatrices(plan.variant);
  const { m, alpha } = matrices;
  const th = Math.ceil(plan.outH / m), tw = Math.ceil(plan.outW / m);
  const tw4 = Math.ceil(tw / 4) * 4;
  const perExample = alpha * alpha * th * tw * (plan.inChannels + plan.outChannels);
  const chunk = Math.max(1, Math.min(MAX_CHUNK_EXAMPLES, Math.floor(CHUNK_BUDGET / perExample)));
  // The last group of four tiles of the last row writes up to three columns past the
  // chunk's tiles; a multiple of 4 keeps rows 16-byte aligned.
  const ld = Math.ceil((chunk * th * tw + 3) / 4) * 4;
  return { matrices, th, tw, Hp: th * m + 2, Wp: tw4 * m + 4, OW: tw4 * m, chunk, ld };
}

/**
 * Examples per chunk of a plan: it depends on the plan's geometry only, never on the batch
 * size or the number of threads.
 */
export function winogradChunkSize(plan: WinogradPlan): number {
  return layoutOf(plan).chunk;
}

/**
 * The transformed filters of a plan, float32, laid out as α² matrices `U[ξ]` of F rows
 * (filters) × C columns (channels) of the original `w (F, C, 3, 3)`, for both passes (the
 * input gradient transforms the rotated filters and reads each `U[ξ]` transposed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { F2, filterTransform, winogradFilters } from "./winograd.ts";
 * const w = Float32Array.from({ length: 2 * 3 * 9 }, (_, i) => i % 7 - 3); // F = 2, C = 3
 * const U = winogradFilters(w, 2, 3, "F2x2", false);
 * // Position ξ = 5 of filter 1, channel 2:
 * assert.equal(U[5 * 6 + 1 * 3 + 2], Math.fround(filterTransform(w.subarray(45, 54), F2)[5]));
 * ```
 */
export function winogradFilters(
  w: FloatArray,
  filters: number,
  channels: number,
  variant: WinogradVariant,
  rotate: boolean,
  out: Float32Array = new Float32Array(winogradMatrices(variant).alpha ** 2 * filters * channels),
): Float32Array {
  // filterTransform's arithmetic (same products, same order, float64), without its
  // allocations: this runs on every call, over F·C filters. Blocks of filters go through
  // a small buffer laid out like `out`: writing each filter's α² values straight into
  // `out`, F·C apart (8 KiB for W2b), hit one set of the L1 cache and cost 4× as much.
  const { alpha, G } = winogradMatrices(variant);
  const FC = filters * channels, positions = alpha * alpha;
  const g = new Float64Array(9), t = new Float64Array(alpha * 3);
  const Gf = Float64Array.from(G.flat());
  const block = new Float64Array(positions * FILTER_BLOCK);
  for (let fc0 = 0; fc0 < FC; fc0 += FILTER_BLOCK) {
    const count = Math.min(FILTER_BLOCK, FC - fc0);
    for (let k = 0; k < count; k++) {
      transformFilter(w, (fc0 + k) * 9, rotate, Gf, alpha, g, t, block, k);
    }
    for (let xi = 0; xi < positions; xi++) {
      const row = block.subarray(xi * FILTER_BLOCK, xi * FILTER_BLOCK + count);
      out.set(row, xi * FC + fc0);
    }
  }
  return out;
}

/**
 * `bytes` rounded up to an odd number of 64-byte cache lines: the stride between the α²
 * matrices of one buffer. The transforms read or write all α² of them at once, and
 * strides near a multiple of 4 KiB put those streams in the same few sets of the L1
 * cache, which holds 8 lines per set: with V's panels 19 × 4 KiB apart, the W2b input
 * gradient took 18.6 ms instead of 14.4. An odd number of lines cycles through all 64
 * sets.
 */
function oddLines(bytes: number): number {
  const lines = Math.ceil(bytes / 64);
  return (lines | 1) * 64;
}

/** Filters per block of {@link winogradFilters}. */
const FILTER_BLOCK = 64;

/**
 * `G g Gᵀ` of the filter at `w[base…base + 9)` (rotated by 180° if `rotate`) into
 * `block[ξ·FILTER_BLOCK + k]`, with `g` and `t` as scratch: one filter of
 * {@link winogradFilters}, in a function of its own so that V8 optimizes it as a unit.
 */
function transformFilter(
  w: FloatArray,
  base: number,
  rotate: boolean,
  Gf: Float64Array,
  alpha: number,
  g: Float64Array,
  t: Float64Array,
  block: Float64Array,
  k: number,
): void {
  for (let q = 0; q < 9; q++) g[q] = w[base + (rotate ? 8 - q : q)];
  for (let i = 0; i < alpha; i++) {
    const a = Gf[i * 3], b = Gf[i * 3 + 1], c = Gf[i * 3 + 2];
    t[i * 3] = a * g[0] + b * g[3] + c * g[6];
    t[i * 3 + 1] = a * g[1] + b * g[4] + c * g[7];
    t[i * 3 + 2] = a * g[2] + b * g[5] + c * g[8];
  }
  for (let i = 0; i < alpha; i++) {
    const a = t[i * 3], b = t[i * 3 + 1], c = t[i * 3 + 2];
    for (let j = 0; j < alpha; j++) {
      block[(i * alpha + j) * FILTER_BLOCK + k] = a * Gf[j * 3] + b * Gf[j * 3 + 1] +
        c * Gf[j * 3 + 2];
    }
  }
}

/** The next chunk `[c0, c1)` to process, or null when there is none left. */
type ChunkSource = () => [number, number] | null;

/** All chunks of the plan's batch, in order (one thread). */
function allChunks(plan: WinogradPlan): ChunkSource {
  const nb = winogradChunkSize(plan);
  let c0 = 0;
  return () => {
    if (c0 >= plan.batch) return null;
    const chunk: [number, number] = [c0, Math.min(plan.batch, c0 + nb)];
    c0 += nb;
    return chunk;
  };
}

/** Chunks claimed from the shared counter `next[0]` (see `claimedChunks` in `conv.ts`). */
function claimedChunks(plan: WinogradPlan, next: Int32Array): ChunkSource {
  const nb = winogradChunkSize(plan), count = Math.ceil(plan.batch / nb);
  return () => {
    const k = Atomics.add(next, 0, 1);
    return k < count ? [k * nb, Math.min(plan.batch, (k + 1) * nb)] : null;
  };
}

/**
 * The chunks of one thread: every buffer in the memory of its GEMM instance, reused from
 * chunk to chunk (see the module notes for the steps).
 */
function runChunks(
  wasm: LayerKernels,
  input: FloatArray,
  U: Float32Array,
  bias: FloatArray | null,
  plan: WinogradPlan,
  out: FloatArray,
  chunks: ChunkSource,
): void {
  let chunk = chunks();
  if (chunk === null) return;
  const L = layoutOf(plan);
  const { matrices, th, tw, Hp, Wp, OW, ld } = L;
  const { m, alpha } = matrices;
  const { inChannels: Cin, outChannels: Cout, height: H, width: W, pad, outH, outW } = plan;
  const most = Math.min(L.chunk, plan.batch);
  const inPlane = H * W, outPlane = outH * outW, padPlane = Hp * Wp, tilePlane = th * m * OW;
  const cropped = OW !== outW || th * m !== outH;
  const ex = wasm.exports, gemm = wasm.gemm;
  const [inputTransform, outputTransform] = m === 2
    ? [ex.wino2_input, ex.wino2_output]
    : [ex.wino4_input, ex.wino4_output];
  const positions = alpha * alpha;
  // The panel path (see the module notes): V[ξ] written as packed B panels, U[ξ] packed
  // once per call, and M[ξ] with room for whole micro-tiles (F rounded up to MR rows, P
  // to NR columns) so that no tile takes the scalar edge path. It needs the GEMM's depth
  // Cin in one slice; deeper layers take the general GEMM.
  const { MR, NR, KC } = GEMM_BLOCKING.float32;
  const panels = Cin <= KC;
  const rowsM = panels ? Math.ceil(Cout / MR) * MR : Cout;
  const ldM = panels ? Math.ceil((most * th * tw + 3) / NR) * NR : ld;
  const panelBytes = NR * Cin * 4, vXiBytes = oddLines((ldM / NR) * panelBytes);
  const mXiBytes = oddLines(rowsM * ldM * 4);
  const uXiBytes = gemm.packedBytes("float32", "A", Cout, Cin);
  const mark = gemm.mark();
  try {
    const uAt = wasm.copyIn(U);
    const uPackedAt = panels ? wasm.alloc("float32", (positions * uXiBytes) / 4) : -1;
    const biasAt = wasm.alloc("float32", Cout);
    const inAt = wasm.alloc("float32", most * Cin * inPlane);
    const padAt = wasm.alloc("float32", most * Cin * padPlane);
    const vAt = wasm.alloc("float32", panels ? (positions * vXiBytes) / 4 : positions * Cin * ld);
    const mAt = wasm.alloc("float32", (positions * mXiBytes) / 4);
    if (panels) {
      // Columns past the last tile are multiplied too: keep them finite (zeros at first,
      // earlier chunks' values later).
      wasm.view("float32", vAt, (positions * vXiBytes) / 4).fill(0);
      for (let xi = 0; xi < positions; xi++) {
        const at = uAt + xi * Cin * Cout * 4, lda = plan.transposed ? Cout : Cin;
        gemm.pack("float32", "A", plan.transposed, Cout, Cin, at, lda, uPackedAt + xi * uXiBytes);
      }
    }
    const tilesAt = wasm.alloc("float32", most * Cout * tilePlane);
    const outAt = cropped ? wasm.alloc("float32", most * Cout * outPlane) : tilesAt;
    const biasView = wasm.view("float32", biasAt, Cout);
    if (bias === null) biasView.fill(0);
    else biasView.set(bias.subarray(0, Cout));
    // The frame of zeros around each plane is written once; chunks only overwrite the inside.
    wasm.view("float32", padAt, most * Cin * padPlane).fill(0);
    const inView = wasm.view("float32", inAt, most * Cin * inPlane);
    const outView = wasm.view("float32", outAt, most * Cout * outPlane);
    const innerAt = padAt + (pad * Wp + pad) * 4;
    for (; chunk !== null; chunk = chunks()) {
      const [c0, c1] = chunk, n = c1 - c0, P = n * th * tw;
      inView.set(input.subarray(c0 * Cin * inPlane, c1 * Cin * inPlane));
      ex.copyPlanes(inAt, innerAt, n * Cin, H, W * 4, W * 4, inPlane * 4, Wp * 4, padPlane * 4);
      if (panels) {
        const panelTransform = m === 2 ? ex.wino2_inputPanels : ex.wino4_inputPanels;
        panelTransform(padAt, vAt, n, Cin, Hp, Wp, th, tw, panelBytes, vXiBytes);
        const columns = Math.ceil(P / NR) * NR;
        for (let xi = 0; xi < positions; xi++) {
          gemm.gemmPacked(
            "float32",
            rowsM,
            columns,
            Cin,
            1,
            uPackedAt + xi * uXiBytes,
            vAt + xi * vXiBytes,
            0,
            mAt + xi * mXiBytes,
            ldM,
          );
        }
      } else {
        inputTransform(padAt, vAt, n, Cin, Hp, Wp, th, tw, ld * 4, Cin * ld * 4);
        for (let xi = 0; xi < positions; xi++) {
          // M[ξ] (Cout × P) = op(U[ξ]) · V[ξ]; U[ξ] is stored (F × C) of the original filters.
          gemm.gemmInPlace(
            "float32",
            plan.transposed,
            false,
            Cout,
            P,
            Cin,
            1,
            uAt + xi * Cin * Cout * 4,
            plan.transposed ? Cout : Cin,
            vAt + xi * Cin * ld * 4,
            ld,
            0,
            mAt + xi * mXiBytes,
            ld,
          );
        }
      }
      outputTransform(mAt, tilesAt, biasAt, Cout, n, th, tw, ldM * 4, mXiBytes);
      if (cropped) {
        ex.copyPlanes(
          tilesAt,
          outAt,
          n * Cout,
          outH,
          outW * 4,
          OW * 4,
          tilePlane * 4,
          outW * 4,
          outPlane * 4,
        );
      }
      out.set(outView.subarray(0, n * Cout * outPlane), c0 * Cout * outPlane);
    }
  } finally {
    gemm.release(mark);
  }
}

/**
 * Target elements of all weight-gradient partials of a call (α²·F·C per slot): enough
 * slots for the pool's threads to share, few enough that summing them stays cheap.
 */
const PARTIALS_BUDGET = 1 << 20;
/** At most this many weight-gradient slots. */
const MAX_SLOTS = 16;

/**
 * How the weight gradient splits the batch: `slots` runs of `chunksPerSlot` consecutive
 * chunks, each summed into its own partial (in transformed space, by GEMMs that
 * accumulate). Like the chunks, it depends on the geometry only.
 */
function slotLayout(plan: WinogradPlan): { chunksPerSlot: number; slots: number } {
  const { alpha } = winogradMatrices(plan.variant);
  const chunks = Math.ceil(plan.batch / layoutOf(plan).chunk);
  const size = alpha * alpha * plan.inChannels * plan.outChannels;
  const wanted = Math.min(MAX_SLOTS, Math.max(2, Math.floor(PARTIALS_BUDGET / size)));
  const chunksPerSlot = Math.ceil(chunks / Math.min(chunks, wanted));
  return { chunksPerSlot, slots: Math.ceil(chunks / chunksPerSlot) };
}

/**
 * The weight-gradient slots of one thread (see {@link slotLayout}): per chunk, the input
 * transform of `x` and the transform `A e Aᵀ` of `dout`'s tiles, then per position ξ one
 * GEMM `D[ξ] (F × C) += E[ξ] (F × P) · V[ξ]ᵀ (P × C)`; the slot's `D` goes to
 * `dwPartials[slot]` and its bias-gradient sums (float64) to `dbPartials[slot]`.
 */
function runFilterGradSlots(
  wasm: LayerKernels,
  x: FloatArray,
  dout: FloatArray,
  plan: WinogradPlan,
  dwPartials: Float32Array,
  dbPartials: Float64Array,
  slots: () => number | null,
): void {
  let slot = slots();
  if (slot === null) return;
  const L = layoutOf(plan);
  const { matrices, th, tw, Hp, Wp, OW, ld } = L;
  const { m, alpha } = matrices;
  const { inChannels: C, outChannels: F, height: H, width: W, pad, outH, outW } = plan;
  const { chunksPerSlot } = slotLayout(plan);
  const most = Math.min(L.chunk, plan.batch);
  const inPlane = H * W, outPlane = outH * outW, padPlane = Hp * Wp, tilePlane = th * m * OW;
  const framed = OW !== outW || th * m !== outH;
  const ex = wasm.exports, gemm = wasm.gemm;
  const [inputTransform, doutTransform] = m === 2
    ? [ex.wino2_input, ex.wino2_dout]
    : [ex.wino4_input, ex.wino4_dout];
  const positions = alpha * alpha, size = positions * F * C;
  const one = new Float64Array(1), db = new Float64Array(F);
  const mark = gemm.mark();
  try {
    const inAt = wasm.alloc("float32", most * C * inPlane);
    const padAt = wasm.alloc("float32", most * C * padPlane);
    const vAt = wasm.alloc("float32", positions * C * ld);
    const doutAt = wasm.alloc("float32", most * F * outPlane);
    const frameAt = framed ? wasm.alloc("float32", most * F * tilePlane) : doutAt;
    const eAt = wasm.alloc("float32", positions * F * ld);
    const dAt = wasm.alloc("float32", size);
    wasm.view("float32", padAt, most * C * padPlane).fill(0);
    if (framed) wasm.view("float32", frameAt, most * F * tilePlane).fill(0);
    const inView = wasm.view("float32", inAt, most * C * inPlane);
    const doutView = wasm.view("float32", doutAt, most * F * outPlane);
    const dView = wasm.view("float32", dAt, size);
    const innerAt = padAt + (pad * Wp + pad) * 4;
    for (; slot !== null; slot = slots()) {
      const s0 = slot * chunksPerSlot * L.chunk;
      const s1 = Math.min(plan.batch, (slot + 1) * chunksPerSlot * L.chunk);
      db.fill(0);
      for (let c0 = s0; c0 < s1; c0 += L.chunk) {
        const c1 = Math.min(s1, c0 + L.chunk), n = c1 - c0, P = n * th * tw;
        inView.set(x.subarray(c0 * C * inPlane, c1 * C * inPlane));
        ex.copyPlanes(inAt, innerAt, n * C, H, W * 4, W * 4, inPlane * 4, Wp * 4, padPlane * 4);
        inputTransform(padAt, vAt, n, C, Hp, Wp, th, tw, ld * 4, C * ld * 4);
        doutView.set(dout.subarray(c0 * F * outPlane, c1 * F * outPlane));
        if (framed) {
          ex.copyPlanes(
            doutAt,
            frameAt,
            n * F,
            outH,
            outW * 4,
            outW * 4,
            outPlane * 4,
            OW * 4,
            tilePlane * 4,
          );
        }
        doutTransform(frameAt, eAt, n, F, th * m, OW, th, tw, ld * 4, F * ld * 4);
        // Column 1 of Aᵀ is all ones, so E at position (1, 1) is the sum of each tile: the
        // bias gradient sums a quarter (F(2×2)) or a sixteenth (F(4×4)) of dout's values.
        const sumsAt = eAt + (alpha + 1) * F * ld * 4;
        for (let f = 0; f < F; f++) {
          rowSums(wasm.view("float32", sumsAt + f * ld * 4, P), 1, P, one);
          db[f] += one[0];
        }
        for (let xi = 0; xi < positions; xi++) {
          gemm.gemmInPlace(
            "float32",
            false,
            true,
            F,
            C,
            P,
            1,
            eAt + xi * F * ld * 4,
            ld,
            vAt + xi * C * ld * 4,
            ld,
            c0 === s0 ? 0 : 1,
            dAt + xi * F * C * 4,
            C,
          );
        }
      }
      dwPartials.set(dView, slot * size);
      dbPartials.set(db, slot * F);
    }
  } finally {
    gemm.release(mark);
  }
}

/**
 * `dw (F, C, 3, 3)` and `db (F,)` from the slots' partials: each sum in float64 in slot
 * order, then `dw = Gᵀ D G` per filter and channel, rounded once.
 *
 * The arithmetic of `filterGradientTransform` (same products, same order), but laid out
 * as passes over all F·C filter–channel pairs at once: per pair it is a few dozen products
 * in loops of α, and run pair by pair those loops' control cost ~1 ms per call on W2b,
 * as much again as the passes over whole rows take.
 */
function finishFilterGrad(
  plan: WinogradPlan,
  dwPartials: Float32Array,
  dbPartials: Float64Array,
  slots: number,
  dw: FloatArray,
  db: FloatArray,
): void {
  const { alpha, G } = winogradMatrices(plan.variant);
  const F = plan.outChannels, FC = F * plan.inChannels, size = alpha * alpha * FC;
  // D (α² rows of F·C): the slots' partials added in slot order.
  const D = localScratch.getFloat64("winograd.D", size);
  for (let i = 0; i < size; i++) {
    let sum = dwPartials[i];
    for (let k = 1; k < slots; k++) sum += dwPartials[k * size + i];
    D[i] = sum;
  }
  for (let f = 0; f < F; f++) {
    let sum = dbPartials[f];
    for (let k = 1; k < slots; k++) sum += dbPartials[k * F + f];
    db[f] = sum;
  }
  // t = Gᵀ D: row (r, j) is Σ_i G[i][r] · D row (i, j), the sum started at 0 as in the
  // reference (0 + x turns a −0 into +0) and every term kept (0 · ∞ is NaN there too).
  const t = localScratch.getFloat64("winograd.t", 3 * alpha * FC);
  for (let r = 0; r < 3; r++) {
    for (let j = 0; j < alpha; j++) {
      const row = (r * alpha + j) * FC;
      scaleRow(t, row, G[0][r], D, j * FC, FC, true);
      for (let i = 1; i < alpha; i++) scaleRow(t, row, G[i][r], D, (i * alpha + j) * FC, FC);
    }
  }
  // dw = t G, pair by pair: dw[fc·9 + r·3 + s] = Σ_j t row (r, j) · G[j][s].
  const out = localScratch.getFloat64("winograd.dw", FC);
  for (let r = 0; r < 3; r++) {
    for (let s = 0; s < 3; s++) {
      scaleRow(out, 0, G[0][s], t, r * alpha * FC, FC, true);
      for (let j = 1; j < alpha; j++) scaleRow(out, 0, G[j][s], t, (r * alpha + j) * FC, FC);
      for (let fc = 0; fc < FC; fc++) dw[fc * 9 + r * 3 + s] = out[fc];
    }
  }
}

/**
 * `dst[d + n] = (first ? 0 : dst[d + n]) + coef · src[s + n]` for n in `[0, count)`: one
 * term of a sum over whole rows.
 */
function scaleRow(
  dst: Float64Array,
  d: number,
  coef: number,
  src: Float64Array,
  s: number,
  count: number,
  first = false,
): void {
  if (first) { for (let n = 0; n < count; n++) dst[d + n] = 0 + coef * src[s + n]; }
  else for (let n = 0; n < count; n++) dst[d + n] += coef * src[s + n];
}

// ------------------------------------------------------------------ the parallel split

/** Buffers that the pool's workers read or write: shared memory, owned by the caller. */
const sharedScratch = new ScratchBuffers({ shared: true });
/** The calling thread's own scratch (the transformed filters of a one-thread call). */
const localScratch = new ScratchBuffers();

// The pool's workers load this module, so they know the job registered below.
registerWorkerModule(import.meta.url);

interface WinogradJob {
  input: FloatArray;
  U: Float32Array;
  bias: FloatArray | null;
  plan: WinogradPlan;
  out: FloatArray;
  /** The shared chunk counter. */
  next: Int32Array;
}

registerJob("winograd.conv", (a: WinogradJob) => {
  runChunks(kernels(), a.input, a.U, a.bias, a.plan, a.out, claimedChunks(a.plan, a.next));
});

interface FilterGradJob {
  x: FloatArray;
  dout: FloatArray;
  plan: WinogradPlan;
  dwPartials: Float32Array;
  dbPartials: Float64Array;
  /** The shared slot counter. */
  next: Int32Array;
}

registerJob("winograd.filterGrad", (a: FilterGradJob) => {
  const count = slotLayout(a.plan).slots;
  const slots = () => {
    const k = Atomics.add(a.next, 0, 1);
    return k < count ? k : null;
  };
  runFilterGradSlots(kernels(), a.x, a.dout, a.plan, a.dwPartials, a.dbPartials, slots);
});

function kernels(): LayerKernels {
  const instance = gemmInstance();
  const wasm = instance === null ? null : layerKernels(instance);
  if (wasm === null) {
    throw new Error("winograd: needs the WebAssembly GEMM kernel and WebAssembly SIMD");
  }
  return wasm;
}

/**
 * Runs a plan over the whole batch, on the worker pool when it has more than one chunk:
 * `out = conv(input, w) + bias` with `input (N, inChannels, height, width)`,
 * `w (F, C, 3, 3)` the original filters and `out (N, outChannels, outH, outW)`, all
 * float32.
 */
function runPlan(
  input: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  plan: WinogradPlan,
  out: FloatArray,
): void {
  const wasm = kernels();
  const [F, C] = plan.transposed
    ? [plan.inChannels, plan.outChannels]
    : [plan.outChannels, plan.inChannels];
  const chunks = Math.ceil(plan.batch / winogradChunkSize(plan));
  // Workers use the default (fused or not) kernels: another choice here stays here.
  const parallel = useParallel(chunks) && gemmMatchesWorkers();
  const positions = winogradMatrices(plan.variant).alpha ** 2;
  const scratch = parallel ? sharedScratch : localScratch;
  const U = scratch.get("winograd.U", "float32", positions * F * C) as Float32Array;
  winogradFilters(w, F, C, plan.variant, plan.transposed, U);
  if (!parallel) {
    runChunks(wasm, input, U, bias, plan, out, allChunks(plan));
    return;
  }
  const next = new Int32Array(sharedScratch.get("winograd.next", "float32", 1).buffer, 0, 1);
  next[0] = 0;
  const job: WinogradJob = {
    input: sharedView(input, sharedScratch, "winograd.input"),
    U,
    bias: bias === null ? null : sharedView(bias, sharedScratch, "winograd.bias"),
    plan,
    out: sharedTarget(out, sharedScratch, "winograd.out"),
    next,
  };
  const pool = getPool();
  pool.run("winograd.conv", job, pool.activeThreads);
  copyBack(out, job.out);
}

/**
 * The forward convolution by Winograd's algorithm: `out = conv(x, w) + b` for
 * `x (N, C, H, W)`, `w (F, C, 3, 3)`, `b (F,)` (or null) and `out (N, F, Ho, Wo)`, float32
 * arrays sized as `geometry` says. The geometry must satisfy {@link winogradApplies}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradForward } from "./winograd.ts";
 * // One 1×3×3 image of ones, one filter of ones, pad 1: each output counts its neighbours.
 * const g = { batch: 1, channels: 1, height: 3, width: 3, filters: 1, groups: 1, kernelH: 3,
 *   kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 3, outW: 3 };
 * const out = new Float32Array(9);
 * winogradForward(new Float32Array(9).fill(1), new Float32Array(9).fill(1), null, g, out);
 * assert.deepEqual([...out], [4, 6, 4, 6, 9, 6, 4, 6, 4]);
 * ```
 */
export function winogradForward(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  geometry: WinogradGeometry,
  out: FloatArray,
  variant: WinogradVariant = winogradVariantFor(geometry),
): void {
  checkApplies("winogradForward", geometry, x, "forward");
  runPlan(x, w, b, winogradPlan(geometry, variant, false), out);
}

/**
 * The input gradient of a convolution by Winograd's algorithm: writes `dx (N, C, H, W)`
 * from `dout (N, F, Ho, Wo)` and `w (F, C, 3, 3)` (float32, sized as `geometry` says,
 * which must satisfy {@link winogradApplies} for `"backwardData"`: pad ≤ 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradBackwardData } from "./winograd.ts";
 * // A 2×2 image, pad 1, filter of ones: each pixel's gradient sums the 4 outputs it feeds.
 * const g = { batch: 1, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 3,
 *   kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 2, outW: 2 };
 * const dx = new Float32Array(4);
 * winogradBackwardData(new Float32Array([1, 2, 3, 4]), new Float32Array(9).fill(1), g, dx);
 * assert.deepEqual([...dx], [10, 10, 10, 10]);
 * ```
 */
export function winogradBackwardData(
  dout: FloatArray,
  w: FloatArray,
  geometry: WinogradGeometry,
  dx: FloatArray,
  variant: WinogradVariant = winogradVariantFor(geometry),
): void {
  checkApplies("winogradBackwardData", geometry, dout, "backwardData");
  runPlan(dout, w, null, winogradPlan(geometry, variant, true), dx);
}

/**
 * The weight and bias gradients of a convolution by Winograd's algorithm: writes
 * `dw (F, C, 3, 3)` and `db (F,)` from `dout (N, F, Ho, Wo)` and `x (N, C, H, W)` (float32,
 * sized as `geometry` says, which must satisfy {@link winogradApplies}). The batch is
 * summed in slots of consecutive chunks fixed by the geometry, added in slot order, so
 * the result is the same for any number of threads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradBackwardFilter } from "./winograd.ts";
 * // A 2×2 image, pad 1, dout of ones: tap (r, s) of dw sums the pixels it met.
 * const g = { batch: 1, channels: 1, height: 2, width: 2, filters: 1, groups: 1, kernelH: 3,
 *   kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 2, outW: 2 };
 * const dw = new Float32Array(9), db = new Float32Array(1);
 * winogradBackwardFilter(new Float32Array(4).fill(1), new Float32Array([1, 2, 3, 4]), g, dw, db);
 * assert.deepEqual([...dw], [1, 3, 2, 4, 10, 6, 3, 7, 4]);
 * assert.deepEqual([...db], [4]);
 * ```
 */
export function winogradBackwardFilter(
  dout: FloatArray,
  x: FloatArray,
  geometry: WinogradGeometry,
  dw: FloatArray,
  db: FloatArray,
  variant: WinogradVariant = winogradVariantFor(geometry),
): void {
  checkApplies("winogradBackwardFilter", geometry, x, "forward");
  if (geometry.batch === 0) {
    dw.fill(0);
    db.fill(0);
    return;
  }
  const plan = winogradPlan(geometry, variant, false);
  const { alpha } = winogradMatrices(variant);
  const { slots } = slotLayout(plan);
  const size = alpha * alpha * plan.inChannels * plan.outChannels;
  const parallel = useParallel(slots) && gemmMatchesWorkers();
  const scratch = parallel ? sharedScratch : localScratch;
  const dwPartials = scratch.get("winograd.dwPartials", "float32", slots * size) as Float32Array;
  const dbPartials = scratch.getFloat64("winograd.dbPartials", slots * plan.outChannels);
  if (parallel) {
    const next = new Int32Array(sharedScratch.get("winograd.next", "float32", 1).buffer, 0, 1);
    next[0] = 0;
    const job: FilterGradJob = {
      x: sharedView(x, sharedScratch, "winograd.input"),
      dout: sharedView(dout, sharedScratch, "winograd.dout"),
      plan,
      dwPartials,
      dbPartials,
      next,
    };
    const pool = getPool();
    pool.run("winograd.filterGrad", job, pool.activeThreads);
  } else {
    let k = 0;
    const all = () => k < slots ? k++ : null;
    runFilterGradSlots(kernels(), x, dout, plan, dwPartials, dbPartials, all);
  }
  finishFilterGrad(plan, dwPartials, dbPartials, slots, dw, db);
}

/**
 * The variant the convolution uses for a geometry: F(4×4) when its 4×4 tiles cover the
 * output map with at most {@link F4_MAX_WASTE} times its outputs, else F(2×2). F(4×4) does
 * fewer multiplications but rounds more: measured against float64 on x(16,32,14,14)
 * w(64,32,3,3), the relative RMS error of the output, `dx` and `dw` is 1.2e-6, 1.6e-6 and
 * 1.9e-6 for F(4×4), 1.9e-7, 2.6e-7 and 4.9e-7 for F(2×2), 3.0e-7, 1.6e-7 and 2.7e-7 for
 * im2col (float32 epsilon: 6e-8). Each stays within the bound the transforms give
 * (`tests/kernels/winograd_test.ts`), and `setConvAlgorithm("im2col")` gives im2col's
 * accuracy where it matters more than speed.
 *
 * Square maps that take F(4×4): sides 4, 7, 8, 11, 12, 14, 15, 16 and from 18 on; F(2×2):
 * sides 1–3, 5, 6, 9, 10, 13 and 17.
 *
 * Measured (one thread, batch 128, 32 → 64 channels, fwd / dx / dw+db ms, F(2×2) → F(4×4)):
 * on 32×32 maps (W3, 64 → 64) F(4×4) is 1.3–1.4× faster on every pass; on 22×22 maps
 * 33.7 / 35.2 / 36.6 → 30.2 / 32.2 / 32.5; on 18×18 about even (23.2 / 25.0 / 25.5 →
 * 23.2 / 24.4 / 24.3); on 14×14 (W2b) 14.2 / 14.7 / 15.3 → 12.4 / 12.9 / 14.1, which took the
 * conv-BN benchmark network's training step from 81–83 to 77–80 ms on one thread and from
 * 49–52 to 48–49 ms on two (three interleaved runs); on 11×11 10.3 / 10.9 / 11.6 →
 * 8.0 / 8.5 / 9.7; on 7×7 with 64 → 64 channels 8.1 / 8.0 / 10.4 → 7.2 / 7.4 / 10.1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradVariantFor } from "./winograd.ts";
 * const g = { batch: 8, channels: 16, height: 14, width: 14, filters: 16, groups: 1,
 *   kernelH: 3, kernelW: 3, stride: 1, pad: 1, dilation: 1, outH: 14, outW: 14 };
 * assert.equal(winogradVariantFor(g), "F4x4"); // 16×16 computed for 14×14: 1.31×
 * assert.equal(winogradVariantFor({ ...g, outH: 10, outW: 10 }), "F2x2"); // 12×12: 1.44×
 * ```
 */
export function winogradVariantFor(geometry: WinogradGeometry): WinogradVariant {
  const waste = (size: number, m: number) => Math.ceil(size / m) * m / size;
  const { outH, outW } = geometry;
  return waste(outH, 4) * waste(outW, 4) <= F4_MAX_WASTE ? "F4x4" : "F2x2";
}

/**
 * See {@link winogradVariantFor}: 14×14 and 7×7 maps (1.306, the largest waste measured)
 * take F(4×4); 17×17 (1.38), 10×10 (1.44) and 6×6 (1.78) keep F(2×2).
 */
const F4_MAX_WASTE = 1.31;

function checkApplies(
  fn: string,
  g: WinogradGeometry,
  data: FloatArray,
  pass: "forward" | "backwardData",
): void {
  const dtype = data instanceof Float32Array ? "float32" : "float64";
  if (!winogradApplies(g, dtype, pass)) {
    throw new Error(
      `${fn}: Winograd needs float32, a 3×3 filter, stride 1, dilation 1, one group` +
        `${pass === "backwardData" ? ", pad ≤ 2" : ""} and the WebAssembly GEMM; got ` +
        `${dtype}, ${g.kernelH}×${g.kernelW}, stride ${g.stride}, dilation ${g.dilation}, ` +
        `${g.groups} groups, pad ${g.pad}`,
    );
  }
}

/**
 * How the parallel GEMMs (`gemm_parallel.ts`, `gemm_parallel_in_place.ts`) cut C into
 * tasks and hand them out: blocks of rows, one contiguous range per thread, or blocks of
 * columns claimed from a shared counter (guided self-scheduling).
 *
 * @module
 */

import type { ScratchBuffers } from "../scratch.ts";

/** Rows per task when cutting rows (a multiple of both kernels' 6-row tile). */
export const ROW_BLOCK = 6;
/** Columns per task when cutting columns (a multiple of both kernels' tile widths). */
export const COLUMN_BLOCK = 16;
/**
 * The smallest column range a thread claims, in multiply-adds: about 40 µs of work, so
 * the per-claim cost (a copy and pack of op(A), a few microseconds) stays small.
 */
const MIN_CLAIM_MULADDS = 1 << 21;

/** The shared state of one call's column claims. */
export interface ColumnClaims {
  /** Word 0: the next unclaimed column block. */
  next: Int32Array;
  /** Threads taking part. */
  threads: number;
  /** Smallest claim, in column blocks. */
  minClaim: number;
}

/**
 * Fresh claims for a product with M rows and depth K shared by `threads` threads; the
 * counter lives in `scratch` (shared memory) under the name `name`.
 */
export function columnClaims(
  scratch: ScratchBuffers,
  name: string,
  threads: number,
  M: number,
  K: number,
): ColumnClaims {
  const word = scratch.get(name, "float32", 1);
  const next = new Int32Array(word.buffer, word.byteOffset, 1);
  Atomics.store(next, 0, 0);
  return { next, threads, minClaim: Math.ceil(MIN_CLAIM_MULADDS / (COLUMN_BLOCK * M * K)) };
}

/**
 * Calls `run(start, end)` on column-block ranges claimed from `claims` until all `total`
 * blocks are taken: each claim is a share of what is left (half of it divided among the
 * threads), never less than `minClaim`, so claims shrink as the work runs out and a
 * thread that started late or runs slow simply takes fewer.
 */
export function forEachClaim(
  claims: ColumnClaims,
  total: number,
  run: (start: number, end: number) => void,
): void {
  const { next, threads, minClaim } = claims;
  for (;;) {
    const start = Atomics.load(next, 0);
    if (start >= total) return;
    const size = Math.max(minClaim, Math.ceil((total - start) / (2 * threads)));
    const end = Math.min(total, start + size);
    if (Atomics.compareExchange(next, 0, start, end) === start) run(start, end);
  }
}

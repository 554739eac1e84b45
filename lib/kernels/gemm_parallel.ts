/**
 * GEMM on the worker pool: the rows (or the columns) of C are cut into blocks, each thread
 * computes a contiguous range of blocks with its own WebAssembly instance — copying in and
 * packing its own share of the operands — and writes it straight into C.
 *
 * **Deterministic.** Every element of C is computed by exactly one thread, by the same
 * kernel with the same K-slicing as a one-thread `gemm` (the slicing depends on K only, and
 * a C element's arithmetic does not depend on where its row or column block starts), so
 * the result is bitwise identical to `gemm`'s for any number of threads.
 *
 * **Who computes what.** Cutting rows, each thread takes one contiguous range of row
 * blocks (every call copies and packs all of op(B), so one call per thread). Cutting
 * columns, each thread claims column ranges from a shared counter until none is left —
 * large ranges first, shrinking as the work runs out (guided self-scheduling) — so a
 * thread that starts late or runs slow (a busy core, a virtual CPU descheduled for a
 * moment) simply takes fewer: a column range costs only a copy of op(A), which is small
 * whenever cutting columns is chosen.
 *
 * **Which way to cut.** Cutting rows makes every thread copy and pack all of op(B);
 * cutting columns, all of op(A). The cut that duplicates less is taken, counting also the
 * per-row copies a column slice of an untransposed B (or a row slice of a transposed A)
 * needs. E.g. an affine forward `x (50×6272) · w (6272×100)` cuts rows (each thread copies
 * half of x and all of w in one piece each); its `dx = dout · wᵀ (50×6272)` cuts columns.
 *
 * @module
 */

import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { ScratchBuffers, sharedView } from "../scratch.ts";
import { dtypeOf, type FloatArray, isShared } from "../storage.ts";
import { checkGemmArgs } from "./_gemm_args.ts";
import {
  COLUMN_BLOCK,
  type ColumnClaims,
  columnClaims,
  forEachClaim,
  ROW_BLOCK,
} from "./_gemm_split.ts";
import { gemm, gemmMatchesWorkers } from "./gemm.ts";

/**
 * Below this many multiply-adds `M·N·K` (about 0.1 ms of one thread's work),
 * {@link gemmParallel} leaves a product on the calling thread: handing it out costs tens
 * of microseconds plus the copies.
 */
export const GEMM_PARALLEL_MIN_MULADDS: number = 1 << 22;

/**
 * What one `TypedArray.set` call costs, in copied elements: a column slice of a row-major
 * matrix is copied one row at a time.
 */
const COPY_CALL_COST = 100;

/** Shared copies of operands that were on plain memory. */
const sharedScratch = new ScratchBuffers({ shared: true });

interface GemmJob {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  A: FloatArray;
  lda: number;
  B: FloatArray;
  ldb: number;
  beta: number;
  C: FloatArray;
  ldc: number;
  /**
   * Null: tasks are blocks of ROW_BLOCK rows of C. Otherwise tasks are blocks of
   * COLUMN_BLOCK columns, and every thread runs the job once and claims ranges here.
   */
  claims: ColumnClaims | null;
}

/** Runs the blocks [t0, t1) of a {@link GemmJob} as one `gemm` call. */
function runBlocks(j: GemmJob, t0: number, t1: number): void {
  if (j.claims === null) {
    const r0 = t0 * ROW_BLOCK, r1 = Math.min(j.M, t1 * ROW_BLOCK);
    if (r0 >= r1) return;
    // Row r of op(A) starts at A[r·lda] (column r of A when transposed).
    const A = j.A.subarray(j.transA ? r0 : r0 * j.lda);
    gemm(
      j.transA,
      j.transB,
      r1 - r0,
      j.N,
      j.K,
      j.alpha,
      A,
      j.lda,
      j.B,
      j.ldb,
      j.beta,
      j.C.subarray(r0 * j.ldc),
      j.ldc,
    );
  } else {
    const c0 = t0 * COLUMN_BLOCK, c1 = Math.min(j.N, t1 * COLUMN_BLOCK);
    if (c0 >= c1) return;
    // Column c of op(B) starts at B[c] (row c of B when transposed).
    const B = j.B.subarray(j.transB ? c0 * j.ldb : c0);
    gemm(
      j.transA,
      j.transB,
      j.M,
      c1 - c0,
      j.K,
      j.alpha,
      j.A,
      j.lda,
      B,
      j.ldb,
      j.beta,
      j.C.subarray(c0),
      j.ldc,
    );
  }
}

// The pool's workers load this module, so they know the job registered below.
registerWorkerModule(import.meta.url);

registerJob("gemm.blocks", (j: GemmJob, t0: number, t1: number) => {
  if (j.claims === null) runBlocks(j, t0, t1);
  else forEachClaim(j.claims, Math.ceil(j.N / COLUMN_BLOCK), (s, e) => runBlocks(j, s, e));
});

/**
 * Same contract and result as {@link gemm} (bitwise: see the module notes), computed on the
 * worker pool when the product is large enough to pay for it; otherwise it simply calls
 * `gemm`. Operands on plain (non-shared) memory are copied to shared scratch first, and a
 * C on plain memory is computed there and copied back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemm } from "./gemm.ts";
 * import { gemmParallel } from "./gemm_parallel.ts";
 * const [M, N, K] = [300, 200, 100];
 * const A = new Float32Array(M * K).map((_, i) => Math.sin(i));
 * const B = new Float32Array(K * N).map((_, i) => Math.cos(i));
 * const C1 = new Float32Array(M * N), C2 = new Float32Array(M * N);
 * gemm(false, false, M, N, K, 1, A, K, B, N, 0, C1, N);
 * gemmParallel(false, false, M, N, K, 1, A, K, B, N, 0, C2, N);
 * assert.deepEqual(C2, C1);
 * ```
 */
export function gemmParallel(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: FloatArray,
  lda: number,
  B: FloatArray,
  ldb: number,
  beta: number,
  C: FloatArray,
  ldc: number,
): void {
  const spans = checkGemmArgs("gemmParallel", transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  const dtype = dtypeOf(C);
  const rowTasks = Math.ceil(M / ROW_BLOCK), columnTasks = Math.ceil(N / COLUMN_BLOCK);
  const worthIt = M * N * K >= GEMM_PARALLEL_MIN_MULADDS && alpha !== 0 &&
    // Mixed dtypes take the JavaScript kernel; a kernel other than the workers' would make
    // the bits depend on the split (see gemmMatchesWorkers).
    dtypeOf(A) === dtype && dtypeOf(B) === dtype && gemmMatchesWorkers() &&
    useParallel(Math.max(rowTasks, columnTasks));
  if (!worthIt) {
    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Elements every thread copies in beyond its own share, for each way of cutting.
  const rowCutCost = K * N + (transA ? K * COPY_CALL_COST : 0);
  const columnCutCost = M * K + (transB ? 0 : K * COPY_CALL_COST);
  const byRows = columnTasks < 2 || (rowTasks >= 2 && rowCutCost <= columnCutCost);
  const cSpan = spans.c;
  const cShared = isShared(C);
  const target = cShared ? C : sharedScratch.get("gemm.C", dtype, cSpan);
  if (!cShared && beta !== 0) target.set(C.subarray(0, cSpan));
  const job: GemmJob = {
    transA,
    transB,
    M,
    N,
    K,
    alpha,
    A: sharedView(A, sharedScratch, "gemm.A"),
    lda,
    B: sharedView(B, sharedScratch, "gemm.B"),
    ldb,
    beta,
    C: target,
    ldc,
    claims: null,
  };
  const pool = getPool();
  const threads = pool.activeThreads;
  if (!byRows) job.claims = columnClaims(sharedScratch, "gemm.next", threads, M, K);
  // Cutting columns, each thread runs the job once and claims its own ranges.
  pool.run("gemm.blocks", job, byRows ? rowTasks : Math.min(columnTasks, threads));
  if (!cShared) {
    // Only C's elements, not the gaps between its rows, which gemm leaves alone.
    if (ldc === N) C.set(target.subarray(0, M * N));
    else for (let i = 0; i < M; i++) C.set(target.subarray(i * ldc, i * ldc + N), i * ldc);
  }
}

/**
 * GEMM on the worker pool with the operands already in WebAssembly memory that every
 * thread shares: nothing is copied in or out, each thread's kernel instance packs its
 * share straight from the operands and writes its block of C in place.
 *
 * {@link gemmParallel} has to copy each thread's operands into that thread's own
 * WebAssembly memory, and copying out of a SharedArrayBuffer is slower than out of plain
 * memory (relaxed-atomic copies): on the 64×288×25088 im2col product one thread takes
 * ~10% longer on shared operands than on plain ones. Operands kept in the shared memory of
 * {@link sharedGemmInstance} avoid every copy, as the convolution layers' im2col columns
 * avoid them by being written straight into WebAssembly memory.
 *
 * One shared `WebAssembly.Memory` serves the whole process: the calling thread's instance
 * owns it (allocates operands in it, with `alloc`/`mark`/`release`); each pool worker runs
 * a guest instance on the same memory, whose packing scratch the owner reserves for the
 * duration of a call. Cutting rows or columns follows `gemmParallel`: the cut that
 * duplicates less packing, columns claimed from a shared counter. Results are bitwise
 * identical to a one-thread `gemmInPlace` for any thread count (each element of C is
 * computed by one thread, with the same K slicing).
 *
 * @module
 */

import { registerJob, registerWorkerModule, threadSlot } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { ScratchBuffers } from "../scratch.ts";
import type { DType } from "../storage.ts";
import {
  COLUMN_BLOCK,
  type ColumnClaims,
  columnClaims,
  forEachClaim,
  ROW_BLOCK,
} from "./_gemm_split.ts";
import { GEMM_PARALLEL_MIN_MULADDS } from "./gemm_parallel.ts";
import {
  checkInPlaceArgs,
  createGemmInstance,
  type GemmInstance,
  gemmScratchBytes,
} from "./wasm/gemm_instance.ts";

/** Largest size of the shared memory: 2 GiB (32,768 pages of 64 KiB), reserved lazily. */
const MAX_PAGES = 32768;

let owner: GemmInstance | null = null;

/**
 * The calling thread's GEMM instance on the process-wide shared WebAssembly memory:
 * allocate operands with its `alloc`, fill them through `view`, multiply them with
 * {@link gemmParallelInPlace} (or its own one-thread `gemmInPlace`), and free them with
 * `mark`/`release`. Created on first use; throws when WebAssembly SIMD is unavailable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sharedGemmInstance } from "./gemm_parallel_in_place.ts";
 * const inst = sharedGemmInstance();
 * assert.ok(inst.memory.buffer instanceof SharedArrayBuffer);
 * ```
 */
export function sharedGemmInstance(): GemmInstance {
  if (owner === null) {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    owner = createGemmInstance({ memory });
  }
  return owner;
}

interface InPlaceJob {
  memory: WebAssembly.Memory;
  relaxed: boolean;
  dtype: DType;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  a: number;
  lda: number;
  b: number;
  ldb: number;
  beta: number;
  c: number;
  ldc: number;
  /** Byte offset of each worker slot's packing scratch (index 0, the owner's, unused). */
  scratch: number[];
  /** Cutting columns: the claims; null when cutting rows. */
  claims: ColumnClaims | null;
}

/** This worker's guest instance on the shared memory (one per worker, made on first use). */
let guest: GemmInstance | null = null;

function instanceFor(j: InPlaceJob): GemmInstance {
  const slot = threadSlot();
  if (slot === 0) return sharedGemmInstance();
  // A worker sees the memory as a new object in every message; there is only one.
  guest ??= createGemmInstance({ memory: j.memory, relaxed: j.relaxed, guest: true });
  guest.useScratch(j.scratch[slot]);
  return guest;
}

/** Multiplies the row blocks [t0, t1) (or column blocks, when cutting columns) in place. */
function runBlocks(inst: GemmInstance, j: InPlaceJob, t0: number, t1: number): void {
  const bytes = j.dtype === "float32" ? 4 : 8;
  if (j.claims === null) {
    const r0 = t0 * ROW_BLOCK, r1 = Math.min(j.M, t1 * ROW_BLOCK);
    if (r0 >= r1) return;
    // Row r of op(A) starts at element r·lda of A (column r, i.e. element r, if transposed).
    const a = j.a + (j.transA ? r0 : r0 * j.lda) * bytes;
    const c = j.c + r0 * j.ldc * bytes;
    const { dtype, transA, transB, N, K, alpha, lda, b, ldb, beta, ldc } = j;
    inst.gemmInPlace(dtype, transA, transB, r1 - r0, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    const c0 = t0 * COLUMN_BLOCK, c1 = Math.min(j.N, t1 * COLUMN_BLOCK);
    if (c0 >= c1) return;
    // Column c of op(B) starts at element c of B (row c, i.e. element c·ldb, if transposed).
    const b = j.b + (j.transB ? c0 * j.ldb : c0) * bytes;
    const c = j.c + c0 * bytes;
    const { dtype, transA, transB, M, K, alpha, a, lda, ldb, beta, ldc } = j;
    inst.gemmInPlace(dtype, transA, transB, M, c1 - c0, K, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// The pool's workers load this module, so they know the job registered below.
registerWorkerModule(import.meta.url);

registerJob("gemm.inPlace", (j: InPlaceJob, t0: number, t1: number) => {
  const inst = instanceFor(j);
  if (j.claims === null) runBlocks(inst, j, t0, t1);
  else forEachClaim(j.claims, Math.ceil(j.N / COLUMN_BLOCK), (s, e) => runBlocks(inst, j, s, e));
});

/** The claim counter's home. */
const sharedScratch = new ScratchBuffers({ shared: true });

/**
 * `C = alpha · op(A) · op(B) + beta · C` on the worker pool, on operands that live in the
 * memory of {@link sharedGemmInstance}: `a`, `b`, `c` are byte offsets from its `alloc`,
 * leading dimensions are in elements. Same contract and bitwise the same result as that
 * instance's one-thread `gemmInPlace`; small products simply run there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemmParallelInPlace, sharedGemmInstance } from "./gemm_parallel_in_place.ts";
 * const inst = sharedGemmInstance();
 * const mark = inst.mark();
 * const [M, N, K] = [96, 1000, 64];
 * const a = inst.alloc("float32", M * K), b = inst.alloc("float32", K * N);
 * const c = inst.alloc("float32", M * N), c1 = inst.alloc("float32", M * N);
 * inst.view("float32", a, M * K).forEach((_, i, v) => v[i] = Math.sin(i));
 * inst.view("float32", b, K * N).forEach((_, i, v) => v[i] = Math.cos(i));
 * gemmParallelInPlace("float32", false, false, M, N, K, 1, a, K, b, N, 0, c, N);
 * inst.gemmInPlace("float32", false, false, M, N, K, 1, a, K, b, N, 0, c1, N);
 * assert.deepEqual(inst.view("float32", c, M * N), inst.view("float32", c1, M * N));
 * inst.release(mark);
 * ```
 */
export function gemmParallelInPlace(
  dtype: DType,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  beta: number,
  c: number,
  ldc: number,
): void {
  const inst = sharedGemmInstance();
  const { memory } = inst;
  checkInPlaceArgs(
    "gemmParallelInPlace",
    memory,
    dtype,
    transA,
    transB,
    M,
    N,
    K,
    alpha,
    a,
    lda,
    b,
    ldb,
    c,
    ldc,
  );
  const rowTasks = Math.ceil(M / ROW_BLOCK), columnTasks = Math.ceil(N / COLUMN_BLOCK);
  const worthIt = M * N * K >= GEMM_PARALLEL_MIN_MULADDS && alpha !== 0 &&
    useParallel(Math.max(rowTasks, columnTasks));
  if (!worthIt) {
    inst.gemmInPlace(dtype, transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Every thread packs all of op(B) when cutting rows, all of op(A) when cutting columns.
  const byRows = columnTasks < 2 || (rowTasks >= 2 && N <= M);
  const pool = getPool();
  const threads = pool.activeThreads;
  const mark = inst.mark();
  try {
    // Packing scratch for each worker slot, for this call only (alloc may grow the memory:
    // offsets stay valid, and every thread sees the new size).
    const scratch = [-1];
    for (let slot = 1; slot < pool.numThreads; slot++) {
      scratch.push(inst.alloc("float32", gemmScratchBytes() / 4));
    }
    const job: InPlaceJob = {
      memory,
      relaxed: inst.info.relaxed,
      dtype,
      transA,
      transB,
      M,
      N,
      K,
      alpha,
      a,
      lda,
      b,
      ldb,
      beta,
      c,
      ldc,
      scratch,
      claims: byRows ? null : columnClaims(sharedScratch, "gemm.inPlace.next", threads, M, K),
    };
    pool.run("gemm.inPlace", job, byRows ? rowTasks : Math.min(columnTasks, threads));
  } finally {
    inst.release(mark);
  }
}

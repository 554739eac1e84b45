/**
 * Argument validation shared by every GEMM entry point (the front door in `gemm.ts`, the
 * reference loop, and the WebAssembly instance API), so all report errors the same way.
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";

/** Elements spanned by each operand, as returned by {@link checkGemmArgs}. */
export interface GemmSpans {
  /** Elements of A from its first to its last used element. */
  a: number;
  /** Same for B. */
  b: number;
  /** Same for C. */
  c: number;
}

/**
 * BLAS-style checks of `gemm`'s arguments: sizes are non-negative integers, leading
 * dimensions cover a row, and each array is long enough. `fn` prefixes the messages;
 * each names the argument and both the expected and the actual value. Returns how many
 * elements each operand spans from its start.
 */
export function checkGemmArgs(
  fn: string,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: { length: number },
  lda: number,
  B: { length: number },
  ldb: number,
  C: { length: number },
  ldc: number,
): GemmSpans {
  for (const [name, v] of [["M", M], ["N", N], ["K", K]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`${fn}: ${name} must be a non-negative integer, got ${v}`);
    }
  }
  return {
    a: checkMatrix(fn, "a", A.length, lda, transA ? K : M, transA ? M : K),
    b: checkMatrix(fn, "b", B.length, ldb, transB ? N : K, transB ? K : N),
    c: checkMatrix(fn, "c", C.length, ldc, M, N),
  };
}

/**
 * Checks that a `rows`×`cols` row-major matrix with leading dimension `ld` fits in
 * `length` elements; returns the number of elements it spans.
 */
export function checkMatrix(
  fn: string,
  name: string,
  length: number,
  ld: number,
  rows: number,
  cols: number,
): number {
  if (!Number.isInteger(ld) || ld < Math.max(1, cols)) {
    throw new Error(`${fn}: ld${name} must be an integer ≥ ${Math.max(1, cols)}, got ${ld}`);
  }
  const span = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  if (length < span) {
    throw new Error(
      `${fn}: ${name} needs at least ${span} elements for a ${rows}×${cols} matrix with ` +
        `ld${name}=${ld}, got ${length}`,
    );
  }
  return span;
}

/** `C = beta · C` on an M×N block (C is not read when beta = 0): the K = 0 / alpha = 0 case. */
export function scaleC(M: number, N: number, beta: number, C: FloatArray, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < M; i++) {
    const row = i * ldc;
    if (beta === 0) C.fill(0, row, row + N);
    else for (let j = row; j < row + N; j++) C[j] *= beta;
  }
}

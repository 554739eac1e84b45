/**
 * The JavaScript GEMM kernel: the fallback when WebAssembly SIMD is unavailable (or the
 * operands mix float32 and float64), and the readable reference for the WebAssembly one,
 * which follows the same structure.
 *
 * The structure follows the BLIS/GotoBLAS recipe: the K dimension is cut into blocks that
 * fit the L2 cache, blocks of A and B are packed into contiguous micro-panels (so the inner
 * loop reads memory strictly sequentially, whatever the transposition), and a 4×4
 * register-tiled micro-kernel accumulates 16 outputs in local variables. Both dtypes are
 * packed into Float64Array panels so the micro-kernel only ever sees one array type (V8
 * then compiles it monomorphically) and accumulates in double precision.
 *
 * V8 does not vectorise JavaScript, so this tops out near 5 GFLOP/s per core; see
 * `wasm/gemm_module.ts` for the SIMD kernel.
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";
import { scaleC } from "./_gemm_args.ts";

/** Rows of a micro-tile of C (rows of op(A) per packed panel). */
const MR = 4;
/** Columns of a micro-tile of C (columns of op(B) per packed panel). */
const NR = 4;
/** Depth of a packed block: KC×NR doubles of B (8 KiB) stay in L1 across a column panel. */
const KC = 256;
/** Rows of A per packed block: MC×KC doubles (192 KiB) stay in L2. */
const MC = 96;
/** Columns of B per packed block. */
const NC = 2048;

// Packing scratch is reused across calls: fresh large allocations cost page faults.
let packedA = new Float64Array(MC * KC);
let packedB = new Float64Array(KC * NC);

/**
 * `C = alpha * op(A) · op(B) + beta * C` in JavaScript, with the contract of `gemm` in
 * `./gemm.ts` (which validates the arguments: this kernel assumes they are valid).
 * A, B and C may be Float32Array or Float64Array in any mix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemmJs } from "./gemm_js.ts";
 * const a = new Float32Array([1, 2, 3, 4]); // [[1, 2], [3, 4]]
 * const c = new Float32Array(4);
 * gemmJs(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2); // c = a · a
 * assert.deepEqual([...c], [7, 10, 15, 22]);
 * ```
 */
export function gemmJs(
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
  if (M === 0 || N === 0) return;
  scaleC(M, N, beta, C, ldc);
  if (alpha === 0 || K === 0) return;

  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const bPanels = Math.ceil(nc / NR);
      if (packedB.length < bPanels * NR * kc) packedB = new Float64Array(bPanels * NR * kc);
      packB(transB, B, ldb, pc, kc, jc, nc, packedB);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        const aPanels = Math.ceil(mc / MR);
        if (packedA.length < aPanels * MR * kc) packedA = new Float64Array(aPanels * MR * kc);
        packA(transA, A, lda, ic, mc, pc, kc, packedA);
        for (let jp = 0; jp < bPanels; jp++) {
          const nr = Math.min(NR, nc - jp * NR);
          for (let ip = 0; ip < aPanels; ip++) {
            const mr = Math.min(MR, mc - ip * MR);
            microKernel4x4(
              kc,
              packedA,
              ip * MR * kc,
              packedB,
              jp * NR * kc,
              alpha,
              C,
              (ic + ip * MR) * ldc + jc + jp * NR,
              ldc,
              mr,
              nr,
            );
          }
        }
      }
    }
  }
}

/**
 * Packs rows [i0, i0+mc) × depth [p0, p0+kc) of op(A) into MR-row micro-panels:
 * panel q holds element (i0 + q*MR + r, p0 + p) at q*MR*kc + p*MR + r, zero-padded.
 */
function packA(
  transA: boolean,
  A: FloatArray,
  lda: number,
  i0: number,
  mc: number,
  p0: number,
  kc: number,
  out: Float64Array,
): void {
  for (let q = 0; q * MR < mc; q++) {
    const base = q * MR * kc;
    for (let r = 0; r < MR; r++) {
      const i = q * MR + r;
      if (i >= mc) {
        for (let p = 0; p < kc; p++) out[base + p * MR + r] = 0;
      } else if (!transA) {
        const src = (i0 + i) * lda + p0;
        for (let p = 0; p < kc; p++) out[base + p * MR + r] = A[src + p];
      } else {
        let src = p0 * lda + i0 + i;
        for (let p = 0; p < kc; p++, src += lda) out[base + p * MR + r] = A[src];
      }
    }
  }
}

/**
 * Packs depth [p0, p0+kc) × columns [j0, j0+nc) of op(B) into NR-column micro-panels:
 * panel q holds element (p0 + p, j0 + q*NR + c) at q*NR*kc + p*NR + c, zero-padded.
 */
function packB(
  transB: boolean,
  B: FloatArray,
  ldb: number,
  p0: number,
  kc: number,
  j0: number,
  nc: number,
  out: Float64Array,
): void {
  for (let q = 0; q * NR < nc; q++) {
    const base = q * NR * kc;
    const width = Math.min(NR, nc - q * NR);
    if (!transB && width === NR) {
      // Fast path: four contiguous elements of a row of B per depth step.
      let src = p0 * ldb + j0 + q * NR;
      for (let p = 0, o = base; p < kc; p++, o += NR, src += ldb) {
        out[o] = B[src];
        out[o + 1] = B[src + 1];
        out[o + 2] = B[src + 2];
        out[o + 3] = B[src + 3];
      }
      continue;
    }
    for (let c = 0; c < NR; c++) {
      const j = q * NR + c;
      if (c >= width) {
        for (let p = 0; p < kc; p++) out[base + p * NR + c] = 0;
      } else if (!transB) {
        let src = p0 * ldb + j0 + j;
        for (let p = 0; p < kc; p++, src += ldb) out[base + p * NR + c] = B[src];
      } else {
        const src = (j0 + j) * ldb + p0;
        for (let p = 0; p < kc; p++) out[base + p * NR + c] = B[src + p];
      }
    }
  }
}

/**
 * The inner loop: a 4×4 tile of C accumulated in 16 locals over `kc` depth steps of the
 * packed panels, then `alpha` times it added into C (only the `mr × nr` valid part).
 * This function is where nearly all the time of a large product goes.
 */
function microKernel4x4(
  kc: number,
  a: Float64Array,
  aOff: number,
  b: Float64Array,
  bOff: number,
  alpha: number,
  C: FloatArray,
  cOff: number,
  ldc: number,
  mr: number,
  nr: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let ai = aOff, bi = bOff;
  for (let p = 0; p < kc; p++, ai += 4, bi += 4) {
    const a0 = a[ai], a1 = a[ai + 1], a2 = a[ai + 2], a3 = a[ai + 3];
    const b0 = b[bi], b1 = b[bi + 1], b2 = b[bi + 2], b3 = b[bi + 3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    c30 += a3 * b0;
    c31 += a3 * b1;
    c32 += a3 * b2;
    c33 += a3 * b3;
  }
  if (mr === 4 && nr === 4) {
    let o = cOff;
    C[o] += alpha * c00;
    C[o + 1] += alpha * c01;
    C[o + 2] += alpha * c02;
    C[o + 3] += alpha * c03;
    o += ldc;
    C[o] += alpha * c10;
    C[o + 1] += alpha * c11;
    C[o + 2] += alpha * c12;
    C[o + 3] += alpha * c13;
    o += ldc;
    C[o] += alpha * c20;
    C[o + 1] += alpha * c21;
    C[o + 2] += alpha * c22;
    C[o + 3] += alpha * c23;
    o += ldc;
    C[o] += alpha * c30;
    C[o + 1] += alpha * c31;
    C[o + 2] += alpha * c32;
    C[o + 3] += alpha * c33;
    return;
  }
  // Edge tile: write back only the valid rows and columns.
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < mr; r++) {
    for (let c = 0; c < nr; c++) C[cOff + r * ldc + c] += alpha * tile[r * 4 + c];
  }
}

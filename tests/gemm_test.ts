import assert from "node:assert/strict";
import { gemm, gemmReference } from "../lib/kernels/gemm.ts";
import { Rng } from "../lib/rng.ts";

function randomArray(n: number, rng: Rng, f32: boolean): Float32Array | Float64Array {
  const a = f32 ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

Deno.test("gemm matches the reference triple loop", async (t) => {
  const rng = new Rng(1);
  // Sizes straddle the micro-tile (4), the row block (96) and the depth block (256).
  const shapes = [[1, 1, 1], [3, 5, 7], [4, 4, 4], [97, 13, 257], [130, 70, 300], [5, 9, 0]];
  for (const f32 of [false, true]) {
    for (const [M, N, K] of shapes) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          await t.step(`${f32 ? "f32" : "f64"} ${M}x${N}x${K} tA=${transA} tB=${transB}`, () => {
            const lda = (transA ? M : K) + 2, ldb = (transB ? K : N) + 1, ldc = N + 3;
            const A = randomArray(((transA ? K : M) || 1) * lda, rng, f32);
            const B = randomArray(((transB ? N : K) || 1) * ldb, rng, f32);
            const C = randomArray(M * ldc, rng, f32);
            const expected = C.slice();
            gemm(transA, transB, M, N, K, 0.7, A, lda, B, ldb, -0.3, C, ldc);
            gemmReference(transA, transB, M, N, K, 0.7, A, lda, B, ldb, -0.3, expected, ldc);
            const tol = f32 ? 1e-4 : 1e-12;
            for (let i = 0; i < C.length; i++) {
              const scale = Math.max(1, Math.abs(expected[i]));
              assert.ok(
                Math.abs(C[i] - expected[i]) <= tol * scale,
                `element ${i}: ${C[i]} vs ${expected[i]}`,
              );
            }
          });
        }
      }
    }
  }
});

Deno.test("gemm with beta = 0 ignores NaN in C and leaves padding columns alone", () => {
  const A = new Float64Array([1, 2, 3, 4]);
  const C = new Float64Array([NaN, NaN, 99, NaN, NaN, 99]);
  gemm(false, false, 2, 2, 2, 1, A, 2, A, 2, 0, C, 3);
  assert.deepEqual([...C], [7, 10, 99, 15, 22, 99]);
});

Deno.test("gemm validates its arguments", () => {
  const a = new Float64Array(6);
  assert.throws(
    () => gemm(false, false, 2, 2, 3, 1, a, 3, new Float64Array(4), 2, 0, new Float64Array(4), 2),
    /gemm: b needs at least 6 elements/,
  );
  assert.throws(
    () => gemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, new Float64Array(4), 2),
    /gemm: lda must be an integer ≥ 3, got 2/,
  );
  assert.throws(
    () => gemm(false, false, -1, 2, 3, 1, a, 3, a, 2, 0, a, 2),
    /gemm: M must be a non-negative integer, got -1/,
  );
});

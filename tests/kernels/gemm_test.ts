import assert from "node:assert/strict";
import {
  gemm,
  gemmInstance,
  gemmKernelInfo,
  gemmReference,
  setGemmKernel,
} from "../../lib/kernels/gemm.ts";
import { gemmJs } from "../../lib/kernels/gemm_js.ts";
import { wasmFeatures } from "../../lib/kernels/wasm/features.ts";
import { createGemmInstance } from "../../lib/kernels/wasm/gemm_instance.ts";
import { GEMM_BLOCKING } from "../../lib/kernels/wasm/gemm_module.ts";
import { Rng } from "../../lib/rng.ts";
import type { DType, FloatArray } from "../../lib/storage.ts";

type GemmFn = typeof gemm;

/** Every kernel variant, each run on both dtypes against the reference triple loop. */
const { simd, relaxedSimd } = wasmFeatures();
const kernels: { name: string; ignore: boolean; make: () => GemmFn }[] = [
  { name: "js", ignore: false, make: () => gemmJs },
  {
    name: "wasm relaxed_madd",
    ignore: !relaxedSimd,
    make: () => {
      const inst = createGemmInstance({ relaxed: true });
      return inst.gemm.bind(inst);
    },
  },
  {
    name: "wasm mul+add",
    ignore: !simd,
    make: () => {
      const inst = createGemmInstance({ relaxed: false });
      return inst.gemm.bind(inst);
    },
  },
  { name: "gemm (default kernel)", ignore: false, make: () => gemm },
];

/** Unit roundoff of each dtype. */
const UNIT_ROUNDOFF: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };

/** Higham's γ_n = n·u / (1 − n·u): the relative error bound of n chained roundings. */
function gamma(n: number, u: number): number {
  return (n * u) / (1 - n * u);
}

interface Case {
  label: string;
  dtype: DType;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  A: FloatArray;
  lda: number;
  B: FloatArray;
  ldb: number;
  C: FloatArray;
  ldc: number;
  /** The exact-ish result: the reference loop in float64 on the same inputs. */
  expected: Float64Array;
  /** Per-element error bound (see `buildCases`). */
  tolerance: Float64Array;
}

// Shapes straddle every blocking boundary of both kernels: the JS 4×4 tile, the WASM
// 6×8 (float32) and 6×4 (float64) tiles, K % 4 (the unroll remainder), the K slices
// (JS 256; WASM 384 / 256), the row blocks (JS 96; WASM 192 / 96) and the column blocks
// (JS 2048; WASM 4096 / 2048). Degenerate sizes are included.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [6, 8, 4],
  [12, 16, 8],
  [7, 9, 5],
  [13, 17, 3],
  [97, 13, 257],
  [200, 70, 400],
  [7, 4100, 5],
  [5, 9, 0],
  [0, 3, 4],
  [4, 0, 3],
];
assert.ok(SHAPES.some(([M]) => M > GEMM_BLOCKING.float32.MC), "a shape spans two row blocks");
assert.ok(SHAPES.some(([, , K]) => K > GEMM_BLOCKING.float32.KC), "a shape spans two K slices");
assert.ok(SHAPES.some(([, N]) => N > GEMM_BLOCKING.float32.NC), "a shape spans two col blocks");

function randomArray(n: number, rng: Rng, dtype: DType): FloatArray {
  const a = dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

const abs = (x: FloatArray): Float64Array => Float64Array.from(x, Math.abs);

/**
 * All cases with their expected results and error bounds, computed once.
 *
 * Tolerance: any summation order of K products, fused or not, is within γ_K·Σ|a||b| of
 * the exact sum (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1). Scaling
 * by alpha (itself rounded to the dtype), adding beta·c (beta rounded, one multiply, one
 * add) and accumulating K slices into C add at most 4 roundings along any path, so each
 * kernel is within γ_{K+4}·(|alpha|·Σ|a||b| + |beta|·|c|) in its own precision; the
 * reference in float64 adds γ_{K+2} at float64 precision. A wrong index, a missed or
 * doubled term changes an element by about one |a·b| ~ 1, far above this bound (≤ 1e-2
 * here), so the bound is tight enough to catch every indexing bug.
 */
function buildCases(): Case[] {
  const rng = new Rng(1);
  const cases: Case[] = [];
  for (const dtype of ["float32", "float64"] as const) {
    for (const [M, N, K] of SHAPES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const beta of [0, -0.3, 1]) {
            const alpha = 0.7;
            // Leading dimensions larger than a row, so padding must be skipped (and kept).
            const lda = (transA ? M : K) + 2, ldb = (transB ? K : N) + 1, ldc = N + 3;
            const A = randomArray(((transA ? K : M) || 1) * lda, rng, dtype);
            const B = randomArray(((transB ? N : K) || 1) * ldb, rng, dtype);
            const C = randomArray(Math.max(M, 1) * ldc, rng, dtype);
            if (beta === 0) {
              // beta = 0 must not read C, even NaN (padding columns stay NaN too).
              C.fill(NaN);
            }
            const expected = Float64Array.from(C);
            gemmReference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, expected, ldc);
            const tolerance = beta === 0 ? new Float64Array(C.length) : abs(C);
            const magnitude = Math.abs(beta);
            gemmReference(
              transA,
              transB,
              M,
              N,
              K,
              alpha,
              abs(A),
              lda,
              abs(B),
              ldb,
              magnitude,
              tolerance,
              ldc,
            );
            const relative = gamma(K + 4, UNIT_ROUNDOFF[dtype]) + gamma(K + 2, 2 ** -53);
            for (let i = 0; i < tolerance.length; i++) tolerance[i] *= relative;
            cases.push({
              label: `${M}×${N}×${K} transA=${transA} transB=${transB} beta=${beta}`,
              dtype,
              transA,
              transB,
              M,
              N,
              K,
              alpha,
              beta,
              A,
              lda,
              B,
              ldb,
              C,
              ldc,
              expected,
              tolerance,
            });
          }
        }
      }
    }
  }
  return cases;
}

const cases = buildCases();

function checkResult(kernel: string, c: Case, got: FloatArray): void {
  for (let i = 0; i < got.length; i++) {
    const inside = Math.floor(i / c.ldc) < c.M && i % c.ldc < c.N;
    if (!inside) {
      assert.ok(
        Object.is(got[i], c.C[i]),
        `${kernel} ${c.dtype} ${c.label}: padding element ${i} changed from ${c.C[i]} to ${got[i]}`,
      );
      continue;
    }
    const err = Math.abs(got[i] - c.expected[i]);
    assert.ok(
      err <= c.tolerance[i],
      `${kernel} ${c.dtype} ${c.label}: element ${i} is ${got[i]}, expected ${c.expected[i]} ± ${
        c.tolerance[i]
      }`,
    );
  }
}

Deno.test("every GEMM kernel matches the reference triple loop", async (t) => {
  for (const kernel of kernels) {
    for (const dtype of ["float32", "float64"] as const) {
      await t.step({
        name: `${kernel.name} ${dtype}`,
        ignore: kernel.ignore,
        fn: () => {
          const run = kernel.make();
          for (const c of cases.filter((c) => c.dtype === dtype)) {
            const C = c.C.slice();
            run(
              c.transA,
              c.transB,
              c.M,
              c.N,
              c.K,
              c.alpha,
              c.A,
              c.lda,
              c.B,
              c.ldb,
              c.beta,
              C,
              c.ldc,
            );
            checkResult(kernel.name, c, C);
          }
        },
      });
    }
  }
});

Deno.test("every GEMM kernel skips A and B when alpha = 0 and C when beta = 0", async (t) => {
  for (const kernel of kernels) {
    await t.step({
      name: kernel.name,
      ignore: kernel.ignore,
      fn: () => {
        const run = kernel.make();
        for (const T of [Float32Array, Float64Array]) {
          const nan = new T(6).fill(NaN);
          const C = new T([1, 2, 3, 4, 5, 6]);
          run(false, false, 2, 3, 2, 0, nan, 2, nan, 3, 0.5, C, 3);
          assert.deepEqual([...C], [0.5, 1, 1.5, 2, 2.5, 3]);
          const A = new T([1, 2, 3, 4]);
          const D = new T([NaN, NaN, 99, NaN, NaN, 99]);
          run(false, false, 2, 2, 2, 1, A, 2, A, 2, 0, D, 3);
          assert.deepEqual([...D], [7, 10, 99, 15, 22, 99]);
        }
      },
    });
  }
});

Deno.test("gemm takes the JS kernel for mixed dtypes and stays correct", () => {
  const A = new Float32Array([1, 2, 3, 4]);
  const B = new Float64Array([0.5, 0.25, 1, 2]);
  const C = new Float64Array(4);
  gemm(false, false, 2, 2, 2, 1, A, 2, B, 2, 0, C, 2);
  assert.deepEqual([...C], [2.5, 4.25, 5.5, 8.75]);
});

Deno.test("setGemmKernel switches kernels and gemmKernelInfo reports them", () => {
  try {
    const js = setGemmKernel("js");
    assert.deepEqual([js.name, js.simd, js.relaxed], ["js", false, false]);
    assert.equal(gemmKernelInfo().name, "js");
    assert.equal(gemmInstance(), null);
    const auto = setGemmKernel("auto");
    assert.equal(auto.name, simd ? "wasm" : "js");
    assert.equal(auto.relaxed, relaxedSimd);
    if (simd) {
      const plain = setGemmKernel("wasm", { relaxed: false });
      assert.deepEqual([plain.name, plain.simd, plain.relaxed], ["wasm", true, false]);
      assert.match(plain.description, /mul \+ add/);
      assert.equal(gemmInstance()?.info.relaxed, false);
      const c = new Float32Array(1);
      gemm(false, false, 1, 1, 1, 1, new Float32Array([3]), 1, new Float32Array([4]), 1, 0, c, 1);
      assert.equal(c[0], 12);
    }
    assert.throws(
      () => setGemmKernel("gpu" as "js"),
      /setGemmKernel: kernel must be "auto", "wasm" or "js", got "gpu"/,
    );
  } finally {
    setGemmKernel("auto");
  }
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
  assert.throws(
    () => gemmReference(false, false, 2, 2, 3, 1, a, 3, a, 2, 0, new Float64Array(3), 2),
    /gemmReference: c needs at least 4 elements for a 2×2 matrix with ldc=2, got 3/,
  );
});

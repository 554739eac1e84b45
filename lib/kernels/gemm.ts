/**
 * General matrix multiply, the only place in the library where matrix products are
 * computed: `C = alpha * op(A) * op(B) + beta * C` on row-major storage.
 *
 * This file is the front door: it validates the arguments and hands them to a kernel.
 * Kernels share one contract and are interchangeable:
 * - WebAssembly SIMD (`wasm/`), emitted by our own TypeScript at load time: f32x4 / f64x2
 *   register tiles with fused multiply-add where the engine has relaxed SIMD. This is the
 *   default whenever the engine supports WebAssembly SIMD (Deno does, with no flags).
 * - JavaScript (`gemm_js.ts`): the fallback, and the readable version of the same
 *   algorithm. It also handles calls that mix float32 and float64 operands.
 * - {@link gemmReference}: the textbook triple loop every kernel is tested against.
 *
 * {@link gemmKernelInfo} says which kernel runs; {@link setGemmKernel} picks one (for
 * tests and benchmarks); {@link gemmInstance} gives the WebAssembly instance itself, for
 * callers that keep operands in its memory. Use `subarray` to pass an offset into a
 * larger buffer.
 *
 * @module
 */

import { dtypeOf, type FloatArray } from "../storage.ts";
import { checkGemmArgs } from "./_gemm_args.ts";
import { gemmJs } from "./gemm_js.ts";
import { wasmFeatures } from "./wasm/features.ts";
import {
  createGemmInstance,
  defaultGemmInstance,
  type GemmInstance,
  type GemmKernelInfo,
} from "./wasm/gemm_instance.ts";

export type { GemmInstance, GemmKernelInfo } from "./wasm/gemm_instance.ts";

/** Which kernel {@link setGemmKernel} selects: `"auto"` is WebAssembly when available. */
export type GemmKernelChoice = "auto" | "wasm" | "js";

const JS_INFO: GemmKernelInfo = {
  name: "js",
  simd: false,
  relaxed: false,
  description: "JavaScript 4×4 register tile over packed float64 panels",
};

/** The WebAssembly instance in use, null for the JS kernel, undefined until first use. */
let active: GemmInstance | null | undefined;
/** Why "auto" fell back to JavaScript, if it did. */
let fallbackReason = "";

function activeInstance(): GemmInstance | null {
  if (active === undefined) selectAuto(defaultGemmInstance);
  return active as GemmInstance | null;
}

/** WebAssembly if `make` succeeds, else JavaScript (remembering why). */
function selectAuto(make: () => GemmInstance): void {
  try {
    active = make();
    fallbackReason = "";
  } catch (e) {
    active = null;
    fallbackReason = (e as Error).message;
  }
}

/**
 * The WebAssembly instance behind `gemm` on this thread, or null when the JavaScript
 * kernel is selected. Code that keeps operands in WebAssembly memory (e.g. im2col columns
 * written straight into it) uses its `alloc`, `view` and `gemmInPlace`, and falls back to
 * `gemm` on ordinary arrays when this is null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemmInstance, gemmKernelInfo } from "./gemm.ts";
 * assert.equal(gemmInstance() !== null, gemmKernelInfo().name === "wasm");
 * ```
 */
export function gemmInstance(): GemmInstance | null {
  return activeInstance();
}

/**
 * Whether this thread multiplies exactly as the worker pool's threads do. Workers always
 * use the default kernel (WebAssembly, fused multiply-adds wherever relaxed SIMD exists;
 * JavaScript on an engine without SIMD);
 * after `setGemmKernel("js")` or `setGemmKernel("wasm", { relaxed })` with the other
 * choice, this thread rounds differently, so code that would multiply on both sides stays
 * on this thread instead: results must not depend on which thread took which task.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemmMatchesWorkers, setGemmKernel } from "./gemm.ts";
 * import { wasmFeatures } from "./wasm/features.ts";
 * setGemmKernel("js"); // the workers' kernel only where there is no SIMD
 * assert.equal(gemmMatchesWorkers(), !wasmFeatures().simd);
 * setGemmKernel("auto");
 * assert.equal(gemmMatchesWorkers(), true);
 * ```
 */
export function gemmMatchesWorkers(): boolean {
  const instance = activeInstance();
  // Without SIMD the workers fall back to the JavaScript kernel too.
  if (instance === null) return !wasmFeatures().simd;
  return instance.info.relaxed === wasmFeatures().relaxedSimd;
}

/**
 * Describes the kernel that `gemm` uses for operands of one dtype (mixed float32/float64
 * operands always take the JavaScript kernel).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemmKernelInfo } from "./gemm.ts";
 * const info = gemmKernelInfo();
 * assert.ok(info.name === "wasm" || info.name === "js");
 * console.log(info.description);
 * ```
 */
export function gemmKernelInfo(): GemmKernelInfo {
  const instance = activeInstance();
  if (instance) return instance.info;
  return fallbackReason === ""
    ? JS_INFO
    : { ...JS_INFO, description: `${JS_INFO.description} (WebAssembly: ${fallbackReason})` };
}

/**
 * Selects the kernel behind `gemm` on this thread and returns its description.
 * `"auto"` (the initial state) takes WebAssembly SIMD when the engine supports it,
 * else JavaScript; `"wasm"` insists on it (throws if unsupported); `"js"` forces the
 * JavaScript kernel. `options.relaxed` picks the fused multiply-add variant or not
 * (default: fused when supported).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setGemmKernel } from "./gemm.ts";
 * assert.equal(setGemmKernel("js").name, "js");
 * setGemmKernel("auto");
 * ```
 */
export function setGemmKernel(
  kernel: GemmKernelChoice,
  options: { relaxed?: boolean } = {},
): GemmKernelInfo {
  if (kernel === "js") {
    active = null;
    fallbackReason = "";
  } else if (kernel === "auto" || kernel === "wasm") {
    const { relaxed } = options;
    const wantsDefault = relaxed === undefined || relaxed === wasmFeatures().relaxedSimd;
    const make = () => wantsDefault ? defaultGemmInstance() : createGemmInstance({ relaxed });
    if (kernel === "wasm") {
      active = make(); // throws if unsupported: the caller insisted
      fallbackReason = "";
    } else {
      selectAuto(make);
    }
  } else {
    throw new Error(
      `setGemmKernel: kernel must be "auto", "wasm" or "js", got ${JSON.stringify(kernel)}`,
    );
  }
  return gemmKernelInfo();
}

/**
 * Computes `C = alpha * op(A) · op(B) + beta * C` where `op(X)` is `X` or its transpose.
 *
 * All matrices are row-major: element (i, j) of a matrix with leading dimension `ld` is at
 * `i * ld + j`. `op(A)` is M×K, `op(B)` is K×N, `C` is M×N. With `beta = 0`, C is not
 * read (so it may hold NaN); with `alpha = 0` or `K = 0`, A and B are not read. A, B and C
 * may be Float32Array or Float64Array in any mix.
 *
 * Precision: float64 operands are computed in float64. Float32 operands are accumulated in
 * float32 by the WebAssembly kernel (error within about K·2⁻²⁴·Σ|a||b|, like BLAS
 * `sgemm`) and in float64 by the JavaScript kernel. Relaxed SIMD lets the engine fuse the
 * multiply-adds or not, so the last bits may differ between machines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gemm } from "./gemm.ts";
 * const a = new Float64Array([1, 2, 3, 4]); // [[1, 2], [3, 4]]
 * const c = new Float64Array(4);
 * gemm(false, true, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2); // c = a · aᵀ
 * assert.deepEqual([...c], [5, 11, 11, 25]);
 * ```
 */
export function gemm(
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
  checkGemmArgs("gemm", transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  const instance = activeInstance();
  const dtype = dtypeOf(C);
  if (instance && dtypeOf(A) === dtype && dtypeOf(B) === dtype) {
    instance.gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    gemmJs(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

/**
 * The textbook triple loop, `C = alpha * op(A) · op(B) + beta * C`: the readable
 * reference that tests compare {@link gemm} against.
 */
export function gemmReference(
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
  checkGemmArgs("gemmReference", transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * lda + i] : A[i * lda + p];
        const b = transB ? B[j * ldb + p] : B[p * ldb + j];
        acc += a * b;
      }
      const prev = beta === 0 ? 0 : beta * C[i * ldc + j];
      C[i * ldc + j] = prev + alpha * acc;
    }
  }
}

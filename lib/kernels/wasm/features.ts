/**
 * Feature detection for the WebAssembly kernels: each feature is probed by validating a
 * tiny module (emitted with our builder) that uses it, which is cheap, synchronous and
 * needs no permission.
 *
 * @module
 */

import { f32x4, ModuleBuilder, v128 } from "./builder.ts";

/** Which optional WebAssembly features the running engine supports. */
export interface WasmFeatures {
  /** WebAssembly itself (false e.g. under `--jitless` or `--v8-flags=--no-expose-wasm`). */
  wasm: boolean;
  /** 128-bit fixed-width SIMD (`v128`, `f32x4.mul`, ...). */
  simd: boolean;
  /** Relaxed SIMD, for the fused multiply-add `f32x4.relaxed_madd`. */
  relaxedSimd: boolean;
}

let cached: WasmFeatures | undefined;

function validates(emit: (mod: ModuleBuilder) => void): boolean {
  const mod = new ModuleBuilder();
  emit(mod);
  try {
    return WebAssembly.validate(mod.toBytes());
  } catch {
    return false;
  }
}

/**
 * Probes (once per thread, then cached) which WebAssembly features are available.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wasmFeatures } from "./features.ts";
 * const { simd, relaxedSimd } = wasmFeatures();
 * assert.ok(simd || !relaxedSimd); // relaxed SIMD implies SIMD
 * ```
 */
export function wasmFeatures(): WasmFeatures {
  if (cached) return cached;
  const wasm = typeof WebAssembly === "object" && validates(() => {});
  // (func (result v128) (f32x4.mul (v128.const 0) (v128.const 0)))
  const simd = wasm &&
    validates((m) => m.func("f", {}, ["v128"]).emit(v128.zero(), v128.zero(), f32x4.mul));
  // (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0)))
  const relaxedSimd = simd &&
    validates((m) =>
      m.func("f", {}, ["v128"]).emit(v128.zero(), v128.zero(), v128.zero(), f32x4.relaxed_madd)
    );
  cached = { wasm, simd, relaxedSimd };
  return cached;
}

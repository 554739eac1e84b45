/**
 * Emits the Adam update (cs231n `adam`) as SIMD loops: four float32 lanes or two float64
 * lanes at a time.
 *
 * The JavaScript kernel (`../optim_kernels.ts`) spends most of its time in the division
 * and the square root of each element, one element at a time; SIMD does several at once.
 * Each kernel does the JavaScript kernel's arithmetic operation for operation, in the
 * storage precision (float32 values in float32 arithmetic, the precision numpy and
 * PyTorch use for them, float64 in float64) and with no fused multiply-add, so both give
 * bitwise the same result (up to the sign and payload of a NaN).
 *
 * @module
 */

import {
  type Code,
  f32,
  f32x4,
  f64x2,
  forLoop,
  i32,
  local,
  type ModuleBuilder,
  v128,
} from "./builder.ts";

/**
 * Emits `f32_adam` and `f64_adam` with the parameters
 * `(w, dw, m, v, n, learningRate, beta1, beta2, oneMinusBeta1, oneMinusBeta2, inverse1,
 * inverse2, epsilon)` (the `inverse`s are the reciprocals of the bias corrections): `n`
 * elements (rounded up to a whole vector, 4 float32 or 2 float64 lanes: the arrays need room
 * for it) at byte addresses `w, dw, m, v` of the storage dtype; the next `m`, `v` and `w`
 * overwrite `m`, `v` and `w` in place. `f32_adam` rounds the float64 parameters to float32
 * first.
 */
export function emitOptimKernels(mod: ModuleBuilder): void {
  for (const single of [true, false]) emitAdam(mod, single);
}

/** `single`: float32 storage and arithmetic; otherwise float64. */
function emitAdam(mod: ModuleBuilder, single: boolean): void {
  const f = mod.func(
    single ? "f32_adam" : "f64_adam",
    {
      w: "i32",
      dw: "i32",
      m: "i32",
      v: "i32",
      n: "i32",
      learningRate: "f64",
      beta1: "f64",
      beta2: "f64",
      oneMinusBeta1: "f64",
      oneMinusBeta2: "f64",
      inverse1: "f64",
      inverse2: "f64",
      epsilon: "f64",
    },
    [],
    true,
  );
  const p = f.params;
  const i = f.local("i32");
  const consts = {
    learningRate: f.local("v128"),
    beta1: f.local("v128"),
    beta2: f.local("v128"),
    oneMinusBeta1: f.local("v128"),
    oneMinusBeta2: f.local("v128"),
    inverse1: f.local("v128"),
    inverse2: f.local("v128"),
    epsilon: f.local("v128"),
  };
  const g = f.local("v128"), mi = f.local("v128"), vi = f.local("v128");
  const lanes = single ? f32x4 : f64x2;
  const bytes = single ? 4 : 8;
  const load = (base: number): Code => [local.get(base), local.get(i), i32.add, v128.load()];
  const at = (base: number): Code => [local.get(base), local.get(i), i32.add];
  const c = (name: keyof typeof consts): Code => local.get(consts[name]);

  f.emit(
    Object.entries(consts).map(([name, vector]) => [
      local.get(p[name as keyof typeof consts]),
      single ? [f32.demote_f64, f32x4.splat] : f64x2.splat,
      local.set(vector),
    ]),
    forLoop(i, i32.const(0), [local.get(p.n), i32.const(bytes), i32.mul], i32.const(16), [
      [load(p.dw), local.set(g)],
      // mi = beta1·m + (1 − beta1)·g;  vi = beta2·v + (1 − beta2)·(g·g)
      [c("beta1"), load(p.m), lanes.mul, c("oneMinusBeta1"), local.get(g), lanes.mul],
      [lanes.add, local.set(mi)],
      [c("beta2"), load(p.v), lanes.mul, c("oneMinusBeta2"), local.get(g), local.get(g)],
      [lanes.mul, lanes.mul, lanes.add, local.set(vi)],
      // w − (learningRate · (mi · inverse1)) / (sqrt(vi · inverse2) + epsilon)
      [at(p.w), load(p.w)],
      [c("learningRate"), local.get(mi), c("inverse1"), lanes.mul, lanes.mul],
      [local.get(vi), c("inverse2"), lanes.mul, lanes.sqrt, c("epsilon"), lanes.add],
      [lanes.div, lanes.sub, v128.store()],
      [at(p.m), local.get(mi), v128.store()],
      [at(p.v), local.get(vi), v128.store()],
    ]),
  );
}

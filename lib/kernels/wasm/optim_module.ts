/**
 * Emits the Adam update (cs231n `adam`) as a SIMD loop over pairs of float64 lanes.
 *
 * The JavaScript kernel (`../optim_kernels.ts`) spends most of its time in the division
 * and the square root of each element, one element at a time; `f64x2` does them two at a
 * time.
 * The arithmetic is the JavaScript kernel's, operation for operation, in float64 (float32
 * storage is widened exactly on load and rounded to nearest on store, as a `Float32Array`
 * store does) and with no fused multiply-add, so both kernels give bitwise the same result.
 *
 * @module
 */

import {
  type Code,
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
 * inverse2, epsilon)` (the `inverse`s are the reciprocals of the bias corrections): `n` elements (rounded up to an even count: the arrays need room
 * for it) at byte addresses `w, dw, m, v` of the storage dtype; the next `m`, `v` and `w`
 * overwrite `m`, `v` and `w` in place.
 */
export function emitOptimKernels(mod: ModuleBuilder): void {
  for (const f32 of [true, false]) emitAdam(mod, f32);
}

function emitAdam(mod: ModuleBuilder, f32: boolean): void {
  const f = mod.func(
    f32 ? "f32_adam" : "f64_adam",
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
  const bytes = f32 ? 4 : 8;
  /** Two elements at `base + i` as an f64x2. */
  const load = (base: number): Code =>
    f32
      ? [local.get(base), local.get(i), i32.add, v128.load64_zero(), f64x2.promote_low_f32x4]
      : [local.get(base), local.get(i), i32.add, v128.load()];
  /** Stores the f64x2 on the stack as two elements at `base + i` (address pushed first). */
  const store: Code = f32 ? [f32x4.demote_f64x2_zero, v128.store64_lane(0)] : v128.store();
  const at = (base: number): Code => [local.get(base), local.get(i), i32.add];
  const c = (name: keyof typeof consts): Code => local.get(consts[name]);

  f.emit(
    Object.entries(consts).map(([name, vector]) => [
      local.get(p[name as keyof typeof consts]),
      f64x2.splat,
      local.set(vector),
    ]),
    forLoop(i, i32.const(0), [local.get(p.n), i32.const(bytes), i32.mul], i32.const(2 * bytes), [
      [load(p.dw), local.set(g)],
      // mi = beta1·m + (1 − beta1)·g;  vi = beta2·v + (1 − beta2)·(g·g)
      [c("beta1"), load(p.m), f64x2.mul, c("oneMinusBeta1"), local.get(g), f64x2.mul],
      [f64x2.add, local.set(mi)],
      [c("beta2"), load(p.v), f64x2.mul, c("oneMinusBeta2"), local.get(g), local.get(g)],
      [f64x2.mul, f64x2.mul, f64x2.add, local.set(vi)],
      // w − (learningRate · (mi · inverse1)) / (sqrt(vi · inverse2) + epsilon)
      [at(p.w), load(p.w)],
      [c("learningRate"), local.get(mi), c("inverse1"), f64x2.mul, f64x2.mul],
      [local.get(vi), c("inverse2"), f64x2.mul, f64x2.sqrt, c("epsilon"), f64x2.add],
      [f64x2.div, f64x2.sub, store],
      // m and v are stored after w's update has read the unrounded mi and vi.
      [at(p.m), local.get(mi), store],
      [at(p.v), local.get(vi), store],
    ]),
  );
}

/**
 * Emits the elementwise kernels of the ReLU layer: `relu` and the backward mask, for both
 * dtypes, as branch-free SIMD loops.
 *
 * In JavaScript both are a comparison and a branch per element, and on activations of
 * random sign the branch is mispredicted about half the time (measured ~6 ns per element);
 * here a lane-wise `max` and a comparison mask do the same work at memory speed.
 *
 * @module
 */

import { type Code, control, forLoop, i32, local, type ModuleBuilder, v128 } from "./builder.ts";
import { Lanes } from "./gemm_module.ts";

/**
 * Emits, for each prefix `f32_` and `f64_` (all addresses in bytes, `n` in elements):
 * - `relu(src, dst, n)`: `dst[i] = x > 0 ? x : +0` with `x = src[i]`, except that NaN stays
 *   NaN (as `np.maximum` keeps it).
 * - `reluMask(dout, x, dx, n)`: `dx[i] = dout[i] · (x[i] > 0 ? 1 : 0)`, a product rather
 *   than a select so that NaN and ±∞ in `dout` propagate as in numpy (`∞ · 0 = NaN`).
 *
 * `dst` may equal `src`, and `dx` may equal `dout` (in-place use).
 */
export function emitElementwiseKernels(mod: ModuleBuilder): void {
  for (const dtype of ["float32", "float64"] as const) {
    const t = new Lanes(dtype);
    emitRelu(mod, t);
    emitReluMask(mod, t);
  }
}

/**
 * Byte offset `i` over whole vectors of the `n` elements, then over the remaining single
 * elements: `body(true)` is the vector step, `body(false)` the scalar one.
 */
function elementLoop(i: number, n: number, t: Lanes, body: (vector: boolean) => Code): Code {
  const bytes: Code = [local.get(n), i32.const(t.bytes), i32.mul];
  return [
    forLoop(i, i32.const(0), [bytes, i32.const(~15), i32.and], i32.const(16), body(true)),
    forLoop(i, local.get(i), bytes, i32.const(t.bytes), body(false)),
  ];
}

function emitRelu(mod: ModuleBuilder, t: Lanes): void {
  const f = mod.func(`${t.prefix}relu`, { src: "i32", dst: "i32", n: "i32" }, [], true);
  const { src, dst, n } = f.params;
  const i = f.local("i32");
  const v = f.local(t.scalarType);
  f.emit(
    elementLoop(i, n, t, (vector) => [
      [local.get(dst), local.get(i), i32.add],
      // pmax(x, 0) = (x < 0 ? 0 : x) keeps NaN (its sign and payload too, as the JavaScript
      // loop does), and adding +0 turns −0 into +0: two instructions, where the IEEE max's
      // NaN and signed-zero rules cost several. The scalar tail does the same with a select.
      vector ? [local.get(src), local.get(i), i32.add, v128.load(), v128.zero(), t.vector.pmax] : [
        [local.get(src), local.get(i), i32.add, t.scalar.load(), local.set(v)],
        [t.scalar.const(0), local.get(v), local.get(v), t.scalar.const(0), t.scalar.lt],
        control.select,
      ],
      vector ? [v128.zero(), t.vector.add] : [t.scalar.const(0), t.scalar.add],
      vector ? v128.store() : t.scalar.store(),
    ]),
  );
}

function emitReluMask(mod: ModuleBuilder, t: Lanes): void {
  const f = mod.func(
    `${t.prefix}reluMask`,
    { dout: "i32", x: "i32", dx: "i32", n: "i32" },
    [],
    true,
  );
  const { dout, x, dx, n } = f.params;
  const i = f.local("i32");
  const ones = f.local("v128");
  f.emit(
    [t.scalar.const(1), t.vector.splat, local.set(ones)],
    elementLoop(i, n, t, (vector) => [
      [local.get(dx), local.get(i), i32.add],
      vector
        ? [
          [local.get(dout), local.get(i), i32.add, v128.load()],
          // (x > 0) is an all-ones lane mask; AND with 1.0 turns it into 1.0 or +0.
          [local.get(x), local.get(i), i32.add, v128.load(), v128.zero(), t.vector.gt],
          [local.get(ones), v128.and, t.vector.mul, v128.store()],
        ]
        : [
          [local.get(dout), local.get(i), i32.add, t.scalar.load()],
          [t.scalar.const(1), t.scalar.const(0)],
          [local.get(x), local.get(i), i32.add, t.scalar.load(), t.scalar.const(0)],
          [t.scalar.gt, control.select, t.scalar.mul, t.scalar.store()],
        ],
    ]),
  );
}

/**
 * The checks both assignment-1 losses share: naive against vectorized, both against
 * numerical gradients, the regularization term, float32 inputs, and error messages.
 */
import assert from "node:assert/strict";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

/** A loss of assignment 1: `(W, X, y, reg) → [loss, dW]`. */
export type LossFn = (W: Tensor, X: Tensor, y: ArrayLike<number>, reg: number) => [number, Tensor];

function problem(seed: number) {
  const rng = new Rng(seed);
  const [N, D, C] = [40, 25, 6];
  // The notebook's scale: W = 0.0001·randn, X of pixel-like size.
  const W = Tensor.randn([D, C], rng).mul(1e-2);
  const X = Tensor.randn([N, D], rng).mul(5);
  const y = Int32Array.from({ length: N }, () => rng.randint(C));
  return { W, X, y };
}

/** Registers the shared tests of one loss pair. */
export function testLossPair(name: string, naive: LossFn, vectorized: LossFn, seed: number): void {
  Deno.test(`${name} loss`, async (t) => {
    const { W, X, y } = problem(seed);
    await t.step("naive and vectorized agree (float64)", () => {
      for (const reg of [0, 0.7]) {
        const [a, dA] = naive(W, X, y, reg);
        const [b, dB] = vectorized(W, X, y, reg);
        assert.ok(relError(a, b) < 1e-12, `loss ${a} vs ${b}`);
        assert.ok(relError(dA, dB) < 1e-9, `dW ${relError(dA, dB)}`);
      }
    });
    await t.step("the gradient matches centered differences (float64)", () => {
      for (const reg of [0, 5]) {
        for (const fn of [naive, vectorized]) {
          const [, dW] = fn(W, X, y, reg);
          const numeric = evalNumericalGradient((w) => fn(w, X, y, reg)[0], W);
          const err = relError(dW, numeric);
          assert.ok(err < 1e-7, `${fn.name} reg ${reg}: ${err}`);
        }
      }
    });
    await t.step("the regularization is reg·ΣW² with gradient 2·reg·W", () => {
      const reg = 0.25;
      const [l0, d0] = vectorized(W, X, y, 0);
      const [l1, d1] = vectorized(W, X, y, reg);
      const sumSq = W.square().sum().item();
      assert.ok(Math.abs(l1 - l0 - reg * sumSq) < 1e-12);
      assert.ok(relError(d1.sub(d0), W.mul(2 * reg)) < 1e-10);
    });
    await t.step("float32 inputs give a float32 gradient close to float64's", () => {
      const [l64, d64] = vectorized(W, X, y, 0.1);
      const [l32, d32] = vectorized(W.astype("float32"), X.astype("float32"), y, 0.1);
      assert.equal(d32.dtype, "float32");
      assert.ok(Math.abs(l32 - l64) < 1e-4 * Math.abs(l64));
      assert.ok(d32.astype("float64").sub(d64).abs().max().item() < 1e-4);
    });
    await t.step("bad arguments name the function and the values", () => {
      const label = new RegExp(`${naive.name}: y\\[0\\] = 6 is not a class index in \\[0, 6\\)`);
      assert.throws(() => naive(W, X, Int32Array.from(y, (v, i) => i === 0 ? 6 : v), 0), label);
      assert.throws(
        () => vectorized(W, Tensor.zeros([4, 24]), [0, 0, 0, 0], 0),
        new RegExp(`${vectorized.name}: X has 24 columns but 25 were expected`),
      );
      assert.throws(() => naive(W, X, y, -1), /reg must be a finite number ≥ 0, got -1/);
    });
  });
}

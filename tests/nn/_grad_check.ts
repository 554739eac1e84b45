/**
 * Test helper: autograd gradients against centered differences, in float64.
 *
 * @module
 */

import assert from "node:assert/strict";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

/**
 * Checks `d loss / d input` for every input, where `loss = Σ build() · R` with a fixed
 * random `R` (so that no gradient is trivially uniform). Clears the inputs' gradients
 * first; `tol` bounds the relative error.
 */
export function checkGradients(
  build: () => Tensor,
  inputs: Tensor[],
  tol = 1e-7,
  seed = 123,
): void {
  const probe = noGrad(build);
  const R = Tensor.randn(probe.shape, new Rng(seed), probe.dtype);
  const loss = () => build().mul(R).sum();
  for (const x of inputs) x.grad = null;
  loss().backward();
  for (const [i, x] of inputs.entries()) {
    assert.ok(x.grad !== null, `input ${i} got no gradient`);
    const numeric = evalNumericalGradient(() => noGrad(() => loss().item()), x);
    const err = relError(x.grad, numeric);
    assert.ok(err < tol, `input ${i} (shape [${x.shape}]): relative error ${err} ≥ ${tol}`);
  }
}

/** A float64 leaf of standard-normal values that requires grad. */
export function leaf(shape: number[], rng: Rng): Tensor {
  return Tensor.randn(shape, rng, { dtype: "float64", requiresGrad: true });
}

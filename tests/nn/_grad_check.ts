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
 * first. The error measure is the largest absolute difference divided by the largest
 * gradient entry: centered differences have an absolute error (~1e-10 here), so an
 * elementwise relative error would flag entries that merely happen to be near zero.
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
    let diff = 0, scale = 0;
    for (let k = 0; k < x.size; k++) {
      diff = Math.max(diff, Math.abs(x.grad.data[k] - numeric.data[k]));
      scale = Math.max(scale, Math.abs(numeric.data[k]));
    }
    const err = diff / Math.max(scale, 1e-8);
    assert.ok(err < tol, `input ${i} (shape [${x.shape}]): scaled error ${err} ≥ ${tol}`);
    // The gradients must also agree elementwise where they are not tiny.
    assert.ok(relError(x.grad, numeric) < 1e-4, `input ${i}: elementwise relative error`);
  }
}

/** A float64 leaf of standard-normal values that requires grad. */
export function leaf(shape: number[], rng: Rng): Tensor {
  return Tensor.randn(shape, rng, { dtype: "float64", requiresGrad: true });
}

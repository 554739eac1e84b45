import assert from "node:assert/strict";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import * as nn from "../../lib/nn/mod.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { computeSaliencyMaps } from "../../lib/visualization/saliency.ts";
import { tinyConvNet } from "./_tiny_net.ts";

Deno.test("computeSaliencyMaps: a linear classifier's map is max over channels of |W[y]|, by hand", () => {
  const fc = new nn.Linear(2 * 2 * 3, 3, { dtype: "float64" });
  // W[k, c, h, w] = (k + 1) · (c === 0 ? 1 : −2) · (h·3 + w + 1): channel 1 wins everywhere.
  for (let k = 0; k < 3; k++) {
    for (let c = 0; c < 2; c++) {
      for (let p = 0; p < 6; p++) {
        fc.weight.data[k * 12 + c * 6 + p] = (k + 1) * (c ? -2 : 1) * (p + 1);
      }
    }
  }
  const model = new nn.Sequential(new nn.Flatten(), fc);
  const X = Tensor.randn([2, 2, 2, 3], new Rng(1));
  const s = computeSaliencyMaps(X, [2, 0], model);
  assert.deepEqual(s.shape, [2, 2, 3]);
  assert.deepEqual(Array.from(s.data), [
    ...[1, 2, 3, 4, 5, 6].map((p) => 3 * 2 * p),
    ...[1, 2, 3, 4, 5, 6].map((p) => 1 * 2 * p),
  ]);
});

Deno.test("computeSaliencyMaps on a conv–BN–ReLU–pool–linear net equals the numerical gradient", () => {
  const model = tinyConvNet(3);
  model.train(); // the function must switch to eval mode itself
  const X = Tensor.randn([3, 2, 4, 4], new Rng(5));
  const Xcopy = X.clone();
  const y = [1, 3, 0];
  const s = computeSaliencyMaps(X, y, model);
  assert.equal(model.training, false);
  assert.deepEqual(X.data, Xcopy.data, "X is not modified");
  for (const p of model.parameters()) {
    assert.equal(p.grad, null, "parameters get no gradient");
    assert.equal(p.requiresGrad, true, "and keep their requiresGrad flag");
  }
  for (let n = 0; n < 3; n++) {
    const xn = X.sliceRows(n, n + 1).clone();
    const score = (x: Tensor) => model.forward(x).get(0, y[n]);
    const g = evalNumericalGradient(score, xn, { h: 1e-6 });
    const expected = Tensor.zeros([4, 4]);
    for (let p = 0; p < 16; p++) {
      expected.data[p] = Math.max(Math.abs(g.data[p]), Math.abs(g.data[16 + p]));
    }
    const got = Tensor.fromArray(s.data.slice(n * 16, (n + 1) * 16), [4, 4]);
    const err = relError(got, expected);
    assert.ok(err < 1e-7, `image ${n}: relative error ${err}`);
  }
});

Deno.test("computeSaliencyMaps names bad arguments", () => {
  const model = tinyConvNet();
  assert.throws(
    () => computeSaliencyMaps(Tensor.zeros([2, 2, 4, 4]), [1], model),
    /computeSaliencyMaps: y has 1 labels but X has 2 images/,
  );
  assert.throws(
    () => computeSaliencyMaps(Tensor.zeros([2, 32]), [1, 2], model),
    /computeSaliencyMaps: X must be a Tensor of shape \(N, C, H, W\)/,
  );
  assert.throws(
    () => computeSaliencyMaps(Tensor.zeros([1, 2, 4, 4]), [4], model),
    /class index in \[0, 4\), got 4/,
  );
});

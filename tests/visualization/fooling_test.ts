import assert from "node:assert/strict";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { makeFoolingImage } from "../../lib/visualization/fooling.ts";
import { tinyConvNet } from "./_tiny_net.ts";

const predictOne = (model: ReturnType<typeof tinyConvNet>, x: Tensor) =>
  noGrad(() => model.forward(x)).argmax(1)[0];

function sumSq(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

Deno.test("makeFoolingImage: the model classifies the fooled image as every target", () => {
  const model = tinyConvNet(11);
  model.eval();
  const X = Tensor.randn([1, 2, 4, 4], new Rng(2));
  const original = predictOne(model, X);
  const Xcopy = X.clone();
  let anyIterations = 0;
  for (let target = 0; target < 4; target++) {
    const { image, iterations, fooled } = makeFoolingImage(X, target, model, {
      learningRate: 0.05,
      maxIters: 500,
    });
    assert.ok(fooled, `target ${target} reached within 500 steps`);
    assert.equal(predictOne(model, image), target);
    if (target === original) assert.equal(iterations, 0);
    else {
      assert.ok(iterations > 0);
      // One step less is not enough: the loop stops at the first success.
      const shorter = makeFoolingImage(X, target, model, {
        learningRate: 0.05,
        maxIters: iterations - 1,
      });
      assert.equal(shorter.fooled, false);
      assert.notEqual(predictOne(model, shorter.image), target);
    }
    anyIterations += iterations;
  }
  assert.ok(anyIterations > 0);
  assert.deepEqual(X.data, Xcopy.data, "X is not modified");
  for (const p of model.parameters()) assert.equal(p.grad, null);
});

Deno.test("makeFoolingImage: each step has length learningRate along the normalised gradient", () => {
  const model = tinyConvNet(4);
  const X = Tensor.randn([1, 2, 4, 4], new Rng(9));
  const original = predictOne(model, X);
  const target = (original + 1) % 4;
  const one = makeFoolingImage(X, target, model, { learningRate: 0.01, maxIters: 1 });
  if (!one.fooled) {
    assert.equal(one.iterations, 1);
    const d = one.image.sub(X);
    const norm = Math.sqrt(sumSq(d.data));
    assert.ok(Math.abs(norm - 0.01) < 1e-12, `step length ${norm}`);
  }
  assert.throws(
    () => makeFoolingImage(Tensor.zeros([2, 2, 4, 4]), 0, model),
    /makeFoolingImage: X must hold 1 image/,
  );
  assert.throws(() => makeFoolingImage(X, 9, model), /targetY must be a class index in \[0, 4\)/);
});

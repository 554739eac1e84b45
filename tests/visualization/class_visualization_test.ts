import assert from "node:assert/strict";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import * as nn from "../../lib/nn/mod.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import {
  classVisualizationUpdateStep,
  createClassVisualization,
} from "../../lib/visualization/class_visualization.ts";
import { blurImage, jitter } from "../../lib/visualization/image_ops.ts";
import { tinyConvNet } from "./_tiny_net.ts";

function sumSq(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

Deno.test("classVisualizationUpdateStep: img += lr · g/‖g‖, g = ∇(s_y − λ‖img‖²), numerically", () => {
  const model = tinyConvNet(21);
  const [target, l2Reg, lr] = [2, 0.3, 0.7];
  const img = Tensor.randn([1, 2, 4, 4], new Rng(4));
  const before = img.clone();
  const objective = (x: Tensor) => {
    let sq = 0;
    for (const v of x.data) sq += v * v;
    return noGrad(() => model.eval().forward(x)).get(0, target) - l2Reg * sq;
  };
  const g = evalNumericalGradient(objective, before.clone(), { h: 1e-6 });
  const norm = Math.sqrt(sumSq(g.data));
  const expected = before.add(g.mul(lr / norm));
  model.train();
  const out = classVisualizationUpdateStep(img, model, target, l2Reg, lr);
  assert.equal(out, img, "updated in place and returned");
  assert.equal(model.training, false);
  const err = relError(img, expected);
  assert.ok(err < 1e-8, `relative error ${err}`);
  // The step has length lr exactly.
  const d = img.sub(before);
  assert.ok(Math.abs(Math.sqrt(sumSq(d.data)) - lr) < 1e-12);
  for (const p of model.parameters()) assert.equal(p.grad, null);
});

Deno.test("createClassVisualization is the jitter–step–unjitter–clamp–blur loop, bit for bit", () => {
  const model = tinyConvNet(8);
  const options = {
    l2Reg: 1e-2,
    learningRate: 0.4,
    numIterations: 12,
    blurEvery: 5,
    maxJitter: 2,
    inputShape: [2, 4, 4],
    mean: [0.5, 0.25],
    std: [0.5, 0.25],
  };
  const got = createClassVisualization(1, model, { ...options, rng: new Rng(3) });
  // The same loop by hand from the public pieces, with the same generator.
  const rng = new Rng(3);
  let img = Tensor.randn([1, 2, 4, 4], rng, "float64");
  for (let t = 0; t < options.numIterations; t++) {
    const ox = rng.randint(0, 3), oy = rng.randint(0, 3);
    img = jitter(img, ox, oy);
    classVisualizationUpdateStep(img, model, 1, options.l2Reg, options.learningRate);
    img = jitter(img, -ox, -oy);
    // Channel c is kept to [−mean/std, (1 − mean)/std]: [−1, 1] and [−1, 3].
    img = img.map((v, i) => (i < 16 ? Math.min(1, Math.max(-1, v)) : Math.min(3, Math.max(-1, v))));
    if (t % options.blurEvery === 0) blurImage(img, 0.5);
  }
  assert.deepEqual(got.shape, [1, 2, 4, 4]);
  assert.deepEqual(got.data, img.data);
});

Deno.test("createClassVisualization makes an image the model assigns to the target class", () => {
  // Class k likes the pixels p with p mod 4 = k and dislikes the others: reachable in 0..1.
  const fc = new nn.Linear(25, 4);
  fc.weight.data.set(
    Array.from({ length: 100 }, (_, i) => (i % 25) % 4 === Math.floor(i / 25) ? 1 : -1),
  );
  fc.bias!.data.fill(0);
  const model = new nn.Sequential(new nn.Flatten(), fc);
  for (let target = 0; target < 4; target++) {
    const img = createClassVisualization(target, model, {
      inputShape: [1, 5, 5],
      mean: [0],
      std: [1],
      maxJitter: 0, // a linear model is not translation invariant: no jitter
      numIterations: 30,
      learningRate: 0.5,
      rng: new Rng(target),
    });
    assert.equal(noGrad(() => model.forward(img)).argmax(1)[0], target);
    assert.ok(img.data.every((v) => v >= 0 && v <= 1), "pixels stay in 0..1");
  }
  assert.throws(
    () => createClassVisualization(0, model, { inputShape: [1, 5, 5], mean: [0, 0], std: [1] }),
    /createClassVisualization: mean and std need one value per channel \(1\)/,
  );
  assert.throws(
    () => createClassVisualization(7, model, { inputShape: [1, 5, 5], mean: [0], std: [1] }),
    /targetY must be a class index in \[0, 4\), got 7/,
  );
});

import assert from "node:assert/strict";
import { needsGrad, record } from "../../lib/autograd/engine.ts";
import { isGradEnabled, noGrad } from "../../lib/autograd/grad_mode.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { checkGradients, leaf } from "../nn/_grad_check.ts";

/** The gradient as nested arrays (a function, so that assertions do not narrow `.grad`). */
const gradOf = (t: Tensor) => t.grad?.toNested();

Deno.test("autograd: elementwise graphs with broadcasting match numeric gradients", () => {
  const rng = new Rng(1);
  const a = leaf([3, 4], rng), b = leaf([4], rng), c = leaf([3, 1], rng);
  const pos = Tensor.rand([3, 4], rng, { dtype: "float64", requiresGrad: true }).add(0.5)
    .detach();
  pos.requiresGrad = true;
  checkGradients(() => a.mul(b).add(c).sub(b.div(pos)).neg(), [a, b, c, pos]);
  checkGradients(() => pos.log().add(pos.sqrt()).mul(a.exp()).add(c.square()), [a, c, pos]);
  checkGradients(() => a.abs().mul(pos.pow(2.5)).add(pos.pow(c)), [a, c, pos]);
});

Deno.test("autograd: reductions, reshape, transpose and matmul match numeric gradients", () => {
  const rng = new Rng(2);
  const x = leaf([2, 3, 4], rng), w = leaf([4, 5], rng), v = leaf([3, 5], rng);
  checkGradients(() => x.sum(1), [x]);
  checkGradients(() => x.sum(2, true).mul(x), [x]);
  checkGradients(() => x.mean(0).add(x.mean()), [x]);
  checkGradients(() => x.transpose([2, 0, 1]).reshape([4, 6]), [x]);
  checkGradients(() => x.reshape([6, 4]).matmul(w), [x, w]);
  checkGradients(() => v.transpose().matmul(v).sum(0), [v]);
  // A tensor used twice: its consumers' gradients add up.
  checkGradients(() => w.matmul(w.transpose()).add(w.sum(1, true)), [w]);
});

Deno.test("autograd: gradients accumulate across backward calls until zeroGrad", () => {
  const w = Tensor.fromArray([1, 2], undefined, { requiresGrad: true });
  w.mul(3).sum().backward();
  w.mul(3).sum().backward();
  assert.deepEqual(gradOf(w), [6, 6]);
  w.zeroGrad();
  assert.equal(w.grad, null);
  w.square().sum().backward();
  assert.deepEqual(gradOf(w), [2, 4]);
  // An explicitly assigned gradient is accumulated into, as in PyTorch.
  w.grad = Tensor.fromArray([10, 10]);
  w.sum().backward();
  assert.deepEqual(gradOf(w), [11, 11]);
});

Deno.test("autograd: non-leaf results, leaves without requiresGrad, detach", () => {
  const x = Tensor.fromArray([1, 2, 3]);
  const w = Tensor.fromArray([2, 2, 2], undefined, { requiresGrad: true });
  const y = x.mul(w);
  assert.ok(y.requiresGrad && y.gradFn?.name === "mul");
  assert.equal(x.add(1).gradFn, null, "nothing recorded when no input requires grad");
  y.sum().backward();
  assert.equal(x.grad, null);
  assert.equal(y.grad, null, "non-leaf tensors keep no gradient");
  const d = y.detach();
  assert.ok(!d.requiresGrad && d.gradFn === null && d.data === y.data);
  assert.throws(() => {
    y.requiresGrad = false;
  }, /only be turned off on a leaf/);
});

Deno.test("autograd: noGrad records nothing and restores the mode, even on throw", () => {
  const w = Tensor.ones([2], { requiresGrad: true });
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return w.mul(2);
  });
  assert.ok(!y.requiresGrad && y.gradFn === null);
  assert.equal(isGradEnabled(), true);
  assert.throws(() =>
    noGrad(() => {
      throw new Error("inner");
    }), /inner/);
  assert.equal(isGradEnabled(), true);
  assert.equal(noGrad(() => needsGrad(w)), false);
});

Deno.test("autograd: clear errors for bad backward calls", () => {
  const w = Tensor.ones([2, 2], { requiresGrad: true });
  assert.throws(() => w.mul(2).backward(), /implicitly created only for scalar outputs.*\[2,2\]/);
  assert.throws(
    () => w.mul(2).backward(Tensor.ones([3])),
    /gradient must be a Tensor of shape \[2,2\], got shape \[3\]/,
  );
  assert.throws(() => Tensor.ones([1]).backward(), /does not require grad/);
  const loss = w.square().sum();
  loss.backward();
  assert.throws(() => loss.backward(), /backward through the graph a second time.*retainGraph/);
  // With retainGraph the second pass works and accumulates.
  w.zeroGrad();
  const again = w.mul(3).sum();
  again.backward(undefined, { retainGraph: true });
  again.backward();
  assert.deepEqual(gradOf(w), [[6, 6], [6, 6]]);
});

Deno.test("autograd: a non-scalar output with an explicit gradient", () => {
  const x = Tensor.fromArray([1, 2, 3], undefined, { requiresGrad: true });
  x.square().backward(Tensor.fromArray([1, 10, 100]));
  assert.deepEqual(gradOf(x), [2, 40, 600]);
});

Deno.test("autograd: custom ops through record, and deep graphs do not overflow the stack", () => {
  const x = Tensor.fromArray([2], undefined, { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 20000; i++) y = y.add(1);
  y.sum().backward();
  assert.deepEqual(gradOf(x), [1]);
  const z = x.detach().mul(5);
  if (needsGrad(x)) record(z, "times5", [x], (g) => [g.mul(5)]);
  x.zeroGrad();
  z.sum().backward();
  assert.deepEqual(gradOf(x), [5]);
});

Deno.test("autograd: 0-d tensors and float32 graphs", () => {
  const s = Tensor.full([], 3, { requiresGrad: true });
  assert.equal(s.ndim, 0);
  s.mul(s).backward();
  assert.equal(s.grad?.item(), 6);
  const w = Tensor.ones([4], { dtype: "float32", requiresGrad: true });
  const loss = w.mul(Tensor.fromArray([1, 2, 3, 4], undefined, "float32")).sum();
  loss.backward();
  assert.equal(w.grad?.dtype, "float32");
  assert.deepEqual(gradOf(w), [1, 2, 3, 4]);
});

Deno.test("autograd: backward releases every node of the graph (saved tensors dropped)", () => {
  const w = Tensor.ones([3], { requiresGrad: true });
  const h = w.mul(2);
  const loss = h.exp().sum();
  assert.equal(h.gradFn?.inputs.length, 1);
  loss.backward();
  assert.ok(loss.gradFn?.released && h.gradFn?.released);
  assert.equal(h.gradFn?.inputs.length, 0);
  // With retainGraph the nodes stay usable.
  const kept = w.square().sum();
  kept.backward(undefined, { retainGraph: true });
  assert.ok(!kept.gradFn?.released);
});

import assert from "node:assert/strict";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import { affineBackward, affineForward } from "../../lib/layers/affine.ts";
import { softmaxLoss } from "../../lib/layers/losses.ts";
import { maxPoolForwardNaive } from "../../lib/layers/pool.ts";
import * as F from "../../lib/nn/functional.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { checkGradients, leaf } from "./_grad_check.ts";

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let d = 0;
  for (let i = 0; i < a.size; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

Deno.test("F.linear: forward and backward equal the affine layer's (w transposed)", () => {
  const rng = new Rng(10);
  const x = leaf([5, 6], rng), w = leaf([4, 6], rng), b = leaf([4], rng);
  const y = F.linear(x, w, b);
  const [ref, cache] = affineForward(x.detach(), w.detach().transpose(), b.detach());
  assert.ok(maxDiff(y, ref) < 1e-12);
  const dout = Tensor.randn([5, 4], rng);
  y.backward(dout);
  const [dx, dw, db] = affineBackward(dout, cache);
  assert.ok(maxDiff(x.grad!, dx) < 1e-12);
  assert.ok(maxDiff(w.grad!, dw.transpose()) < 1e-12);
  assert.ok(maxDiff(b.grad!, db) < 1e-12);
  checkGradients(() => F.linear(x, w, b), [x, w, b]);
  const x3 = leaf([2, 3, 6], rng);
  checkGradients(() => F.linear(x3, w), [x3, w]);
});

Deno.test("F.maxPool2d / F.avgPool2d: PyTorch output sizes, padding, numeric gradients", () => {
  const rng = new Rng(11);
  const x = leaf([2, 3, 7, 6], rng);
  assert.deepEqual(F.maxPool2d(x, 2).shape, [2, 3, 3, 3]);
  assert.deepEqual(F.maxPool2d(x, 3, { stride: 2, padding: 1 }).shape, [2, 3, 4, 3]);
  assert.deepEqual(F.avgPool2d(x, [3, 2], { stride: 1 }).shape, [2, 3, 5, 5]);
  // On inputs the layer takes as they are, the result is the layer's.
  const x8 = Tensor.randn([1, 2, 4, 4], rng);
  const [ref] = maxPoolForwardNaive(x8, { poolHeight: 2, poolWidth: 2, stride: 2 });
  assert.equal(maxDiff(F.maxPool2d(x8, 2), ref), 0);
  checkGradients(() => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), [x]);
  checkGradients(() => F.avgPool2d(x, 2, { padding: 1 }), [x]);
});

Deno.test("F.maxPool2dRelu: the bits of F.relu after F.maxPool2d, output and gradient", () => {
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(13);
    // Odd sides (cropped), and shifted down so that many windows hold no positive value.
    const x0 = Tensor.randn([3, 4, 9, 8], rng, dtype).sub(0.7);
    const cases: [number, F.Pool2dOptions][] = [[2, {}], [3, { stride: 2, padding: 1 }]];
    for (const [k, options] of cases) {
      const run = (fused: boolean) => {
        const x = x0.detach();
        x.requiresGrad = true;
        const out = fused ? F.maxPool2dRelu(x, k, options) : F.relu(F.maxPool2d(x, k, options));
        const dout = Tensor.randn(out.shape, new Rng(14), dtype);
        dout.data[3] = NaN;
        out.backward(dout);
        return { name: out.gradFn!.name, out: out.data, dx: x.grad!.data };
      };
      const [a, b] = [run(true), run(false)];
      const what = `${dtype} k=${k} ${JSON.stringify(options)}`;
      assert.equal(a.name, "maxPool2dRelu", what);
      assert.ok(a.out.some((v) => v === 0) && a.out.some((v) => v > 0), what);
      for (const key of ["out", "dx"] as const) {
        for (let i = 0; i < a[key].length; i++) {
          const [p, q] = [a[key][i], b[key][i]];
          if (!Object.is(p, q)) assert.fail(`${what} ${key}[${i}]: ${p}, apart ${q}`);
        }
      }
    }
  }
  // Numeric gradients too (float64; no window ties at zero with random inputs).
  const x = leaf([2, 2, 6, 6], new Rng(15));
  checkGradients(() => F.maxPool2dRelu(x, 3, { stride: 2, padding: 1 }), [x]);
});

Deno.test("F.relu, F.leakyRelu, F.flatten: values and gradients", () => {
  const rng = new Rng(12);
  const x = leaf([3, 2, 2], rng);
  checkGradients(() => F.relu(x), [x]);
  checkGradients(() => F.leakyRelu(x, 0.2), [x]);
  checkGradients(() => F.flatten(x).mul(2), [x]);
  const v = Tensor.fromArray([-2, 3]);
  assert.deepEqual(F.leakyRelu(v, 0.1).toNested(), [-0.2, 3]);
});

Deno.test("F.batchNorm: PyTorch's running statistics and numeric gradients", () => {
  const rng = new Rng(13);
  const x = leaf([4, 3, 2, 2], rng), weight = leaf([3], rng), bias = leaf([3], rng);
  const rm = Tensor.randn([3], rng), rv = Tensor.rand([3], rng).add(0.5);
  const rm0 = rm.clone(), rv0 = rv.clone();
  F.batchNorm(x, rm, rv, { weight, bias, training: true, momentum: 0.3 });
  // Hand-computed: per channel over N·H·W = 16 values; unbiased variance for running_var.
  for (let c = 0; c < 3; c++) {
    const vals: number[] = [];
    for (let n = 0; n < 4; n++) for (let p = 0; p < 4; p++) vals.push(x.data[(n * 3 + c) * 4 + p]);
    const mean = vals.reduce((a, b) => a + b) / 16;
    const unbiased = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 15;
    assert.ok(Math.abs(rm.get(c) - (0.7 * rm0.get(c) + 0.3 * mean)) < 1e-14);
    assert.ok(Math.abs(rv.get(c) - (0.7 * rv0.get(c) + 0.3 * unbiased)) < 1e-14);
  }
  checkGradients(() => F.batchNorm(x, null, null, { weight, bias, training: true }), [
    x,
    weight,
    bias,
  ]);
  // Evaluation mode: the running statistics, and gradients through the affine map.
  const y = F.batchNorm(x, rm, rv, { weight, bias, eps: 1e-5 });
  const expected = (x.get(1, 2, 0, 1) - rm.get(2)) / Math.sqrt(rv.get(2) + 1e-5) * weight.get(2) +
    bias.get(2);
  assert.ok(Math.abs(y.get(1, 2, 0, 1) - expected) < 1e-12);
  checkGradients(() => F.batchNorm(x, rm, rv, { weight, bias }), [x, weight, bias]);
  // Recording a graph changes no bit of the evaluation-mode output (float32 too).
  const x32 = Tensor.randn([4, 3, 5, 5], rng, "float32");
  x32.requiresGrad = true;
  const [rm32, rv32, w32] = [rm, rv, weight].map((t) => t.detach().astype("float32"));
  const withGraph = F.batchNorm(x32, rm32, rv32, { weight: w32 });
  const without = noGrad(() => F.batchNorm(x32, rm32, rv32, { weight: w32 }));
  assert.ok(withGraph.gradFn !== null && without.gradFn === null);
  assert.deepEqual(Float32Array.from(withGraph.data), Float32Array.from(without.data));
  const x2 = leaf([5, 3], rng);
  checkGradients(() => F.batchNorm(x2, rm, rv, { weight, bias }), [x2, weight, bias]);
  checkGradients(() => F.batchNorm(x2, null, null, { weight, training: true }), [x2, weight]);
});

Deno.test("F.layerNorm and F.groupNorm: numeric gradients and shape checks", () => {
  const rng = new Rng(14);
  const x = leaf([2, 4, 3], rng), w = leaf([4, 3], rng), b = leaf([4, 3], rng);
  checkGradients(() => F.layerNorm(x, [4, 3], { weight: w, bias: b }), [x, w, b]);
  const g = leaf([4], rng), h = leaf([4], rng);
  checkGradients(() => F.groupNorm(x, 2, { weight: g, bias: h }), [x, g, h]);
  assert.throws(() => F.layerNorm(x, [3, 4]), /does not end with normalizedShape \[3,4\]/);
});

Deno.test("F.dropout: drop probability p, identity in evaluation, mask reused by backward", () => {
  const x = Tensor.ones([4000], { requiresGrad: true });
  const y = F.dropout(x, { p: 0.3, rng: new Rng(0) });
  const dropped = y.data.filter((v) => v === 0).length / 4000;
  assert.ok(Math.abs(dropped - 0.3) < 0.03, `dropped ${dropped}`);
  assert.ok(y.data.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-12));
  y.sum().backward();
  assert.deepEqual([...x.grad!.data], [...y.data]);
  assert.equal(F.dropout(x, { p: 0.3, training: false }), x);
  // Same seed, same mask.
  const a = F.dropout(Tensor.ones([50]), { rng: new Rng(7) });
  const b = F.dropout(Tensor.ones([50]), { rng: new Rng(7) });
  assert.deepEqual([...a.data], [...b.data]);
});

Deno.test("F.crossEntropy: equals softmaxLoss; sum and none reductions; mseLoss", () => {
  const rng = new Rng(15);
  const s = leaf([6, 5], rng);
  const y = Int32Array.of(0, 4, 2, 2, 1, 3);
  const [ref] = softmaxLoss(s.detach(), y);
  assert.ok(Math.abs(F.crossEntropy(s, y).item() - ref) < 1e-15);
  assert.ok(Math.abs(F.crossEntropy(s, y, { reduction: "sum" }).item() - 6 * ref) < 1e-12);
  const none = F.crossEntropy(s, y, { reduction: "none" });
  assert.ok(Math.abs(none.mean().item() - ref) < 1e-15);
  checkGradients(() => F.crossEntropy(s, y), [s]);
  checkGradients(() => F.crossEntropy(s, y, { reduction: "none" }), [s]);
  checkGradients(() => F.crossEntropy(s, y, { reduction: "sum" }), [s]);
  const t = Tensor.randn([6, 5], rng);
  checkGradients(() => F.mseLoss(s, t), [s]);
  assert.throws(() => F.crossEntropy(s, y, { reduction: "avg" as "mean" }), /reduction must be/);
});

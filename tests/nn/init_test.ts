import assert from "node:assert/strict";
import * as init from "../../lib/nn/init.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

function stats(t: Tensor): { std: number; maxAbs: number } {
  let sq = 0, maxAbs = 0;
  for (const v of t.data) {
    sq += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  return { std: Math.sqrt(sq / t.size), maxAbs };
}

Deno.test("nn.init: fans and gains follow PyTorch", () => {
  assert.deepEqual(init.fans(Tensor.zeros([10, 784])), [784, 10]);
  assert.deepEqual(init.fans(Tensor.zeros([32, 3, 5, 5])), [75, 800]);
  assert.equal(init.calculateGain("relu"), Math.SQRT2);
  assert.equal(init.calculateGain("leaky_relu", Math.sqrt(5)), Math.sqrt(1 / 3));
  assert.equal(init.calculateGain("tanh"), 5 / 3);
  assert.throws(() => init.fans(Tensor.zeros([4])), /at least 2 dims/);
});

Deno.test("nn.init: Kaiming and Xavier draw with the documented spread, in place", () => {
  const rng = new Rng(0);
  const w = Tensor.zeros([256, 64, 3, 3]); // fan in 576, fan out 2304
  assert.equal(init.kaimingNormal(w, { rng }), w);
  assert.ok(Math.abs(stats(w).std - Math.sqrt(2 / 576)) < 0.01 * Math.sqrt(2 / 576));
  init.kaimingNormal(w, { mode: "fanOut", nonlinearity: "relu", rng });
  assert.ok(Math.abs(stats(w).std - Math.sqrt(2 / 2304)) < 0.01 * Math.sqrt(2 / 2304));
  init.kaimingUniform(w, { a: Math.sqrt(5), rng });
  const bound = 1 / Math.sqrt(576);
  assert.ok(stats(w).maxAbs <= bound && stats(w).maxAbs > 0.99 * bound);
  init.xavierUniform(w, { gain: 2, rng });
  const xb = 2 * Math.sqrt(6 / (576 + 2304));
  assert.ok(stats(w).maxAbs <= xb && stats(w).maxAbs > 0.99 * xb);
  assert.ok(init.zeros(w).data.every((v) => v === 0));
  assert.ok(init.ones(w).data.every((v) => v === 1));
  assert.throws(() => init.kaimingNormal(w, { mode: "fanAvg" as "fanIn" }), /mode must be/);
});

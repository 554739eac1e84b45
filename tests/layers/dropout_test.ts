import assert from "node:assert/strict";
import { evalNumericalGradientArray, relError } from "../../lib/gradient_check.ts";
import { applyMask, dropoutMask } from "../../lib/kernels/dropout.ts";
import { dropoutBackward, dropoutForward, type DropoutParam } from "../../lib/layers/dropout.ts";
import { getGlobalRng, Rng, setSeed } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

function mean(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += v;
  return s / t.size;
}

function zeroFraction(t: Tensor): number {
  let zeros = 0;
  for (const v of t.data) if (v === 0) zeros++;
  return zeros / t.size;
}

Deno.test("dropout kernels", async (t) => {
  await t.step("dropoutMask draws one uniform per element, in order", () => {
    const mask = new Float64Array(50);
    dropoutMask(new Rng(4), 0.3, mask);
    const rng = new Rng(4);
    for (let i = 0; i < mask.length; i++) {
      assert.equal(mask[i], rng.random() < 0.3 ? 1 / 0.3 : 0, `element ${i}`);
    }
  });

  await t.step(
    "dropoutMask draws blocks through fillRandom: the same mask, the same next draw",
    () => {
      // 10,001 elements: two whole blocks of draws and a partial one.
      const n = 10001;
      const fast = new Rng(5), slow = new Rng(5);
      const viaBlocks = new Float32Array(n), oneByOne = new Float32Array(n);
      dropoutMask(fast, 0.6, viaBlocks);
      dropoutMask({ random: () => slow.random() }, 0.6, oneByOne);
      assert.deepEqual(viaBlocks, oneByOne);
      assert.equal(fast.random(), slow.random());
    },
  );

  await t.step("applyMask rounds the float64 product once into float32", () => {
    const out = new Float32Array(2);
    applyMask(new Float32Array([0.1, 3]), new Float64Array([1 / 0.3, 0]), out);
    assert.deepEqual([...out], [Math.fround(Math.fround(0.1) * (1 / 0.3)), 0]);
    assert.throws(
      () => applyMask(new Float64Array(3), new Float64Array(2), new Float64Array(3)),
      /applyMask: mask needs at least 3 elements, got 2/,
    );
  });
});

Deno.test("dropoutForward and dropoutBackward", async (t) => {
  // The notebook's check: x = randn(500, 500) + 10.
  const x = Tensor.randn([500, 500], new Rng(231)).add(10);
  const xMean = mean(x);

  await t.step("train mode keeps the mean and zeroes about 1 − p of the units", () => {
    for (const p of [0.25, 0.4, 0.7]) {
      const [out] = dropoutForward(x, { mode: "train", p, seed: 123 });
      const [outTest] = dropoutForward(x, { mode: "test", p, seed: 123 });
      // 250,000 units: the zero fraction has a standard error below 0.001 and the mean one
      // of sqrt(E[x²]/p − E[x]²)/500 ≤ 0.04, so these bounds are about five of them.
      assert.ok(Math.abs(zeroFraction(out) - (1 - p)) < 0.005, `p ${p}: ${zeroFraction(out)}`);
      assert.ok(Math.abs(mean(out) - xMean) < 0.2, `p ${p}: mean ${mean(out)} vs ${xMean}`);
      assert.equal(mean(outTest), xMean);
    }
  });

  await t.step("kept units are scaled by 1/p, dropped ones are 0", () => {
    const [out, [, mask]] = dropoutForward(x, { mode: "train", p: 0.4, seed: 1 });
    assert.ok(mask !== null && mask.dtype === "float64");
    for (let i = 0; i < 1000; i++) {
      assert.ok(mask.data[i] === 0 || mask.data[i] === 1 / 0.4, `mask ${mask.data[i]}`);
      assert.equal(out.data[i], x.data[i] * mask.data[i]);
    }
  });

  await t.step("test mode is the identity, forward and backward", () => {
    const [out, cache] = dropoutForward(x, { mode: "test", p: 0.5 });
    assert.equal(out, x);
    assert.equal(cache[1], null);
    const dout = Tensor.ones([2, 2]);
    assert.equal(dropoutBackward(dout, dropoutForward(dout, { mode: "test", p: 0.5 })[1]), dout);
  });

  await t.step("p = 1 keeps everything", () => {
    const [out] = dropoutForward(x, { mode: "train", p: 1 });
    assert.deepEqual(out.data, x.data);
  });

  await t.step("a seed gives the same mask on every call; no seed uses the global rng", () => {
    const param: DropoutParam = { mode: "train", p: 0.5, seed: 42 };
    const small = Tensor.ones([20, 30]);
    const [a] = dropoutForward(small, param);
    const [b] = dropoutForward(small, param);
    assert.deepEqual(a.data, b.data);
    const [c] = dropoutForward(small, { ...param, seed: 43 });
    assert.notDeepEqual(c.data, a.data);
    // Without a seed: consecutive calls differ, and setSeed makes a run reproducible.
    setSeed(7);
    const [d1] = dropoutForward(small, { mode: "train", p: 0.5 });
    const [d2] = dropoutForward(small, { mode: "train", p: 0.5 });
    assert.notDeepEqual(d1.data, d2.data);
    setSeed(7);
    assert.deepEqual(dropoutForward(small, { mode: "train", p: 0.5 })[0].data, d1.data);
    // A seeded call does not advance the global stream.
    setSeed(7);
    dropoutForward(small, param);
    const expected = new Rng(7).random();
    assert.equal(getGlobalRng().random(), expected);
  });

  await t.step("backward matches centered differences (notebook: 10×10, p = 0.2, seed 123)", () => {
    const rng = new Rng(0);
    const xs = Tensor.randn([10, 10], rng).add(10);
    const dout = Tensor.randn([10, 10], rng);
    const param: DropoutParam = { mode: "train", p: 0.2, seed: 123 };
    const [, cache] = dropoutForward(xs, param);
    const dx = dropoutBackward(dout, cache);
    const dxNum = evalNumericalGradientArray((v) => dropoutForward(v, param)[0], xs, dout);
    const err = relError(dx, dxNum);
    assert.ok(err < 1e-8, `dx relative error ${err}`);
    // Only the kept units pass gradient.
    const mask = cache[1] as Tensor;
    assert.ok(dx.data.every((v, i) => (mask.data[i] === 0 ? v === 0 : v === dout.data[i] * 5)));
  });

  await t.step("float32 in, float32 out; the cache keeps a snapshot of the settings", () => {
    const x32 = Tensor.randn([4, 5], new Rng(2), "float32");
    const param: DropoutParam = { mode: "train", p: 0.5, seed: 9 };
    const [out, cache] = dropoutForward(x32, param);
    assert.equal(out.dtype, "float32");
    param.mode = "test"; // as a model does before its next test-mode call
    const dx = dropoutBackward(Tensor.ones([4, 5], "float32"), cache);
    assert.equal(dx.dtype, "float32");
    assert.ok(dx.data.every((v, i) => v === (out.data[i] === 0 ? 0 : 2)));
  });

  await t.step("bad settings are rejected with the value named", () => {
    const small = Tensor.ones([2, 2]);
    for (const p of [0, -0.5, 1.5, NaN]) {
      assert.throws(
        () => dropoutForward(small, { mode: "train", p }),
        new RegExp(
          `dropoutForward: dropoutParam.p \\(keep probability\\) must be in \\(0, 1\\], got ${p}`,
        ),
      );
    }
    assert.throws(
      () => dropoutForward(small, { mode: "eval" as "test", p: 0.5 }),
      /dropoutForward: dropoutParam.mode must be "train" or "test", got "eval"/,
    );
    assert.throws(
      () => dropoutForward(small, { mode: "train", p: 0.5, seed: 1.5 }),
      /dropoutParam.seed must be an integer, got 1.5/,
    );
    assert.throws(
      () => dropoutForward(small, undefined as unknown as DropoutParam),
      /dropoutParam must be an object/,
    );
    const [, cache] = dropoutForward(small, { mode: "train", p: 0.5, seed: 0 });
    assert.throws(
      () => dropoutBackward(Tensor.ones([4]), cache),
      /dropoutBackward: dout has shape \[4\] but the forward input had shape \[2,2\]/,
    );
    assert.throws(
      () => dropoutBackward(small, [] as unknown as typeof cache),
      /cache must be the \[dropoutParam, mask\]/,
    );
  });
});

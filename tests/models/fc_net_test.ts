import assert from "node:assert/strict";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import { FullyConnectedNet } from "../../lib/models/fc_net.ts";
import type { LossAndGrads, Model } from "../../lib/models/model.ts";
import { TwoLayerNet } from "../../lib/models/two_layer_net.ts";
import { Rng, setSeed } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

function labels(n: number, numClasses: number, rng: Rng): Int32Array {
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = rng.randint(numClasses);
  return y;
}

function sumSquares(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += v * v;
  return s;
}

function std(t: Tensor): number {
  let mean = 0;
  for (const v of t.data) mean += v / t.size;
  let s = 0;
  for (const v of t.data) s += (v - mean) ** 2;
  return Math.sqrt(s / t.size);
}

/** Checks every parameter's analytic gradient against centered differences. */
function checkAllGradients(model: Model, X: Tensor, y: ArrayLike<number>, tol: number): void {
  const [, grads] = model.loss(X, y);
  for (const name of Object.keys(model.params).sort()) {
    const numeric = evalNumericalGradient(() => model.loss(X, y)[0], model.params[name]);
    const err = relError(numeric, grads[name]);
    assert.ok(err < tol, `${name} relative error ${err} (reg ${model.reg})`);
  }
}

/**
 * Like {@link checkAllGradients}, for random small-weight nets whose gradients have entries
 * near zero. Centered differences cannot resolve those: the loss itself is only known to a
 * few ulps, so the numeric derivative carries an absolute error of about `ε·|f| / 2h`
 * (≈ 2e-11 here), which is a relative error of 1e-5 on an entry of 1e-6 — the cs231n
 * notebook reports such 1e-5 errors on this very check. So an entry passes when its
 * relative error is below `tol` or its absolute error is within 8× that noise floor.
 */
function checkAllGradientsNearNoiseFloor(
  model: Model,
  X: Tensor,
  y: ArrayLike<number>,
  tol: number,
): void {
  const h = 1e-5;
  const [loss, grads] = model.loss(X, y);
  const noiseFloor = (8 * Number.EPSILON * Math.abs(loss)) / (2 * h);
  for (const name of Object.keys(model.params).sort()) {
    const numeric = evalNumericalGradient(() => model.loss(X, y)[0], model.params[name], { h });
    for (let i = 0; i < numeric.size; i++) {
      const a = numeric.data[i], b = grads[name].data[i];
      const diff = Math.abs(a - b);
      assert.ok(
        diff <= noiseFloor || relError(a, b) < tol,
        `${name}[${i}]: numeric ${a} vs analytic ${b} (reg ${model.reg})`,
      );
    }
  }
}

/**
 * Like {@link checkAllGradientsNearNoiseFloor}, with a fourth-order difference
 * `(8·(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h` and `h = 1e-6` in place of the
 * centered one with `h = 1e-5`. Batch normalization over the notebook's two examples makes
 * the loss strongly curved: each hidden unit normalizes the difference of two
 * pre-activations (down to 4e-4 in these nets) by `sqrt(var + eps)`, with `sqrt(eps)` ≈ 3e-3.
 * The centered difference's O(h²) truncation error then reaches 1e-4 relative; it shrinks
 * 100× when h shrinks 10×, the signature of truncation rather than of a wrong gradient. The
 * fourth-order formula cancels that term and the smaller step shrinks the next one (O(h⁴)),
 * to about 2e-10 absolute. Rounding noise grows instead: 1.5× the centered formula's and
 * ∝ 1/h, and the floor grows with it.
 */
function checkAllGradientsFourthOrder(
  model: Model,
  X: Tensor,
  y: ArrayLike<number>,
  tol: number,
): void {
  const h = 1e-6;
  const [loss, grads] = model.loss(X, y);
  const noiseFloor = (1.5 * 8 * Number.EPSILON * Math.abs(loss)) / (2 * h);
  const f = () => model.loss(X, y)[0];
  for (const name of Object.keys(model.params).sort()) {
    const p = model.params[name].data;
    for (let i = 0; i < p.length; i++) {
      const old = p[i];
      const at = (dx: number) => {
        p[i] = old + dx;
        const v = f();
        p[i] = old;
        return v;
      };
      const numeric = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
      const analytic = grads[name].data[i];
      assert.ok(
        Math.abs(numeric - analytic) <= noiseFloor || relError(numeric, analytic) < tol,
        `${name}[${i}]: numeric ${numeric} vs analytic ${analytic} (reg ${model.reg})`,
      );
    }
  }
}

/** A generic caller, as the Solver is: it only knows the Model interface. */
function lossOf(model: Model, X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads {
  return model.loss(X, y);
}

Deno.test("TwoLayerNet", async (t) => {
  const N = 3, D = 5, H = 50, C = 7;
  const std1 = 1e-3;
  const model = new TwoLayerNet({
    inputDim: D,
    hiddenDim: H,
    numClasses: C,
    weightScale: std1,
    rng: new Rng(0),
  });

  await t.step("initialises W ~ weightScale·N(0,1) and b = 0 (notebook checks)", () => {
    const { W1, b1, W2, b2 } = model.params;
    assert.deepEqual([W1.shape, b1.shape, W2.shape, b2.shape], [[D, H], [H], [H, C], [C]]);
    assert.ok(Math.abs(std(W1) - std1) < std1 / 10, `W1 std ${std(W1)}`);
    assert.ok(Math.abs(std(W2) - std1) < std1 / 10, `W2 std ${std(W2)}`);
    assert.ok(b1.data.every((v) => v === 0) && b2.data.every((v) => v === 0));
    assert.equal(model.dtype, "float64");
  });

  await t.step("scores and losses match the notebook for assigned parameters", () => {
    model.params.W1 = Tensor.linspace(-0.7, 0.3, D * H).reshape([D, H]);
    model.params.b1 = Tensor.linspace(-0.1, 0.9, H);
    model.params.W2 = Tensor.linspace(-0.3, 0.4, H * C).reshape([H, C]);
    model.params.b2 = Tensor.linspace(-0.9, 0.1, C);
    const X = Tensor.linspace(-5.5, 4.5, N * D).reshape([D, N]).transpose();
    const scores = model.loss(X);
    const correctScores = Tensor.fromArray([
      [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
      [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
      [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319],
    ]);
    assert.deepEqual(scores.shape, [N, C]);
    // The notebook prints 8 decimals: each value is within 5e-9 of the true one.
    for (let i = 0; i < scores.size; i++) {
      assert.ok(Math.abs(scores.data[i] - correctScores.data[i]) < 6e-9, `score ${i}`);
    }
    const y = [0, 5, 1];
    model.reg = 0;
    assert.ok(Math.abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10);
    model.reg = 1.0;
    assert.ok(Math.abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10);
  });

  await t.step("gradients match centered differences for reg 0 and 0.7 (notebook setup)", () => {
    // The notebook checks the model it has just loaded with the linspace parameters.
    const X = Tensor.linspace(-5.5, 4.5, N * D).reshape([D, N]).transpose();
    for (const reg of [0, 0.7]) {
      model.reg = reg;
      checkAllGradients(model, X, [0, 5, 1], 1e-6);
    }
  });

  await t.step("small weights give an initial loss of about log(C)", () => {
    const rng = new Rng(4);
    const net = new TwoLayerNet({ inputDim: 20, hiddenDim: 30, numClasses: 10, rng });
    const [loss] = net.loss(Tensor.randn([16, 20], rng), labels(16, 10, rng));
    assert.ok(Math.abs(loss - Math.log(10)) < 1e-3, `${loss}`);
  });

  await t.step("reg adds 0.5·reg·(ΣW1² + ΣW2²) and reg·W to the weight gradients", () => {
    const rng = new Rng(8);
    const net = new TwoLayerNet({
      inputDim: 6,
      hiddenDim: 9,
      numClasses: 4,
      weightScale: 0.5,
      rng,
    });
    const X = Tensor.randn([5, 6], rng);
    const y = labels(5, 4, rng);
    const [loss0, g0] = net.loss(X, y);
    net.reg = 3.14;
    const [loss1, g1] = net.loss(X, y);
    const penalty = 0.5 * 3.14 * (sumSquares(net.params.W1) + sumSquares(net.params.W2));
    assert.ok(Math.abs(loss1 - loss0 - penalty) < 1e-12 * loss1, `${loss1 - loss0} ${penalty}`);
    for (const name of ["W1", "W2"]) {
      const expected = g0[name].add(net.params[name].mul(3.14));
      assert.ok(relError(g1[name], expected) < 1e-14, name);
    }
    assert.deepEqual(g1.b1.data, g0.b1.data);
    assert.deepEqual(g1.b2.data, g0.b2.data);
  });

  await t.step("float32 keeps its dtype and agrees with float64", () => {
    const rng = new Rng(12);
    const net32 = new TwoLayerNet({ inputDim: 8, hiddenDim: 6, numClasses: 3, dtype: "float32" });
    const net64 = new TwoLayerNet({ inputDim: 8, hiddenDim: 6, numClasses: 3, weightScale: 0.3 });
    for (const k of Object.keys(net64.params)) net32.params[k] = net64.params[k].astype("float32");
    const X = Tensor.randn([4, 8], rng);
    const s32 = net32.loss(X);
    assert.equal(s32.dtype, "float32");
    assert.ok(relError(s32, net64.loss(X)) < 1e-5);
    const [, grads] = net32.loss(X, [0, 1, 2, 0]);
    assert.ok(Object.values(grads).every((g) => g.dtype === "float32"));
  });

  await t.step("errors name the problem", () => {
    assert.throws(
      () => new TwoLayerNet({ hiddenDim: 0 }),
      /TwoLayerNet: hiddenDim must be a positive integer, got 0/,
    );
    assert.throws(
      () => new TwoLayerNet({ inputDim: 4, reg: -1 }),
      /TwoLayerNet: reg must be a finite number ≥ 0, got -1/,
    );
    const net = new TwoLayerNet({ inputDim: 4, hiddenDim: 3, numClasses: 2 });
    assert.throws(() => net.loss(Tensor.zeros([2, 5]), [0, 1]), /x has 5 features per example/);
    assert.throws(
      () => net.loss(Tensor.zeros([2, 4]), [0, 2]),
      /softmaxLoss: y\[1\] = 2 is not a class index in \[0, 2\)/,
    );
    delete net.params.b2;
    assert.throws(() => net.loss(Tensor.zeros([2, 4])), /TwoLayerNet.loss: params.b2 is missing/);
  });
});

Deno.test("FullyConnectedNet", async (t) => {
  await t.step(
    "gradients match centered differences (notebook: N=2, D=15, H=[20,30], C=10)",
    () => {
      const N = 2, D = 15, C = 10;
      const rng = new Rng(231);
      const X = Tensor.randn([N, D], rng);
      const y = labels(N, C, rng);
      for (const reg of [0, 3.14]) {
        const model = new FullyConnectedNet({
          hiddenDims: [20, 30],
          inputDim: D,
          numClasses: C,
          reg,
          weightScale: 5e-2,
          dtype: "float64",
          rng,
        });
        if (reg === 0) {
          const [loss] = model.loss(X, y);
          assert.ok(Math.abs(loss - Math.log(C)) < 0.05, `initial loss ${loss}`);
        }
        checkAllGradientsNearNoiseFloor(model, X, y, 1e-6);
      }
    },
  );

  await t.step("parameters follow the cs231n layout and defaults", () => {
    const model = new FullyConnectedNet({ hiddenDims: [100, 50], rng: new Rng(1) });
    assert.equal(model.numLayers, 3);
    assert.equal(model.dtype, "float32");
    assert.equal(model.reg, 0);
    assert.equal(model.normalization, null);
    assert.equal(model.useDropout, false);
    const shapes = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, v.shape]));
    assert.deepEqual(shapes, {
      W1: [3072, 100],
      b1: [100],
      W2: [100, 50],
      b2: [50],
      W3: [50, 10],
      b3: [10],
    });
    assert.ok(Object.values(model.params).every((p) => p.dtype === "float32"));
    // 307,200 draws: the sample std is within 0.5% of weightScale = 1e-2.
    assert.ok(Math.abs(std(model.params.W1) - 1e-2) < 5e-5, `${std(model.params.W1)}`);
    assert.ok(model.params.b2.data.every((v) => v === 0));
  });

  await t.step("weights come from rng, defaulting to the global generator", () => {
    const opts = { hiddenDims: [4], inputDim: 3, numClasses: 2 };
    const a = new FullyConnectedNet({ ...opts, rng: new Rng(5) });
    const b = new FullyConnectedNet({ ...opts, rng: new Rng(5) });
    assert.deepEqual(a.params.W2.data, b.params.W2.data);
    setSeed(5);
    const c = new FullyConnectedNet(opts);
    assert.deepEqual(c.params.W1.data, a.params.W1.data);
    const d = new FullyConnectedNet(opts); // the global stream has moved on
    assert.notDeepEqual(d.params.W1.data, a.params.W1.data);
  });

  await t.step("scores of a tiny net computed by hand", () => {
    const model = new FullyConnectedNet({ hiddenDims: [2], inputDim: 2, numClasses: 2 });
    model.params.W1 = Tensor.fromArray([[1, -1], [2, 1]], undefined, "float32");
    model.params.b1 = Tensor.fromArray([0, -5], undefined, "float32");
    model.params.W2 = Tensor.fromArray([[1, 0], [0, 2]], undefined, "float32");
    model.params.b2 = Tensor.fromArray([0.5, 0], undefined, "float32");
    // x = (1, 1): hidden pre-activations (3, -5) → relu (3, 0) → scores (3.5, 0).
    const X = Tensor.fromArray([[1, 1]]);
    assert.deepEqual(model.loss(X).toNested(), [[3.5, 0]]);
    const [loss, grads] = model.loss(X, [1]);
    // -log softmax(3.5, 0)[1] = log(1 + e^3.5).
    assert.ok(Math.abs(loss - Math.log(1 + Math.exp(3.5))) < 1e-6, `${loss}`);
    // The inactive hidden unit passes no gradient to its weights and bias.
    assert.equal(grads.b1.get(1), 0);
    assert.equal(grads.W1.get(0, 1), 0);
  });

  await t.step("loss(X) returns float32 scores (N, C) that agree with float64", () => {
    const rng = new Rng(3);
    const opts = { hiddenDims: [12, 7], inputDim: 3 * 4, numClasses: 5, weightScale: 0.2 };
    const m32 = new FullyConnectedNet({ ...opts, rng: new Rng(6) });
    const m64 = new FullyConnectedNet({ ...opts, dtype: "float64" });
    for (const k of Object.keys(m32.params)) m64.params[k] = m32.params[k].astype("float64");
    // Images (N, 3, 2, 2) are flattened; the float64 input is cast to the model's float32.
    const X = Tensor.randn([6, 3, 2, 2], rng);
    const scores = m32.loss(X);
    assert.deepEqual(scores.shape, [6, 5]);
    assert.equal(scores.dtype, "float32");
    assert.ok(relError(scores, m64.loss(X)) < 1e-5);
    const y = labels(6, 5, rng);
    const [loss32, grads32] = m32.loss(X, y);
    const [loss64, grads64] = m64.loss(X, y);
    assert.ok(Math.abs(loss32 - loss64) < 1e-6 * loss64);
    for (const k of Object.keys(grads64)) {
      assert.equal(grads32[k].dtype, "float32");
      assert.ok(relError(grads32[k], grads64[k]) < 1e-4, k);
    }
  });

  await t.step("reg changes the loss by exactly 0.5·reg·ΣW² over weights only", () => {
    const rng = new Rng(17);
    const model = new FullyConnectedNet({
      hiddenDims: [8, 8],
      inputDim: 6,
      numClasses: 3,
      weightScale: 0.4,
      dtype: "float64",
      rng,
    });
    model.params.b1 = Tensor.full([8], 0.3); // biases must not be penalised
    const X = Tensor.randn([4, 6], rng);
    const y = labels(4, 3, rng);
    const [loss0] = model.loss(X, y);
    model.reg = 3.14;
    const [loss1] = model.loss(X, y);
    const squares = sumSquares(model.params.W1) + sumSquares(model.params.W2) +
      sumSquares(model.params.W3);
    assert.ok(Math.abs(loss1 - loss0 - 0.5 * 3.14 * squares) < 1e-12 * loss1);
  });

  await t.step("no hidden layers is a softmax classifier", () => {
    const rng = new Rng(21);
    const model = new FullyConnectedNet({
      hiddenDims: [],
      inputDim: 4,
      numClasses: 3,
      reg: 0.5,
      dtype: "float64",
      rng,
    });
    assert.deepEqual(Object.keys(model.params), ["W1", "b1"]);
    checkAllGradients(model, Tensor.randn([3, 4], rng), [2, 0, 1], 1e-6);
  });

  await t.step("both models satisfy the Model interface", () => {
    const models: Model[] = [
      new TwoLayerNet({ inputDim: 4, hiddenDim: 3, numClasses: 2 }),
      new FullyConnectedNet({ hiddenDims: [3], inputDim: 4, numClasses: 2 }),
    ];
    for (const m of models) {
      const X = Tensor.zeros([2, 4]);
      const scores = lossOf(m, X);
      assert.ok(scores instanceof Tensor && scores.dtype === m.dtype);
      const out = lossOf(m, X, [1, 0]);
      assert.ok(Array.isArray(out) && Math.abs(out[0] - Math.log(2)) < 1e-6);
    }
  });

  await t.step("invalid options are rejected", () => {
    const base = { hiddenDims: [5], inputDim: 3, numClasses: 2 };
    assert.throws(
      () => new FullyConnectedNet({ ...base, normalization: "groupnorm" as "batchnorm" }),
      new RegExp(
        '^Error: FullyConnectedNet: normalization must be "batchnorm", "layernorm" or null, ' +
          'got "groupnorm"',
      ),
    );
    for (const keep of [0, 1.5, NaN]) {
      assert.throws(
        () => new FullyConnectedNet({ ...base, dropoutKeepRatio: keep }),
        new RegExp(`FullyConnectedNet: dropoutKeepRatio must be in \\(0, 1\\], got ${keep}`),
      );
    }
    assert.throws(
      () => new FullyConnectedNet({ ...base, dropoutKeepRatio: 0.5, seed: 0.5 }),
      /FullyConnectedNet: seed must be an integer, got 0.5/,
    );
    assert.throws(
      () => new FullyConnectedNet({ ...base, hiddenDims: [5, 2.5] }),
      /FullyConnectedNet: hiddenDims\[1\] must be a positive integer, got 2.5/,
    );
    assert.throws(
      () => new FullyConnectedNet({} as { hiddenDims: number[] }),
      /options.hiddenDims must be an array of layer widths, got undefined/,
    );
    assert.throws(
      () => new FullyConnectedNet({ ...base, dtype: "int32" as "float32" }),
      /dtype must be "float32" or "float64"/,
    );
    const model = new FullyConnectedNet(base);
    assert.throws(() => model.loss(Tensor.zeros([2, 3]), [0]), /y has 1 labels but x has 2 rows/);
    model.reg = NaN;
    assert.throws(() => model.loss(Tensor.zeros([2, 3]), [0, 1]), /reg must be a finite number/);
  });
});

Deno.test("FullyConnectedNet with normalization and dropout", async (t) => {
  const N = 2, D = 15, C = 10;
  const gradCheckOptions = {
    hiddenDims: [20, 30],
    inputDim: D,
    numClasses: C,
    weightScale: 5e-2,
    dtype: "float64" as const,
  };

  for (const normalization of ["batchnorm", "layernorm"] as const) {
    await t.step(`${normalization}: gradients match centered differences (notebook setup)`, () => {
      const rng = new Rng(231);
      const X = Tensor.randn([N, D], rng);
      const y = labels(N, C, rng);
      for (const reg of [0, 3.14]) {
        const model = new FullyConnectedNet({ ...gradCheckOptions, reg, normalization, rng });
        checkAllGradientsFourthOrder(model, X, y, 1e-8);
      }
    });
  }

  await t.step("dropout with a seed: gradients match for keep ratios 1, 0.75, 0.5", () => {
    // The Dropout notebook's check: seed 123 makes every forward pass draw the same mask.
    const rng = new Rng(231);
    const X = Tensor.randn([N, D], rng);
    const y = labels(N, C, rng);
    for (const dropoutKeepRatio of [1, 0.75, 0.5]) {
      const model = new FullyConnectedNet({
        ...gradCheckOptions,
        dropoutKeepRatio,
        seed: 123,
        rng,
      });
      assert.equal(model.useDropout, dropoutKeepRatio !== 1);
      checkAllGradientsNearNoiseFloor(model, X, y, 1e-6);
    }
  });

  await t.step("batchnorm and dropout together: gradients match", () => {
    const rng = new Rng(5);
    const X = Tensor.randn([4, D], rng);
    const y = labels(4, C, rng);
    const model = new FullyConnectedNet({
      ...gradCheckOptions,
      normalization: "batchnorm",
      dropoutKeepRatio: 0.6,
      seed: 1,
      reg: 0.5,
      rng,
    });
    checkAllGradientsFourthOrder(model, X, y, 1e-8);
  });

  await t.step("parameters W, b, gamma, beta per hidden layer; bnParams; dropoutParam", () => {
    const model = new FullyConnectedNet({
      hiddenDims: [6, 4],
      inputDim: 5,
      numClasses: 3,
      normalization: "batchnorm",
      dropoutKeepRatio: 0.8,
      seed: 17,
      rng: new Rng(0),
    });
    assert.deepEqual(Object.keys(model.params), [
      "W1",
      "b1",
      "gamma1",
      "beta1",
      "W2",
      "b2",
      "gamma2",
      "beta2",
      "W3",
      "b3",
    ]);
    assert.deepEqual(model.params.gamma2.shape, [4]);
    assert.ok(model.params.gamma1.data.every((v) => v === 1));
    assert.ok(model.params.beta1.data.every((v) => v === 0));
    assert.equal(model.params.gamma1.dtype, "float32");
    assert.deepEqual(model.bnParams, [{ mode: "train" }, { mode: "train" }]);
    assert.deepEqual(model.dropoutParam, { mode: "train", p: 0.8, seed: 17 });
    assert.equal(model.useDropout, true);
    const plain = new FullyConnectedNet({ hiddenDims: [6], inputDim: 5, numClasses: 3 });
    assert.deepEqual([plain.bnParams, plain.dropoutParam], [[], null]);
    const ln = new FullyConnectedNet({ hiddenDims: [6], normalization: "layernorm" });
    assert.deepEqual(Object.keys(ln.params), ["W1", "b1", "gamma1", "beta1", "W2", "b2"]);
    assert.equal(ln.bnParams.length, 1);
  });

  await t.step("batchnorm: loss(X) runs in test mode on the running statistics", () => {
    const rng = new Rng(8);
    const model = new FullyConnectedNet({
      hiddenDims: [7],
      inputDim: 4,
      numClasses: 3,
      normalization: "batchnorm",
      weightScale: 0.5,
      dtype: "float64",
      rng,
    });
    const X = Tensor.randn([6, 4], rng);
    assert.throws(
      () => model.loss(X),
      /batchnormForward: test mode needs bnParam.runningMean and bnParam.runningVar/,
    );
    model.loss(X, labels(6, 3, rng));
    const bnParam = model.bnParams[0];
    const runningMean = bnParam.runningMean as Tensor;
    assert.deepEqual(runningMean.shape, [7]);
    const scores = model.loss(X);
    assert.equal(bnParam.mode, "test");
    assert.equal(bnParam.runningMean, runningMean, "test mode leaves the running stats alone");
    // Each example's scores no longer depend on the rest of the batch.
    const single = model.loss(X.sliceRows(2, 3));
    assert.ok(relError(single, scores.sliceRows(2, 3)) < 1e-14);
    // ... and equal the network computed by hand with the running statistics.
    const { W1, b1, gamma1, beta1, W2, b2 } = model.params;
    const a = X.matmul(W1).add(b1);
    const rv = (bnParam.runningVar as Tensor).add(1e-5).sqrt();
    const hidden = a.sub(runningMean).div(rv).mul(gamma1).add(beta1).maximum(0);
    assert.ok(relError(scores, hidden.matmul(W2).add(b2)) < 1e-12);
    // In training mode the batch statistics are used instead, so the rows interact.
    model.loss(X, labels(6, 3, rng));
    assert.equal(bnParam.mode, "train");
  });

  await t.step("layernorm: test mode works from the start and matches train mode", () => {
    const rng = new Rng(9);
    const model = new FullyConnectedNet({
      hiddenDims: [7, 5],
      inputDim: 4,
      numClasses: 3,
      normalization: "layernorm",
      weightScale: 0.5,
      dtype: "float64",
      rng,
    });
    const X = Tensor.randn([6, 4], rng);
    const y = labels(6, 3, rng);
    const scores = model.loss(X);
    assert.ok(relError(model.loss(X.sliceRows(0, 1)), scores.sliceRows(0, 1)) < 1e-14);
    // The loss computed from the test-mode scores equals the training-mode loss.
    let expected = 0;
    for (let n = 0; n < 6; n++) {
      const row = [...scores.sliceRows(n, n + 1).data];
      const max = Math.max(...row);
      const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
      expected += (logSum - row[y[n]]) / 6;
    }
    assert.ok(Math.abs(model.loss(X, y)[0] - expected) < 1e-12);
  });

  await t.step("dropout: test mode is deterministic and equals the net without dropout", () => {
    const options = {
      hiddenDims: [50, 40],
      inputDim: 6,
      numClasses: 4,
      weightScale: 0.3,
      dtype: "float64" as const,
    };
    const withDropout = new FullyConnectedNet({ ...options, dropoutKeepRatio: 0.5 });
    const plain = new FullyConnectedNet(options);
    plain.params = withDropout.params;
    const rng = new Rng(10);
    const X = Tensor.randn([8, 6], rng);
    const y = labels(8, 4, rng);
    assert.deepEqual(withDropout.loss(X).data, plain.loss(X).data);
    assert.equal(withDropout.dropoutParam?.mode, "test");
    // Without a seed each training-mode pass draws a new mask from the global generator.
    setSeed(3);
    const [lossA] = withDropout.loss(X, y);
    const [lossB] = withDropout.loss(X, y);
    assert.notEqual(lossA, lossB);
    setSeed(3);
    assert.equal(withDropout.loss(X, y)[0], lossA);
    assert.notEqual(lossA, plain.loss(X, y)[0]);
    // With a seed every pass draws the same mask.
    const seeded = new FullyConnectedNet({ ...options, dropoutKeepRatio: 0.5, seed: 4 });
    assert.equal(seeded.loss(X, y)[0], seeded.loss(X, y)[0]);
  });

  await t.step("a broken bnParams entry is reported", () => {
    const model = new FullyConnectedNet({
      hiddenDims: [3],
      inputDim: 2,
      numClasses: 2,
      normalization: "batchnorm",
    });
    model.bnParams = [];
    assert.throws(
      () => model.loss(Tensor.zeros([2, 2]), [0, 1]),
      /FullyConnectedNet.loss: bnParams\[0\] \(hidden layer 1\) must be an object, got undefined/,
    );
  });
});

Deno.test("model constructors reject unknown options, naming the notebook's snake_case ones", () => {
  assert.throws(
    () => new TwoLayerNet({ hidden_dim: 50 } as never),
    /TwoLayerNet: unknown option "hidden_dim" \(did you mean "hiddenDim"\?\); valid options: inputDim, hiddenDim/,
  );
  assert.throws(
    () => new FullyConnectedNet({ hiddenDims: [5], dropout: 0.5 } as never),
    /FullyConnectedNet: unknown option "dropout" \(did you mean "dropoutKeepRatio"\?\)/,
  );
  assert.throws(
    () => new FullyConnectedNet({ hiddenDims: [5], weight_scale: 1, normalisation: null } as never),
    /unknown options "weight_scale" \(did you mean "weightScale"\?\), "normalisation" \(did you mean "normalization"\?\)/,
  );
});

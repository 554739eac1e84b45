import assert from "node:assert/strict";
import {
  evalNumericalGradient,
  evalNumericalGradientArray,
  relError,
} from "../../lib/gradient_check.ts";
import {
  axpy,
  broadcastRows,
  columnSums,
  relu,
  reluMask,
  sumOfSquares,
} from "../../lib/kernels/elementwise.ts";
import { affineBackward, affineForward, affineParamGrads } from "../../lib/layers/affine.ts";
import { affineReluBackward, affineReluForward } from "../../lib/layers/affine_relu.ts";
import { softmaxLoss, svmLoss } from "../../lib/layers/losses.ts";
import { reluBackward, reluForward } from "../../lib/layers/relu.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

function labels(n: number, numClasses: number, rng: Rng): Int32Array {
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = rng.randint(numClasses);
  return y;
}

Deno.test("elementwise kernels", async (t) => {
  await t.step("broadcastRows copies the row into every row, converting dtypes", () => {
    const out = new Float32Array(6);
    broadcastRows(new Float64Array([0.5, -1, 2, 99]).subarray(0, 3), out, 2, 3);
    assert.deepEqual([...out], [0.5, -1, 2, 0.5, -1, 2]);
    assert.throws(() => broadcastRows(new Float64Array(2), out, 2, 3), /row needs at least 3/);
  });
  await t.step("columnSums sums each column in float64 before rounding once", () => {
    const out = new Float64Array(3);
    columnSums(new Float64Array([1, 2, 3, 4, 5, 6]), 2, 3, out);
    assert.deepEqual([...out], [5, 7, 9]);
    // At 2^25 the float32 spacing is 4, so a float32 accumulator would drop every +1.
    const out32 = new Float32Array(1);
    columnSums(new Float32Array([2 ** 25, 1, 1, 1, 1]), 5, 1, out32);
    assert.equal(out32[0], 2 ** 25 + 4);
    assert.throws(() => columnSums(new Float64Array(5), 2, 3, out), /src needs at least 6/);
  });
  await t.step("relu, reluMask, sumOfSquares and axpy compute their formulas", () => {
    const out = new Float64Array(4);
    relu(new Float64Array([-1, 0, 2, NaN]), out);
    assert.deepEqual([...out], [0, 0, 2, NaN]);
    const dx = new Float64Array(4);
    reluMask(new Float64Array([1, 2, 3, 4]), new Float64Array([-1, 0, 2, NaN]), dx);
    assert.deepEqual([...dx], [0, 0, 3, 0]);
    assert.equal(sumOfSquares(new Float64Array([3, -4])), 25);
    const y = new Float64Array([1, 2]);
    axpy(-0.5, new Float64Array([2, 8]), y);
    assert.deepEqual([...y], [0, -2]);
    assert.throws(() => axpy(1, new Float64Array(3), y), /axpy: y needs at least 3/);
  });
});

Deno.test("affineForward", async (t) => {
  // The notebook's check: x, w, b from linspace, x of shape (2, 4, 5, 6), w (120, 3).
  const x = Tensor.linspace(-0.1, 0.5, 240).reshape([2, 4, 5, 6]);
  const w = Tensor.linspace(-0.2, 0.3, 360).reshape([120, 3]);
  const b = Tensor.linspace(-0.3, 0.1, 3);
  const [out] = affineForward(x, w, b);

  await t.step("matches the closed form of sums of linear sequences", () => {
    // x[n, d] = α_n + β d and w[d, m] = γ_m + δ d, so Σ_d x w needs only Σd and Σd².
    const beta = 0.6 / 239, eps = 0.5 / 359, delta = 3 * eps, D = 120;
    const s1 = (D * (D - 1)) / 2, s2 = ((D - 1) * D * (2 * D - 1)) / 6;
    assert.deepEqual(out.shape, [2, 3]);
    for (let n = 0; n < 2; n++) {
      for (let m = 0; m < 3; m++) {
        const alpha = -0.1 + 120 * n * beta, gamma = -0.2 + m * eps;
        const expected = -0.3 + 0.2 * m + D * alpha * gamma + (alpha * delta + beta * gamma) * s1 +
          beta * delta * s2;
        assert.ok(Math.abs(out.get(n, m) - expected) < 1e-12, `(${n},${m}): ${out.get(n, m)}`);
      }
    }
  });
  await t.step("matches the notebook's expected output", () => {
    const correct = Tensor.fromArray([
      [1.49834967, 1.70660132, 1.91485297],
      [3.25553199, 3.5141327, 3.77273342],
    ]);
    assert.ok(relError(out, correct) < 1e-8, `${relError(out, correct)}`);
  });
  await t.step("keeps float32 and agrees with float64", () => {
    const [out32] = affineForward(x.astype("float32"), w.astype("float32"), b.astype("float32"));
    assert.equal(out32.dtype, "float32");
    assert.ok(relError(out32, out) < 1e-6);
  });
  await t.step("rejects shapes and dtypes that do not fit, naming both", () => {
    const img = Tensor.zeros([2, 1, 28, 28]);
    assert.throws(
      () => affineForward(img, Tensor.zeros([100, 10]), Tensor.zeros([10])),
      {
        message:
          "affineForward: x has 784 features per example (shape [2,1,28,28]) but w expects 100 " +
          "(shape [100,10])",
      },
    );
    assert.throws(
      () => affineForward(Tensor.zeros([2, 3]), Tensor.zeros([3, 4]), Tensor.zeros([3])),
      /b must have shape \[4\] to match w's 4 outputs \(shape \[3,4\]\), got shape \[3\]/,
    );
    assert.throws(
      () => affineForward(Tensor.zeros([2, 3]), Tensor.zeros([3, 4], "float32"), Tensor.zeros([4])),
      /affineForward: x, w and b must share a dtype, got x float64, w float32, b float64/,
    );
    assert.throws(
      () => affineForward(Tensor.zeros([2, 3]), Tensor.zeros([3]), Tensor.zeros([1])),
      /w must be 2-d/,
    );
  });
});

Deno.test("affineBackward", async (t) => {
  const rng = new Rng(231);
  const x = Tensor.randn([10, 2, 3], rng);
  const w = Tensor.randn([6, 5], rng);
  const b = Tensor.randn([5], rng);
  const dout = Tensor.randn([10, 5], rng);
  const [, cache] = affineForward(x, w, b);
  const [dx, dw, db] = affineBackward(dout, cache);

  await t.step("gradients match centered differences", () => {
    const dxNum = evalNumericalGradientArray((v) => affineForward(v, w, b)[0], x, dout);
    const dwNum = evalNumericalGradientArray((v) => affineForward(x, v, b)[0], w, dout);
    const dbNum = evalNumericalGradientArray((v) => affineForward(x, w, v)[0], b, dout);
    assert.deepEqual(dx.shape, [10, 2, 3]);
    assert.ok(relError(dx, dxNum) < 1e-7, `dx error ${relError(dx, dxNum)}`);
    assert.ok(relError(dw, dwNum) < 1e-7, `dw error ${relError(dw, dwNum)}`);
    assert.ok(relError(db, dbNum) < 1e-7, `db error ${relError(db, dbNum)}`);
  });
  await t.step("matches the products written out by hand", () => {
    // dx[n, d] = Σ_m dout[n, m] w[d, m]; dw[d, m] = Σ_n x[n, d] dout[n, m]; db[m] = Σ_n dout.
    const xf = x.reshape([10, 6]);
    for (let n = 0; n < 10; n++) {
      for (let d = 0; d < 6; d++) {
        let s = 0;
        for (let m = 0; m < 5; m++) s += dout.get(n, m) * w.get(d, m);
        assert.ok(Math.abs(dx.data[n * 6 + d] - s) < 1e-12);
      }
    }
    for (let d = 0; d < 6; d++) {
      for (let m = 0; m < 5; m++) {
        let s = 0;
        for (let n = 0; n < 10; n++) s += xf.get(n, d) * dout.get(n, m);
        assert.ok(Math.abs(dw.get(d, m) - s) < 1e-12);
      }
    }
    for (let m = 0; m < 5; m++) {
      let s = 0;
      for (let n = 0; n < 10; n++) s += dout.get(n, m);
      assert.ok(Math.abs(db.get(m) - s) < 1e-12);
    }
  });
  await t.step("affineParamGrads returns the same dw and db", () => {
    const [dw2, db2] = affineParamGrads(dout, cache);
    assert.deepEqual(dw2.data, dw.data);
    assert.deepEqual(db2.data, db.data);
  });
  await t.step("float32 in, float32 out", () => {
    const [, c32] = affineForward(x.astype("float32"), w.astype("float32"), b.astype("float32"));
    const grads = affineBackward(dout.astype("float32"), c32);
    assert.deepEqual(grads.map((g) => g.dtype), ["float32", "float32", "float32"]);
    assert.ok(relError(grads[1], dw) < 1e-5);
  });
  await t.step("rejects a dout of the wrong shape or dtype", () => {
    assert.throws(
      () => affineBackward(Tensor.zeros([10, 4]), cache),
      /affineBackward: dout has shape \[10,4\] but the forward output had shape \[10,5\]/,
    );
    assert.throws(
      () => affineBackward(dout.astype("float32"), cache),
      /affineBackward: dout is float32 but the forward pass ran in float64/,
    );
  });
});

Deno.test("reluForward / reluBackward", async (t) => {
  await t.step("forward on a known vector, keeping shape and dtype", () => {
    const x = Tensor.fromArray([[-2, -0.5, 0], [0.5, 3, -1e-300]], undefined, "float32");
    const [out, cache] = reluForward(x);
    assert.equal(out.dtype, "float32");
    assert.deepEqual(out.toNested(), [[0, 0, 0], [0.5, 3, 0]]);
    assert.equal(cache, x);
  });
  await t.step("NaN passes through instead of being hidden as 0", () => {
    const [out] = reluForward(Tensor.fromArray([NaN, -1]));
    assert.ok(Number.isNaN(out.get(0)));
  });
  await t.step("backward blocks inactive units, including exactly 0", () => {
    const [, cache] = reluForward(Tensor.fromArray([-1, 0, 2]));
    assert.deepEqual([...reluBackward(Tensor.fromArray([7, 8, 9]), cache).data], [0, 0, 9]);
  });
  await t.step("backward matches centered differences", () => {
    const rng = new Rng(7);
    const x = Tensor.randn([10, 10], rng);
    const dout = Tensor.randn([10, 10], rng);
    const dxNum = evalNumericalGradientArray((v) => reluForward(v)[0], x, dout);
    const dx = reluBackward(dout, reluForward(x)[1]);
    assert.ok(relError(dx, dxNum) < 1e-7, `${relError(dx, dxNum)}`);
  });
  await t.step("backward rejects a mismatched dout", () => {
    const [, cache] = reluForward(Tensor.zeros([2, 3]));
    assert.throws(
      () => reluBackward(Tensor.zeros([3, 2]), cache),
      /reluBackward: dout has shape \[3,2\] but the forward input had shape \[2,3\]/,
    );
  });
});

Deno.test("affineReluForward / affineReluBackward", async (t) => {
  const rng = new Rng(11);
  const x = Tensor.randn([2, 3, 4], rng);
  const w = Tensor.randn([12, 10], rng);
  const b = Tensor.randn([10], rng);
  const dout = Tensor.randn([2, 10], rng);
  const [out, cache] = affineReluForward(x, w, b);

  await t.step("forward is relu of the affine output", () => {
    const [a] = affineForward(x, w, b);
    assert.deepEqual([...out.data], [...a.data].map((v) => Math.max(0, v)));
  });
  await t.step("backward matches centered differences", () => {
    const [dx, dw, db] = affineReluBackward(dout, cache);
    const dxNum = evalNumericalGradientArray((v) => affineReluForward(v, w, b)[0], x, dout);
    const dwNum = evalNumericalGradientArray((v) => affineReluForward(x, v, b)[0], w, dout);
    const dbNum = evalNumericalGradientArray((v) => affineReluForward(x, w, v)[0], b, dout);
    assert.ok(relError(dx, dxNum) < 1e-7, `dx error ${relError(dx, dxNum)}`);
    assert.ok(relError(dw, dwNum) < 1e-7, `dw error ${relError(dw, dwNum)}`);
    assert.ok(relError(db, dbNum) < 1e-7, `db error ${relError(db, dbNum)}`);
  });
});

Deno.test("svmLoss", async (t) => {
  await t.step("zero scores give C - 1 and the counting gradient", () => {
    const N = 4, C = 10;
    const y = [0, 9, 3, 3];
    const [loss, dx] = svmLoss(Tensor.zeros([N, C]), y);
    assert.equal(loss, C - 1);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < C; j++) {
        assert.equal(dx.get(i, j), j === y[i] ? -(C - 1) / N : 1 / N);
      }
    }
  });
  await t.step("a hand-computed batch", () => {
    // Row 0 (label 0): margins 2 and 3. Row 1 (label 2): 0.5 - 3 + 1 < 0, 2.5 - 3 + 1 = 0.5.
    const [loss, dx] = svmLoss(Tensor.fromArray([[1, 2, 3], [0.5, 2.5, 3]]), [0, 2]);
    assert.equal(loss, (5 + 0.5) / 2);
    assert.deepEqual(dx.toNested(), [[-1, 0.5, 0.5], [0, 0.5, -0.5]]);
  });
  await t.step("a margin of exactly 0 contributes no loss and no gradient", () => {
    const [loss, dx] = svmLoss(Tensor.fromArray([[1, 0]]), [0]);
    assert.equal(loss, 0);
    assert.deepEqual([...dx.data], [0, 0]);
  });
  await t.step("gradient matches centered differences (notebook setup)", () => {
    const rng = new Rng(231);
    const x = Tensor.randn([50, 10], rng).mul(0.001);
    const y = labels(50, 10, rng);
    const [loss, dx] = svmLoss(x, y);
    const dxNum = evalNumericalGradient((v) => svmLoss(v, y)[0], x);
    assert.ok(Math.abs(loss - 9) < 0.01, `loss ${loss}`);
    assert.ok(relError(dx, dxNum) < 1e-7, `${relError(dx, dxNum)}`);
  });
  await t.step("NaN scores give a NaN loss", () => {
    assert.ok(Number.isNaN(svmLoss(Tensor.fromArray([[0, NaN]]), [0])[0]));
  });
});

Deno.test("softmaxLoss", async (t) => {
  await t.step("zero scores give log(C) and gradient (1/C - [j = y]) / N", () => {
    const N = 3, C = 10;
    const y = [2, 0, 9];
    const [loss, dx] = softmaxLoss(Tensor.zeros([N, C]), y);
    assert.ok(Math.abs(loss - Math.log(C)) < 1e-15, `${loss}`);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < C; j++) {
        const expected = ((j === y[i] ? -1 : 0) + 1 / C) / N;
        assert.ok(Math.abs(dx.get(i, j) - expected) < 1e-16);
      }
    }
  });
  await t.step("huge scores do not overflow", () => {
    // softmax([1000, 0]) puts e^-1000 on class 1: the loss is 1000 + log(1 + e^-1000).
    const [loss, dx] = softmaxLoss(Tensor.fromArray([[1000, 0], [-1000, -1000]]), [1, 0]);
    assert.equal(loss, (1000 + Math.log(2)) / 2);
    assert.deepEqual(dx.sliceRows(0, 1).toNested(), [[0.5, -0.5]]);
    assert.ok(relError(dx.sliceRows(1, 2), Tensor.fromArray([[-0.25, 0.25]])) < 1e-15);
  });
  await t.step("gradient matches centered differences (notebook setup)", () => {
    const rng = new Rng(231);
    const x = Tensor.randn([50, 10], rng).mul(0.001);
    const y = labels(50, 10, rng);
    const [loss, dx] = softmaxLoss(x, y);
    const dxNum = evalNumericalGradient((v) => softmaxLoss(v, y)[0], x);
    assert.ok(Math.abs(loss - Math.log(10)) < 0.01, `loss ${loss}`);
    assert.ok(relError(dx, dxNum) < 1e-7, `${relError(dx, dxNum)}`);
  });
  await t.step("float32 scores give float32 dx", () => {
    const [loss, dx] = softmaxLoss(Tensor.zeros([2, 4], "float32"), [1, 3]);
    assert.equal(dx.dtype, "float32");
    assert.ok(Math.abs(loss - Math.log(4)) < 1e-15);
  });
  await t.step("NaN scores give a NaN loss", () => {
    assert.ok(Number.isNaN(softmaxLoss(Tensor.fromArray([[0, NaN]]), [0])[0]));
  });
});

Deno.test("losses reject bad labels and scores", () => {
  const x = Tensor.zeros([2, 3]);
  for (const [name, loss] of [["svmLoss", svmLoss], ["softmaxLoss", softmaxLoss]] as const) {
    assert.throws(() => loss(x, [0]), new RegExp(`${name}: y has 1 labels but x has 2 rows`));
    assert.throws(() => loss(x, [0, 3]), /y\[1\] = 3 is not a class index in \[0, 3\)/);
    assert.throws(() => loss(x, [-1, 0]), /y\[0\] = -1 is not a class index/);
    assert.throws(() => loss(x, [0, 1.5]), /y\[1\] = 1.5 is not a class index/);
    assert.throws(() => loss(Tensor.zeros([6]), [0]), /x must be 2-d scores/);
    assert.throws(() => loss(Tensor.zeros([0, 3]), []), /x has no examples/);
  }
});

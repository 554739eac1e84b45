import assert from "node:assert/strict";
import { getData } from "../../lib/data/preprocess.ts";
import { evalNumericalGradient, relError } from "../../lib/gradient_check.ts";
import { affineForward } from "../../lib/layers/affine.ts";
import { convForwardNaive } from "../../lib/layers/conv.ts";
import { maxPoolForwardNaive } from "../../lib/layers/pool.ts";
import { reluForward } from "../../lib/layers/relu.ts";
import { ThreeLayerConvNet } from "../../lib/models/cnn.ts";
import type { Model } from "../../lib/models/model.ts";
import { Rng } from "../../lib/rng.ts";
import { Solver } from "../../lib/solver.ts";
import { Tensor } from "../../lib/tensor.ts";

function labels(n: number, numClasses: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: n }, () => rng.randint(numClasses));
}

function std(t: Tensor): number {
  let mean = 0;
  for (const v of t.data) mean += v / t.size;
  let s = 0;
  for (const v of t.data) s += (v - mean) ** 2;
  return Math.sqrt(s / t.size);
}

function sumSquares(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += v * v;
  return s;
}

Deno.test("ThreeLayerConvNet: cs231n defaults and initialisation", () => {
  const model = new ThreeLayerConvNet({ rng: new Rng(0) });
  const { W1, b1, W2, b2, W3, b3 } = model.params;
  // conv 32 filters 7×7 over 3 channels; pooled 16×16; hidden 100; 10 classes.
  assert.deepEqual(
    [W1.shape, b1.shape, W2.shape, b2.shape, W3.shape, b3.shape],
    [[32, 3, 7, 7], [32], [32 * 16 * 16, 100], [100], [100, 10], [10]],
  );
  assert.equal(model.dtype, "float32");
  assert.equal(model.reg, 0);
  for (const W of [W1, W2, W3]) {
    assert.equal(W.dtype, "float32");
    assert.ok(Math.abs(std(W) - 1e-3) < 1e-4, `std ${std(W)}`);
  }
  assert.ok([b1, b2, b3].every((b) => b.data.every((v) => v === 0)));

  const fashion = new ThreeLayerConvNet({ inputDim: [1, 28, 28], rng: new Rng(0) });
  assert.deepEqual(fashion.params.W1.shape, [32, 1, 7, 7]);
  assert.deepEqual(fashion.params.W2.shape, [32 * 14 * 14, 100]);

  // seed: the same weights twice, different from another seed's.
  const a = new ThreeLayerConvNet({ inputDim: [1, 8, 8], numFilters: 2, seed: 5 });
  const b = new ThreeLayerConvNet({ inputDim: [1, 8, 8], numFilters: 2, seed: 5 });
  const c = new ThreeLayerConvNet({ inputDim: [1, 8, 8], numFilters: 2, seed: 6 });
  assert.deepEqual(a.params.W2.data, b.params.W2.data);
  assert.notDeepEqual(a.params.W2.data, c.params.W2.data);
});

Deno.test("ThreeLayerConvNet: scores are conv-relu-pool-affine-relu-affine (naive layers)", () => {
  const rng = new Rng(1);
  const model = new ThreeLayerConvNet({
    inputDim: [2, 10, 12],
    numFilters: 4,
    filterSize: 5,
    hiddenDim: 6,
    numClasses: 3,
    weightScale: 0.3,
    dtype: "float64",
    rng,
  });
  for (const name of ["b1", "b2", "b3"]) {
    model.params[name] = Tensor.randn(model.params[name].shape, rng);
  }
  const X = Tensor.randn([3, 2, 10, 12], rng);
  const { W1, b1, W2, b2, W3, b3 } = model.params;
  const [conv] = convForwardNaive(X, W1, b1, { stride: 1, pad: 2 });
  const [pooled] = maxPoolForwardNaive(reluForward(conv)[0], {
    poolHeight: 2,
    poolWidth: 2,
    stride: 2,
  });
  const [hidden] = affineForward(pooled, W2, b2);
  const [expected] = affineForward(reluForward(hidden)[0], W3, b3);
  const scores = model.loss(X);
  assert.deepEqual(scores.shape, [3, 3]);
  assert.ok(relError(scores, expected) < 1e-12);
});

Deno.test("ThreeLayerConvNet: initial loss ≈ log(10), and reg adds 0.5·reg·ΣW²", () => {
  // The notebook's sanity check: N = 50 random CIFAR-sized images, default network.
  const rng = new Rng(2);
  const model = new ThreeLayerConvNet({ rng });
  const X = Tensor.randn([50, 3, 32, 32], rng);
  const y = labels(50, 10, rng);
  const [loss0] = model.loss(X, y);
  assert.ok(Math.abs(loss0 - Math.log(10)) < 1e-3, `initial loss ${loss0}`);
  model.reg = 0.5;
  const [loss1] = model.loss(X, y);
  const { W1, W2, W3 } = model.params;
  const penalty = 0.5 * 0.5 * (sumSquares(W1) + sumSquares(W2) + sumSquares(W3));
  assert.ok(loss1 > loss0);
  // The data loss is computed identically both times: only rounding of the sum remains.
  assert.ok(Math.abs(loss1 - loss0 - penalty) < 1e-12, `${loss1 - loss0} vs ${penalty}`);
});

Deno.test("ThreeLayerConvNet: gradients match centered differences (float64, small net)", () => {
  // The notebook's small net: 2 inputs (3, 16, 16), 3 filters 3×3, hidden 7. With its
  // default weightScale 1e-3, W1's gradient entries (~1e-9) lie below the noise floor of
  // centered differences (~1e-10 at a loss of 2.3), which is why the notebook itself shows
  // errors up to 1e-2 there; weights of scale 0.1 make every gradient resolvable.
  for (const reg of [0, 0.5]) {
    const rng = new Rng(231);
    const model: Model = new ThreeLayerConvNet({
      inputDim: [3, 16, 16],
      numFilters: 3,
      filterSize: 3,
      hiddenDim: 7,
      weightScale: 0.1,
      reg,
      dtype: "float64",
      rng,
    });
    const X = Tensor.randn([2, 3, 16, 16], rng);
    const y = labels(2, 10, rng);
    const [, grads] = model.loss(X, y);
    for (const name of Object.keys(model.params).sort()) {
      const numeric = evalNumericalGradient(() => model.loss(X, y)[0], model.params[name]);
      const err = relError(numeric, grads[name]);
      assert.ok(err < 1e-6, `${name} relative error ${err} (reg ${reg})`);
    }
  }
});

Deno.test("ThreeLayerConvNet: float32 throughout, float64 inputs cast", () => {
  const rng = new Rng(3);
  const model = new ThreeLayerConvNet({ inputDim: [1, 8, 8], numFilters: 2, hiddenDim: 5, rng });
  const X = Tensor.randn([4, 1, 8, 8], rng); // float64
  const scores = model.loss(X);
  assert.equal(scores.dtype, "float32");
  const [loss, grads] = model.loss(X, [0, 1, 2, 3]);
  assert.ok(Number.isFinite(loss));
  for (const name of Object.keys(model.params)) {
    assert.equal(grads[name].dtype, "float32", name);
    assert.deepEqual(grads[name].shape, model.params[name].shape, name);
  }
});

Deno.test("ThreeLayerConvNet: overfits 100 Fashion-MNIST images (float32, Adam)", async () => {
  // The notebook's experiment: 100 training images, weightScale 1e-2, Adam 1e-3,
  // 15 epochs of batch 50: training accuracy close to 1, validation far below.
  const data = await getData({
    dataDir: "data/fashion-mnist-mini",
    numTraining: 100,
    numValidation: 100,
    numTest: 0,
  });
  const model = new ThreeLayerConvNet({
    inputDim: [1, 28, 28],
    weightScale: 1e-2,
    rng: new Rng(0),
  });
  const solver = new Solver(model, data, {
    numEpochs: 15,
    batchSize: 50,
    updateRule: "adam",
    optimConfig: { learningRate: 1e-3 },
    verbose: false,
    rng: new Rng(1),
  });
  solver.train();
  const trainAcc = solver.trainAccHistory.at(-1)!;
  assert.ok(trainAcc >= 0.95, `training accuracy ${trainAcc}`);
  assert.ok(solver.lossHistory.at(-1)! < solver.lossHistory[0] / 10, `${solver.lossHistory}`);
  assert.ok(solver.valAccHistory.at(-1)! < trainAcc);
});

Deno.test("ThreeLayerConvNet: errors name the option and the shapes", () => {
  assert.throws(
    () => new ThreeLayerConvNet({ inputDim: [3, 15, 16] }),
    /ThreeLayerConvNet: the 7×7 convolution gives 15 rows from inputDim \[3,15,16\], which the 2×2 stride-2 pool cannot halve/,
  );
  assert.throws(
    () => new ThreeLayerConvNet({ inputDim: [3, 32] }),
    /inputDim must be \[C, H, W\], got \[3,32\]/,
  );
  assert.throws(
    () => new ThreeLayerConvNet({ numFilters: 0 }),
    /numFilters must be a positive integer, got 0/,
  );
  assert.throws(() => new ThreeLayerConvNet({ seed: 1.5 }), /seed must be an integer, got 1.5/);
  const model = new ThreeLayerConvNet({ inputDim: [1, 8, 8], numFilters: 2 });
  assert.throws(
    () => model.loss(Tensor.zeros([2, 1, 8, 6])),
    /ThreeLayerConvNet.loss: X must have shape \(N, 1, 8, 8\), got \[2,1,8,6\]/,
  );
  delete model.params.W3;
  assert.throws(() => model.loss(Tensor.zeros([2, 1, 8, 8])), /params.W3 is missing/);
});

Deno.test("ThreeLayerConvNet rejects unknown options with a suggestion", () => {
  assert.throws(
    () => new ThreeLayerConvNet({ num_filters: 8 } as never),
    /ThreeLayerConvNet: unknown option "num_filters" \(did you mean "numFilters"\?\)/,
  );
});

/**
 * The buffer pool and the code that gives buffers back to it: the autograd engine,
 * `nn.Sequential` and ThreeLayerConvNet's `loss()`. What must hold: a training loop in
 * the steady state allocates no fresh output buffers; recycling changes no result (bit for
 * bit against the same run with recycling off); and nothing a user holds is recycled,
 * while a recycled intermediate reached through the graph throws instead of reading
 * another step's data.
 */

import assert from "node:assert/strict";
import {
  bufferPoolStats,
  clearBufferPool,
  giveBack,
  issueCount,
  issuedSince,
  POOL_LIMIT_BYTES,
  setBufferPoolLimit,
  takeBuffer,
} from "../lib/buffer_pool.ts";
import { noGrad } from "../lib/autograd/grad_mode.ts";
import { ThreeLayerConvNet } from "../lib/models/cnn.ts";
import { FullyConnectedNet } from "../lib/models/fc_net.ts";
import { TwoLayerNet } from "../lib/models/two_layer_net.ts";
import { adam, type OptimConfig } from "../lib/optim.ts";
import { Solver } from "../lib/solver.ts";
import * as nn from "../lib/nn/mod.ts";
import { crossEntropy } from "../lib/nn/functional/loss.ts";
import { Adam } from "../lib/nn/optim/adam.ts";
import { Rng } from "../lib/rng.ts";
import { isShared, setSharedStorage } from "../lib/storage.ts";
import { setNumThreads } from "../lib/parallel/worker_pool.ts";
import { releaseStorage, Tensor } from "../lib/tensor.ts";

const isSharedArray = (a: Float32Array | Float64Array) => a.buffer instanceof SharedArrayBuffer;

Deno.test("takeBuffer: plain first, shared once a size has come back, then the same buffer", () => {
  clearBufferPool();
  const size = 1234;
  const first = takeBuffer("float32", size);
  assert.ok(!isSharedArray(first), "a size never given back starts on plain memory");
  first.fill(7);
  giveBack(first); // plain: dropped, but the size is now known to come back
  const second = takeBuffer("float32", size);
  assert.ok(isSharedArray(second), "then it is allocated shared");
  assert.notEqual(second.buffer, first.buffer);
  second.fill(3);
  giveBack(second);
  giveBack(second); // a second give-back of the same buffer is ignored
  assert.deepEqual(bufferPoolStats().buffers, 1);
  const third = takeBuffer("float32", size);
  assert.equal(third.buffer, second.buffer, "the free buffer is reused");
  assert.ok(third.every((v) => v === 0), "zero-filled by default");
  const fourth = takeBuffer("float32", size);
  assert.notEqual(fourth.buffer, third.buffer, "a buffer is handed out once");
  giveBack(third);
  const fifth = takeBuffer("float64", size);
  assert.notEqual(fifth.buffer, third.buffer, "buffers are kept by dtype and length");
  const stats = bufferPoolStats();
  assert.equal(stats.reused, 1);
  assert.equal(stats.fresh, 4);
  clearBufferPool();
});

Deno.test("giveBack keeps only whole buffers the pool issued", () => {
  clearBufferPool();
  giveBack(takeBuffer("float32", 64)); // makes the size shared from now on
  const shared = takeBuffer("float32", 64);
  giveBack(shared.subarray(0, 32)); // a view: refused
  giveBack(new Float32Array(new SharedArrayBuffer(256))); // not issued by the pool: refused
  assert.equal(bufferPoolStats().buffers, 0);
  giveBack(shared);
  assert.equal(bufferPoolStats().buffers, 1);
  clearBufferPool();
  assert.deepEqual(bufferPoolStats(), { buffers: 0, bytes: 0, fresh: 0, reused: 0 });
});

Deno.test("setBufferPoolLimit: the oldest free buffers go first; 0 keeps none", () => {
  clearBufferPool();
  try {
    const sizes = [100, 200, 300];
    for (const n of sizes) giveBack(takeBuffer("float64", n));
    const buffers = sizes.map((n) => takeBuffer("float64", n)); // shared now
    for (const b of buffers) giveBack(b);
    assert.equal(bufferPoolStats().bytes, 8 * 600);
    setBufferPoolLimit(8 * 520); // drops the oldest (100 elements)
    assert.deepEqual([bufferPoolStats().buffers, bufferPoolStats().bytes], [2, 8 * 500]);
    assert.notEqual(takeBuffer("float64", 100).buffer, buffers[0].buffer);
    assert.equal(takeBuffer("float64", 300).buffer, buffers[2].buffer);
    setBufferPoolLimit(0);
    assert.equal(bufferPoolStats().buffers, 0);
    giveBack(takeBuffer("float64", 200));
    assert.equal(bufferPoolStats().buffers, 0, "nothing is kept with limit 0");
    assert.throws(
      () => setBufferPoolLimit(-1),
      /setBufferPoolLimit: bytes must be a non-negative integer, got -1/,
    );
  } finally {
    setBufferPoolLimit(POOL_LIMIT_BYTES);
    clearBufferPool();
  }
});

Deno.test("releaseStorage: released tensors throw; kept, older and foreign storage stay", () => {
  clearBufferPool();
  const before = takeBuffer("float32", 6);
  const since = issueCount();
  const a = new Tensor(takeBuffer("float32", 6), [2, 3]);
  const view = a.reshape([3, 2]); // shares a's storage
  const b = new Tensor(takeBuffer("float32", 6), [6]);
  const kept = new Tensor(takeBuffer("float32", 6), [6]);
  const older = new Tensor(before, [6]);
  const foreign = Tensor.zeros([6], "float32");
  const count = releaseStorage([a, view, b, kept, older, foreign], [kept], since);
  assert.equal(count, 2, "a (with its view) and b go back, each buffer once");
  assert.throws(() => a.data, /Tensor\.data: this \[2,3\] tensor was an intermediate result/);
  assert.throws(() => view.sum(), /recycled/);
  assert.throws(() => b.data, /recycled/);
  assert.equal(kept.data.length, 6);
  assert.equal(older.data.length, 6);
  assert.equal(foreign.data.length, 6);
  clearBufferPool();
});

/** A small conv-BN network like the bench's, float32. */
function smallNet(seed: number, hideForward = false): nn.Sequential {
  const r = new Rng(seed);
  const modules = [
    new nn.Conv2d(1, 4, 3, { padding: 1, rng: r }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * 6 * 6, 5, { rng: r }),
  ];
  // An own `forward` makes a module foreign to Sequential: no recycling at all.
  if (hideForward) { for (const m of modules) m.forward = m.forward.bind(m); }
  return new nn.Sequential(...modules);
}

function trainSteps(net: nn.Sequential, steps: number) {
  const rng = new Rng(3);
  const x = Tensor.randn([8, 1, 12, 12], rng, "float32");
  const y = Int32Array.from({ length: 8 }, (_, i) => i % 5);
  const opt = new Adam(net.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const loss = crossEntropy(net.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  return { losses, params: net.parameters().map((p) => Float32Array.from(p.data)) };
}

Deno.test("nn.Sequential training: same bits with and without recycling, and no fresh buffers in the steady state", () => {
  clearBufferPool();
  const plain = trainSteps(smallNet(1, true), 6);
  clearBufferPool();
  const recycled = trainSteps(smallNet(1), 6);
  assert.deepEqual(recycled.losses, plain.losses);
  for (let i = 0; i < plain.params.length; i++) {
    assert.deepEqual(recycled.params[i], plain.params[i], `parameter ${i}`);
  }
  const stats = bufferPoolStats();
  assert.ok(stats.reused > 0, "buffers came back");

  // The steady state: once each size has come back twice (the first time it was plain
  // memory), a step's only fresh buffers are the network's output and the parameters' new
  // gradients, which belong to the caller.
  const net = smallNet(2);
  trainSteps(net, 3);
  for (let s = 0; s < 3; s++) {
    const since = issueCount();
    const before = bufferPoolStats();
    trainSteps(net, 1);
    const after = bufferPoolStats();
    const newGrads = net.parameters().filter((p) => issuedSince(p.grad!.data, since)).length;
    assert.ok(newGrads > 0);
    assert.equal(after.fresh - before.fresh, newGrads + 1, "fresh: the output and new .grad only");
    assert.ok(after.reused > before.reused);
  }
  clearBufferPool();
});

Deno.test("nn.Sequential recycles nothing the caller holds", () => {
  clearBufferPool();
  const net = smallNet(4);
  const rng = new Rng(5);
  const x = Tensor.randn([8, 1, 12, 12], rng, "float32");
  const y = Int32Array.from({ length: 8 }, (_, i) => i % 5);
  const xCopy = Float32Array.from(x.data);
  const out = net.forward(x);
  const outCopy = Float32Array.from(out.data);
  // An intermediate reached through the graph before backward: readable now...
  const hidden = out.gradFn!.inputs[0];
  assert.equal(hidden.shape.join(), "8,144");
  crossEntropy(out, y).backward();
  const grads = net.parameters().map((p) => p.grad!);
  const gradCopies = grads.map((g) => Float32Array.from(g.data));
  // ...and an error once the backward pass has recycled it, never another step's data.
  assert.throws(() => hidden.data, /recycled/);
  for (let s = 0; s < 3; s++) {
    net.zeroGrad();
    crossEntropy(net.forward(Tensor.randn([8, 1, 12, 12], rng, "float32")), y).backward();
  }
  assert.deepEqual(x.data, xCopy, "the input is untouched");
  assert.deepEqual(out.data, outCopy, "the output stays the caller's");
  grads.forEach((g, i) => assert.deepEqual(g.data, gradCopies[i], `old .grad ${i} is intact`));
  clearBufferPool();
});

Deno.test("nn.Sequential: a subclassed module turns recycling off; retainGraph keeps the graph's tensors", () => {
  clearBufferPool();
  class SpyReLU extends nn.ReLU {
    seen: Tensor | null = null;
    override forward(x: Tensor): Tensor {
      this.seen = x;
      return super.forward(x);
    }
  }
  const spy = new SpyReLU();
  const r = new Rng(6);
  const net = new nn.Sequential(
    new nn.Linear(6, 6, { rng: r }),
    spy,
    new nn.Linear(6, 2, { rng: r }),
  );
  assert.equal(net.keepsNothing(), false);
  const x = Tensor.randn([4, 6], new Rng(7), "float32");
  const out = net.forward(x);
  out.sum().backward();
  const seen = spy.seen!;
  const seenCopy = Float32Array.from(seen.data);
  net.forward(x).sum().backward();
  assert.deepEqual(seen.data, seenCopy, "the module's own reference is left alone");

  const plainNet = smallNet(8);
  assert.equal(plainNet.keepsNothing(), true);
  const y = Int32Array.from({ length: 8 }, (_, i) => i % 5);
  const input = Tensor.randn([8, 1, 12, 12], new Rng(9), "float32");
  const loss = crossEntropy(plainNet.forward(input), y);
  const hidden = loss.gradFn!.inputs[0].gradFn!.inputs[0];
  loss.backward(undefined, { retainGraph: true });
  const first = plainNet.parameters().map((p) => Float32Array.from(p.grad!.data));
  assert.equal(hidden.data.length, 8 * 144, "still readable: the graph was retained");
  loss.backward(); // through the same graph again: gradients double
  plainNet.parameters().forEach((p, i) => {
    const twice = first[i].map((v) => Math.fround(v + v));
    assert.deepEqual(p.grad!.data, twice, `parameter ${i}`);
  });
  assert.throws(() => hidden.data, /recycled/);
  clearBufferPool();
});

Deno.test("nn.Sequential without a graph recycles at once and gives the same output", () => {
  clearBufferPool();
  const net = smallNet(10);
  net.eval();
  const x = Tensor.randn([8, 1, 12, 12], new Rng(11), "float32");
  // The same network with recycling off gives the expected bits.
  const reference = smallNet(10, true);
  reference.eval();
  const expected = Float32Array.from(noGrad(() => reference.forward(x)).data);
  // Plain memory the first time, shared the second: the third pass reuses the second's.
  const passes = [0, 1].map(() => noGrad(() => net.forward(x)));
  const before = bufferPoolStats();
  passes.push(noGrad(() => net.forward(x)));
  const after = bufferPoolStats();
  assert.equal(after.fresh - before.fresh, 1, "only the output is fresh");
  assert.ok(after.reused > before.reused);
  for (const out of passes) assert.deepEqual(Float32Array.from(out.data), expected);
  clearBufferPool();
});

Deno.test("autograd: a user's record() backward keeps its gradient; the root gradient is never recycled", async () => {
  const { record } = await import("../lib/autograd/engine.ts");
  clearBufferPool();
  const w = Tensor.randn([16, 16], new Rng(12), "float32");
  w.requiresGrad = true;
  const kept: Tensor[] = [];
  const h = w.matmul(w); // a library op: its gradient may be recycled
  const out = h.detach().mul(1);
  record(out, "spy", [h], (g) => {
    kept.push(g);
    return [g.mul(1)];
  });
  const root = Tensor.ones([16, 16], "float32");
  out.backward(root);
  assert.equal(kept[0], root);
  assert.ok(root.data.every((v) => v === 1), "the gradient passed in is the caller's");
  assert.ok(w.grad!.data.every(Number.isFinite));
  clearBufferPool();
});

Deno.test("ThreeLayerConvNet.loss: recycled caches change nothing, returned grads stay intact, no fresh buffers when warm", () => {
  clearBufferPool();
  const model = new ThreeLayerConvNet({
    inputDim: [1, 12, 12],
    numFilters: 4,
    filterSize: 5,
    hiddenDim: 10,
    weightScale: 1e-2,
    seed: 1,
  });
  const X = Tensor.randn([6, 1, 12, 12], new Rng(13), "float32");
  const y = [0, 1, 2, 3, 4, 5];
  const [loss1, grads1] = model.loss(X, y);
  const copies = Object.fromEntries(
    Object.entries(grads1).map(([k, g]) => [k, Float32Array.from(g.data)]),
  );
  const scores = model.loss(X);
  const scoresCopy = Float32Array.from(scores.data);
  model.loss(X, y);
  const since = issueCount();
  const warm = bufferPoolStats();
  const [loss2, grads2] = model.loss(X, y);
  const newGrads = Object.values(grads2).filter((g) => issuedSince(g.data, since)).length;
  assert.equal(newGrads, 6);
  assert.equal(bufferPoolStats().fresh - warm.fresh, newGrads, "warm: only the grads are fresh");
  assert.equal(loss2, loss1);
  for (const k of Object.keys(copies)) {
    assert.deepEqual(grads1[k].data, copies[k], `${k} of the first call is intact`);
    assert.deepEqual(grads2[k].data, copies[k], `${k} is the same again`);
  }
  assert.deepEqual(scores.data, scoresCopy, "returned scores are the caller's");
  clearBufferPool();
});

Deno.test("Solver: a library model's grads go back after each step; a custom update rule keeps them", () => {
  clearBufferPool();
  const rng = new Rng(14);
  const data = {
    XTrain: Tensor.randn([30, 1, 12, 12], rng, "float32"),
    yTrain: Int32Array.from({ length: 30 }, (_, i) => i % 4),
    XVal: Tensor.randn([6, 1, 12, 12], rng, "float32"),
    yVal: Int32Array.from({ length: 6 }, (_, i) => i % 4),
  };
  const makeModel = () =>
    new ThreeLayerConvNet({
      inputDim: [1, 12, 12],
      numFilters: 4,
      filterSize: 5,
      hiddenDim: 10,
      numClasses: 4,
      weightScale: 1e-2,
      seed: 2,
    });
  const options = { batchSize: 6, verbose: false, optimConfig: { learningRate: 1e-3 } };
  const solver = new Solver(makeModel(), data, { ...options, updateRule: "adam" });
  for (let s = 0; s < 3; s++) solver.step();
  const before = bufferPoolStats();
  const oldWeights = Object.values(solver.model.params).map((p) => p.data);
  solver.step();
  const after = bufferPoolStats();
  // Nothing comes fresh from the pool: the six new weight arrays are new memory outside it
  // (the old ones may still be in the caller's hands, so they are neither reused nor
  // recycled).
  assert.equal(after.fresh - before.fresh, 0);
  const newWeights = Object.values(solver.model.params).map((p) => p.data);
  assert.equal(newWeights.length, 6);
  for (const w of newWeights) assert.ok(!oldWeights.includes(w), "new weights are new arrays");
  assert.ok(after.reused - before.reused > 6, "grads came from the pool");

  // The same steps with recycling of grads off (a custom rule) give the same weights.
  clearBufferPool();
  const seen: Tensor[] = [];
  const keeping = new Solver(makeModel(), data, {
    ...options,
    updateRule: (w: Tensor, dw: Tensor, config?: OptimConfig) => {
      seen.push(dw);
      return adam(w, dw, config);
    },
  });
  const reference = new Solver(makeModel(), data, { ...options, updateRule: "adam" });
  for (let s = 0; s < 4; s++) {
    keeping.step();
    reference.step();
  }
  const copies = seen.map((g) => Float32Array.from(g.data)); // all still readable
  assert.equal(copies.length, 24);
  for (const [k, w] of Object.entries(reference.model.params)) {
    assert.deepEqual(Float32Array.from(keeping.model.params[k].data), Float32Array.from(w.data), k);
  }
  clearBufferPool();
});

Deno.test("autograd: what a record() backward was given or returned stays intact downstream", async () => {
  const { needsGrad, record } = await import("../lib/autograd/engine.ts");
  clearBufferPool();
  let kept: Tensor | null = null;
  const spy = (x: Tensor) => {
    const y = x.detach();
    if (needsGrad(x)) {
      record(y, "spy", [x], (g) => {
        kept = g.detach(); // a view of the gradient it was given
        return [g];
      });
    }
    return y;
  };
  const w = Tensor.fromArray([[1, 2], [3, 4]], undefined, { dtype: "float32", requiresGrad: true });
  const eye = Tensor.fromArray([[1, 0], [0, 1]], undefined, "float32");
  for (let step = 1; step <= 3; step++) {
    const b = Tensor.fromArray([[step, 0], [0, step]], undefined, "float32");
    spy(w.matmul(eye)).matmul(b).sum().backward(); // the spy's gradient is `step` everywhere
    w.matmul(Tensor.full([2, 2], 100, "float32")); // would reuse a recycled buffer
    assert.deepEqual(Array.from(kept!.data), [step, step, step, step], `step ${step}`);
  }
  clearBufferPool();
});

Deno.test("a view of a recycled intermediate throws too, never shows another step's data", () => {
  clearBufferPool();
  const r = new Rng(15);
  const net = new nn.Sequential(
    new nn.Linear(4, 8, { rng: r }),
    new nn.ReLU(),
    new nn.Linear(8, 2, { rng: r }),
  );
  const x = Tensor.ones([3, 4], "float32");
  for (let step = 1; step <= 3; step++) {
    const out = net.forward(x.mul(step));
    const hidden = out.gradFn!.inputs[0];
    const views = [hidden.detach(), hidden.reshape([24])];
    out.sum().backward();
    net.forward(x.mul(-step)).sum().backward(); // the next step reuses the pool
    assert.throws(() => hidden.data, /recycled/);
    for (const v of views) assert.throws(() => v.data, /recycled/);
  }
  clearBufferPool();
});

Deno.test("Solver: a loss wrapped after construction keeps its grads", () => {
  clearBufferPool();
  const rng = new Rng(16);
  const X = Tensor.randn([8, 3, 8, 8], rng, "float32");
  const y = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const model = new ThreeLayerConvNet({
    inputDim: [3, 8, 8],
    numFilters: 4,
    filterSize: 3,
    hiddenDim: 8,
    seed: 1,
  });
  const solver = new Solver(model, { XTrain: X, yTrain: y, XVal: X, yVal: y }, {
    batchSize: 4,
    verbose: false,
  });
  solver.step(); // grads recycled while the model is the library's own
  const seen: Tensor[] = [];
  const original = model.loss.bind(model);
  Object.defineProperty(model, "loss", {
    value: (a: Tensor, b?: ArrayLike<number>) => {
      const result = original(a, b);
      if (b !== undefined) seen.push((result as [number, Record<string, Tensor>])[1].W2);
      return result;
    },
  });
  for (let s = 0; s < 4; s++) solver.step();
  const copy = Float32Array.from(seen[1].data);
  solver.step();
  solver.step();
  assert.deepEqual(Float32Array.from(seen[1].data), copy);
  clearBufferPool();
});

Deno.test("takeBuffer follows setSharedStorage(false): plain memory, recycled all the same", () => {
  clearBufferPool();
  setSharedStorage(false);
  try {
    giveBack(takeBuffer("float32", 77));
    const second = takeBuffer("float32", 77);
    assert.ok(!isSharedArray(second), "no SharedArrayBuffer when tensors must not use one");
    giveBack(second);
    assert.equal(takeBuffer("float32", 77).buffer, second.buffer, "plain buffers circulate");
  } finally {
    setSharedStorage(true);
    clearBufferPool();
  }
});

Deno.test("FullyConnectedNet and TwoLayerNet: recycled caches change no bit; warm calls take only the grads fresh", () => {
  const rng = new Rng(17);
  const X = Tensor.randn([12, 30], rng, "float32");
  const y = Array.from({ length: 12 }, (_, i) => i % 5);
  const models = {
    fc: () =>
      new FullyConnectedNet({
        hiddenDims: [20, 15],
        inputDim: 30,
        numClasses: 5,
        normalization: "batchnorm",
        dropoutKeepRatio: 0.7,
        seed: 4,
        rng: new Rng(3),
        weightScale: 0.1,
      }),
    two: () =>
      new TwoLayerNet({
        inputDim: 30,
        hiddenDim: 20,
        numClasses: 5,
        weightScale: 0.1,
        rng: new Rng(3),
      }),
  };
  for (const [name, make] of Object.entries(models)) {
    const run = () => {
      const model = make();
      const results: [number, Record<string, Float32Array>][] = [];
      for (let call = 0; call < 4; call++) {
        const [loss, grads] = model.loss(X, y);
        model.loss(X); // test mode in between: its scores are the caller's
        const copies = Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.data)]);
        results.push([loss, Object.fromEntries(copies)]);
      }
      return { model, results };
    };
    clearBufferPool();
    setBufferPoolLimit(0); // recycling off: the reference
    const reference = run().results;
    setBufferPoolLimit(POOL_LIMIT_BYTES);
    clearBufferPool();
    const { model, results } = run();
    assert.deepEqual(results, reference, `${name}: same losses and grads with recycling`);
    // The last test-mode call kept a scores buffer (it is the caller's): one more training
    // call gets the pool back to the steady state.
    model.loss(X, y);
    const since = issueCount();
    const before = bufferPoolStats();
    const [, grads] = model.loss(X, y);
    const newGrads = Object.values(grads).filter((g) => issuedSince(g.data, since)).length;
    assert.ok(newGrads > 0);
    assert.equal(bufferPoolStats().fresh - before.fresh, newGrads, `${name}: only grads fresh`);
    clearBufferPool();
  }
});

Deno.test("update rules write new weights to plain memory on one thread, shared memory with workers", async () => {
  const rng = new Rng(15);
  const w = Tensor.randn([700, 200], rng, "float32"), dw = Tensor.randn([700, 200], rng, "float32");
  try {
    for (const threads of [1, 2]) {
      await setNumThreads(threads);
      const [next] = adam(w, dw, { learningRate: 1e-3 });
      assert.equal(isShared(next.data), threads > 1, `${threads} thread(s)`);
      assert.ok(next.data !== w.data && next.data !== dw.data);
      setSharedStorage(false);
      const [plain] = adam(w, dw, { learningRate: 1e-3 });
      assert.equal(isShared(plain.data), false, `${threads} thread(s), shared storage off`);
      setSharedStorage(true);
      assert.deepEqual(plain.data, next.data);
    }
  } finally {
    setSharedStorage(true);
    await setNumThreads(1);
  }
});

Deno.test("nn.Sequential: BatchNorm2d then MaxPool2d recycle every activation, fused or not", () => {
  // 12×12 float32 runs fused; 13×13 (odd, cropped) and float64 run the modules one by one.
  for (const [side, dtype] of [[12, "float32"], [13, "float32"], [12, "float64"]] as const) {
    const r = new Rng(5);
    const half = Math.floor(side / 2);
    const net = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1, rng: r, dtype }),
      new nn.BatchNorm2d(4, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Flatten(),
      new nn.Linear(4 * half * half, 5, { rng: r, dtype }),
    );
    const x = Tensor.randn([8, 1, side, side], new Rng(3), dtype);
    const y = Int32Array.from({ length: 8 }, (_, i) => i % 5);
    const opt = new Adam(net.parameters(), { lr: 1e-2 });
    let graph = "";
    const step = () => {
      opt.zeroGrad();
      const out = net.forward(x);
      const names: string[] = [];
      for (let node = out.gradFn; node !== null; node = node.inputs[0]?.gradFn ?? null) {
        names.push(node.name);
      }
      graph = names.join(" ");
      crossEntropy(out, y).backward();
      opt.step();
    };
    for (let s = 0; s < 3; s++) step();
    const fused = side === 12 && dtype === "float32";
    // Fused, batchnorm, ReLU and pooling are one node; apart, batchnorm is one and the
    // pooling with the ReLU after it another (an odd map is cropped first).
    const apart = `linear reshape maxPool2dRelu ${side % 2 === 1 ? "pad " : ""}batchNorm conv2d`;
    const want = fused ? "linear reshape batchNormMaxPool2dRelu conv2d" : apart;
    assert.equal(graph, want, `${side} ${dtype}`);
    for (let s = 0; s < 2; s++) {
      const since = issueCount();
      const before = bufferPoolStats();
      step();
      const after = bufferPoolStats();
      const newGrads = net.parameters().filter((p) => issuedSince(p.grad!.data, since)).length;
      assert.equal(
        after.fresh - before.fresh,
        newGrads + 1,
        `${side}×${side} ${dtype}: fresh buffers are the output and the new .grad only`,
      );
    }
  }
  clearBufferPool();
});

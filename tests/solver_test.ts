import assert from "node:assert/strict";
import { gemm } from "../lib/kernels/gemm.ts";
import { loadParams } from "../lib/io/safetensors.ts";
import { formatEpochLine } from "../lib/progress.ts";
import { Rng } from "../lib/rng.ts";
import {
  loadCheckpoint,
  Solver,
  type SolverData,
  type SolverModel,
  type SolverOptions,
} from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { FullyConnectedNet } from "../lib/models/fc_net.ts";
import { type OptimConfig, sgd } from "../lib/optim.ts";

/** A softmax linear classifier, scores = X·W + b, written for these tests only. */
class SoftmaxClassifier implements SolverModel {
  params: Record<string, Tensor>;
  reg: number;

  constructor(inputDim: number, numClasses: number, rng: Rng, reg = 0) {
    this.params = {
      W: Tensor.randn([inputDim, numClasses], rng).mul(1e-2),
      b: Tensor.zeros([numClasses]),
    };
    this.reg = reg;
  }

  loss(X: Tensor, y?: Int32Array): Tensor | [number, Record<string, Tensor>] {
    const { W, b } = this.params;
    const [D, C] = W.shape;
    const N = X.shape[0];
    const x = X.reshape([N, D]);
    const scores = x.matmul(W).add(b);
    if (!y) return scores;

    let loss = 0;
    const dscores = Tensor.zeros([N, C]);
    for (let i = 0; i < N; i++) {
      const row = scores.data.subarray(i * C, (i + 1) * C);
      const shift = Math.max(...row);
      let sum = 0;
      for (const s of row) sum += Math.exp(s - shift);
      loss += Math.log(sum) - (row[y[i]] - shift);
      for (let c = 0; c < C; c++) dscores.data[i * C + c] = Math.exp(row[c] - shift) / sum / N;
      dscores.data[i * C + y[i]] -= 1 / N;
    }
    loss = loss / N + 0.5 * this.reg * W.square().sum().item();
    const dW = W.mul(this.reg);
    gemm(true, false, D, C, N, 1, x.data, D, dscores.data, C, 1, dW.data, C); // dW += xᵀ·dscores
    return [loss, { W: dW, b: dscores.sum(0) }];
  }
}

/** Three well-separated 2-d clusters, `perClass` points each. */
function blobs(perClass: number, rng: Rng): { X: Tensor; y: Int32Array } {
  const centers = [[4, 0], [-4, 0], [0, 4]];
  const X = Tensor.zeros([3 * perClass, 2]);
  const y = new Int32Array(3 * perClass);
  for (let i = 0; i < 3 * perClass; i++) {
    const c = i % 3;
    y[i] = c;
    X.set(centers[c][0] + 0.5 * rng.normal(), i, 0);
    X.set(centers[c][1] + 0.5 * rng.normal(), i, 1);
  }
  return { X, y };
}

interface Data extends SolverData {
  yTrain: Int32Array;
  yVal: Int32Array;
}

function problem(perClass: number, seed = 0): { data: Data; model: SoftmaxClassifier } {
  const rng = new Rng(seed);
  const train = blobs(perClass, rng);
  const val = blobs(10, rng);
  return {
    data: { XTrain: train.X, yTrain: train.y, XVal: val.X, yVal: val.y },
    model: new SoftmaxClassifier(2, 3, rng),
  };
}

function quiet(options: SolverOptions): SolverOptions {
  return { verbose: false, ...options };
}

function snapshot(params: Record<string, Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v.data)]));
}

Deno.test("Solver: overfits a small separable problem to 100% training accuracy", () => {
  const { data, model } = problem(20);
  const solver = new Solver(
    model,
    data,
    quiet({
      updateRule: "sgd_momentum",
      optimConfig: { learningRate: 0.1 },
      batchSize: 15,
      numEpochs: 10,
    }),
  );
  solver.train();
  assert.equal(solver.checkAccuracy(data.XTrain, data.yTrain), 1);
  assert.equal(solver.trainAccHistory.at(-1), 1);
  assert.equal(solver.bestValAcc, 1);
  assert.ok(solver.lossHistory.at(-1)! < 0.1 * solver.lossHistory[0]);
});

Deno.test("Solver: history lengths follow cs231n's schedule", async (t) => {
  // [numTrain, batchSize, numEpochs, iterations, accuracy checks]. Checks happen after the
  // first iteration, at each epoch end and after the last iteration; when an epoch is one
  // iteration long the first iteration is itself an epoch end.
  const cases: [number, number, number, number, number][] = [
    [15, 3, 3, 15, 4], // 5 iterations per epoch
    [15, 15, 3, 3, 3], // 1 iteration per epoch
    [27, 10, 3, 6, 4], // ⌊27 / 10⌋ = 2 iterations per epoch; the remainder is dropped
    [6, 10, 2, 2, 2], // batch larger than the data: still 1 iteration per epoch
    [15, 5, 0, 0, 0], // no epochs, no iterations
  ];
  for (const [numTrain, batchSize, numEpochs, iterations, checks] of cases) {
    await t.step(`N=${numTrain} batch=${batchSize} epochs=${numEpochs}`, () => {
      const { data, model } = problem(numTrain / 3);
      const solver = new Solver(model, data, quiet({ batchSize, numEpochs }));
      solver.train();
      assert.equal(solver.lossHistory.length, iterations);
      assert.equal(solver.trainAccHistory.length, checks);
      assert.equal(solver.valAccHistory.length, checks);
      assert.equal(solver.epoch, numEpochs);
    });
  }
});

Deno.test("Solver: learning rate decays once per epoch, in every parameter's config", () => {
  for (const lrDecay of [0.5, 0.9]) {
    const { data, model } = problem(10);
    const optimConfig: OptimConfig = { learningRate: 0.1 };
    const solver = new Solver(model, data, quiet({ optimConfig, lrDecay, numEpochs: 3 }));
    solver.train();
    let expected = 0.1;
    for (let e = 0; e < 3; e++) expected *= lrDecay;
    for (const name of ["W", "b"]) assert.equal(solver.optimConfigs[name].learningRate, expected);
    assert.equal(optimConfig.learningRate, 0.1, "the caller's optimConfig is untouched");
  }
});

Deno.test("Solver: each parameter has its own config and optimizer state", () => {
  const { data, model } = problem(10);
  const optimConfig: OptimConfig = { learningRate: 0.05, momentum: 0.8 };
  const solver = new Solver(model, data, quiet({ updateRule: "sgd_momentum", optimConfig }));
  assert.notEqual(solver.optimConfigs.W, solver.optimConfigs.b);
  assert.notEqual(solver.optimConfigs.W, optimConfig);
  solver.step();
  assert.deepEqual(solver.optimConfigs.W.velocity!.shape, [2, 3]);
  assert.deepEqual(solver.optimConfigs.b.velocity!.shape, [3]);
  assert.equal(solver.optimConfigs.W.momentum, 0.8);
  assert.equal(optimConfig.velocity, undefined);
});

Deno.test("Solver: the model ends with copies of the best parameters", () => {
  const { data, model } = problem(10);
  // batchSize = N: every iteration ends an epoch, so onEpoch sees every accuracy check.
  const seen: { valAcc: number; params: Record<string, number[]> }[] = [];
  const solver = new Solver(
    model,
    data,
    quiet({
      optimConfig: { learningRate: 0.02 },
      batchSize: 30,
      numEpochs: 6,
      onEpoch: ({ valAcc, solver }) => seen.push({ valAcc, params: snapshot(solver.model.params) }),
    }),
  );
  solver.train();
  assert.equal(seen.length, 6);
  assert.deepEqual(seen.map((s) => s.valAcc), solver.valAccHistory);
  const bestValAcc = Math.max(...solver.valAccHistory);
  assert.ok(bestValAcc > 0);
  assert.equal(solver.bestValAcc, bestValAcc);
  // The first check reaching the best accuracy wins (later ties do not replace it).
  const best = seen.find((s) => s.valAcc === bestValAcc)!;
  assert.notDeepEqual(best.params, seen.at(-1)!.params, "the best is not simply the last");
  assert.deepEqual(snapshot(solver.bestParams), best.params);
  assert.deepEqual(snapshot(model.params), best.params);

  for (const name of ["W", "b"]) {
    assert.notEqual(model.params[name], solver.bestParams[name]);
    model.params[name].data[0] += 100;
  }
  assert.deepEqual(snapshot(solver.bestParams), best.params);
});

Deno.test("Solver: the same seed gives an identical loss history", () => {
  const run = (seed: number) => {
    const { data, model } = problem(10);
    const solver = new Solver(model, data, quiet({ rng: new Rng(seed), numEpochs: 2 }));
    solver.train();
    return solver.lossHistory;
  };
  const first = run(7);
  assert.deepEqual(run(7), first);
  assert.notDeepEqual(run(8), first);
});

/** Wraps a model so that its `failAt`-th training call returns `badLoss`. */
function failingModel(inner: SolverModel, failAt: number, badLoss: number) {
  let calls = 0;
  let paramsAtFailure: Record<string, number[]> = {};
  const model: SolverModel = {
    params: inner.params,
    loss(X: Tensor, y?: Int32Array) {
      if (!y) return inner.loss(X);
      const [loss, grads] = inner.loss(X, y) as [number, Record<string, Tensor>];
      if (++calls !== failAt) return [loss, grads];
      paramsAtFailure = snapshot(model.params);
      return [badLoss, grads];
    },
  };
  return { model, paramsAtFailure: () => paramsAtFailure };
}

Deno.test("Solver: a NaN or infinite loss stops training with a precise message", () => {
  const { data, model: inner } = problem(10); // 30 samples, batch 3 → 10 iterations per epoch
  const { model, paramsAtFailure } = failingModel(inner, 37, NaN);
  const solver = new Solver(model, data, quiet({ batchSize: 3, numEpochs: 5 }));
  assert.throws(() => solver.train(), (e: Error) => {
    const last = solver.lossHistory[35].toFixed(4);
    assert.equal(
      e.message,
      `Solver.train: loss became NaN at iteration 37 (epoch 4); last finite loss ${last} ` +
        "at iteration 36. Try a lower learning rate.",
    );
    return true;
  });
  assert.equal(solver.lossHistory.length, 36);
  assert.deepEqual(snapshot(model.params), paramsAtFailure(), "the bad step was not applied");

  const first = failingModel(problem(10).model, 1, Infinity);
  assert.throws(
    () => new Solver(first.model, data, quiet({})).train(),
    /^Error: Solver.train: loss became Infinity at iteration 1 \(epoch 1\); no finite loss before it\./,
  );
  const stepped = failingModel(problem(10).model, 1, -Infinity);
  assert.throws(
    () => new Solver(stepped.model, data, quiet({})).step(),
    /^Error: Solver.step: loss became -Infinity at iteration 1/,
  );
});

Deno.test("Solver: checkpoints at every accuracy check, loadable with loadParams", () => {
  Deno.mkdirSync("out", { recursive: true });
  const dir = Deno.makeTempDirSync({ dir: "out", prefix: "solver_test_" });
  try {
    const { data, model } = problem(5); // 15 samples, batch 5 → 3 iterations per epoch
    const atEpoch: Record<string, number[]>[] = [];
    const lines: string[] = [];
    const checkpointName = `${dir}/new_dir/run`;
    const solver = new Solver(model, data, {
      updateRule: "adam",
      optimConfig: { learningRate: 1e-2 },
      lrDecay: 0.9,
      batchSize: 5,
      numEpochs: 2,
      checkpointName,
      log: (line) => lines.push(line),
      onEpoch: ({ epoch, solver }) => atEpoch[epoch] = snapshot(solver.model.params),
    });
    solver.train();
    // cs231n also saves after the first iteration, as epoch 0.
    const names = [...Deno.readDirSync(`${dir}/new_dir`)].map((e) => e.name).sort();
    assert.deepEqual(names, [0, 1, 2].map((e) => `run_epoch_${e}.safetensors`));
    for (const epoch of [1, 2]) {
      const { params, metadata } = loadParams(`${checkpointName}_epoch_${epoch}.safetensors`);
      assert.deepEqual(snapshot(params), atEpoch[epoch]);
      assert.equal(metadata.epoch, String(epoch));
      assert.equal(metadata.updateRule, "adam");
      assert.equal(metadata.lrDecay, "0.9");
      assert.equal(metadata.batchSize, "5");
      assert.equal(metadata.numTrainSamples, "1000");
      assert.equal(metadata.numValSamples, "null");
      assert.deepEqual(JSON.parse(metadata.optimConfig), { learningRate: 1e-2 });
      assert.deepEqual(JSON.parse(metadata.lossHistory), solver.lossHistory.slice(0, 3 * epoch));
      assert.deepEqual(
        JSON.parse(metadata.trainAccHistory),
        solver.trainAccHistory.slice(0, epoch + 1),
      );
      assert.deepEqual(
        JSON.parse(metadata.valAccHistory),
        solver.valAccHistory.slice(0, epoch + 1),
      );
    }
    assert.deepEqual(
      lines.filter((l) => l.startsWith("Saving")),
      [0, 1, 2].map((e) => `Saving checkpoint to "${checkpointName}_epoch_${e}.safetensors"`),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Solver: verbose = false prints nothing", () => {
  const { data, model } = problem(10);
  const lines: string[] = [];
  const originalLog = console.log;
  const originalWrite = Deno.stdout.writeSync;
  let printed = 0;
  console.log = () => printed++;
  Deno.stdout.writeSync = (p: Uint8Array) => (printed++, p.length);
  try {
    new Solver(model, data, { verbose: false, numEpochs: 2, log: (l) => lines.push(l) }).train();
    new Solver(model, data, { verbose: false, numEpochs: 2 }).train();
  } finally {
    console.log = originalLog;
    Deno.stdout.writeSync = originalWrite;
  }
  assert.deepEqual(lines, []);
  assert.equal(printed, 0);
});

Deno.test("Solver: progress lines, every printEvery iterations and after each epoch", () => {
  const { data, model } = problem(5); // 15 samples, batch 3 → 5 iterations per epoch
  const lines: string[] = [];
  const solver = new Solver(model, data, {
    batchSize: 3,
    numEpochs: 3,
    printEvery: 5,
    log: (line) => lines.push(line),
  });
  solver.train();
  const iterationLine = (it: number) =>
    new RegExp(
      `^\\(Iteration ${it} / 15\\) loss: ${
        solver.lossHistory[it - 1].toFixed(4).replace(".", "\\.")
      }( \\| \\d+ img/s)? \\| ETA (\\d+s|\\d+m\\d\\ds)$`,
    );
  const epochLine = (check: number) =>
    formatEpochLine(check, 3, solver.trainAccHistory[check], solver.valAccHistory[check]);
  // cs231n order: the iteration's loss line comes before that iteration's accuracy check.
  const expected: (RegExp | string)[] = [
    iterationLine(1),
    epochLine(0),
    epochLine(1),
    iterationLine(6),
    epochLine(2),
    iterationLine(11),
    epochLine(3),
  ];
  assert.equal(lines.length, expected.length, lines.join("\n"));
  expected.forEach((e, i) => {
    if (typeof e === "string") assert.equal(lines[i], e);
    else assert.match(lines[i], e);
  });
  assert.match(lines[1], /^\(Epoch 0 \/ 3\) train acc: \d\.\d{3}; val_acc: \d\.\d{3}$/);
});

Deno.test("Solver.checkAccuracy: batches, subsampling and exact fractions", () => {
  // A model that predicts class (first feature) for every sample.
  const model: SolverModel = {
    params: {},
    loss(X: Tensor) {
      const scores = Tensor.zeros([X.shape[0], 3]);
      for (let i = 0; i < X.shape[0]; i++) scores.set(1, i, X.get(i, 0));
      return scores;
    },
  };
  const X = Tensor.fromArray(Array.from({ length: 23 }, (_, i) => i % 3), [23, 1]);
  const y = Int32Array.from({ length: 23 }, (_, i) => (i < 10 ? i % 3 : 0));
  // Correct: the first 10, plus i ≥ 10 with i % 3 == 0 (12, 15, 18, 21) → 14 of 23.
  const solver = new Solver(model, { XTrain: X, yTrain: y, XVal: X, yVal: y }, quiet({}));
  for (const batchSize of [1, 4, 23, 100]) {
    assert.equal(solver.checkAccuracy(X, y, null, batchSize), 14 / 23);
  }
  assert.equal(solver.checkAccuracy(X, y, 50), 14 / 23, "no subsampling when N ≤ numSamples");
  // Subsampling draws with replacement from the solver's rng, reproducibly.
  const rng = new Rng(5);
  const mask = new Rng(5).choice(23, 8);
  const expected = Array.from(mask).filter((i) => X.get(i, 0) === y[i]).length / 8;
  const sub = new Solver(model, { XTrain: X, yTrain: y, XVal: X, yVal: y }, quiet({ rng }));
  assert.equal(sub.checkAccuracy(X, y, 8, 3), expected);

  assert.throws(() => solver.checkAccuracy(X, y.subarray(1)), /checkAccuracy: y has 22 labels/);
  assert.throws(
    () => solver.checkAccuracy(X, y, 0),
    /checkAccuracy: numSamples must be a positive/,
  );
  assert.throws(() => solver.checkAccuracy(X, y, null, 0), /checkAccuracy: batchSize must be/);
  assert.throws(
    () => solver.checkAccuracy(Tensor.zeros([0, 1]), []),
    /Solver.checkAccuracy: X has no samples/,
  );
});

Deno.test("Solver: accepts an update-rule function and ArrayLike labels", () => {
  const { data, model } = problem(10);
  let calls = 0;
  const counted = (w: Tensor, dw: Tensor, config?: OptimConfig) => (calls++, sgd(w, dw, config));
  const solver = new Solver(
    model,
    { ...data, yTrain: Array.from(data.yTrain) },
    quiet({
      updateRule: counted,
      numEpochs: 1,
      batchSize: 10,
    }),
  );
  solver.train();
  assert.equal(calls, 3 * 2, "3 iterations × 2 parameters");
  assert.equal(solver.updateRuleName, "counted");
});

Deno.test("Solver: validates data and options", () => {
  const { data, model } = problem(10);
  const bad = (options: unknown, pattern: RegExp, d: unknown = data) =>
    assert.throws(() => new Solver(model, d as SolverData, options as SolverOptions), pattern);
  bad({ batchSize: 0 }, /Solver: batchSize must be a positive integer, got 0/);
  bad({ batchSize: 2.5 }, /Solver: batchSize must be a positive integer, got 2.5/);
  bad({ numEpochs: -1 }, /Solver: numEpochs must be a non-negative integer, got -1/);
  bad({ printEvery: 0 }, /Solver: printEvery must be a positive integer/);
  bad({ numTrainSamples: 0 }, /Solver: numTrainSamples must be a positive integer/);
  bad({ lrDecay: NaN }, /Solver: lrDecay must be a finite number/);
  bad(
    { updateRule: "adagrad" },
    /Solver: invalid updateRule "adagrad"; valid: "sgd", "sgd_momentum", "sgdMomentum", "rmsprop", "adam"/,
  );
  bad(
    { update_rule: "sgd" },
    /Solver: unknown option "update_rule" \(did you mean "updateRule"\?\)/,
  );
  bad(
    { optimConfig: { learning_rate: 1e-3 } },
    /Solver: invalid optimConfig: sgd: unknown config field "learning_rate" \(did you mean "learningRate"\?\)/,
  );
  bad(
    { updateRule: "adam", optimConfig: { beta2: 1 } },
    /Solver: invalid optimConfig: adam: config.beta2/,
  );
  bad({ checkpointName: "" }, /Solver: checkpointName must be a non-empty string/);
  bad(
    {},
    /Solver: yTrain has 29 labels but the inputs have 30 samples/,
    { ...data, yTrain: data.yTrain.subarray(1) },
  );
  bad({}, /Solver: yVal has 5 labels but the inputs have 30 samples/, {
    ...data,
    yVal: data.yVal.subarray(0, 5),
  });
  bad({}, /Solver: yTrain\[2\] must be a non-negative integer label, got -1/, {
    ...data,
    yTrain: Int32Array.from(data.yTrain, (v, i) => (i === 2 ? -1 : v)),
  });
  bad({}, /Solver: XVal has no samples/, { ...data, XVal: Tensor.zeros([0, 2]), yVal: [] });
  bad({}, /Solver: XTrain must be a Tensor of shape \(N, \.\.\.\), got object/, {
    ...data,
    XTrain: [[1, 2]],
  });
});

Deno.test("Solver.step: a missing or misshapen gradient names the parameter", () => {
  const { data } = problem(10);
  const model: SolverModel = {
    params: { W: Tensor.zeros([2, 3]), b: Tensor.zeros([3]) },
    loss(X: Tensor, y?: Int32Array) {
      if (!y) return Tensor.zeros([X.shape[0], 3]);
      return [1, { W: Tensor.zeros([3, 2]) }];
    },
  };
  const solver = new Solver(model, data, quiet({}));
  assert.throws(
    () => solver.step(),
    /Solver.step: model.loss returned shape \[3,2\] as the gradient of "W" \(parameter shape \[2,3\]\)/,
  );
});

Deno.test("Solver: batchnorm running statistics are restored with the best parameters", () => {
  const rng = new Rng(3);
  const N = 60, D = 6, C = 3;
  const XTrain = Tensor.randn([N, D], rng);
  const yTrain = Int32Array.from({ length: N }, (_, i) => i % C);
  // Validation labels unrelated to the inputs: its accuracy wanders, so the best epoch is
  // (for this seed) not the last one, which is the case the restore matters for.
  const XVal = Tensor.randn([30, D], rng);
  const yVal = Int32Array.from({ length: 30 }, () => rng.randint(C));
  const model = new FullyConnectedNet({
    hiddenDims: [8],
    inputDim: D,
    numClasses: C,
    normalization: "batchnorm",
    weightScale: 0.5,
    dtype: "float64",
    rng,
  });
  // Watch the running mean at every improvement of validation accuracy at an epoch end.
  let best = -Infinity, bestEpoch = -1;
  let bestMean: number[] = [];
  const solver = new Solver(model, { XTrain, yTrain, XVal, yVal }, {
    updateRule: "sgd",
    optimConfig: { learningRate: 0.1 },
    numEpochs: 8,
    batchSize: 10,
    verbose: false,
    rng,
    onEpoch: ({ epoch, valAcc }) => {
      if (valAcc > best) {
        [best, bestEpoch] = [valAcc, epoch];
        bestMean = [...model.bnParams[0].runningMean!.data];
      }
    },
  });
  solver.train();
  // The case that matters: the best epoch is neither the first check nor the last epoch.
  assert.equal(solver.bestValAcc, best);
  assert.ok(bestEpoch > 0 && bestEpoch < 8, `best epoch ${bestEpoch}`);
  assert.deepEqual([...model.bnParams[0].runningMean!.data], bestMean);
  assert.equal(solver.checkAccuracy(XVal, yVal), solver.bestValAcc);
});

Deno.test("Solver checkpoints keep batchnorm running statistics; loadCheckpoint restores them", () => {
  Deno.mkdirSync("out", { recursive: true });
  const dir = Deno.makeTempDirSync({ dir: "out", prefix: "solver_test_" });
  try {
    const rng = new Rng(3);
    const X = Tensor.randn([40, 6], rng);
    const y = Int32Array.from({ length: 40 }, (_, i) => i % 3);
    const options = { hiddenDims: [5, 4], inputDim: 6, numClasses: 3, normalization: "batchnorm" };
    const model = new FullyConnectedNet({ ...options, rng: new Rng(1) } as never);
    const checkpointName = `${dir}/bn`;
    let scoresAtEpoch1: number[] = [];
    new Solver(model, { XTrain: X, yTrain: y, XVal: X, yVal: y }, {
      numEpochs: 1,
      batchSize: 10,
      checkpointName,
      verbose: false,
      // Test-mode scores as the epoch-1 checkpoint is written (train() then restores the
      // best parameters, which may be older).
      onEpoch: () => scoresAtEpoch1 = Array.from(model.loss(X).data),
    }).train();
    const file = `${checkpointName}_epoch_1.safetensors`;
    const names = Object.keys(loadParams(file).params).sort();
    for (const i of [1, 2]) {
      assert.ok(names.includes(`runningMean${i}`) && names.includes(`runningVar${i}`), `${names}`);
    }
    // A fresh model of the same shape predicts exactly like the trained one after loading.
    const restored = new FullyConnectedNet({ ...options, rng: new Rng(99) } as never);
    assert.throws(() => restored.loss(X), /runningMean/); // test mode needs the statistics
    const metadata = loadCheckpoint(restored, file);
    assert.equal(metadata.epoch, "1");
    assert.deepEqual(Array.from(restored.loss(X).data), scoresAtEpoch1);
    // A model of another shape is refused, listing what does not fit; nothing is changed.
    const other = new FullyConnectedNet({ ...options, hiddenDims: [5], rng: new Rng(2) } as never);
    const before = snapshot(other.params);
    assert.throws(
      () => loadCheckpoint(other, file),
      /loadCheckpoint: .*bn_epoch_1\.safetensors does not fit the model: W2: the file has float32 \[5,4\], the model's parameter is float32 \[5,3\].*W3: not a parameter of the model.*runningMean2: the model has no batchnorm layer 2/,
    );
    assert.deepEqual(snapshot(other.params), before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Solver: labels outside the model's classes and non-finite inputs are named precisely", () => {
  const rng = new Rng(5);
  const X = Tensor.randn([12, 4], rng);
  const y = Int32Array.from({ length: 12 }, (_, i) => i % 3);
  const net = () => new FullyConnectedNet({ hiddenDims: [6], inputDim: 4, numClasses: 3, rng });
  const run = (data: SolverData) =>
    new Solver(net(), data, { numEpochs: 1, batchSize: 4, verbose: false }).train();
  // A training label the model cannot have: named by its index in yTrain.
  const badTrain = y.slice();
  badTrain[7] = 7;
  assert.throws(
    () => run({ XTrain: X, yTrain: badTrain, XVal: X, yVal: y }),
    /Solver\.(train|checkAccuracy): yTrain\[7\] = 7 is not a class index of the model's 3 classes/,
  );
  // A validation label used to count as a wrong prediction, without a word.
  const badVal = y.slice();
  badVal[2] = 5;
  assert.throws(
    () => run({ XTrain: X, yTrain: y, XVal: X, yVal: badVal }),
    /Solver\.checkAccuracy: yVal\[2\] = 5 is not a class index of the model's 3 classes \[0, 3\)/,
  );
  // A NaN in the data: the message says so instead of advising a lower learning rate.
  const nanX = X.clone();
  for (let i = 0; i < 12; i++) nanX.data[4 * i + 1] = NaN;
  assert.throws(
    () => run({ XTrain: nanX, yTrain: y, XVal: X, yVal: y }),
    /loss became NaN at iteration 1 .*XTrain\[\d+\] holds NaN \(element 1 of the sample\): the training data is not finite/,
  );
});

/**
 * The training loop (cs231n `solver.py`): minibatch gradient descent with any update rule
 * of `optim.ts`, periodic accuracy checks, learning-rate decay, best-model tracking and
 * checkpoints.
 *
 * A Solver works with any model of the `TrainableModel` shape (`models/model.ts`):
 *
 * - `model.params` maps parameter names to Tensors. The Solver writes the updated tensors
 *   back into this object after every step, so the model must read it on each call.
 * - `model.loss(X)` returns class scores of shape `(N, C)` (test-time forward pass);
 *   `model.loss(X, y)` returns `[loss, grads]` with `grads` keyed like `params`.
 *
 * @module
 */

import { LabelRangeError } from "./layers/losses.ts";
import { checkOptionKeys } from "./checks.ts";
import type { TrainableModel } from "./models/model.ts";
import { type OptimConfig, UPDATE_RULES, type UpdateRule, type UpdateRuleName } from "./optim.ts";
import { loadParams, saveParams } from "./io/safetensors.ts";
import { formatEpochLine, ProgressPrinter } from "./progress.ts";
import { Rng } from "./rng.ts";
import { issueCount } from "./buffer_pool.ts";
import { FullyConnectedNet } from "./models/fc_net.ts";
import { ThreeLayerConvNet } from "./models/cnn.ts";
import { TwoLayerNet } from "./models/two_layer_net.ts";
import { releaseStorage, sameShape, Tensor } from "./tensor.ts";

/** The library's models: their `loss()` keeps no reference to the grads it returns. */
const LIBRARY_MODELS = new Set<unknown>([ThreeLayerConvNet, FullyConnectedNet, TwoLayerNet]);

/**
 * The model contract the Solver trains: {@link TrainableModel}.
 *
 * @deprecated Use `TrainableModel` (the one contract, in `models/model.ts`).
 */
export type SolverModel = TrainableModel;

/** Training and validation data (cs231n's `data` dict). */
export interface SolverData {
  /** Training inputs, shape `(N_train, d_1, ..., d_k)`. */
  XTrain: Tensor;
  /** Training labels, `N_train` integers. */
  yTrain: ArrayLike<number>;
  /** Validation inputs, shape `(N_val, d_1, ..., d_k)`. */
  XVal: Tensor;
  /** Validation labels, `N_val` integers. */
  yVal: ArrayLike<number>;
}

/** What the `onEpoch` hook receives at the end of every epoch. */
export interface EpochInfo {
  /** Epochs completed so far (1 after the first). */
  epoch: number;
  /** Total number of epochs of this `train()` call. */
  numEpochs: number;
  /** Iterations done so far in this `train()` call. */
  iteration: number;
  /** Training accuracy just measured. */
  trainAcc: number;
  /** Validation accuracy just measured. */
  valAcc: number;
  /** The solver, for its histories and the model. */
  solver: Solver;
}

/** Options of {@link Solver} (cs231n's keyword arguments, in camelCase). */
export interface SolverOptions {
  /** An update rule of `optim.ts` by name, or a function of the same signature. Default "sgd". */
  updateRule?: UpdateRuleName | UpdateRule;
  /** Hyperparameters for the update rule; every parameter gets its own deep copy. Default {}. */
  optimConfig?: OptimConfig;
  /** The learning rate is multiplied by this after each epoch. Default 1.0. */
  lrDecay?: number;
  /** Minibatch size. Default 100. */
  batchSize?: number;
  /** Number of epochs to train for. Default 10. */
  numEpochs?: number;
  /** Training samples used to check training accuracy; `null` for all. Default 1000. */
  numTrainSamples?: number | null;
  /** Validation samples used to check validation accuracy; `null` (default) for all. */
  numValSamples?: number | null;
  /**
   * If set, the model's params are saved to `${checkpointName}_epoch_${epoch}.safetensors`
   * (with the settings and histories as metadata) at every accuracy check, as cs231n does:
   * `_epoch_0` after the first iteration, then at each epoch end. The directory is created.
   * Default null (no checkpoints).
   */
  checkpointName?: string | null;
  /** Print the loss every this many iterations (when not on a terminal). Default 10. */
  printEvery?: number;
  /** Print progress; `false` prints nothing. Default true. */
  verbose?: boolean;
  /** Draws the minibatches and accuracy subsamples. Default `new Rng(0)`. */
  rng?: Rng;
  /** Called at the end of every epoch, after the accuracy check. */
  onEpoch?: (info: EpochInfo) => void;
  /** Receives the printed lines instead of stdout (plain lines, never the terminal mode). */
  log?: (line: string) => void;
}

const OPTION_NAMES: readonly string[] = [
  "updateRule",
  "optimConfig",
  "lrDecay",
  "batchSize",
  "numEpochs",
  "numTrainSamples",
  "numValSamples",
  "checkpointName",
  "printEvery",
  "verbose",
  "rng",
  "onEpoch",
  "log",
];

/**
 * Trains a classification model by minibatch gradient descent (cs231n `Solver`).
 *
 * `train()` runs `numEpochs × max(⌊N_train / batchSize⌋, 1)` iterations. Training and
 * validation accuracy are checked after the first iteration, at the end of every epoch
 * and after the last iteration; the learning rate decays at every epoch end. When
 * training ends, `model.params` holds copies of the parameters with the best validation
 * accuracy, and (a departure from cs231n, which forgets them) a batchnorm model's running
 * statistics are those of the same moment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Solver } from "./solver.ts";
 * import { Tensor } from "./tensor.ts";
 * // A model with one bias per class: it learns to predict the most frequent class.
 * const model = {
 *   params: { b: Tensor.zeros([2]) },
 *   loss(X: Tensor, y?: Int32Array): Tensor | [number, Record<string, Tensor>] {
 *     if (!y) return Tensor.zeros([X.shape[0], 2]).add(this.params.b);
 *     // loss = mean of -b[y_i]: pushes up the bias of every label seen.
 *     let loss = 0;
 *     const db = Tensor.zeros([2]);
 *     for (const label of y) {
 *       loss -= this.params.b.get(label) / y.length;
 *       db.data[label] -= 1 / y.length;
 *     }
 *     return [loss, { b: db }];
 *   },
 * };
 * const XTrain = Tensor.zeros([20, 1]);
 * const yTrain = Int32Array.from({ length: 20 }, (_, i) => (i < 15 ? 1 : 0));
 * const solver = new Solver(model, { XTrain, yTrain, XVal: XTrain, yVal: yTrain }, {
 *   batchSize: 10, numEpochs: 2, verbose: false,
 * });
 * solver.train();
 * assert.equal(solver.lossHistory.length, 4);
 * assert.equal(solver.bestValAcc, 0.75);
 * ```
 */
export class Solver {
  /** The model being trained. */
  readonly model: TrainableModel;
  /** Training inputs. */
  readonly XTrain: Tensor;
  /** Training labels. */
  readonly yTrain: Int32Array;
  /** Validation inputs. */
  readonly XVal: Tensor;
  /** Validation labels. */
  readonly yVal: Int32Array;

  /** The update rule in use. */
  readonly updateRule: UpdateRule;
  /** Its name (for checkpoints and messages). */
  readonly updateRuleName: string;
  /** The hyperparameters given as `optimConfig` (never modified). */
  readonly optimConfig: OptimConfig;
  /** Learning-rate decay per epoch. */
  readonly lrDecay: number;
  /** Minibatch size. */
  readonly batchSize: number;
  /** Epochs per `train()` call. */
  readonly numEpochs: number;
  /** Training samples per accuracy check (`null`: all). */
  readonly numTrainSamples: number | null;
  /** Validation samples per accuracy check (`null`: all). */
  readonly numValSamples: number | null;
  /** Checkpoint file prefix (`null`: no checkpoints). */
  readonly checkpointName: string | null;
  /** Iterations between printed loss lines. */
  readonly printEvery: number;
  /** Whether progress is printed. */
  readonly verbose: boolean;
  /** Generator of minibatches and accuracy subsamples. */
  readonly rng: Rng;

  /** Epochs completed. */
  epoch = 0;
  /** Best validation accuracy seen at an accuracy check. */
  bestValAcc = 0;
  /** Copies of the parameters that reached `bestValAcc`. */
  bestParams: Record<string, Tensor> = {};
  #bestRunningStats: { runningMean?: Tensor; runningVar?: Tensor }[] | null = null;
  /** Minibatch loss of every iteration. */
  lossHistory: number[] = [];
  /** Training accuracy at every accuracy check. */
  trainAccHistory: number[] = [];
  /** Validation accuracy at every accuracy check. */
  valAccHistory: number[] = [];
  /** Each parameter's own update-rule config (hyperparameters and state). */
  optimConfigs: Record<string, OptimConfig> = {};

  readonly #onEpoch?: (info: EpochInfo) => void;
  readonly #log?: (line: string) => void;
  #caller = "Solver.step";

  /** Validates the data and options (see {@link SolverOptions} for the defaults). */
  constructor(model: TrainableModel, data: SolverData, options: SolverOptions = {}) {
    if (model === null || typeof model !== "object" || typeof model.loss !== "function") {
      throw new Error("Solver: model must be an object with a loss(X, y?) method");
    }
    if (model.params === null || typeof model.params !== "object") {
      throw new Error(`Solver: model.params must be an object of Tensors, got ${model.params}`);
    }
    this.model = model;
    if (data === null || typeof data !== "object") {
      throw new Error(`Solver: data must be { XTrain, yTrain, XVal, yVal }, got ${data}`);
    }
    this.XTrain = checkInputs("XTrain", data.XTrain);
    this.yTrain = checkLabels("yTrain", data.yTrain, this.XTrain);
    this.XVal = checkInputs("XVal", data.XVal);
    this.yVal = checkLabels("yVal", data.yVal, this.XVal);

    if (options === null || typeof options !== "object") {
      throw new Error(`Solver: options must be an object, got ${options}`);
    }
    checkOptionKeys("Solver", options, OPTION_NAMES);
    [this.updateRule, this.updateRuleName] = resolveUpdateRule(options.updateRule ?? "sgd");
    this.optimConfig = checkOptimConfig(options.optimConfig ?? {}, this.updateRule);
    this.lrDecay = options.lrDecay ?? 1.0;
    if (!Number.isFinite(this.lrDecay) || this.lrDecay < 0) {
      throw new Error(`Solver: lrDecay must be a finite number ≥ 0, got ${this.lrDecay}`);
    }
    this.batchSize = checkCount("batchSize", options.batchSize ?? 100, 1);
    this.numEpochs = checkCount("numEpochs", options.numEpochs ?? 10, 0);
    this.numTrainSamples = options.numTrainSamples === undefined
      ? 1000
      : checkSampleCount("numTrainSamples", options.numTrainSamples);
    this.numValSamples = options.numValSamples === undefined
      ? null
      : checkSampleCount("numValSamples", options.numValSamples);
    const name = options.checkpointName ?? null;
    if (name !== null && (typeof name !== "string" || name === "")) {
      throw new Error(`Solver: checkpointName must be a non-empty string or null, got ${name}`);
    }
    this.checkpointName = name;
    this.printEvery = checkCount("printEvery", options.printEvery ?? 10, 1);
    this.verbose = options.verbose ?? true;
    if (typeof this.verbose !== "boolean") {
      throw new Error(`Solver: verbose must be a boolean, got ${this.verbose}`);
    }
    this.rng = options.rng ?? new Rng(0);
    if (!(this.rng instanceof Rng)) throw new Error("Solver: rng must be an Rng");
    for (const hook of ["onEpoch", "log"] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== "function") {
        throw new Error(`Solver: ${hook} must be a function, got ${typeof options[hook]}`);
      }
    }
    this.#onEpoch = options.onEpoch;
    this.#log = options.log;

    for (const p of Object.keys(model.params)) this.optimConfigs[p] = copyConfig(this.optimConfig);
  }

  /**
   * One gradient step on a minibatch of `batchSize` samples drawn with replacement (like
   * `np.random.choice`). Returns the minibatch loss. If the loss is NaN or infinite it
   * throws, leaving the parameters unchanged, and names the iteration (counted over all
   * steps of this solver, 1-based), the epoch in progress and the last finite loss.
   */
  step(): number {
    const since = issueCount();
    const numTrain = this.XTrain.shape[0];
    const batchMask = this.rng.choice(numTrain, this.batchSize);
    const XBatch = this.XTrain.take(batchMask);
    const yBatch = new Int32Array(batchMask.length);
    for (let i = 0; i < batchMask.length; i++) yBatch[i] = this.yTrain[batchMask[i]];

    let result;
    try {
      result = this.model.loss(XBatch, yBatch);
    } catch (e) {
      // The loss names the label's place in the minibatch; say where it is in yTrain.
      if (!(e instanceof LabelRangeError)) throw e;
      throw new Error(
        `${this.#caller}: yTrain[${batchMask[e.index]}] = ${e.label} is not a class index ` +
          `of the model's ${e.numClasses} classes [0, ${e.numClasses})`,
        { cause: e },
      );
    }
    if (!Array.isArray(result) || result.length !== 2 || typeof result[0] !== "number") {
      throw new Error(`${this.#caller}: model.loss(X, y) must return [loss, grads]`);
    }
    const [loss, grads] = result;
    if (!Number.isFinite(loss)) this.#throwNonFinite(loss, XBatch, batchMask);
    this.lossHistory.push(loss);

    for (const [p, w] of Object.entries(this.model.params)) {
      const dw = grads[p];
      if (!(dw instanceof Tensor) || !sameShape(dw.shape, w.shape)) {
        const got = dw instanceof Tensor ? `shape [${dw.shape}]` : "no Tensor";
        throw new Error(
          `${this.#caller}: model.loss returned ${got} as the gradient of "${p}" ` +
            `(parameter shape [${w.shape}])`,
        );
      }
      // A parameter added after construction gets its config on first use.
      const config = this.optimConfigs[p] ??= copyConfig(this.optimConfig);
      const [nextW, nextConfig] = this.updateRule(w, dw, config);
      this.model.params[p] = nextW;
      this.optimConfigs[p] = nextConfig;
    }
    if (this.#gradsAreOurs()) {
      // Next step's grads then come from the pool, already on shared memory.
      releaseStorage(Object.values(grads), Object.values(this.model.params), since);
    }
    return loss;
  }

  /**
   * Whether this step's grads are the step's alone, so that their memory can go back to
   * the buffer pool: the model is one of the library's (which keep nothing of the grads
   * they return) with its own `loss` (not replaced, say by a logging wrapper), and the
   * update rule a built-in one (which keeps nothing of `dw`). Asked at every step, as
   * either may be swapped at any time.
   */
  #gradsAreOurs(): boolean {
    const model = this.model;
    return LIBRARY_MODELS.has(Object.getPrototypeOf(model)?.constructor) &&
      !Object.hasOwn(model, "loss") && Object.values(UPDATE_RULES).includes(this.updateRule);
  }

  /**
   * Fraction of the samples of `X` the model classifies correctly (argmax of its scores).
   * With `numSamples`, a random subsample of that size (with replacement) is used when `X`
   * is larger. Scores are computed `batchSize` rows at a time.
   */
  checkAccuracy(
    X: Tensor,
    y: ArrayLike<number>,
    numSamples: number | null = null,
    batchSize = 100,
  ): number {
    return this.#accuracy(X, y, numSamples, batchSize, "y");
  }

  /** {@link checkAccuracy}, naming the labels `yName` in its errors. */
  #accuracy(
    X: Tensor,
    y: ArrayLike<number>,
    numSamples: number | null,
    batchSize: number,
    yName: string,
  ): number {
    const fn = "Solver.checkAccuracy";
    checkInputs("X", X, fn);
    const allLabels = checkLabels(yName, y, X, fn);
    if (numSamples !== null) checkSampleCount("numSamples", numSamples, fn);
    checkCount("batchSize", batchSize, 1, fn);

    let N = X.shape[0];
    let labels = allLabels;
    if (numSamples !== null && N > numSamples) {
      const mask = this.rng.choice(N, numSamples);
      X = X.take(mask);
      labels = Int32Array.from(mask, (i) => allLabels[i]);
      N = numSamples;
    }
    let correct = 0;
    for (let start = 0; start < N; start += batchSize) {
      const end = Math.min(start + batchSize, N);
      const scores = this.model.loss(X.sliceRows(start, end));
      if (!(scores instanceof Tensor) || scores.ndim !== 2 || scores.shape[0] !== end - start) {
        const got = scores instanceof Tensor ? `shape [${scores.shape}]` : "no Tensor";
        throw new Error(
          `${fn}: model.loss(X) must return scores of shape (${end - start}, C), got ${got}`,
        );
      }
      // A label the model cannot predict would silently count as wrong: refuse it instead.
      if (start === 0) checkLabelRange(fn, yName, allLabels, scores.shape[1]);
      const predicted = scores.argmax(1);
      for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[start + i]) correct++;
    }
    return correct / N;
  }

  /** Runs the optimization (see the class description). */
  train(): void {
    const numTrain = this.XTrain.shape[0];
    const iterationsPerEpoch = Math.max(Math.floor(numTrain / this.batchSize), 1);
    const numIterations = this.numEpochs * iterationsPerEpoch;
    const progress = this.verbose
      ? new ProgressPrinter({ printEvery: this.printEvery, log: this.#log })
      : null;
    const startMs = performance.now();
    let stepMs = 0;
    this.#caller = "Solver.train";
    try {
      for (let t = 0; t < numIterations; t++) {
        const stepStart = performance.now();
        const loss = this.step();
        const now = performance.now();
        stepMs += now - stepStart;

        progress?.iteration({
          iteration: t + 1,
          numIterations,
          epoch: this.epoch + 1,
          numEpochs: this.numEpochs,
          loss,
          // Throughput of the gradient steps alone; the ETA includes the accuracy checks.
          imagesPerSecond: ((t + 1) * this.batchSize) / (stepMs / 1000),
          etaSeconds: ((numIterations - t - 1) * (now - startMs)) / (t + 1) / 1000,
        });

        const epochEnd = (t + 1) % iterationsPerEpoch === 0;
        if (epochEnd) {
          this.epoch += 1;
          for (const config of Object.values(this.optimConfigs)) {
            // Rules fill in their default learning rate on the first step.
            if (config.learningRate !== undefined) config.learningRate *= this.lrDecay;
          }
        }

        if (t === 0 || t === numIterations - 1 || epochEnd) {
          const trainAcc = this.#accuracy(
            this.XTrain,
            this.yTrain,
            this.numTrainSamples,
            100,
            "yTrain",
          );
          const valAcc = this.#accuracy(this.XVal, this.yVal, this.numValSamples, 100, "yVal");
          this.trainAccHistory.push(trainAcc);
          this.valAccHistory.push(valAcc);
          this.#saveCheckpoint(progress);
          progress?.line(formatEpochLine(this.epoch, this.numEpochs, trainAcc, valAcc));

          if (valAcc > this.bestValAcc) {
            this.bestValAcc = valAcc;
            this.bestParams = cloneParams(this.model.params);
            this.#bestRunningStats = cloneRunningStats(this.model.bnParams);
          }
          if (epochEnd) {
            this.#onEpoch?.({
              epoch: this.epoch,
              numEpochs: this.numEpochs,
              iteration: t + 1,
              trainAcc,
              valAcc,
              solver: this,
            });
          }
        }
      }
    } finally {
      this.#caller = "Solver.step";
      progress?.end();
    }

    // cs231n swaps in the best parameters; copies keep bestParams safe from later updates.
    // (With no validation accuracy above 0 there is no best model, and cs231n's swap would
    // leave the model without parameters, so the current ones are kept.)
    if (Object.keys(this.bestParams).length > 0) {
      for (const [p, w] of Object.entries(this.bestParams)) this.model.params[p] = w.clone();
      // Unlike cs231n, batchnorm running statistics go back to the best epoch's too: the
      // best weights with the last epoch's statistics would not be the model that scored
      // bestValAcc.
      this.#bestRunningStats?.forEach((stats, i) => {
        const bn = this.model.bnParams?.[i];
        if (bn && stats.runningMean) bn.runningMean = stats.runningMean.clone();
        if (bn && stats.runningVar) bn.runningVar = stats.runningVar.clone();
      });
    }
  }

  /** Writes the checkpoint for the current epoch (cs231n saves at every accuracy check). */
  #saveCheckpoint(progress: ProgressPrinter | null): void {
    if (this.checkpointName === null) return;
    const filename = `${this.checkpointName}_epoch_${this.epoch}.safetensors`;
    const metadata: Record<string, string> = {
      epoch: String(this.epoch),
      updateRule: this.updateRuleName,
      lrDecay: String(this.lrDecay),
      optimConfig: JSON.stringify(hyperparameters(this.optimConfig)),
      batchSize: String(this.batchSize),
      numTrainSamples: JSON.stringify(this.numTrainSamples),
      numValSamples: JSON.stringify(this.numValSamples),
      lossHistory: JSON.stringify(this.lossHistory),
      trainAccHistory: JSON.stringify(this.trainAccHistory),
      valAccHistory: JSON.stringify(this.valAccHistory),
    };
    progress?.line(`Saving checkpoint to "${filename}"`);
    saveParams(filename, checkpointTensors(this.model), metadata);
  }

  #throwNonFinite(loss: number, XBatch: Tensor, batchMask: ArrayLike<number>): never {
    const iteration = this.lossHistory.length + 1;
    // A lower learning rate cannot help when the data itself is not finite: say which.
    const rowSize = XBatch.size / XBatch.shape[0];
    const bad = XBatch.data.findIndex((v) => !Number.isFinite(v));
    const cause = bad >= 0
      ? `XTrain[${batchMask[Math.floor(bad / rowSize)]}] holds ${XBatch.data[bad]} (element ` +
        `${bad % rowSize} of the sample): the training data is not finite, check the inputs`
      : badParameter(this.model.params) ?? "Try a lower learning rate.";
    const last = this.lossHistory.length > 0
      ? `last finite loss ${this.lossHistory[iteration - 2].toFixed(4)} at iteration ${
        iteration - 1
      }`
      : "no finite loss before it";
    throw new Error(
      `${this.#caller}: loss became ${loss} at iteration ${iteration} (epoch ${
        this.epoch + 1
      }); ${last}. ${cause}`,
    );
  }
}

// ------------------------------------------------------------------ helpers

function resolveUpdateRule(rule: unknown): [UpdateRule, string] {
  if (typeof rule === "function") return [rule as UpdateRule, rule.name || "custom"];
  if (typeof rule === "string" && Object.hasOwn(UPDATE_RULES, rule)) {
    return [UPDATE_RULES[rule as UpdateRuleName], rule];
  }
  const valid = Object.keys(UPDATE_RULES).map((k) => `"${k}"`).join(", ");
  throw new Error(
    `Solver: invalid updateRule ${JSON.stringify(rule)}; valid: ${valid} or a function`,
  );
}

/**
 * Checks the hyperparameters once, up front, by a dry run of a built-in rule on a scalar,
 * so a typo fails at construction rather than after the first minibatch.
 */
function checkOptimConfig(config: OptimConfig, rule: UpdateRule): OptimConfig {
  if (config === null || typeof config !== "object") {
    throw new Error(`Solver: optimConfig must be an object, got ${config}`);
  }
  if (Object.values(UPDATE_RULES).includes(rule)) {
    try {
      rule(Tensor.zeros([1]), Tensor.zeros([1]), hyperparameters(config));
    } catch (e) {
      throw new Error(`Solver: invalid optimConfig: ${(e as Error).message}`);
    }
  }
  return config;
}

/** The scalar fields of a config (state tensors are per-parameter, not hyperparameters). */
function hyperparameters(config: OptimConfig): OptimConfig {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => !(v instanceof Tensor)));
}

function copyConfig(config: OptimConfig): OptimConfig {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, v instanceof Tensor ? v.clone() : v]),
  );
}

function cloneRunningStats(
  bnParams: TrainableModel["bnParams"],
): { runningMean?: Tensor; runningVar?: Tensor }[] | null {
  if (!bnParams) return null;
  return bnParams.map((bn) => ({
    runningMean: bn.runningMean?.clone(),
    runningVar: bn.runningVar?.clone(),
  }));
}

function cloneParams(params: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.clone()]));
}

function checkInputs(name: string, X: unknown, fn = "Solver"): Tensor {
  if (!(X instanceof Tensor) || X.ndim < 1) {
    throw new Error(`${fn}: ${name} must be a Tensor of shape (N, ...), got ${describe(X)}`);
  }
  if (X.shape[0] === 0) throw new Error(`${fn}: ${name} has no samples (shape [${X.shape}])`);
  return X;
}

/** Names a parameter that holds a non-finite value, if any. */
function badParameter(params: Record<string, Tensor>): string | null {
  for (const [name, t] of Object.entries(params)) {
    const i = t.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) {
      return `Parameter ${name} holds ${t.data[i]} at element ${i} (the weights diverged): ` +
        "try a lower learning rate.";
    }
  }
  return null;
}

/** Throws unless every label is a class index of a model with `numClasses` classes. */
function checkLabelRange(fn: string, name: string, labels: Int32Array, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new Error(
        `${fn}: ${name}[${i}] = ${labels[i]} is not a class index of the model's ${numClasses} ` +
          `classes [0, ${numClasses})`,
      );
    }
  }
}

function checkLabels(name: string, y: unknown, X: Tensor, fn = "Solver"): Int32Array {
  const labels = y as ArrayLike<number> | null | undefined;
  if (labels === null || typeof labels !== "object" || typeof labels.length !== "number") {
    throw new Error(`${fn}: ${name} must be an array of integer labels, got ${describe(y)}`);
  }
  if (labels.length !== X.shape[0]) {
    throw new Error(
      `${fn}: ${name} has ${labels.length} labels but the inputs have ${X.shape[0]} samples ` +
        `(shape [${X.shape}])`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label > 0x7fffffff) {
      throw new Error(`${fn}: ${name}[${i}] must be a non-negative integer label, got ${label}`);
    }
  }
  return labels instanceof Int32Array ? labels : Int32Array.from(labels);
}

function checkCount(name: string, value: unknown, min: number, fn = "Solver"): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    const what = min === 1 ? "a positive integer" : "a non-negative integer";
    throw new Error(`${fn}: ${name} must be ${what}, got ${value}`);
  }
  return value as number;
}

function checkSampleCount(name: string, value: unknown, fn = "Solver"): number | null {
  if (value === null) return null;
  return checkCount(name, value, 1, fn);
}

function describe(value: unknown): string {
  if (value instanceof Tensor) return `a Tensor of shape [${value.shape}]`;
  return value === null ? "null" : typeof value;
}

/**
 * Name prefixes of the batchnorm running statistics in a checkpoint: layer `i`'s (1-based,
 * like `gamma1`) are `runningMean1` and `runningVar1`.
 */
const RUNNING_STATS = ["runningMean", "runningVar"] as const;

/**
 * What a checkpoint holds: the parameters, plus every batchnorm layer's running statistics
 * (`runningMean1`, `runningVar1`, ...), without which a restored model cannot predict in
 * test mode.
 */
function checkpointTensors(model: TrainableModel): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = { ...model.params };
  model.bnParams?.forEach((bn, i) => {
    for (const stat of RUNNING_STATS) {
      const t = bn[stat];
      if (t !== undefined) tensors[`${stat}${i + 1}`] = t;
    }
  });
  return tensors;
}

/**
 * Restores a checkpoint written by the Solver (`checkpointName`) into `model`: its
 * parameters, and the batchnorm running statistics into `model.bnParams`. Every tensor of
 * the file must match a parameter (or running statistic) of the model in name, shape and
 * dtype, and every parameter of the model must be in the file; otherwise nothing is
 * changed and the error lists what does not fit. Returns the checkpoint's metadata (epoch,
 * histories, hyperparameters). Synchronous; needs `--allow-read` for the path.
 *
 * @example
 * ```ts ignore
 * import { FullyConnectedNet, loadCheckpoint } from "./mod.ts";
 * const model = new FullyConnectedNet({ hiddenDims: [100], normalization: "batchnorm" });
 * const metadata = loadCheckpoint(model, "out/run_epoch_5.safetensors");
 * console.log(metadata.epoch, model.loss(XTest)); // test-mode scores
 * ```
 */
export function loadCheckpoint(model: TrainableModel, path: string): Record<string, string> {
  const fn = "loadCheckpoint";
  const { params, metadata } = loadParams(path);
  const problems: string[] = [];
  const fit = (name: string, t: Tensor, like: Tensor | undefined, what: string) => {
    if (like === undefined) return;
    if (!sameShape(t.shape, like.shape) || t.dtype !== like.dtype) {
      problems.push(
        `${name}: the file has ${t.dtype} [${t.shape}], the model's ${what} is ` +
          `${like.dtype} [${like.shape}]`,
      );
    }
  };
  const stats: [index: number, stat: typeof RUNNING_STATS[number], t: Tensor][] = [];
  for (const [name, t] of Object.entries(params)) {
    const match = /^(runningMean|runningVar)(\d+)$/.exec(name);
    if (match && !(name in model.params)) {
      const index = Number(match[2]) - 1;
      const bn = model.bnParams?.[index];
      if (bn === undefined) {
        problems.push(`${name}: the model has no batchnorm layer ${index + 1}`);
      } else {
        const stat = match[1] as typeof RUNNING_STATS[number];
        // Before training, running statistics do not exist yet: take them as they are.
        fit(name, t, bn[stat] ?? model.params[`gamma${index + 1}`], "statistic");
        stats.push([index, stat, t]);
      }
    } else if (!(name in model.params)) {
      problems.push(`${name}: not a parameter of the model`);
    } else {
      fit(name, t, model.params[name], "parameter");
    }
  }
  const missing = Object.keys(model.params).filter((name) => !(name in params));
  if (missing.length > 0) problems.push(`missing from the file: ${missing.join(", ")}`);
  if (problems.length > 0) {
    throw new Error(`${fn}: ${path} does not fit the model: ${problems.join("; ")}`);
  }
  for (const [name, t] of Object.entries(params)) if (name in model.params) model.params[name] = t;
  for (const [index, stat, t] of stats) model.bnParams![index][stat] = t;
  return metadata;
}

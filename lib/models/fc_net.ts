/**
 * `FullyConnectedNet`, cs231n `fc_net.FullyConnectedNet`: any number of hidden layers,
 * `{affine - [norm] - relu - [dropout]} x (L - 1) - affine - softmax`.
 *
 * Each hidden layer is affine, then optionally batch or layer normalization, then ReLU, then
 * optionally dropout. Without labels, `loss(X)` runs everything in test mode (running
 * batchnorm statistics, no dropout); with labels, in training mode.
 *
 * @module
 */

import { checkOptionKeys } from "../checks.ts";
import { addL2Gradient, l2Penalty } from "../layers/l2_regularization.ts";
import {
  affineBackward,
  type AffineCache,
  affineForward,
  affineParamGrads,
} from "../layers/affine.ts";
import {
  batchnormBackwardAlt,
  type BatchnormCache,
  batchnormForward,
  type BatchnormParam,
} from "../layers/batchnorm.ts";
import {
  dropoutBackward,
  type DropoutCache,
  dropoutForward,
  type DropoutParam,
} from "../layers/dropout.ts";
import { layernormBackward, type LayernormCache, layernormForward } from "../layers/layernorm.ts";
import { softmaxLoss } from "../layers/losses.ts";
import { reluBackward, type ReluCache, reluForward } from "../layers/relu.ts";
import { getGlobalRng, type Rng } from "../rng.ts";
import { checkDType } from "../storage.ts";
import { issueCount } from "../buffer_pool.ts";
import { type DType, releaseStorage, Tensor } from "../tensor.ts";
import { type Grads, type LossAndGrads, type Model, type Params, scaledRandn } from "./model.ts";
import { castInput, checkNonNegative, checkPositiveInt } from "./_util.ts";

/** The normalization a hidden layer may use, as in cs231n (`null`: none). */
export type Normalization = "batchnorm" | "layernorm" | null;

/** Options of {@link FullyConnectedNet}; all but `hiddenDims` have the cs231n defaults. */
export interface FullyConnectedNetOptions {
  /** Width of each hidden layer, e.g. `[100, 50]`; `[]` gives a softmax classifier. */
  hiddenDims: readonly number[];
  /** Size of one flattened input example (default `3 * 32 * 32`). */
  inputDim?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Probability of keeping a unit in dropout; 1 (the default) means no dropout. */
  dropoutKeepRatio?: number;
  /** `"batchnorm"`, `"layernorm"` or `null` (the default): what follows each hidden affine. */
  normalization?: Normalization;
  /** L2 regularisation strength (default 0). */
  reg?: number;
  /** Standard deviation of the initial weights (default `1e-2`). */
  weightScale?: number;
  /** dtype of the parameters (default `"float32"`, as in cs231n). */
  dtype?: DType;
  /** Seed for the dropout masks (each train-mode forward redraws the same mask). */
  seed?: number;
  /** Generator for the initial weights (default: the global one, see `setSeed`). */
  rng?: Rng;
}

/** What the forward pass keeps of layer `i` for the backward pass. */
interface LayerCache {
  fc: AffineCache;
  /** The hidden layers' normalization cache, when they normalize. */
  norm?: BatchnormCache | LayernormCache;
  /** Absent on the last (scores) layer. */
  relu?: ReluCache;
  /** Present on hidden layers when the net uses dropout. */
  dropout?: DropoutCache;
}

/**
 * A fully-connected network with `L = hiddenDims.length + 1` affine layers and a softmax
 * loss: `{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax`.
 * Parameters `W1..WL` (`Wi` of shape `(dims[i-1], dims[i])`, with
 * `dims = [inputDim, ...hiddenDims, numClasses]`) start as `weightScale · N(0, 1)`, biases
 * `b1..bL` as zeros; with normalization, hidden layer `i` also has `gammai` (ones) and
 * `betai` (zeros) of shape `(dims[i],)`. All are cast to `dtype`. The loss adds
 * `0.5 · reg · Σ_i ΣWi²` (weights only). Inputs of shape `(N, d1, ..., dk)` are flattened
 * and cast to `dtype`.
 *
 * Each hidden layer's normalization settings and running statistics live in
 * {@link FullyConnectedNet.bnParams}, the dropout settings in
 * {@link FullyConnectedNet.dropoutParam}; `loss` sets their `mode` on every call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { FullyConnectedNet } from "./fc_net.ts";
 * const model = new FullyConnectedNet({
 *   hiddenDims: [8, 8],
 *   inputDim: 5,
 *   numClasses: 4,
 *   reg: 0.1,
 *   rng: new Rng(0),
 * });
 * const X = Tensor.randn([3, 5], new Rng(1)); // float64 input, cast to the model's float32
 * const [loss, grads] = model.loss(X, [0, 3, 1]);
 * assert.ok(model.numLayers === 3 && grads.W3.dtype === "float32" && loss > 0);
 *
 * // With batchnorm and dropout: a training-mode call fills the running statistics that
 * // the test-mode call (no labels) then uses; dropout is off in test mode.
 * const bnNet = new FullyConnectedNet({
 *   hiddenDims: [8],
 *   inputDim: 5,
 *   numClasses: 4,
 *   normalization: "batchnorm",
 *   dropoutKeepRatio: 0.5,
 *   rng: new Rng(0),
 * });
 * const [, bnGrads] = bnNet.loss(X, [0, 3, 1]);
 * assert.deepEqual(bnGrads.gamma1.shape, [8]);
 * assert.deepEqual(bnNet.loss(X).shape, [3, 4]);
 * assert.equal(bnNet.bnParams[0].runningMean?.shape[0], 8);
 * ```
 */
export class FullyConnectedNet implements Model {
  /** `W1, b1, [gamma1, beta1,] ..., WL, bL`, read on every `loss` call. */
  params: Params;
  /** L2 regularisation strength; may be changed at any time. */
  reg: number;
  /** dtype of the parameters; inputs are cast to it. */
  readonly dtype: DType;
  /** Number of affine layers, `hiddenDims.length + 1`. */
  readonly numLayers: number;
  /** The hidden layers' normalization. */
  readonly normalization: Normalization;
  /** Whether the hidden layers use dropout (`dropoutKeepRatio < 1`). */
  readonly useDropout: boolean;
  /** Seed handed to the dropout layers, if given. */
  readonly seed: number | undefined;
  /**
   * One parameter object per hidden layer when the net normalizes (else empty): the
   * batchnorm running statistics accumulate here (`bnParams[i].runningMean`, ...). Layernorm
   * reads only `eps`.
   */
  bnParams: BatchnormParam[];
  /** Settings shared by every dropout layer (`p`: the keep ratio); `null` without dropout. */
  dropoutParam: DropoutParam | null;

  /** Builds the network and draws its initial weights from `options.rng`. */
  constructor(options: FullyConnectedNetOptions) {
    const fn = "FullyConnectedNet";
    if (options == null || !Array.isArray(options.hiddenDims)) {
      throw new Error(
        `${fn}: options.hiddenDims must be an array of layer widths, got ${options?.hiddenDims}`,
      );
    }
    checkOptionKeys(fn, options, [
      "hiddenDims",
      "inputDim",
      "numClasses",
      "dropoutKeepRatio",
      "normalization",
      "reg",
      "weightScale",
      "dtype",
      "seed",
      "rng",
    ]);
    const hiddenDims = options.hiddenDims.map((d, i) =>
      checkPositiveInt(fn, `hiddenDims[${i}]`, d)
    );
    const inputDim = checkPositiveInt(fn, "inputDim", options.inputDim ?? 3 * 32 * 32);
    const numClasses = checkPositiveInt(fn, "numClasses", options.numClasses ?? 10);
    const weightScale = checkNonNegative(fn, "weightScale", options.weightScale ?? 1e-2);
    this.reg = checkNonNegative(fn, "reg", options.reg ?? 0);
    this.dtype = checkDType(fn, options.dtype ?? "float32");
    this.normalization = checkNormalization(options.normalization ?? null);
    const keep = options.dropoutKeepRatio ?? 1;
    if (typeof keep !== "number" || !(keep > 0 && keep <= 1)) {
      throw new Error(`${fn}: dropoutKeepRatio must be in (0, 1], got ${keep}`);
    }
    this.useDropout = keep !== 1;
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
      throw new Error(`${fn}: seed must be an integer, got ${options.seed}`);
    }
    this.seed = options.seed;
    this.numLayers = hiddenDims.length + 1;
    this.dropoutParam = null;
    if (this.useDropout) {
      this.dropoutParam = { mode: "train", p: keep };
      if (this.seed !== undefined) this.dropoutParam.seed = this.seed;
    }
    this.bnParams = [];
    if (this.normalization !== null) {
      for (let i = 1; i < this.numLayers; i++) this.bnParams.push({ mode: "train" });
    }

    const rng = options.rng ?? getGlobalRng();
    const dims = [inputDim, ...hiddenDims, numClasses];
    this.params = {};
    for (let i = 1; i <= this.numLayers; i++) {
      this.params[`W${i}`] = scaledRandn([dims[i - 1], dims[i]], weightScale, rng, this.dtype);
      this.params[`b${i}`] = Tensor.zeros([dims[i]], this.dtype);
      if (this.normalization !== null && i < this.numLayers) {
        this.params[`gamma${i}`] = Tensor.ones([dims[i]], this.dtype);
        this.params[`beta${i}`] = Tensor.zeros([dims[i]], this.dtype);
      }
    }
  }

  /** Test mode: the class scores `(N, C)`. */
  loss(X: Tensor): Tensor;
  /** Training mode: `[loss, grads]` with grads keyed like `params`. */
  loss(X: Tensor, y: ArrayLike<number>): LossAndGrads;
  /** Scores when `y` is absent, else `[loss, grads]`. */
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads;
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads {
    const fn = "FullyConnectedNet.loss";
    const L = this.numLayers;
    const reg = checkNonNegative(fn, "reg", this.reg);
    // Train/test mode follows from whether labels are given: batchnorm picks batch or
    // running statistics by it, dropout draws a mask or passes its input through.
    const mode = y == null ? "test" : "train";
    if (this.dropoutParam !== null) this.dropoutParam.mode = mode;
    const weights: Tensor[] = [];
    for (let i = 1; i <= L; i++) weights.push(this.#param(`W${i}`));

    // Every activation and gradient made below is this call's alone (`made`); what it does
    // not return goes back to the buffer pool at the end.
    const since = issueCount();
    const made: Tensor[] = [];
    const input = castInput(fn, X, this.dtype);
    const recycle = (kept: Tensor[]) =>
      releaseStorage(made, [X, input, ...Object.values(this.params), ...kept], since);
    const caches: LayerCache[] = [];
    let h = input;
    for (let i = 1; i < L; i++) {
      let [a, fc] = affineForward(h, weights[i - 1], this.#param(`b${i}`));
      made.push(a);
      let norm: BatchnormCache | LayernormCache | undefined;
      if (this.normalization !== null) {
        const gamma = this.#param(`gamma${i}`), beta = this.#param(`beta${i}`);
        const bnParam = this.#bnParam(i);
        bnParam.mode = mode;
        [a, norm] = this.normalization === "batchnorm"
          ? batchnormForward(a, gamma, beta, bnParam)
          : layernormForward(a, gamma, beta, bnParam);
        made.push(a);
        const xHat = (norm as { xHat?: Tensor | null }).xHat;
        if (xHat) made.push(xHat);
      }
      let relu: ReluCache, dropout: DropoutCache | undefined;
      [h, relu] = reluForward(a);
      made.push(h);
      if (this.dropoutParam !== null) {
        [h, dropout] = dropoutForward(h, this.dropoutParam);
        made.push(h);
      }
      caches.push({ fc, norm, relu, dropout });
    }
    const [scores, fc] = affineForward(h, weights[L - 1], this.#param(`b${L}`));
    caches.push({ fc });
    if (y == null) {
      recycle([scores]);
      return scores;
    }

    const [dataLoss, dscores] = softmaxLoss(scores, y);
    const loss = dataLoss + l2Penalty(weights, reg);
    made.push(scores, dscores);
    let dout = dscores;

    const grads: Grads = {};
    for (let i = L; i >= 1; i--) {
      const layer = caches[i - 1];
      if (layer.dropout) made.push(dout = dropoutBackward(dout, layer.dropout));
      if (layer.relu) made.push(dout = reluBackward(dout, layer.relu));
      if (layer.norm) {
        let dgamma: Tensor, dbeta: Tensor;
        // The closed form: same gradient as the computation-graph form, fewer passes.
        [dout, dgamma, dbeta] = this.normalization === "batchnorm"
          ? batchnormBackwardAlt(dout, layer.norm as BatchnormCache)
          : layernormBackward(dout, layer.norm as LayernormCache);
        made.push(dout);
        grads[`gamma${i}`] = dgamma;
        grads[`beta${i}`] = dbeta;
      }
      let dW: Tensor, db: Tensor;
      if (i > 1) {
        [dout, dW, db] = affineBackward(dout, layer.fc);
        made.push(dout);
      } else {
        // The first layer's dx (gradient w.r.t. the data) is never used: skip its product.
        [dW, db] = affineParamGrads(dout, layer.fc);
      }
      addL2Gradient(dW, weights[i - 1], reg);
      grads[`W${i}`] = dW;
      grads[`b${i}`] = db;
    }
    recycle(Object.values(grads));
    return [loss, grads];
  }

  #bnParam(i: number): BatchnormParam {
    const bnParam = this.bnParams[i - 1];
    if (bnParam == null || typeof bnParam !== "object") {
      throw new Error(
        `FullyConnectedNet.loss: bnParams[${i - 1}] (hidden layer ${i}) must be an object, ` +
          `got ${bnParam}`,
      );
    }
    return bnParam;
  }

  #param(name: string): Tensor {
    const p = this.params[name];
    if (p === undefined) {
      throw new Error(
        `FullyConnectedNet.loss: params.${name} is missing (have ${Object.keys(this.params)})`,
      );
    }
    return p;
  }
}

function checkNormalization(normalization: unknown): Normalization {
  if (normalization === null) return null;
  if (normalization === "batchnorm" || normalization === "layernorm") return normalization;
  throw new Error(
    `FullyConnectedNet: normalization must be "batchnorm", "layernorm" or null, ` +
      `got ${JSON.stringify(normalization)}`,
  );
}

/**
 * `TwoLayerNet`, cs231n `fc_net.TwoLayerNet`: affine – relu – affine – softmax.
 *
 * @module
 */

import { checkOptionKeys } from "../checks.ts";
import { addL2Gradient, l2Penalty } from "../layers/l2_regularization.ts";
import { affineBackward, affineForward, affineParamGrads } from "../layers/affine.ts";
import { affineReluForward } from "../layers/affine_relu.ts";
import { softmaxLoss } from "../layers/losses.ts";
import { reluBackward } from "../layers/relu.ts";
import { getGlobalRng, type Rng } from "../rng.ts";
import { issueCount } from "../buffer_pool.ts";
import { type DType, releaseStorage, Tensor } from "../tensor.ts";
import { checkDType } from "../storage.ts";
import { type Grads, type LossAndGrads, type Model, type Params, scaledRandn } from "./model.ts";
import { castInput, checkNonNegative, checkPositiveInt } from "./_util.ts";

/** Options of {@link TwoLayerNet}; every field has the cs231n default. */
export interface TwoLayerNetOptions {
  /** Size of one flattened input example (default `3 * 32 * 32`, a CIFAR-10 image). */
  inputDim?: number;
  /** Width of the hidden layer (default 100). */
  hiddenDim?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Standard deviation of the initial weights (default `1e-3`). */
  weightScale?: number;
  /** L2 regularisation strength (default 0). */
  reg?: number;
  /** dtype of the parameters (default `"float64"`, numpy's). */
  dtype?: DType;
  /** Generator for the initial weights (default: the global one, see `setSeed`). */
  rng?: Rng;
}

/**
 * A two-layer fully-connected network with a ReLU hidden layer and a softmax loss:
 * `scores = relu(X·W1 + b1)·W2 + b2`. Inputs of shape `(N, d1, ..., dk)` are flattened.
 *
 * Parameters `W1 (D, H)`, `b1 (H,)`, `W2 (H, C)`, `b2 (C,)`; weights start as
 * `weightScale · N(0, 1)`, biases as zeros. The loss adds `0.5 · reg · (ΣW1² + ΣW2²)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { TwoLayerNet } from "./two_layer_net.ts";
 * const model = new TwoLayerNet({ inputDim: 6, hiddenDim: 4, numClasses: 3, rng: new Rng(1) });
 * const X = Tensor.randn([2, 6], new Rng(2));
 * const scores = model.loss(X); // (2, 3)
 * const [loss, grads] = model.loss(X, [0, 2]);
 * // Tiny initial weights give near-uniform probabilities: loss ≈ log(3).
 * assert.ok(scores.shape.join() === "2,3" && Math.abs(loss - Math.log(3)) < 1e-3);
 * assert.ok(Object.keys(grads).sort().join() === "W1,W2,b1,b2");
 * ```
 */
export class TwoLayerNet implements Model {
  /** `W1`, `b1`, `W2`, `b2`, read on every {@link TwoLayerNet.loss} call. */
  params: Params;
  /** L2 regularisation strength; may be changed at any time. */
  reg: number;
  /** dtype of the parameters; inputs are cast to it. */
  readonly dtype: DType;

  /** Builds the network and draws its initial weights from `options.rng`. */
  constructor(options: TwoLayerNetOptions = {}) {
    const fn = "TwoLayerNet";
    checkOptionKeys(fn, options, [
      "inputDim",
      "hiddenDim",
      "numClasses",
      "weightScale",
      "reg",
      "dtype",
      "rng",
    ]);
    const inputDim = checkPositiveInt(fn, "inputDim", options.inputDim ?? 3 * 32 * 32);
    const hiddenDim = checkPositiveInt(fn, "hiddenDim", options.hiddenDim ?? 100);
    const numClasses = checkPositiveInt(fn, "numClasses", options.numClasses ?? 10);
    const weightScale = checkNonNegative(fn, "weightScale", options.weightScale ?? 1e-3);
    this.reg = checkNonNegative(fn, "reg", options.reg ?? 0);
    this.dtype = checkDType(fn, options.dtype ?? "float64");
    const rng = options.rng ?? getGlobalRng();
    this.params = {
      W1: scaledRandn([inputDim, hiddenDim], weightScale, rng, this.dtype),
      b1: Tensor.zeros([hiddenDim], this.dtype),
      W2: scaledRandn([hiddenDim, numClasses], weightScale, rng, this.dtype),
      b2: Tensor.zeros([numClasses], this.dtype),
    };
  }

  /** Test mode: the class scores `(N, C)`. */
  loss(X: Tensor): Tensor;
  /** Training mode: `[loss, grads]` with grads keyed like `params`. */
  loss(X: Tensor, y: ArrayLike<number>): LossAndGrads;
  /** Scores when `y` is absent, else `[loss, grads]`. */
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads;
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads {
    const fn = "TwoLayerNet.loss";
    const W1 = this.#param("W1"), b1 = this.#param("b1");
    const W2 = this.#param("W2"), b2 = this.#param("b2");
    const reg = checkNonNegative(fn, "reg", this.reg);
    const input = castInput(fn, X, this.dtype);
    // Every activation and gradient made below is this call's alone; what it does not
    // return goes back to the buffer pool at the end.
    const since = issueCount();
    const recycle = (dead: Tensor[], kept: Tensor[]) =>
      releaseStorage(dead, [X, input, W1, b1, W2, b2, ...kept], since);

    const [hidden, hiddenCache] = affineReluForward(input, W1, b1);
    const [scores, scoresCache] = affineForward(hidden, W2, b2);
    // The activations: hidden before and after its ReLU.
    const activations = [hiddenCache[1], hidden];
    if (y == null) {
      recycle(activations, [scores]);
      return scores;
    }

    const [dataLoss, dscores] = softmaxLoss(scores, y);
    const loss = dataLoss + l2Penalty([W1, W2], reg);

    const [dhidden, dW2, db2] = affineBackward(dscores, scoresCache);
    // This is affineReluBackward without its dx = dout·W1ᵀ product: nobody needs the
    // gradient with respect to the images, and it would be the largest product here.
    const [fcCache, reluCache] = hiddenCache;
    const dpre = reluBackward(dhidden, reluCache);
    const [dW1, db1] = affineParamGrads(dpre, fcCache);
    addL2Gradient(dW1, W1, reg);
    addL2Gradient(dW2, W2, reg);
    const grads: Grads = { W1: dW1, b1: db1, W2: dW2, b2: db2 };
    recycle([...activations, scores, dscores, dhidden, dpre], [dW1, db1, dW2, db2]);
    return [loss, grads];
  }

  #param(name: string): Tensor {
    const p = this.params[name];
    if (p === undefined) {
      throw new Error(
        `TwoLayerNet.loss: params.${name} is missing (have ${Object.keys(this.params)})`,
      );
    }
    return p;
  }
}

/**
 * `ThreeLayerConvNet`, cs231n `cnn.ThreeLayerConvNet`:
 * conv – relu – 2×2 max pool – affine – relu – affine – softmax.
 *
 * @module
 */

import { checkOptionKeys } from "../checks.ts";
import { addL2Gradient, l2Penalty } from "../layers/l2_regularization.ts";
import { affineBackward, affineForward } from "../layers/affine.ts";
import { affineReluForward } from "../layers/affine_relu.ts";
import { convParamGradsFast } from "../layers/conv_fast.ts";
import { convReluPoolForward } from "../layers/conv_sandwich.ts";
import { softmaxLoss } from "../layers/losses.ts";
import { maxPoolBackwardFast } from "../layers/pool.ts";
import { reluBackward } from "../layers/relu.ts";
import { getGlobalRng, Rng } from "../rng.ts";
import { checkDType } from "../storage.ts";
import { issueCount } from "../buffer_pool.ts";
import { type DType, releaseStorage, Tensor } from "../tensor.ts";
import { type Grads, type LossAndGrads, type Model, type Params, scaledRandn } from "./model.ts";
import { castInput, checkNonNegative, checkPositiveInt } from "./_util.ts";

/** Options of {@link ThreeLayerConvNet}; every field has the cs231n default. */
export interface ThreeLayerConvNetOptions {
  /** `[C, H, W]` of one input image (default `[3, 32, 32]`, CIFAR-10; `[1, 28, 28]` for
   * Fashion-MNIST). */
  inputDim?: readonly number[];
  /** Filters of the convolutional layer (default 32). */
  numFilters?: number;
  /** Side of the square filters (default 7); the convolution pads by `(filterSize−1)/2`
   * (rounded down) with stride 1, so odd sizes keep `H × W`. */
  filterSize?: number;
  /** Width of the hidden affine layer (default 100). */
  hiddenDim?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Standard deviation of the initial weights (default `1e-3`). */
  weightScale?: number;
  /** L2 regularisation strength (default 0). */
  reg?: number;
  /** dtype of the parameters (default `"float32"`, as in cs231n). */
  dtype?: DType;
  /** Generator for the initial weights (default: `new Rng(seed)` if `seed` is given, else
   * the global one, see `setSeed`). */
  rng?: Rng;
  /** Seed of the initial weights when no `rng` is given. (The network has no dropout, so
   * this is its only use.) */
  seed?: number;
}

/**
 * A three-layer convolutional network: `conv (numFilters, filterSize², stride 1, "same"
 * padding) – relu – 2×2 max pool (stride 2) – affine (hiddenDim) – relu – affine
 * (numClasses) – softmax`, on inputs of shape `(N, C, H, W)`.
 *
 * Parameters: `W1 (F, C, fs, fs)`, `b1 (F,)`, `W2 (F·H'·W', hiddenDim)`, `b2`,
 * `W3 (hiddenDim, numClasses)`, `b3`, where `H' × W'` is the pooled size (`H/2 × W/2` for
 * odd filter sizes). Weights start as `weightScale · N(0, 1)` (drawn in the order W1, W2,
 * W3), biases as zeros. The loss adds `0.5 · reg · (ΣW1² + ΣW2² + ΣW3²)`. The layers are the
 * fast ones (im2col + GEMM convolution, tiled max pool).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { ThreeLayerConvNet } from "./cnn.ts";
 * const model = new ThreeLayerConvNet({
 *   inputDim: [1, 8, 8],
 *   numFilters: 4,
 *   filterSize: 3,
 *   hiddenDim: 10,
 *   rng: new Rng(0),
 * });
 * const X = Tensor.randn([2, 1, 8, 8], new Rng(1));
 * assert.deepEqual(model.loss(X).shape, [2, 10]);
 * const [loss, grads] = model.loss(X, [3, 7]);
 * assert.ok(Math.abs(loss - Math.log(10)) < 1e-3); // tiny weights: uniform guesses
 * assert.deepEqual(grads.W2.shape, [4 * 4 * 4, 10]);
 * ```
 */
export class ThreeLayerConvNet implements Model {
  /** `W1, b1, W2, b2, W3, b3`, read on every {@link ThreeLayerConvNet.loss} call. */
  params: Params;
  /** L2 regularisation strength; may be changed at any time. */
  reg: number;
  /** dtype of the parameters; inputs are cast to it. */
  readonly dtype: DType;
  /** `[C, H, W]` of one input image. */
  readonly inputDim: readonly number[];
  /** Side of the square filters. */
  readonly filterSize: number;

  /** Builds the network and draws its initial weights. */
  constructor(options: ThreeLayerConvNetOptions = {}) {
    const fn = "ThreeLayerConvNet";
    checkOptionKeys(fn, options, [
      "inputDim",
      "numFilters",
      "filterSize",
      "hiddenDim",
      "numClasses",
      "weightScale",
      "reg",
      "dtype",
      "rng",
      "seed",
    ]);
    const inputDim = options.inputDim ?? [3, 32, 32];
    if (!Array.isArray(inputDim) || inputDim.length !== 3) {
      throw new Error(`${fn}: inputDim must be [C, H, W], got ${JSON.stringify(inputDim)}`);
    }
    const [C, H, W] = inputDim.map((d, i) => checkPositiveInt(fn, `inputDim[${i}]`, d));
    const numFilters = checkPositiveInt(fn, "numFilters", options.numFilters ?? 32);
    const filterSize = checkPositiveInt(fn, "filterSize", options.filterSize ?? 7);
    const hiddenDim = checkPositiveInt(fn, "hiddenDim", options.hiddenDim ?? 100);
    const numClasses = checkPositiveInt(fn, "numClasses", options.numClasses ?? 10);
    const weightScale = checkNonNegative(fn, "weightScale", options.weightScale ?? 1e-3);
    this.reg = checkNonNegative(fn, "reg", options.reg ?? 0);
    this.dtype = checkDType(fn, options.dtype ?? "float32");
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
      throw new Error(`${fn}: seed must be an integer, got ${options.seed}`);
    }
    this.inputDim = [C, H, W];
    this.filterSize = filterSize;

    const [pooledH, pooledW] = [H, W].map((size, i) => {
      const convOut = size + 2 * Math.floor((filterSize - 1) / 2) - filterSize + 1;
      if (convOut < 2 || convOut % 2 !== 0) {
        throw new Error(
          `${fn}: the ${filterSize}×${filterSize} convolution gives ${convOut} ` +
            `${i === 0 ? "rows" : "columns"} from inputDim ${JSON.stringify(inputDim)}, ` +
            "which the 2×2 stride-2 pool cannot halve (it needs an even number ≥ 2)",
        );
      }
      return convOut / 2;
    });

    const rng = options.rng ??
      (options.seed !== undefined ? new Rng(options.seed) : getGlobalRng());
    const dt = this.dtype;
    this.params = {
      W1: scaledRandn([numFilters, C, filterSize, filterSize], weightScale, rng, dt),
      b1: Tensor.zeros([numFilters], dt),
      W2: scaledRandn([numFilters * pooledH * pooledW, hiddenDim], weightScale, rng, dt),
      b2: Tensor.zeros([hiddenDim], dt),
      W3: scaledRandn([hiddenDim, numClasses], weightScale, rng, dt),
      b3: Tensor.zeros([numClasses], dt),
    };
  }

  /** Test mode: the class scores `(N, numClasses)`. */
  loss(X: Tensor): Tensor;
  /** Training mode: `[loss, grads]` with grads keyed like `params`. */
  loss(X: Tensor, y: ArrayLike<number>): LossAndGrads;
  /** Scores when `y` is absent, else `[loss, grads]`. */
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads;
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads {
    const fn = "ThreeLayerConvNet.loss";
    const W1 = this.#param("W1"), b1 = this.#param("b1");
    const W2 = this.#param("W2"), b2 = this.#param("b2");
    const W3 = this.#param("W3"), b3 = this.#param("b3");
    const reg = checkNonNegative(fn, "reg", this.reg);
    const input = castInput(fn, X, this.dtype);
    if (input.ndim !== 4 || input.shape.slice(1).some((d, i) => d !== this.inputDim[i])) {
      throw new Error(
        `${fn}: X must have shape (N, ${this.inputDim.join(", ")}), got [${input.shape}]`,
      );
    }

    // Every activation and gradient made below is this call's alone; what it does not
    // return goes back to the buffer pool at the end (see `recycle`).
    const since = issueCount();
    const convParam = { stride: 1, pad: Math.floor((this.filterSize - 1) / 2) };
    const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
    const [pooled, cache1] = convReluPoolForward(input, W1, b1, convParam, poolParam);
    const [hidden, cache2] = affineReluForward(pooled, W2, b2);
    const [scores, cache3] = affineForward(hidden, W3, b3);
    // The activations, read out of the caches: conv output, pooled, hidden pre-ReLU.
    const activations = [cache1[1].x, pooled, cache2[1], hidden];
    const recycle = (dead: Tensor[], kept: Tensor[]) =>
      releaseStorage(dead, [X, input, W1, b1, W2, b2, W3, b3, ...kept], since);
    if (y == null) {
      recycle(activations, [scores]);
      return scores;
    }

    const [dataLoss, dscores] = softmaxLoss(scores, y);
    const loss = dataLoss + l2Penalty([W1, W2, W3], reg);

    const [dhidden, dW3, db3] = affineBackward(dscores, cache3);
    // affineReluBackward, spelled out to reach its intermediate gradient.
    const dhiddenPre = reluBackward(dhidden, cache2[1]);
    const [dpooled, dW2, db2] = affineBackward(dhiddenPre, cache2[0]);
    // convReluPoolBackward without the convolution's dx: nobody needs the gradient with
    // respect to the images, and it would cost a GEMM and a col2im pass.
    const [convCache, poolCache] = cache1;
    const dconv = maxPoolBackwardFast(dpooled, poolCache);
    const [dW1, db1] = convParamGradsFast(dconv, convCache);
    addL2Gradient(dW1, W1, reg);
    addL2Gradient(dW2, W2, reg);
    addL2Gradient(dW3, W3, reg);
    const grads: Grads = { W1: dW1, b1: db1, W2: dW2, b2: db2, W3: dW3, b3: db3 };
    recycle(
      [...activations, scores, dscores, dhidden, dhiddenPre, dpooled, dconv],
      [dW1, db1, dW2, db2, dW3, db3],
    );
    return [loss, grads];
  }

  #param(name: string): Tensor {
    const p = this.params[name];
    if (p === undefined) {
      throw new Error(
        `ThreeLayerConvNet.loss: params.${name} is missing (have ${Object.keys(this.params)})`,
      );
    }
    return p;
  }
}

/**
 * The contract every model of the library fulfils, so that one `Solver` trains them all
 * (cs231n's implicit protocol: a `params` dict, a `reg`, and `loss(X, y=None)`).
 *
 * @module
 */

import type { Rng } from "../rng.ts";
import { type DType, Tensor } from "../tensor.ts";

/** Learnable parameters by name (`W1`, `b1`, `gamma1`, ...). */
export type Params = Record<string, Tensor>;

/** Gradients of the loss, keyed like {@link Params}. */
export type Grads = Record<string, Tensor>;

/** What `loss(X, y)` returns in training mode: the loss and the gradient of every param. */
export type LossAndGrads = [loss: number, grads: Grads];

/**
 * What training needs of a model, and all the `Solver` asks for (cs231n's protocol: a
 * `params` dict and `loss(X, y=None)`); any object of this shape can be trained.
 */
export interface TrainableModel {
  /** Parameter tensors by name; the Solver replaces them with the updated ones each step. */
  params: Params;
  /** Without `y`: the class scores `(N, C)`. With `y`: `[loss, grads]`, grads keyed like `params`. */
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads;
  /**
   * Batchnorm state, if the model has any (`FullyConnectedNet` with batchnorm): the Solver
   * keeps the running statistics together with the best parameters and checkpoints them.
   */
  bnParams?: { runningMean?: Tensor; runningVar?: Tensor }[];
}

/**
 * A trainable classifier of the library: the {@link TrainableModel} contract plus its
 * regularisation strength and dtype.
 *
 * `loss(X)` runs the test-mode forward pass and returns the class scores `(N, C)`;
 * `loss(X, y)` runs the training-mode forward and backward passes and returns
 * `[loss, grads]`. Parameters are read from `params` on every call, so an optimiser (or a
 * gradient check) may replace or modify them in place; `reg` may change between calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import type { Model } from "./model.ts";
 * import { TwoLayerNet } from "./two_layer_net.ts";
 * import { Rng } from "../rng.ts";
 * const model: Model = new TwoLayerNet({ inputDim: 4, hiddenDim: 3, numClasses: 2, rng: new Rng(0) });
 * const X = Tensor.zeros([5, 4]);
 * const scores = model.loss(X); // Tensor (5, 2)
 * const [loss, grads] = model.loss(X, [0, 1, 0, 1, 0]);
 * assert.ok(scores.shape.join() === "5,2" && Math.abs(loss - Math.log(2)) < 1e-12);
 * assert.ok(grads.W1.shape.join() === "4,3");
 * ```
 */
export interface Model extends TrainableModel {
  /** Learnable parameters, read on every `loss` call. */
  params: Params;
  /** L2 regularisation strength. */
  reg: number;
  /** The dtype of the parameters; inputs are cast to it. */
  readonly dtype: DType;
  /** Test mode: the class scores, shape `(N, C)`. */
  loss(X: Tensor): Tensor;
  /** Training mode: `[loss, grads]` for labels `y` (one integer class per row of `X`). */
  loss(X: Tensor, y: ArrayLike<number>): LossAndGrads;
  /** Either of the above, for callers whose `y` may be absent. */
  loss(X: Tensor, y?: ArrayLike<number>): Tensor | LossAndGrads;
}

/**
 * `scale · N(0, 1)` samples of the given shape and dtype, drawn from `rng`: cs231n's
 * `weight_scale * np.random.randn(*shape)` followed by `.astype(dtype)`. Each sample is
 * scaled in double precision and rounded to `dtype` once, as numpy does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { scaledRandn } from "./model.ts";
 * const w = scaledRandn([3, 2], 1e-3, new Rng(0), "float32");
 * assert.ok(w.dtype === "float32" && w.shape.join() === "3,2");
 * ```
 */
export function scaledRandn(
  shape: readonly number[],
  scale: number,
  rng: Rng,
  dtype: DType,
): Tensor {
  const t = Tensor.zeros(shape, dtype);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = scale * rng.normal();
  return t;
}

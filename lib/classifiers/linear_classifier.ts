/**
 * Linear classifiers trained by minibatch stochastic gradient descent, cs231n
 * `linear_classifier.py`: the shared `LinearClassifier` (train, predict) and its two
 * losses, `LinearSVM` and `Softmax`.
 *
 * @module
 */

import { getGlobalRng, type Rng } from "../rng.ts";
import { Tensor } from "../tensor.ts";
import { checkInt, checkOptionKeys } from "../checks.ts";
import { cast, checkLabels, checkMatrix, checkNumber } from "./_check.ts";
import { svmLossVectorized } from "./linear_svm.ts";
import { softmaxLossVectorized } from "./softmax.ts";

/** Options of {@link LinearClassifier.train}, with the course's defaults. */
export interface LinearTrainOptions {
  /** Step size of SGD (default 1e-3). */
  learningRate?: number;
  /** Regularization strength (default 1e-5). */
  reg?: number;
  /** Number of SGD steps (default 100). */
  numIters?: number;
  /** Examples per minibatch, drawn with replacement (default 200). */
  batchSize?: number;
  /** Print the loss every 100 iterations (default false). */
  verbose?: boolean;
  /** Generator of the initial weights and the minibatches (default: the global one). */
  rng?: Rng;
}

const TRAIN_OPTIONS = ["learningRate", "reg", "numIters", "batchSize", "verbose", "rng"] as const;

/**
 * A linear classifier `scores = X·W` trained by minibatch SGD. Subclasses supply the loss.
 * The bias trick (a column of ones appended to X) is the caller's, as in the course.
 */
export abstract class LinearClassifier {
  /**
   * The weights `(D, C)`; null until the first {@link LinearClassifier.train}, which draws
   * them as `0.001 · randn(D, C)` with `C = max(y) + 1`, in X's dtype.
   */
  W: Tensor | null = null;

  /** The loss and its gradient with respect to W on one minibatch: `[loss, dW]`. */
  abstract loss(Xb: Tensor, yb: ArrayLike<number>, reg: number): [number, Tensor];

  /**
   * Runs `numIters` steps of SGD, `W ← W − learningRate · dW`, each on `batchSize`
   * examples drawn with replacement (numpy's `choice(N, batchSize, replace=True)`) from
   * `options.rng`. Returns the loss of every step.
   */
  train(X: Tensor, y: ArrayLike<number>, options: LinearTrainOptions = {}): number[] {
    const fn = `${this.constructor.name}.train`;
    checkOptionKeys(fn, options, TRAIN_OPTIONS);
    const learningRate = checkNumber(fn, "learningRate", options.learningRate ?? 1e-3);
    const reg = checkNumber(fn, "reg", options.reg ?? 1e-5);
    const numIters = checkInt(fn, "numIters", options.numIters ?? 100, 0);
    const batchSize = checkInt(fn, "batchSize", options.batchSize ?? 200, 1);
    const verbose = options.verbose ?? false;
    const rng = options.rng ?? getGlobalRng();
    const [N, D] = checkMatrix(fn, "X", X);
    if (N === 0) throw new Error(`${fn}: X has no rows (shape [${X.shape}])`);
    const labels = checkLabels(fn, y, N);
    const numClasses = labels.reduce((m, v) => Math.max(m, v), 0) + 1;
    if (this.W === null) {
      const W = Tensor.zeros([D, numClasses], X.dtype);
      for (let i = 0; i < W.size; i++) W.data[i] = 0.001 * rng.normal();
      this.W = W;
    } else {
      checkMatrix(fn, "W", this.W, this.W.shape[1]);
      if (this.W.shape[0] !== D) {
        throw new Error(
          `${fn}: X has ${D} columns but W has ${this.W.shape[0]} rows (W shape [${this.W.shape}])`,
        );
      }
      if (numClasses > this.W.shape[1]) {
        throw new Error(
          `${fn}: y holds label ${numClasses - 1} but W has only ${this.W.shape[1]} classes`,
        );
      }
    }
    const W = this.W;
    const history: number[] = [];
    const yb = new Int32Array(batchSize);
    for (let it = 0; it < numIters; it++) {
      const idx = rng.choice(N, batchSize, { replace: true });
      for (let i = 0; i < batchSize; i++) yb[i] = labels[idx[i]];
      const [loss, grad] = this.loss(X.take(idx), yb, reg);
      history.push(loss);
      const w = W.data, g = grad.data;
      for (let i = 0; i < w.length; i++) w[i] -= learningRate * g[i];
      if (verbose && it % 100 === 0) console.log(`iteration ${it} / ${numIters}: loss ${loss}`);
    }
    return history;
  }

  /** The predicted class of every row of X: the index of the largest score in `X·W`. */
  predict(X: Tensor): Int32Array {
    const fn = `${this.constructor.name}.predict`;
    if (this.W === null) {
      throw new Error(`${fn}: the classifier has no weights yet; call train(X, y) first`);
    }
    checkMatrix(fn, "X", X, this.W.shape[0]);
    return cast(X, this.W.dtype).matmul(this.W).argmax(1);
  }
}

/**
 * A linear classifier with the multiclass SVM loss ({@link svmLossVectorized}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { LinearSVM } from "./linear_classifier.ts";
 * // Two classes on either side of x = 0, plus the bias column.
 * const X = Tensor.fromArray([[-2, 1], [-1, 1], [1, 1], [2, 1]]);
 * const svm = new LinearSVM();
 * const losses = svm.train(X, [0, 0, 1, 1], { learningRate: 0.1, numIters: 50, rng: new Rng(0) });
 * assert.ok(losses[49] < losses[0]);
 * assert.deepEqual([...svm.predict(X)], [0, 0, 1, 1]);
 * ```
 */
export class LinearSVM extends LinearClassifier {
  /** {@link svmLossVectorized} at the current W. */
  loss(Xb: Tensor, yb: ArrayLike<number>, reg: number): [number, Tensor] {
    if (this.W === null) throw new Error("LinearSVM.loss: W is null; call train(X, y) first");
    return svmLossVectorized(this.W, Xb, yb, reg);
  }
}

/**
 * A linear classifier with the softmax (cross-entropy) loss ({@link softmaxLossVectorized}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { Softmax } from "./linear_classifier.ts";
 * const X = Tensor.fromArray([[-2, 1], [-1, 1], [1, 1], [2, 1]]);
 * const softmax = new Softmax();
 * softmax.train(X, [0, 0, 1, 1], { learningRate: 0.5, numIters: 50, rng: new Rng(0) });
 * assert.deepEqual([...softmax.predict(X)], [0, 0, 1, 1]);
 * ```
 */
export class Softmax extends LinearClassifier {
  /** {@link softmaxLossVectorized} at the current W. */
  loss(Xb: Tensor, yb: ArrayLike<number>, reg: number): [number, Tensor] {
    if (this.W === null) throw new Error("Softmax.loss: W is null; call train(X, y) first");
    return softmaxLossVectorized(this.W, Xb, yb, reg);
  }
}

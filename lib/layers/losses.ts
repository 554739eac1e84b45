/**
 * Classification losses on a batch of scores, cs231n `svm_loss` and `softmax_loss`.
 *
 * Both take scores `x` of shape `(N, C)` and integer labels `y` in `[0, C)`, and return
 * `[loss, dx]`: the loss averaged over the batch as a plain number, and its gradient with
 * respect to `x` (same shape and dtype as `x`). Sums run in float64 whatever the dtype.
 *
 * The loops stay here rather than in `lib/kernels/`: they touch only `N × C` numbers (a
 * thousand or so per batch, against millions of multiply-adds in the layers below), and
 * they are the formulas a learner comes to read.
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import { Tensor } from "../tensor.ts";

/**
 * Multiclass SVM (hinge) loss with margin 1:
 * `loss = (1/N) Σ_i Σ_{j≠y_i} max(0, x_ij − x_{i,y_i} + 1)`.
 * Returns `[loss, dx]`; at a margin of exactly 0 the subgradient 0 is used, as in cs231n.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { svmLoss } from "./losses.ts";
 * // Margins 2 - 1 + 1 = 2 and 3 - 1 + 1 = 3 against the correct class 0.
 * const [loss, dx] = svmLoss(Tensor.fromArray([[1, 2, 3]]), [0]);
 * assert.ok(loss === 5 && dx.toNested().toString() === "-2,1,1");
 * ```
 */
export function svmLoss(x: Tensor, y: ArrayLike<number>): [number, Tensor] {
  const [N, C] = checkScoresAndLabels("svmLoss", x, y);
  const xd = x.data;
  const dx = Tensor.zeros(x.shape, x.dtype);
  const dxd = dx.data;
  const invN = 1 / N;
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const base = i * C;
    const label = y[i];
    const correct = xd[base + label];
    let positive = 0;
    for (let j = 0; j < C; j++) {
      if (j === label) continue;
      const margin = xd[base + j] - correct + 1;
      if (margin > 0) {
        loss += margin;
        dxd[base + j] = invN;
        positive++;
      } else if (margin !== margin) {
        // NaN scores (a diverged net) must show up in the loss, as np.maximum lets them.
        loss = NaN;
      }
    }
    // Guarded so that a row with no violated margin keeps +0 rather than -0 (as numpy).
    if (positive > 0) dxd[base + label] = -positive * invN;
  }
  return [loss / N, dx];
}

/**
 * Softmax (cross-entropy) loss: `loss = −(1/N) Σ_i log softmax(x_i)[y_i]`, with gradient
 * `dx_ij = (softmax(x_i)_j − [j = y_i]) / N`. Returns `[loss, dx]`.
 *
 * Each row is shifted by its maximum before exponentiating: softmax is unchanged by the
 * shift, and the largest exponent becomes `e⁰ = 1`, so nothing overflows even for scores in
 * the thousands, and the log-sum-exp is never `log(0)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { softmaxLoss } from "./losses.ts";
 * // Probabilities 1/3 and 2/3; the correct class 0 gets 1/3, so the loss is log 3.
 * const [loss, dx] = softmaxLoss(Tensor.fromArray([[0, Math.log(2)]]), [0]);
 * assert.ok(Math.abs(loss - Math.log(3)) < 1e-15);
 * assert.ok(Math.abs(dx.get(0, 0) + 2 / 3) < 1e-15 && Math.abs(dx.get(0, 1) - 2 / 3) < 1e-15);
 * ```
 */
export function softmaxLoss(x: Tensor, y: ArrayLike<number>): [number, Tensor] {
  const [N, C] = checkScoresAndLabels("softmaxLoss", x, y);
  const xd = x.data;
  const dx = Tensor.zeros(x.shape, x.dtype);
  const dxd = dx.data;
  const invN = 1 / N;
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const base = i * C;
    let rowMax = -Infinity;
    for (let j = 0; j < C; j++) {
      const v = xd[base + j];
      // `v !== v` lets a NaN win, so it reaches the loss instead of being skipped.
      if (v > rowMax || v !== v) rowMax = v;
    }
    let sumExp = 0;
    for (let j = 0; j < C; j++) sumExp += Math.exp(xd[base + j] - rowMax);
    const logZ = Math.log(sumExp);
    const label = y[i];
    loss -= xd[base + label] - rowMax - logZ;
    for (let j = 0; j < C; j++) {
      const prob = Math.exp(xd[base + j] - rowMax - logZ);
      dxd[base + j] = (j === label ? prob - 1 : prob) * invN;
    }
  }
  return [loss / N, dx];
}

/**
 * A label that is not a class index of the scores: the error the losses throw for it, with
 * the label's position so that a caller that built the batch (the Solver) can say which
 * sample of its data set it was.
 */
export class LabelRangeError extends Error {
  /** The label's index in `y`. */
  readonly index: number;
  /** The offending label. */
  readonly label: number;
  /** The number of classes `C` of the scores. */
  readonly numClasses: number;

  /** `fn` is the loss that found it. */
  constructor(fn: string, index: number, label: number, numClasses: number) {
    super(`${fn}: y[${index}] = ${label} is not a class index in [0, ${numClasses})`);
    this.name = "LabelRangeError";
    this.index = index;
    this.label = label;
    this.numClasses = numClasses;
  }
}

/** Validates `(N, C)` scores and their `N` labels; returns `[N, C]`. */
function checkScoresAndLabels(fn: string, x: Tensor, y: ArrayLike<number>): [number, number] {
  checkTensor(fn, "x", x);
  if (x.ndim !== 2) {
    throw new Error(`${fn}: x must be 2-d scores of shape (N, C), got shape [${x.shape}]`);
  }
  const [N, C] = x.shape;
  if (N === 0) throw new Error(`${fn}: x has no examples (shape [${x.shape}])`);
  if (y == null || typeof y.length !== "number") {
    throw new Error(`${fn}: y must be an array of ${N} integer labels, got ${y}`);
  }
  if (y.length !== N) {
    throw new Error(`${fn}: y has ${y.length} labels but x has ${N} rows (shape [${x.shape}])`);
  }
  for (let i = 0; i < N; i++) {
    const label = y[i];
    if (!Number.isInteger(label) || label < 0 || label >= C) {
      throw new LabelRangeError(fn, i, label, C);
    }
  }
  return [N, C];
}

/**
 * The structured (multiclass) SVM loss of a linear classifier, cs231n `linear_svm.py`:
 * scores `X·W`, margin 1, loss = data loss + `reg · ΣW²` (assignment 1 has no ½ here, so
 * the gradient gets `2 · reg · W`).
 *
 * @module
 */

import { svmLoss } from "../layers/losses.ts";
import type { Tensor } from "../tensor.ts";
import { checkLossArgs, finishNaiveLoss, vectorizedLinearLoss } from "./_linear_loss.ts";

/**
 * The SVM loss and its gradient with explicit loops over examples and classes, the way the
 * notebook writes it first:
 * `L = (1/N) Σ_i Σ_{j≠y_i} max(0, s_j − s_{y_i} + 1) + reg·ΣW²` with `s = X[i]·W`.
 * W is `(D, C)`, X `(N, D)` (the bias trick, a column of ones, is the caller's), labels in
 * `[0, C)`. Returns `[loss, dW]`, dW with W's dtype; sums run in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { svmLossNaive } from "./linear_svm.ts";
 * // Scores [1, 2] for an example of class 0: margin 2 − 1 + 1 = 2.
 * const W = Tensor.fromArray([[1, 2]]);
 * const [loss, dW] = svmLossNaive(W, Tensor.fromArray([[1]]), [0], 0.1);
 * assert.ok(Math.abs(loss - (2 + 0.1 * 5)) < 1e-12);
 * assert.deepEqual(dW.toNested(), [[-1 + 0.2, 1 + 0.4]]);
 * ```
 */
export function svmLossNaive(
  W: Tensor,
  X: Tensor,
  y: ArrayLike<number>,
  reg: number,
): [number, Tensor] {
  const { N, D, C, Xc, labels } = checkLossArgs("svmLossNaive", W, X, y, reg);
  const w = W.data, x = Xc.data;
  const grad = new Float64Array(D * C);
  const scores = new Float64Array(C);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const row = i * D;
    scores.fill(0);
    for (let d = 0; d < D; d++) {
      const xd = x[row + d];
      for (let j = 0; j < C; j++) scores[j] += xd * w[d * C + j];
    }
    const label = labels[i];
    const correct = scores[label];
    for (let j = 0; j < C; j++) {
      if (j === label) continue;
      const margin = scores[j] - correct + 1;
      if (margin > 0) {
        loss += margin;
        for (let d = 0; d < D; d++) {
          grad[d * C + j] += x[row + d];
          grad[d * C + label] -= x[row + d];
        }
      }
    }
  }
  return finishNaiveLoss(loss, grad, N, W, reg);
}

/**
 * The same loss and gradient as {@link svmLossNaive} without loops over examples: the
 * scores `X·W` and the gradient `Xᵀ·dscores` are GEMM products, and the margins are the
 * `svmLoss` layer's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { svmLossNaive, svmLossVectorized } from "./linear_svm.ts";
 * const rng = new Rng(0);
 * const W = Tensor.randn([5, 3], rng), X = Tensor.randn([4, 5], rng);
 * const [a, dA] = svmLossNaive(W, X, [0, 1, 2, 1], 0.5);
 * const [b, dB] = svmLossVectorized(W, X, [0, 1, 2, 1], 0.5);
 * assert.ok(Math.abs(a - b) < 1e-12 && dA.sub(dB).abs().max().item() < 1e-12);
 * ```
 */
export function svmLossVectorized(
  W: Tensor,
  X: Tensor,
  y: ArrayLike<number>,
  reg: number,
): [number, Tensor] {
  return vectorizedLinearLoss("svmLossVectorized", svmLoss, W, X, y, reg);
}

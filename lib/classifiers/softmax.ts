/**
 * The softmax (cross-entropy) loss of a linear classifier, cs231n `softmax.py`: scores
 * `X·W`, loss = mean of `−log softmax(s)[y]` + `reg · ΣW²` (no ½, so the gradient gets
 * `2 · reg · W`).
 *
 * @module
 */

import { softmaxLoss } from "../layers/losses.ts";
import type { Tensor } from "../tensor.ts";
import { checkLossArgs, finishNaiveLoss, vectorizedLinearLoss } from "./_linear_loss.ts";

/**
 * The softmax loss and its gradient with explicit loops over examples and classes. Each
 * row of scores is shifted by its maximum before exponentiating (softmax does not change,
 * nothing overflows). W is `(D, C)`, X `(N, D)`, labels in `[0, C)`. Returns `[loss, dW]`,
 * dW with W's dtype; sums run in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { softmaxLossNaive } from "./softmax.ts";
 * // All-zero weights: every class has probability 1/C, so the loss is log C.
 * const [loss] = softmaxLossNaive(Tensor.zeros([4, 10]), Tensor.ones([3, 4]), [1, 2, 3], 0);
 * assert.ok(Math.abs(loss - Math.log(10)) < 1e-12);
 * ```
 */
export function softmaxLossNaive(
  W: Tensor,
  X: Tensor,
  y: ArrayLike<number>,
  reg: number,
): [number, Tensor] {
  const { N, D, C, Xc, labels } = checkLossArgs("softmaxLossNaive", W, X, y, reg);
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
    let max = -Infinity;
    for (let j = 0; j < C; j++) if (scores[j] > max || scores[j] !== scores[j]) max = scores[j];
    let sumExp = 0;
    for (let j = 0; j < C; j++) sumExp += Math.exp(scores[j] - max);
    const logZ = Math.log(sumExp);
    const label = labels[i];
    loss -= scores[label] - max - logZ;
    for (let j = 0; j < C; j++) {
      const p = Math.exp(scores[j] - max - logZ) - (j === label ? 1 : 0);
      for (let d = 0; d < D; d++) grad[d * C + j] += p * x[row + d];
    }
  }
  return finishNaiveLoss(loss, grad, N, W, reg);
}

/**
 * The same loss and gradient as {@link softmaxLossNaive} without loops over examples: the
 * scores `X·W` and the gradient `Xᵀ·dscores` are GEMM products, and the probabilities are
 * the `softmaxLoss` layer's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { softmaxLossNaive, softmaxLossVectorized } from "./softmax.ts";
 * const rng = new Rng(0);
 * const W = Tensor.randn([5, 3], rng), X = Tensor.randn([4, 5], rng);
 * const [a, dA] = softmaxLossNaive(W, X, [0, 1, 2, 1], 0.5);
 * const [b, dB] = softmaxLossVectorized(W, X, [0, 1, 2, 1], 0.5);
 * assert.ok(Math.abs(a - b) < 1e-12 && dA.sub(dB).abs().max().item() < 1e-12);
 * ```
 */
export function softmaxLossVectorized(
  W: Tensor,
  X: Tensor,
  y: ArrayLike<number>,
  reg: number,
): [number, Tensor] {
  return vectorizedLinearLoss("softmaxLossVectorized", softmaxLoss, W, X, y, reg);
}

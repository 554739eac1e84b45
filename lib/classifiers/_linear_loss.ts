/**
 * What the SVM and softmax losses of assignment 1 share (private to `lib/classifiers/`):
 * their argument checks, the L2 term `reg · ΣW²` without the half, and the vectorized form,
 * which differs between the two only in the loss of the scores.
 *
 * @module
 */

import { gemm } from "../kernels/gemm.ts";
import { Tensor } from "../tensor.ts";
import { cast, checkLabels, checkMatrix, checkNumber } from "./_check.ts";

/**
 * Validates the arguments of the assignment-1 loss functions — W `(D, C)`, X `(N, D)`,
 * `N` labels in `[0, C)`, reg ≥ 0 — and returns the sizes and X in W's dtype.
 */
export function checkLossArgs(
  fn: string,
  W: unknown,
  X: unknown,
  y: unknown,
  reg: unknown,
): { N: number; D: number; C: number; Xc: Tensor; labels: Int32Array; reg: number } {
  const [D, C] = checkMatrix(fn, "W", W);
  const [N] = checkMatrix(fn, "X", X, D);
  if (N === 0) throw new Error(`${fn}: X has no rows (shape [${(X as Tensor).shape}])`);
  const labels = checkLabels(fn, y, N, C);
  checkNumber(fn, "reg", reg);
  return { N, D, C, Xc: cast(X as Tensor, (W as Tensor).dtype), labels, reg: reg as number };
}

/** Adds `reg · ΣW²` to `dataLoss` and `2 · reg · W` to `dW` (in place); returns the loss. */
export function addL2(dataLoss: number, W: Tensor, dW: Tensor, reg: number): number {
  const w = W.data, g = dW.data;
  let sumSq = 0;
  for (let i = 0; i < w.length; i++) {
    sumSq += w[i] * w[i];
    g[i] += 2 * reg * w[i];
  }
  return dataLoss + reg * sumSq;
}

/**
 * A linear classifier's loss and gradient without loops over examples: the scores `X·W`
 * and the gradient `Xᵀ·dscores` are GEMM products around `scoreLoss` (the `svmLoss` or
 * `softmaxLoss` layer), plus the L2 term.
 */
export function vectorizedLinearLoss(
  fn: string,
  scoreLoss: (scores: Tensor, y: Int32Array) => [number, Tensor],
  W: Tensor,
  X: Tensor,
  y: ArrayLike<number>,
  reg: number,
): [number, Tensor] {
  const { N, D, C, Xc, labels } = checkLossArgs(fn, W, X, y, reg);
  const [dataLoss, dscores] = scoreLoss(Xc.matmul(W), labels);
  const dW = Tensor.zeros([D, C], W.dtype);
  gemm(true, false, D, C, N, 1, Xc.data, D, dscores.data, C, 0, dW.data, C);
  return [addL2(dataLoss, W, dW, reg), dW];
}

/**
 * The end of a naive loss: the gradient summed in float64 (`grad`, laid out like `W`)
 * averaged over the `N` examples into W's dtype, and the L2 term added to both.
 */
export function finishNaiveLoss(
  loss: number,
  grad: Float64Array,
  N: number,
  W: Tensor,
  reg: number,
): [number, Tensor] {
  const dW = Tensor.zeros(W.shape, W.dtype);
  for (let i = 0; i < grad.length; i++) dW.data[i] = grad[i] / N;
  return [addL2(loss / N, W, dW, reg), dW];
}

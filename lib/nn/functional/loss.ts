/**
 * `F.crossEntropy` and `F.mseLoss`.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { softmaxLoss } from "../../layers/losses.ts";
import { sameShape, Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

/** How a loss combines the per-example values. */
export type Reduction = "mean" | "sum" | "none";

/** Options of the losses. */
export interface LossOptions {
  /** `"mean"` (default), `"sum"`, or `"none"` (one value per example). */
  reduction?: Reduction;
}

function checkReduction(fn: string, reduction: unknown): Reduction {
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new Error(
      `${fn}: reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`,
    );
  }
  return reduction;
}

/**
 * Softmax cross-entropy of scores `(N, C)` against class indices `y` (PyTorch's
 * `F.cross_entropy`), on `softmaxLoss`: a 0-d tensor for `"mean"` and `"sum"`, `(N,)` for
 * `"none"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { crossEntropy } from "./loss.ts";
 * const scores = Tensor.fromArray([[0, Math.log(2)]], undefined, { requiresGrad: true });
 * const loss = crossEntropy(scores, Int32Array.of(0));
 * assert.ok(Math.abs(loss.item() - Math.log(3)) < 1e-15);
 * loss.backward();
 * assert.ok(Math.abs(scores.grad!.get(0, 0) + 2 / 3) < 1e-15);
 * ```
 */
export function crossEntropy(
  scores: Tensor,
  y: ArrayLike<number>,
  options: LossOptions = {},
): Tensor {
  const fn = "F.crossEntropy";
  checkTensor(fn, "scores", scores);
  const reduction = checkReduction(fn, options.reduction ?? "mean");
  if (reduction !== "none") {
    const [loss, dx] = softmaxLoss(scores.detach(), y);
    const N = scores.shape[0];
    const scale = reduction === "sum" ? N : 1;
    const out = Tensor.full([], loss * scale, scores.dtype);
    if (needsGrad(scores)) {
      recordOp(out, "crossEntropy", [scores], (g) => [dx.mul(g.data[0] * scale)]);
    }
    return out;
  }
  if (scores.ndim !== 2) {
    throw new Error(`${fn}: scores must be 2-d (N, C), got shape [${scores.shape}]`);
  }
  const [N, C] = scores.shape;
  if (y == null || y.length !== N) {
    throw new Error(`${fn}: y has ${y?.length} labels but scores has ${N} rows`);
  }
  // One example at a time through the same layer: its loss is that example's value.
  const out = Tensor.zeros([N], scores.dtype);
  const dx = Tensor.zeros([N, C], scores.dtype);
  const detached = scores.detach();
  for (let i = 0; i < N; i++) {
    const [loss, dRow] = softmaxLoss(detached.sliceRows(i, i + 1), [y[i]]);
    out.data[i] = loss;
    dx.data.set(dRow.data, i * C);
  }
  if (needsGrad(scores)) {
    recordOp(out, "crossEntropy", [scores], (g) => [dx.mul(g.reshape([N, 1]))]);
  }
  return out;
}

/**
 * Mean squared error `(input − target)²`, reduced (PyTorch's `F.mse_loss`), composed of
 * recorded tensor ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { mseLoss } from "./loss.ts";
 * assert.equal(mseLoss(Tensor.fromArray([1, 2]), Tensor.fromArray([1, 4])).item(), 2);
 * ```
 */
export function mseLoss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  const fn = "F.mseLoss";
  checkTensor(fn, "input", input);
  checkTensor(fn, "target", target);
  const reduction = checkReduction(fn, options.reduction ?? "mean");
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(
      `${fn}: input shape [${input.shape}] and target shape [${target.shape}] differ`,
    );
  }
  const squared = input.sub(target).square();
  return reduction === "none" ? squared : reduction === "sum" ? squared.sum() : squared.mean();
}

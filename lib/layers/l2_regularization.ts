/**
 * The L2 weight penalty of the assignment-2 models: `0.5 · reg · Σ‖W‖²` added to the loss,
 * and its gradient `reg · W` added to each weight's gradient. (Assignment 1's linear
 * classifiers use `reg · Σ‖W‖²` without the half; see their loss functions.)
 *
 * @module
 */

import { axpy, sumOfSquares } from "../kernels/elementwise.ts";
import type { Tensor } from "../tensor.ts";

/**
 * `0.5 · reg · Σ_W ‖W‖²` over `weights`. With `reg` 0 nothing is read: the squared norms
 * would cost a pass over every weight (0.35 ms of a 14 ms convolutional-net step).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { l2Penalty } from "./l2_regularization.ts";
 * const W1 = Tensor.fromArray([1, 2]), W2 = Tensor.fromArray([[3]]);
 * assert.equal(l2Penalty([W1, W2], 0.1), 0.5 * 0.1 * (1 + 4 + 9));
 * ```
 */
export function l2Penalty(weights: readonly Tensor[], reg: number): number {
  if (reg === 0) return 0;
  let squares = 0;
  for (const W of weights) squares += sumOfSquares(W.data);
  return 0.5 * reg * squares;
}

/**
 * Adds the penalty's gradient `reg · W` to `dW` in place (nothing when `reg` is 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { addL2Gradient } from "./l2_regularization.ts";
 * const dW = Tensor.fromArray([1, 1]);
 * addL2Gradient(dW, Tensor.fromArray([2, -4]), 0.5);
 * assert.deepEqual(dW.toNested(), [2, -1]);
 * ```
 */
export function addL2Gradient(dW: Tensor, W: Tensor, reg: number): void {
  if (reg !== 0) axpy(reg, W.data, dW.data);
}

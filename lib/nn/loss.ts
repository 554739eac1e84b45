/**
 * `nn.CrossEntropyLoss` and `nn.MSELoss`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { crossEntropy, mseLoss, type Reduction } from "./functional/loss.ts";
import { Module, type ModuleOptions } from "./module.ts";

/**
 * Softmax cross-entropy of scores `(N, C)` against class indices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { CrossEntropyLoss } from "./loss.ts";
 * const loss = new CrossEntropyLoss().forward(Tensor.zeros([2, 4]), Int32Array.of(0, 3));
 * assert.ok(Math.abs(loss.item() - Math.log(4)) < 1e-12);
 * ```
 */
export class CrossEntropyLoss extends Module {
  /** How per-example losses combine. */
  readonly reduction: Reduction;

  /** A loss with `reduction` `"mean"` (default), `"sum"` or `"none"`. */
  constructor(options: ModuleOptions & { reduction?: Reduction } = {}) {
    super();
    this.reduction = options.reduction ?? "mean";
  }

  /** `F.crossEntropy(scores, y)`. */
  override forward(scores: Tensor, y: ArrayLike<number>): Tensor {
    return crossEntropy(scores, y, { reduction: this.reduction });
  }
}

/** Mean squared error between two tensors of one shape. */
export class MSELoss extends Module {
  /** How per-element losses combine. */
  readonly reduction: Reduction;

  /** A loss with `reduction` `"mean"` (default), `"sum"` or `"none"`. */
  constructor(options: ModuleOptions & { reduction?: Reduction } = {}) {
    super();
    this.reduction = options.reduction ?? "mean";
  }

  /** `F.mseLoss(input, target)`. */
  override forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, { reduction: this.reduction });
  }
}

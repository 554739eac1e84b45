/**
 * `optim.RMSprop`.
 *
 * @module
 */

import { rmspropKernel } from "../../kernels/optim_kernels.ts";
import { Tensor } from "../../tensor.ts";
import { checkRange, Optimizer, withWeightDecay } from "./optimizer.ts";

/** Options of {@link RMSprop} (PyTorch's defaults). */
export interface RMSpropOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Smoothing constant of the squared-gradient average (default 0.99). */
  alpha?: number;
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** L2 penalty (default 0). */
  weightDecay?: number;
}

/**
 * RMSprop: `s = alpha·s + (1 − alpha)·g²`, `p −= lr·g / (√s + eps)`, on the existing
 * `rmspropKernel` (the same formula).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { RMSprop } from "./rmsprop.ts";
 * const w = Tensor.fromArray([1], undefined, { requiresGrad: true });
 * w.grad = Tensor.fromArray([2]);
 * new RMSprop([w], { lr: 0.1, alpha: 0.9, eps: 0 }).step();
 * assert.ok(Math.abs(w.item() - (1 - 0.1 * 2 / Math.sqrt(0.4))) < 1e-12);
 * ```
 */
export class RMSprop extends Optimizer {
  /** Smoothing constant. */
  alpha: number;
  /** Added to the denominator. */
  eps: number;
  /** L2 penalty. */
  weightDecay: number;

  /** RMSprop over `params`. */
  constructor(params: Iterable<Tensor>, options: RMSpropOptions = {}) {
    const fn = "optim.RMSprop";
    super(fn, params, options.lr ?? 0.01);
    this.alpha = checkRange(fn, "alpha", options.alpha ?? 0.99, 0, 1);
    this.eps = checkRange(fn, "eps", options.eps ?? 1e-8, 0);
    this.weightDecay = checkRange(fn, "weightDecay", options.weightDecay ?? 0, 0);
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>): void {
    const g = withWeightDecay(grad, p, this.weightDecay);
    let squareAvg = state.squareAvg as Tensor | undefined;
    if (squareAvg === undefined) {
      squareAvg = Tensor.zeros(p.shape, p.dtype);
      state.squareAvg = squareAvg;
    }
    rmspropKernel(p.data, g, squareAvg.data, this.lr, this.alpha, this.eps, p.data, squareAvg.data);
  }
}

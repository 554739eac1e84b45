/**
 * `optim.SGD`.
 *
 * @module
 */

import { sgdKernel } from "../../kernels/optim_kernels.ts";
import { Tensor } from "../../tensor.ts";
import { checkRange, Optimizer, withWeightDecay } from "./optimizer.ts";

/** Options of {@link SGD} (PyTorch's defaults). */
export interface SGDOptions {
  /** Learning rate (required). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
}

/**
 * Stochastic gradient descent with PyTorch's formulas: `g = grad + weightDecay·p`; with
 * momentum `buf = momentum·buf + (1 − dampening)·g` (`buf = g` on the first step) and
 * `g = nesterov ? g + momentum·buf : buf`; then `p −= lr·g`. Plain SGD runs on the
 * existing `sgdKernel`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { SGD } from "./sgd.ts";
 * const w = Tensor.fromArray([1], undefined, { requiresGrad: true });
 * const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
 * for (let i = 0; i < 2; i++) {
 *   opt.zeroGrad();
 *   w.mul(2).sum().backward(); // gradient 2
 *   opt.step();
 * }
 * // buf = 2, then 0.9·2 + 2 = 3.8: w = 1 − 0.2 − 0.38
 * assert.ok(Math.abs(w.item() - 0.42) < 1e-12);
 * ```
 */
export class SGD extends Optimizer {
  /** Momentum factor. */
  momentum: number;
  /** Dampening. */
  dampening: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** L2 penalty. */
  weightDecay: number;

  /** SGD over `params`. */
  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    const fn = "optim.SGD";
    super(fn, params, options?.lr);
    this.momentum = checkRange(fn, "momentum", options.momentum ?? 0, 0);
    this.dampening = checkRange(fn, "dampening", options.dampening ?? 0, 0);
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = checkRange(fn, "weightDecay", options.weightDecay ?? 0, 0);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error(`${fn}: Nesterov momentum requires a momentum > 0 and zero dampening`);
    }
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>): void {
    const g = withWeightDecay(grad, p, this.weightDecay);
    const w = p.data;
    if (this.momentum === 0) {
      sgdKernel(w, g, this.lr, w);
      return;
    }
    const { momentum, dampening, nesterov, lr } = this;
    let buf = state.momentumBuffer as Tensor | undefined;
    if (buf === undefined) {
      buf = new Tensor(g.slice(), p.shape);
      state.momentumBuffer = buf;
      const b = buf.data;
      for (let i = 0; i < w.length; i++) w[i] -= lr * (nesterov ? g[i] + momentum * b[i] : b[i]);
      return;
    }
    // PyTorch's momentum formula has no kernel of its own (cs231n's velocity folds in lr).
    const b = buf.data;
    const keep = 1 - dampening;
    for (let i = 0; i < w.length; i++) {
      const v = momentum * b[i] + keep * g[i];
      b[i] = v;
      w[i] -= lr * (nesterov ? g[i] + momentum * v : v);
    }
  }
}

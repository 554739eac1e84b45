/**
 * `optim.Adam` and `optim.AdamW`.
 *
 * @module
 */

import { adamKernel } from "../../kernels/optim_kernels.ts";
import { Tensor } from "../../tensor.ts";
import { checkRange, Optimizer, withWeightDecay } from "./optimizer.ts";

/** Options of {@link Adam} and {@link AdamW} (PyTorch's defaults). */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moments (default `[0.9, 0.999]`). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay (default 0 for Adam, an L2 term in the gradient; 0.01 for AdamW, decoupled). */
  weightDecay?: number;
}

/**
 * Adam (Kingma & Ba) with PyTorch's formula: `m = β1·m + (1 − β1)·g`,
 * `v = β2·v + (1 − β2)·g²`, `p −= lr·m̂ / (√v̂ + eps)` with the bias-corrected moments;
 * `weightDecay` adds `weightDecay·p` to `g` first. Runs on the existing WebAssembly
 * `adamKernel`, in place; float32 parameters are updated in float32 arithmetic, the
 * precision PyTorch uses (not its bits: its formula orders the terms otherwise), float64
 * ones in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { Adam } from "./adam.ts";
 * const w = Tensor.fromArray([1, 1], undefined, { requiresGrad: true });
 * w.grad = Tensor.fromArray([0.5, -3]);
 * new Adam([w], { lr: 0.1 }).step();
 * // The first step moves every weight by lr (times the sign), whatever the gradient's size.
 * assert.ok(Math.abs(w.get(0) - 0.9) < 1e-7 && Math.abs(w.get(1) - 1.1) < 1e-7);
 * ```
 */
export class Adam extends Optimizer {
  /** `[β1, β2]`. */
  betas: [number, number];
  /** Added to the denominator. */
  eps: number;
  /** Weight decay. */
  weightDecay: number;
  readonly #decoupled: boolean;

  /** Adam over `params`. */
  constructor(params: Iterable<Tensor>, options: AdamOptions = {}, decoupled = false) {
    const fn = decoupled ? "optim.AdamW" : "optim.Adam";
    super(fn, params, options.lr ?? 1e-3);
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    this.betas = [checkRange(fn, "betas[0]", b1, 0, 1), checkRange(fn, "betas[1]", b2, 0, 1)];
    this.eps = checkRange(fn, "eps", options.eps ?? 1e-8, 0);
    this.weightDecay = checkRange(
      fn,
      "weightDecay",
      options.weightDecay ?? (decoupled ? 0.01 : 0),
      0,
    );
    this.#decoupled = decoupled;
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>): void {
    let m = state.expAvg as Tensor | undefined;
    let v = state.expAvgSq as Tensor | undefined;
    if (m === undefined || v === undefined) {
      m = state.expAvg = Tensor.zeros(p.shape, p.dtype);
      v = state.expAvgSq = Tensor.zeros(p.shape, p.dtype);
      state.step = 0;
    }
    const t = (state.step as number) + 1;
    state.step = t;
    const w = p.data;
    let g = grad.data;
    if (this.#decoupled) {
      if (this.weightDecay !== 0) {
        const shrink = 1 - this.lr * this.weightDecay;
        for (let i = 0; i < w.length; i++) w[i] *= shrink;
      }
    } else g = withWeightDecay(grad, p, this.weightDecay);
    const [b1, b2] = this.betas;
    adamKernel(w, g, m.data, v.data, this.lr, b1, b2, this.eps, t, w, m.data, v.data);
  }
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, `p ← p·(1 − lr·wd)`
 * before the Adam step (default `weightDecay` 0.01).
 */
export class AdamW extends Adam {
  /** AdamW over `params`. */
  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options, true);
  }
}

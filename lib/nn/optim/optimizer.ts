/**
 * `Optimizer`: the base of the optimizer objects (PyTorch's `torch.optim.Optimizer`): one
 * loop over the parameters, with per-parameter state.
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";

/**
 * Base class: holds the parameters, the learning rate and per-parameter state; subclasses
 * implement {@link Optimizer.update} for one parameter. Updates happen in place on the
 * parameters' data (outside the autograd graph, like PyTorch's `step()`).
 */
export abstract class Optimizer {
  /** The parameters being optimized. */
  readonly params: Tensor[];
  /** The learning rate (read and written by the schedulers). */
  lr: number;
  /** Per-parameter state (momentum buffers, moments, step counts). */
  protected readonly state: Map<Tensor, Record<string, Tensor | number>> = new Map();

  /** An optimizer over `params` with learning rate `lr`. */
  constructor(name: string, params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error(`${name}: got an empty parameter list`);
    for (const [i, p] of this.params.entries()) {
      if (!p.requiresGrad) {
        throw new Error(`${name}: parameter ${i} (shape [${p.shape}]) does not require grad`);
      }
    }
    if (typeof lr !== "number" || !(lr >= 0)) {
      throw new Error(`${name}: lr must be a number ≥ 0, got ${lr}`);
    }
    this.lr = lr;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    for (const p of this.params) {
      if (p.grad === null) continue;
      let state = this.state.get(p);
      if (state === undefined) {
        state = {};
        this.state.set(p, state);
      }
      this.update(p, p.grad, state);
    }
  }

  /** Clears the gradients of all parameters (sets them to `null`). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Updates `p.data` in place from `grad`, keeping what it needs in `state`. */
  protected abstract update(p: Tensor, grad: Tensor, state: Record<string, Tensor | number>): void;
}

/** Checks a hyper-parameter: a finite number in `[lo, hi]`. */
export function checkRange(fn: string, name: string, v: number, lo: number, hi = Infinity): number {
  if (typeof v !== "number" || !(v >= lo && v <= hi)) {
    throw new Error(`${fn}: ${name} must be a number in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/** `grad + weightDecay · p` as a fresh array (PyTorch's L2 penalty), or `grad` itself. */
export function withWeightDecay(grad: Tensor, p: Tensor, weightDecay: number): Tensor["data"] {
  if (weightDecay === 0) return grad.data;
  const g = grad.data.slice();
  const w = p.data;
  for (let i = 0; i < g.length; i++) g[i] += weightDecay * w[i];
  return g;
}

/**
 * `optim.lrScheduler`: learning-rate schedules (PyTorch's `torch.optim.lr_scheduler`).
 * Call `step()` once per epoch, after the optimizer's steps.
 *
 * @module
 */

import type { Optimizer } from "./optimizer.ts";

/**
 * Multiplies the rate by `gamma` every `stepSize` epochs:
 * `lr = baseLr · gamma^⌊epoch / stepSize⌋`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { SGD } from "./sgd.ts";
 * import { StepLR } from "./lr_scheduler.ts";
 * const opt = new SGD([Tensor.zeros([1], { requiresGrad: true })], { lr: 1 });
 * const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
 * const rates = [];
 * for (let epoch = 0; epoch < 5; epoch++) {
 *   rates.push(opt.lr);
 *   sched.step();
 * }
 * assert.deepEqual(rates, [1, 1, 0.5, 0.5, 0.25]);
 * ```
 */
export class StepLR {
  /** The optimizer whose `lr` is set. */
  readonly optimizer: Optimizer;
  /** Epochs between decays. */
  readonly stepSize: number;
  /** Decay factor. */
  readonly gamma: number;
  /** The rate at epoch 0. */
  readonly baseLr: number;
  /** Epochs stepped so far. */
  lastEpoch = 0;

  /** A schedule on `optimizer` (default `gamma` 0.1). */
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    if (!Number.isInteger(options?.stepSize) || options.stepSize < 1) {
      throw new Error(
        `optim.lrScheduler.StepLR: stepSize must be an integer ≥ 1, got ${options?.stepSize}`,
      );
    }
    this.optimizer = optimizer;
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
    this.baseLr = optimizer.lr;
  }

  /** Ends an epoch and sets the optimizer's rate for the next. */
  step(): void {
    this.lastEpoch++;
    this.optimizer.lr = this.baseLr * this.gamma ** Math.floor(this.lastEpoch / this.stepSize);
  }

  /** The current rate. */
  getLastLr(): number {
    return this.optimizer.lr;
  }
}

/**
 * Cosine annealing from the base rate to `etaMin` over `tMax` epochs:
 * `lr = etaMin + (baseLr − etaMin)·(1 + cos(π·epoch / tMax)) / 2`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { Adam } from "./adam.ts";
 * import { CosineAnnealingLR } from "./lr_scheduler.ts";
 * const opt = new Adam([Tensor.zeros([1], { requiresGrad: true })], { lr: 1 });
 * const sched = new CosineAnnealingLR(opt, { tMax: 2 });
 * sched.step();
 * assert.ok(Math.abs(opt.lr - 0.5) < 1e-15);
 * sched.step();
 * assert.ok(Math.abs(opt.lr) < 1e-15);
 * ```
 */
export class CosineAnnealingLR {
  /** The optimizer whose `lr` is set. */
  readonly optimizer: Optimizer;
  /** Epochs of one half-period. */
  readonly tMax: number;
  /** The lowest rate. */
  readonly etaMin: number;
  /** The rate at epoch 0. */
  readonly baseLr: number;
  /** Epochs stepped so far. */
  lastEpoch = 0;

  /** A schedule on `optimizer` (default `etaMin` 0). */
  constructor(optimizer: Optimizer, options: { tMax: number; etaMin?: number }) {
    if (!(options?.tMax > 0)) {
      throw new Error(
        `optim.lrScheduler.CosineAnnealingLR: tMax must be > 0, got ${options?.tMax}`,
      );
    }
    this.optimizer = optimizer;
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
    this.baseLr = optimizer.lr;
  }

  /** Ends an epoch and sets the optimizer's rate for the next. */
  step(): void {
    this.lastEpoch++;
    const cos = Math.cos((Math.PI * this.lastEpoch) / this.tMax);
    this.optimizer.lr = this.etaMin + ((this.baseLr - this.etaMin) * (1 + cos)) / 2;
  }

  /** The current rate. */
  getLastLr(): number {
    return this.optimizer.lr;
  }
}

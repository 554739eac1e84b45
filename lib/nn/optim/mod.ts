/**
 * `optim`: optimizer objects and learning-rate schedules (PyTorch's `torch.optim`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import * as optim from "./mod.ts";
 * const w = Tensor.fromArray([3], undefined, { requiresGrad: true });
 * const opt = new optim.SGD([w], { lr: 0.1 });
 * for (let i = 0; i < 100; i++) {
 *   opt.zeroGrad();
 *   w.square().sum().backward();
 *   opt.step();
 * }
 * assert.ok(Math.abs(w.item()) < 1e-6);
 * ```
 *
 * @module
 */

export { Adam, type AdamOptions, AdamW } from "./adam.ts";
export { Optimizer } from "./optimizer.ts";
export { RMSprop, type RMSpropOptions } from "./rmsprop.ts";
export { SGD, type SGDOptions } from "./sgd.ts";
export * as lrScheduler from "./lr_scheduler.ts";

/**
 * Whether operations on tensors are recorded for `backward()`: on by default, off inside
 * {@link noGrad} (PyTorch's `torch.no_grad()`).
 *
 * @module
 */

let enabled = true;

/**
 * Whether operations are currently recorded (PyTorch's `torch.is_grad_enabled()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isGradEnabled, noGrad } from "./grad_mode.ts";
 * assert.equal(isGradEnabled(), true);
 * assert.equal(noGrad(() => isGradEnabled()), false);
 * ```
 */
export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs `fn` without recording any operation and returns its value, like
 * `with torch.no_grad():`. Results computed inside do not require grad, and nothing is
 * kept for a backward pass: use it for evaluation and for manual parameter updates.
 * `fn` must be synchronous (the setting is restored as soon as `fn` returns).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { noGrad } from "./grad_mode.ts";
 * const w = Tensor.ones([2], { requiresGrad: true });
 * const y = noGrad(() => w.mul(3));
 * assert.equal(y.requiresGrad, false);
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  const previous = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}

/**
 * Turns recording on or off until the next call (PyTorch's `torch.set_grad_enabled`);
 * prefer {@link noGrad}, which restores the previous setting by itself.
 */
export function setGradEnabled(on: boolean): void {
  enabled = on;
}

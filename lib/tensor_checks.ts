/**
 * The argument checks that the floors above the tensor share (layers, models, losses,
 * gradient checks): each failure names the function, the argument and what it got.
 *
 * @module
 */

import { Tensor } from "./tensor.ts";

/**
 * Throws unless `value` is a Tensor: `"<fn>: <name> must be a Tensor, got <what>"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTensor } from "./tensor_checks.ts";
 * assert.throws(() => checkTensor("reluForward", "x", [1, 2]), /reluForward: x must be a Tensor, got an Array/);
 * ```
 */
export function checkTensor(fn: string, name: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new Error(`${fn}: ${name} must be a Tensor, got ${describeValue(value)}`);
  }
}

/**
 * Throws unless every entry of `tensors` is a Tensor and all share one dtype, naming each
 * argument's dtype when they differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * import { checkSameDType } from "./tensor_checks.ts";
 * const x = Tensor.zeros([2], "float32"), w = Tensor.zeros([2], "float64");
 * assert.throws(() => checkSameDType("demo", { x, w }), /x and w must share a dtype, got x float32, w float64/);
 * ```
 */
export function checkSameDType(fn: string, tensors: Record<string, unknown>): void {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) checkTensor(fn, name, t);
  const typed = entries as [string, Tensor][];
  if (typed.some(([, t]) => t.dtype !== typed[0][1].dtype)) {
    throw new Error(
      `${fn}: ${listNames(typed.map(([n]) => n))} must share a dtype, got ` +
        typed.map(([n, t]) => `${n} ${t.dtype}`).join(", "),
    );
  }
}

/** `["x", "w", "b"]` → `"x, w and b"`. */
function listNames(names: string[]): string {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/**
 * How a message shows a value it did not expect: strings quoted (so `"1"` is not mistaken
 * for 1), arrays and objects by kind, everything else as printed.
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (value !== null && typeof value === "object") {
    return `a ${value.constructor?.name ?? "object"}`;
  }
  return String(value);
}

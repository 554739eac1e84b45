/**
 * Argument checks and conversions shared by the models (private to `lib/models/`).
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import type { DType, Tensor } from "../tensor.ts";

/** `X` itself when it already has `dtype`, else a converted copy (cs231n's `X.astype`). */
export function castInput(fn: string, X: Tensor, dtype: DType): Tensor {
  checkTensor(fn, "X", X);
  return X.dtype === dtype ? X : X.astype(dtype);
}

/** Throws unless `value` is a positive integer, naming the option. */
export function checkPositiveInt(fn: string, name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new Error(`${fn}: ${name} must be a positive integer, got ${value}`);
  }
  return value as number;
}

/** Throws unless `value` is a finite number ≥ 0, naming the option (or field). */
export function checkNonNegative(fn: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new Error(`${fn}: ${name} must be a finite number ≥ 0, got ${value}`);
  }
  return value;
}

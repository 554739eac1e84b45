/**
 * Argument checks shared by the classifiers (private to `lib/classifiers/`). Every message
 * names the public function, the argument and what was expected against what was given.
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import type { DType, Tensor } from "../tensor.ts";

/** Throws unless `X` is a 2-d Tensor (with `width` columns when given); returns `[N, D]`. */
export function checkMatrix(
  fn: string,
  name: string,
  X: unknown,
  width?: number,
): [number, number] {
  checkTensor(fn, name, X);
  if (X.ndim !== 2) {
    throw new Error(`${fn}: ${name} must be 2-d of shape (N, D), got shape [${X.shape}]`);
  }
  if (width !== undefined && X.shape[1] !== width) {
    throw new Error(
      `${fn}: ${name} has ${X.shape[1]} columns but ${width} were expected ` +
        `(${name} shape [${X.shape}])`,
    );
  }
  return [X.shape[0], X.shape[1]];
}

/**
 * Throws unless `y` holds `n` integer labels in `[0, numClasses)` (any non-negative
 * integer when `numClasses` is omitted); returns them as an `Int32Array`.
 */
export function checkLabels(
  fn: string,
  y: unknown,
  n: number,
  numClasses?: number,
): Int32Array {
  if (y == null || typeof (y as ArrayLike<number>).length !== "number") {
    throw new Error(`${fn}: y must be an array of ${n} integer labels, got ${y}`);
  }
  const labels = y as ArrayLike<number>;
  if (labels.length !== n) {
    throw new Error(`${fn}: y has ${labels.length} labels but X has ${n} rows`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    const tooLarge = numClasses !== undefined && label >= numClasses;
    if (!Number.isInteger(label) || label < 0 || tooLarge || label > 0x7fffffff) {
      const range = numClasses === undefined ? "a non-negative integer" : `in [0, ${numClasses})`;
      throw new Error(`${fn}: y[${i}] = ${label} is not a class index ${range}`);
    }
    out[i] = label;
  }
  return out;
}

/** Throws unless `value` is a finite number ≥ 0 (or > 0 when `positive`). */
export function checkNumber(fn: string, name: string, value: unknown, positive = false): number {
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (positive ? value > 0 : value >= 0);
  if (!ok) {
    throw new Error(
      `${fn}: ${name} must be a finite number ${positive ? "> 0" : "≥ 0"}, got ${value}`,
    );
  }
  return value as number;
}

/** `X` itself when it already has `dtype`, else a converted copy. */
export function cast(X: Tensor, dtype: DType): Tensor {
  return X.dtype === dtype ? X : X.astype(dtype);
}

/**
 * Argument checks shared by the classifiers (private to `lib/classifiers/`). Every message
 * names the public function, the argument and what was expected against what was given.
 *
 * @module
 */

import { checkOptionKeys as checkKeys } from "../options.ts";
import { type DType, Tensor } from "../tensor.ts";

/**
 * Throws unless `options` is a plain object whose keys are all in `allowed` (the library's
 * `checkOptionKeys`, which also suggests the intended name of a misspelt key).
 */
export function checkOptionKeys(
  fn: string,
  options: unknown,
  allowed: readonly string[],
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new Error(`${fn}: options must be an object, got ${String(options)}`);
  }
  checkKeys(fn, options, allowed);
}

/** Throws unless `X` is a 2-d Tensor (with `width` columns when given); returns `[N, D]`. */
export function checkMatrix(
  fn: string,
  name: string,
  X: unknown,
  width?: number,
): [number, number] {
  if (!(X instanceof Tensor)) throw new Error(`${fn}: ${name} must be a Tensor, got ${X}`);
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

/** Throws unless `value` is an integer ≥ `min`, naming the argument. */
export function checkInt(fn: string, name: string, value: unknown, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value as number;
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

/**
 * Validates the arguments of the assignment-1 loss functions — W `(D, C)`, X `(N, D)`,
 * `N` labels in `[0, C)`, reg ≥ 0 — and returns the sizes and X in W's dtype.
 */
export function checkLossArgs(
  fn: string,
  W: unknown,
  X: unknown,
  y: unknown,
  reg: unknown,
): { N: number; D: number; C: number; Xc: Tensor; labels: Int32Array; reg: number } {
  const [D, C] = checkMatrix(fn, "W", W);
  const [N] = checkMatrix(fn, "X", X, D);
  if (N === 0) throw new Error(`${fn}: X has no rows (shape [${(X as Tensor).shape}])`);
  const labels = checkLabels(fn, y, N, C);
  checkNumber(fn, "reg", reg);
  return { N, D, C, Xc: cast(X as Tensor, (W as Tensor).dtype), labels, reg: reg as number };
}

/** Adds `reg · ΣW²` to `dataLoss` and `2 · reg · W` to `dW` (in place); returns the loss. */
export function addL2(dataLoss: number, W: Tensor, dW: Tensor, reg: number): number {
  const w = W.data, g = dW.data;
  let sumSq = 0;
  for (let i = 0; i < w.length; i++) {
    sumSq += w[i] * w[i];
    g[i] += 2 * reg * w[i];
  }
  return dataLoss + reg * sumSq;
}

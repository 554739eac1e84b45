/**
 * Numerical gradients by centered differences, to check analytic backward passes
 * (cs231n `gradient_check.py`), and the relative error the notebooks compare them with.
 *
 * All functions perturb the input tensor **in place**, one element at a time, and restore
 * it exactly before returning. This is what lets `f` ignore its argument and read the
 * tensor from elsewhere, e.g. `() => model.loss(X, y)[0]` checked against
 * `model.params.W1`. Checks are meant for float64: in float32, `x ± h` with `h = 1e-5`
 * rounds away most of the step.
 *
 * @module
 */

import { checkTensor } from "./tensor_checks.ts";
import { getGlobalRng, type Rng } from "./rng.ts";
import { sameShape, stridesOf, Tensor } from "./tensor.ts";

/** Options of {@link evalNumericalGradient}. */
export interface NumericalGradientOptions {
  /** Step of the centered difference (default `1e-5`). */
  h?: number;
  /** Print each index and its partial derivative, as cs231n does (default `false`). */
  verbose?: boolean;
}

/** Options of {@link evalNumericalGradientArray}. */
export interface NumericalGradientArrayOptions {
  /** Step of the centered difference (default `1e-5`). */
  h?: number;
}

/**
 * The gradient of a scalar function `f` at `x`, by centered differences:
 * `grad[i] = (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h`. Costs `2 · x.size` calls of `f`.
 * Returns a tensor shaped like `x`, of its dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * import { evalNumericalGradient } from "./gradient_check.ts";
 * const x = Tensor.fromArray([1, -2, 3]);
 * const sumOfSquares = (t: Tensor) => t.square().sum().item();
 * const grad = evalNumericalGradient(sumOfSquares, x); // ≈ 2x
 * assert.ok(Math.abs(grad.get(1) + 4) < 1e-8);
 * ```
 */
export function evalNumericalGradient(
  f: (x: Tensor) => number,
  x: Tensor,
  options: NumericalGradientOptions = {},
): Tensor {
  const { h = 1e-5, verbose = false } = options;
  checkInputs("evalNumericalGradient", x, h);
  const grad = Tensor.zerosLike(x);
  const data = x.data;
  for (let i = 0; i < data.length; i++) {
    const old = data[i];
    data[i] = old + h;
    const fPlus = checkScalar("evalNumericalGradient", f(x));
    data[i] = old - h;
    const fMinus = checkScalar("evalNumericalGradient", f(x));
    data[i] = old;
    grad.data[i] = (fPlus - fMinus) / (2 * h);
    if (verbose) console.log(formatIndex(x.shape, i), grad.data[i]);
  }
  return grad;
}

/**
 * The gradient, with respect to `x`, of `Σ f(x) ⊙ dout` for a tensor-valued `f`: i.e. the
 * vector–Jacobian product that a layer's backward pass computes from its upstream gradient
 * `dout` (which must have the shape of `f(x)`). Returns a tensor shaped like `x`, of its
 * dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * import { evalNumericalGradientArray } from "./gradient_check.ts";
 * const x = Tensor.fromArray([1, 2]);
 * const dout = Tensor.fromArray([10, 100]);
 * const dx = evalNumericalGradientArray((t) => t.mul(t), x, dout); // ≈ 2x ⊙ dout
 * assert.ok(Math.abs(dx.get(1) - 400) < 1e-6);
 * ```
 */
export function evalNumericalGradientArray(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  dout: Tensor,
  options: NumericalGradientArrayOptions = {},
): Tensor {
  const { h = 1e-5 } = options;
  checkInputs("evalNumericalGradientArray", x, h);
  checkTensor("evalNumericalGradientArray", "dout", dout);
  const grad = Tensor.zerosLike(x);
  const data = x.data;
  const dd = dout.data;
  // f may return (or reuse) its own buffer, so f(x + h) is copied before f(x - h) runs.
  const plus = new Float64Array(dout.size);
  for (let i = 0; i < data.length; i++) {
    const old = data[i];
    data[i] = old + h;
    plus.set(checkOutput(f(x), dout).data);
    data[i] = old - h;
    const minus = checkOutput(f(x), dout).data;
    data[i] = old;
    // Differencing before weighting by dout keeps the cancellation per element.
    let acc = 0;
    for (let k = 0; k < dd.length; k++) acc += (plus[k] - minus[k]) * dd[k];
    grad.data[i] = acc / (2 * h);
  }
  return grad;
}

/**
 * Compares `analyticGrad` with centered differences of `f` at `numChecks` random
 * coordinates of `x` (drawn from `rng`, default the global generator), printing one line
 * per check as cs231n does:
 * `numerical: 0.123456 analytic: 0.123456, relative error: 1.234567e-09`.
 * Returns the relative errors, in the order checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./rng.ts";
 * import { Tensor } from "./tensor.ts";
 * import { gradCheckSparse } from "./gradient_check.ts";
 * const x = Tensor.fromArray([[1, 2], [3, 4]]);
 * const f = (t: Tensor) => t.square().sum().item();
 * const errors = gradCheckSparse(f, x, x.mul(2), 3, 1e-5, new Rng(0));
 * assert.ok(errors.length === 3 && Math.max(...errors) < 1e-8);
 * ```
 */
export function gradCheckSparse(
  f: (x: Tensor) => number,
  x: Tensor,
  analyticGrad: Tensor,
  numChecks = 10,
  h = 1e-5,
  rng: Rng = getGlobalRng(),
): number[] {
  checkInputs("gradCheckSparse", x, h);
  if (!(analyticGrad instanceof Tensor) || !sameShape(analyticGrad.shape, x.shape)) {
    throw new Error(
      `gradCheckSparse: analyticGrad must have the shape of x [${x.shape}], got ` +
        (analyticGrad instanceof Tensor ? `[${analyticGrad.shape}]` : `${analyticGrad}`),
    );
  }
  if (!Number.isInteger(numChecks) || numChecks < 0) {
    throw new Error(`gradCheckSparse: numChecks must be a non-negative integer, got ${numChecks}`);
  }
  if (x.size === 0 && numChecks > 0) {
    throw new Error(`gradCheckSparse: x is empty (shape [${x.shape}]), nothing to check`);
  }
  const errors: number[] = [];
  const data = x.data;
  const strides = stridesOf(x.shape);
  for (let c = 0; c < numChecks; c++) {
    // One draw per axis, like cs231n's `tuple(randrange(m) for m in x.shape)`.
    let i = 0;
    for (let d = 0; d < x.ndim; d++) i += rng.randint(0, x.shape[d]) * strides[d];
    const old = data[i];
    data[i] = old + h;
    const fPlus = checkScalar("gradCheckSparse", f(x));
    data[i] = old - h;
    const fMinus = checkScalar("gradCheckSparse", f(x));
    data[i] = old;
    const numerical = (fPlus - fMinus) / (2 * h);
    const analytic = analyticGrad.data[i];
    const error = relError(numerical, analytic);
    console.log(
      `numerical: ${numerical.toFixed(6)} analytic: ${analytic.toFixed(6)}, ` +
        `relative error: ${formatExp(error)}`,
    );
    errors.push(error);
  }
  return errors;
}

/**
 * The largest elementwise relative error `|a − b| / max(1e-8, |a| + |b|)` (the notebooks'
 * `rel_error`). Tensors must have the same shape (their dtypes may differ); a number is
 * compared with every element of a tensor. NaN anywhere gives NaN, so a check fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * import { relError } from "./gradient_check.ts";
 * assert.ok(relError(1, 1.000001) < 1e-6);
 * assert.ok(relError(Tensor.fromArray([1, 2]), Tensor.fromArray([1, 3])) === 0.2);
 * ```
 */
export function relError(a: Tensor | number, b: Tensor | number): number {
  const sizeOf = (v: Tensor | number) => (typeof v === "number" ? 1 : v.size);
  for (const [name, v] of [["a", a], ["b", b]] as const) {
    if (typeof v !== "number" && !(v instanceof Tensor)) {
      throw new Error(`relError: ${name} must be a Tensor or a number, got ${v}`);
    }
  }
  if (a instanceof Tensor && b instanceof Tensor && !sameShape(a.shape, b.shape)) {
    throw new Error(`relError: shapes differ: a [${a.shape}] vs b [${b.shape}]`);
  }
  const n = Math.max(sizeOf(a), sizeOf(b));
  if (n === 0) throw new Error("relError: cannot compare empty tensors");
  const at = (v: Tensor | number, i: number) => (typeof v === "number" ? v : v.data[i]);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const ai = at(a, i), bi = at(b, i);
    const r = Math.abs(ai - bi) / Math.max(1e-8, Math.abs(ai) + Math.abs(bi));
    // Like np.max, a NaN anywhere makes the result NaN, so no check can pass over it.
    if (r !== r) return NaN;
    if (r > worst) worst = r;
  }
  return worst;
}

function checkInputs(fn: string, x: Tensor, h: number): void {
  checkTensor(fn, "x", x);
  if (!(h > 0) || !Number.isFinite(h)) {
    throw new Error(`${fn}: h must be a positive finite step, got ${h}`);
  }
}

function checkScalar(fn: string, v: number): number {
  if (typeof v !== "number") {
    throw new Error(`${fn}: f must return a number, got ${typeof v}`);
  }
  return v;
}

function checkOutput(out: Tensor, dout: Tensor): Tensor {
  if (!(out instanceof Tensor) || !sameShape(out.shape, dout.shape)) {
    throw new Error(
      `evalNumericalGradientArray: f(x) must be a Tensor of dout's shape [${dout.shape}], got ` +
        (out instanceof Tensor ? `shape [${out.shape}]` : `${out}`),
    );
  }
  return out;
}

/** The multi-index of flat element `i`, printed like a numpy index tuple: `(0, 2)`. */
function formatIndex(shape: readonly number[], i: number): string {
  const strides = stridesOf(shape);
  const idx = strides.map((s, d) => Math.floor(i / s) % shape[d]);
  return `(${idx.join(", ")}${idx.length === 1 ? "," : ""})`;
}

/** Python's `%e`: six decimals and an exponent of at least two digits (`1.5e-07`). */
function formatExp(v: number): string {
  if (!Number.isFinite(v)) return String(v).toLowerCase().replace("infinity", "inf");
  return v.toExponential(6).replace(/e([+-])(\d)$/, (_, sign, digit) => `e${sign}0${digit}`);
}

/**
 * `Tensor`: a contiguous, row-major n-dimensional array of float32 or float64.
 *
 * Kept deliberately small: enough for the layers, losses and models of the course, each
 * operation validating its inputs and naming both shapes when they do not fit.
 *
 * @module
 */

import {
  type BackwardOptions,
  type GradNode,
  needsGrad,
  recordOp,
  runBackward,
} from "./autograd/engine.ts";
import { columnSums } from "./kernels/elementwise.ts";
import { gemm } from "./kernels/gemm.ts";
import { fillUniform, type Rng } from "./rng.ts";
import { bufferStamp, giveBack, issuedSince } from "./buffer_pool.ts";
import { allocateOutput } from "./scratch.ts";
import { allocate, checkDType, type DType, dtypeOf, type FloatArray } from "./storage.ts";

export type { DType, FloatArray } from "./storage.ts";
export type { BackwardOptions } from "./autograd/engine.ts";

/**
 * Options of the factories (`Tensor.zeros`, `ones`, `full`, `fromArray`, `randn`,
 * `rand`), which also accept a bare dtype in the same position.
 */
export interface TensorOptions {
  /** Element type (default `"float64"`, like numpy). */
  dtype?: DType;
  /** Make the new tensor a leaf that requires grad (default false). */
  requiresGrad?: boolean;
}

// Set by `Tensor`'s static block: flag a tensor whose storage went back to the pool, and
// read a tensor's storage without the released check (null once released).
let markReleased: (t: Tensor) => void;
let storageOf: (t: Tensor) => FloatArray | null;

function releasedError(t: Tensor): Error {
  return new Error(
    `Tensor.data: this [${t.shape}] tensor was an intermediate result whose memory the ` +
      "library has recycled (after the backward pass or the step that used it); keep a " +
      "clone() of it if you need it later",
  );
}

/**
 * Returns the storage of `tensors` to the buffer pool (`buffer_pool.ts`) and makes any
 * later read of their `data` throw, except storage shared with a tensor in `keep`. Only
 * storage that the pool handed out after `since` (its issue count, see `issueCount`)
 * goes back: buffers made before, or not by the library, are left alone. Each buffer
 * goes back once, however many of the tensors view it.
 *
 * The caller must own the tensors: no one else may hold them or views of their storage.
 * The autograd engine, `nn.Sequential` and the cs231n models' `loss()` call it on
 * intermediates they made and never handed out. Returns how many buffers went back.
 */
export function releaseStorage(
  tensors: Iterable<Tensor | null | undefined>,
  keep: Iterable<Tensor | null | undefined> = [],
  since = 0,
): number {
  const kept = new Set<ArrayBufferLike>();
  for (const t of keep) {
    const data = t == null ? null : storageOf(t);
    if (data !== null) kept.add(data.buffer);
  }
  // First the buffers that go back (each once), then every tensor viewing one of them,
  // in whatever order views and whole buffers came.
  const returned = new Set<ArrayBufferLike>();
  const list = [...tensors];
  for (const t of list) {
    const data = t == null ? null : storageOf(t);
    if (data === null || kept.has(data.buffer) || returned.has(data.buffer)) continue;
    if (issuedSince(data, since)) returned.add(data.buffer);
  }
  for (const t of list) {
    const data = t == null ? null : storageOf(t);
    if (data !== null && returned.has(data.buffer)) {
      markReleased(t!);
      if (issuedSince(data, since)) giveBack(data);
    }
  }
  return returned.size;
}

/** Nested JavaScript arrays of numbers, as produced by {@link Tensor.toNested}. */
export type Nested = number | Nested[];

/**
 * A contiguous row-major n-d array. Its `data` may live on a SharedArrayBuffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * const x = Tensor.arange(6).reshape([2, 3]);
 * const y = x.add(Tensor.fromArray([10, 20, 30])); // the row is broadcast
 * assert.equal(y.get(1, 2), 35);
 * assert.deepEqual(x.sum(0).toNested(), [3, 5, 7]);
 * ```
 *
 * With `requiresGrad`, operations on the tensor are recorded and `backward()` computes
 * gradients (PyTorch's autograd):
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "./tensor.ts";
 * const w = Tensor.fromArray([1, 2, 3], undefined, { requiresGrad: true });
 * const loss = w.square().sum(); // a 0-d tensor
 * loss.backward();
 * assert.deepEqual(w.grad?.toNested(), [2, 4, 6]);
 * assert.equal(loss.item(), 14);
 * ```
 */
export class Tensor {
  #data: FloatArray;
  #released = false;
  /** The buffer pool's stamp of `#data`'s buffer when this tensor was made (0: not its). */
  #stamp: number;
  /** The dimensions. */
  readonly shape: number[];
  /**
   * The gradient accumulated by `backward()` (leaves that require grad only), or `null`.
   * May be assigned directly, as in PyTorch. It may share storage with other gradients of
   * the same backward pass: treat it as read-only, or `clone()` it.
   */
  grad: Tensor | null = null;
  /**
   * The recorded operation that produced this tensor (PyTorch's `grad_fn`), or `null` for
   * a leaf. Set by the autograd engine.
   */
  gradFn: GradNode | null = null;
  #requiresGrad = false;
  #int64 = false;

  static {
    markReleased = (t) => {
      t.#released = true;
    };
    storageOf = (t) => t.#isRecycled() ? null : t.#data;
  }

  /** Wraps `data` (not copied) as a tensor of the given shape. */
  constructor(data: FloatArray, shape: readonly number[]) {
    checkShape("Tensor", shape);
    const size = shapeSize(shape);
    if (size !== data.length) {
      throw new Error(
        `Tensor: shape [${shape}] needs ${size} elements but data has ${data.length}`,
      );
    }
    this.#data = data;
    this.#stamp = bufferStamp(data.buffer);
    this.shape = [...shape];
  }

  /** Whether this tensor's memory went back to the buffer pool (through it or a view). */
  #isRecycled(): boolean {
    return this.#released || (this.#stamp !== 0 && bufferStamp(this.#data.buffer) !== this.#stamp);
  }

  /**
   * The elements in row-major order. Throws for a tensor whose storage the library has
   * recycled (see {@link releaseStorage}), or a view of such storage made with `detach`,
   * `reshape` and the like: only intermediates that user code was never handed are
   * recycled, so this is a guard, not something to handle. (A raw array read out of
   * `data` earlier cannot be guarded: copy it if you keep it.)
   */
  get data(): FloatArray {
    if (this.#isRecycled()) throw releasedError(this);
    return this.#data;
  }

  /** Element type. */
  get dtype(): DType {
    return dtypeOf(this.data);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /**
   * Whether gradients flow to this tensor: set on leaves (inputs, parameters), and true
   * for every result of a recorded operation on such tensors.
   */
  get requiresGrad(): boolean {
    return this.#requiresGrad || this.gradFn !== null;
  }

  set requiresGrad(on: boolean) {
    if (this.gradFn !== null) {
      if (on) return;
      throw new Error(
        `Tensor.requiresGrad: can only be turned off on a leaf tensor; this one was computed ` +
          `by "${this.gradFn.name}" (use detach() for a copy outside the graph)`,
      );
    }
    if (on && this.#int64) {
      throw new Error("Tensor.requiresGrad: only floating-point tensors can require grad");
    }
    this.#requiresGrad = on;
  }

  /**
   * Whether this tensor holds integers that files store as int64 (PyTorch's
   * `num_batches_tracked`): its data is a Float64Array, exact up to 2^53. See
   * {@link Tensor.int64}.
   */
  get isInt64(): boolean {
    return this.#int64;
  }

  // ---------------------------------------------------------------- autograd

  /**
   * Backpropagates from this tensor: adds `d this / d leaf` (times `gradient`) into `.grad`
   * of every leaf that requires grad, then frees the graph (unless `retainGraph`). A
   * tensor of one element needs no `gradient` (it defaults to ones); any other must be
   * given one of its shape.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Tensor } from "./tensor.ts";
   * const x = Tensor.fromArray([[1, 2], [3, 4]], undefined, { requiresGrad: true });
   * const b = Tensor.fromArray([10, 20], undefined, { requiresGrad: true });
   * x.mul(b).sum().backward(); // b is broadcast over the rows
   * assert.deepEqual(b.grad?.toNested(), [4, 6]);
   * assert.throws(() => x.mul(b).backward(), /only for scalar outputs/);
   * ```
   */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    if (!this.requiresGrad) {
      throw new Error(
        `Tensor.backward: this tensor (shape [${this.shape}]) does not require grad and has ` +
          "no gradFn: no input of the computation requires grad (set requiresGrad on the " +
          "parameters first, and do not compute the loss inside noGrad)",
      );
    }
    if (gradient === undefined) {
      if (this.size !== 1) {
        throw new Error(
          `Tensor.backward: a gradient can be implicitly created only for scalar outputs, ` +
            `but this tensor has shape [${this.shape}]; pass backward(gradient) with a ` +
            "gradient of that shape",
        );
      }
      gradient = Tensor.ones(this.shape, this.dtype);
    } else if (!(gradient instanceof Tensor) || !sameShape(gradient.shape, this.shape)) {
      throw new Error(
        `Tensor.backward: gradient must be a Tensor of shape [${this.shape}], got ` +
          `${gradient instanceof Tensor ? `shape [${gradient.shape}]` : gradient}`,
      );
    }
    runBackward(this, gradient, options, releaseStorage);
  }

  /** A tensor sharing this one's data, outside the graph (no gradFn, no requiresGrad). */
  detach(): Tensor {
    const out = new Tensor(this.data, this.shape);
    out.#int64 = this.#int64;
    return out;
  }

  /** Clears `.grad` (sets it to `null`, as PyTorch 2's `zero_grad()` does by default). */
  zeroGrad(): void {
    this.grad = null;
  }

  // ---------------------------------------------------------------- factories

  /** A tensor of zeros (default dtype float64, like numpy). */
  static zeros(shape: readonly number[], options: DType | TensorOptions = "float64"): Tensor {
    checkShape("Tensor.zeros", shape);
    const { dtype, requiresGrad } = factoryOptions("Tensor.zeros", options);
    let data: FloatArray;
    try {
      data = allocate(dtype, shapeSize(shape));
    } catch (e) {
      throw new Error(`Tensor.zeros: shape [${shape}]: ${(e as Error).message}`);
    }
    const t = new Tensor(data, shape);
    if (requiresGrad) t.requiresGrad = true;
    return t;
  }

  /** A tensor of ones. */
  static ones(shape: readonly number[], options: DType | TensorOptions = "float64"): Tensor {
    return Tensor.full(shape, 1, options);
  }

  /** A tensor filled with `value`. */
  static full(
    shape: readonly number[],
    value: number,
    options: DType | TensorOptions = "float64",
  ): Tensor {
    const t = Tensor.zeros(shape, options);
    t.data.fill(value);
    return t;
  }

  /**
   * An integer tensor that files store as int64 (PyTorch's `num_batches_tracked`, a 0-d
   * tensor). Its data is a Float64Array, exact for integers up to 2^53 in magnitude.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Tensor } from "./tensor.ts";
   * const n = Tensor.int64([7], []);
   * assert.ok(n.isInt64 && n.item() === 7 && n.ndim === 0);
   * ```
   */
  static int64(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isSafeInteger(values[i])) {
        throw new Error(`Tensor.int64: ${values[i]} is not an integer within ±2^53`);
      }
    }
    const t = Tensor.fromArray(values, shape, "float64");
    t.#int64 = true;
    return t;
  }

  /** A zero tensor with the shape and dtype of `like`. */
  static zerosLike(like: Tensor): Tensor {
    return Tensor.zeros(like.shape, like.dtype);
  }

  /**
   * Copies `values` into a new tensor; `shape` defaults to `[values.length]`.
   * Nested arrays are flattened (their shape is inferred when `shape` is omitted).
   */
  static fromArray(
    values: ArrayLike<number> | Nested[],
    shape?: readonly number[],
    options: DType | TensorOptions = "float64",
  ): Tensor {
    if (values === null || typeof values !== "object" || typeof values.length !== "number") {
      throw new Error(
        "Tensor.fromArray: values must be an array (nested for several dimensions) or a typed " +
          `array of numbers, got ${values === null ? "null" : typeof values}`,
      );
    }
    const { dtype, requiresGrad } = factoryOptions("Tensor.fromArray", options);
    let flat: ArrayLike<number> = values as ArrayLike<number>;
    let inferred = [values.length];
    if (Array.isArray(values) && values.some(Array.isArray)) {
      inferred = nestedShape(values as Nested[]);
      flat = (values as unknown[]).flat(Infinity as 1) as number[];
      if (flat.length !== shapeSize(inferred)) {
        throw new Error(`Tensor.fromArray: nested array is ragged (expected shape [${inferred}])`);
      }
    }
    const t = Tensor.zeros(shape ?? inferred, dtype);
    if (flat.length !== t.size) {
      throw new Error(
        `Tensor.fromArray: ${flat.length} values do not fill shape [${shape}] (${t.size} elements)`,
      );
    }
    for (let i = 0; i < t.size; i++) t.data[i] = flat[i];
    if (requiresGrad) t.requiresGrad = true;
    return t;
  }

  /**
   * `num` evenly spaced values from `start` to `stop` inclusive, computed exactly as
   * `numpy.linspace` does (`start + i * step`, last element set to `stop`).
   */
  static linspace(start: number, stop: number, num: number, dtype: DType = "float64"): Tensor {
    if (!Number.isInteger(num) || num < 0) {
      throw new Error(`Tensor.linspace: num must be a non-negative integer, got ${num}`);
    }
    const t = Tensor.zeros([num], dtype);
    const div = num - 1;
    const delta = stop - start;
    const step = div > 0 ? delta / div : NaN;
    for (let i = 0; i < num; i++) {
      // numpy falls back to i / div * delta when the step underflows to zero.
      t.data[i] = div === 0 ? start : step === 0 ? (i / div) * delta + start : i * step + start;
    }
    if (num > 1) t.data[num - 1] = stop;
    return t;
  }

  /**
   * Values `start, start+step, ...` below `stop` (numpy's `arange`); `arange(n)` is 0..n-1.
   */
  static arange(start: number, stop?: number, step = 1, dtype: DType = "float64"): Tensor {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0 || !Number.isFinite(step)) {
      throw new Error(`Tensor.arange: step must be finite and non-zero, got ${step}`);
    }
    const n = Math.max(0, Math.ceil((stop - start) / step));
    const t = Tensor.zeros([n], dtype);
    // numpy fills with start + i * ((start + step) - start).
    const delta = (start + step) - start;
    for (let i = 0; i < n; i++) t.data[i] = start + i * delta;
    return t;
  }

  /** Standard-normal samples drawn from `rng`. */
  static randn(
    shape: readonly number[],
    rng: Rng,
    options: DType | TensorOptions = "float64",
  ): Tensor {
    const t = Tensor.zeros(shape, options);
    for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
    return t;
  }

  /** Uniform samples in [0, 1) drawn from `rng`. */
  static rand(
    shape: readonly number[],
    rng: Rng,
    options: DType | TensorOptions = "float64",
  ): Tensor {
    const t = Tensor.zeros(shape, options);
    if (t.data instanceof Float64Array) fillUniform(rng, t.data);
    else for (let i = 0; i < t.size; i++) t.data[i] = rng.random();
    return t;
  }

  // ---------------------------------------------------------------- shape

  /** Same data, new shape (one `-1` is inferred). Shares storage with `this`. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = [...shape];
    const free = resolved.indexOf(-1);
    if (free !== resolved.lastIndexOf(-1)) {
      throw new Error(`Tensor.reshape: only one -1 allowed, got [${shape}]`);
    }
    if (free >= 0) {
      const rest = shapeSize(resolved.filter((_, i) => i !== free));
      if (rest === 0 || this.size % rest !== 0) {
        throw new Error(`Tensor.reshape: cannot reshape [${this.shape}] into [${shape}]`);
      }
      resolved[free] = this.size / rest;
    }
    checkShape("Tensor.reshape", resolved);
    if (shapeSize(resolved) !== this.size) {
      throw new Error(
        `Tensor.reshape: cannot reshape [${this.shape}] (${this.size} elements) into [${shape}]`,
      );
    }
    const out = new Tensor(this.data, resolved);
    out.#int64 = this.#int64;
    if (needsGrad(this)) recordOp(out, "reshape", [this], (g) => [g.reshape(this.shape)]);
    return out;
  }

  /** Permutes the axes (default: reversed), copying into a new contiguous tensor. */
  transpose(axes?: readonly number[]): Tensor {
    const nd = this.ndim;
    const perm = axes ? [...axes] : this.shape.map((_, i) => nd - 1 - i);
    if (perm.length !== nd || [...perm].sort((a, b) => a - b).some((a, i) => a !== i)) {
      throw new Error(`Tensor.transpose: axes [${axes}] are not a permutation of 0..${nd - 1}`);
    }
    const outShape = perm.map((a) => this.shape[a]);
    const out = Tensor.zeros(outShape, this.dtype);
    const inStrides = stridesOf(this.shape);
    const srcStrides = perm.map((a) => inStrides[a]);
    const idx = new Array(nd).fill(0);
    let src = 0;
    for (let o = 0; o < out.size; o++) {
      out.data[o] = this.data[src];
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]++;
        src += srcStrides[d];
        if (idx[d] < outShape[d]) break;
        src -= srcStrides[d] * outShape[d];
        idx[d] = 0;
      }
    }
    if (needsGrad(this)) {
      const inverse = new Array(nd);
      perm.forEach((a, i) => inverse[a] = i);
      recordOp(out, "transpose", [this], (g) => [g.transpose(inverse)]);
    }
    return out;
  }

  /** A copy with its own storage (recorded: gradients flow through it). */
  clone(): Tensor {
    const out = Tensor.zeros(this.shape, this.dtype);
    out.data.set(this.data);
    out.#int64 = this.#int64;
    if (needsGrad(this)) recordOp(out, "clone", [this], (g) => [g]);
    return out;
  }

  /** A copy converted to `dtype` (a copy even when the dtype is unchanged, like numpy). */
  astype(dtype: DType): Tensor {
    const out = Tensor.zeros(this.shape, checkDType("Tensor.astype", dtype));
    out.data.set(this.data);
    if (needsGrad(this)) recordOp(out, "astype", [this], (g) => [g.astype(this.dtype)]);
    return out;
  }

  /** The element at the given indices (negative indices count from the end). */
  get(...idx: number[]): number {
    return this.data[this.#offset("Tensor.get", idx)];
  }

  /** Sets the element at the given indices. */
  set(value: number, ...idx: number[]): void {
    this.data[this.#offset("Tensor.set", idx)] = value;
  }

  /** The single element of a size-1 tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new Error(`Tensor.item: tensor has shape [${this.shape}], not 1 element`);
    }
    return this.data[0];
  }

  /** Nested JavaScript arrays (a number for a 0-d tensor). */
  toNested(): Nested {
    if (this.ndim === 0) return this.data[0];
    const build = (dim: number, offset: number, stride: number[]): Nested[] => {
      const out: Nested[] = [];
      for (let i = 0; i < this.shape[dim]; i++) {
        const o = offset + i * stride[dim];
        out.push(dim === this.ndim - 1 ? this.data[o] : build(dim + 1, o, stride));
      }
      return out;
    };
    return build(0, 0, stridesOf(this.shape));
  }

  /** Rows [start, end) along axis 0, as a view that shares storage. */
  sliceRows(start: number, end: number): Tensor {
    const n = this.shape[0];
    if (this.ndim === 0 || !(0 <= start && start <= end && end <= n)) {
      throw new Error(`Tensor.sliceRows: need 0 ≤ start ≤ end ≤ ${n}, got [${start}, ${end})`);
    }
    const row = this.size / Math.max(n, 1);
    return new Tensor(this.data.subarray(start * row, end * row), [
      end - start,
      ...this.shape.slice(1),
    ]);
  }

  /** The rows at `indices` along axis 0, copied (numpy's `x[indices]`). */
  take(indices: ArrayLike<number>): Tensor {
    const n = this.shape[0];
    const row = n === 0 ? 0 : this.size / n;
    const out = Tensor.zeros([indices.length, ...this.shape.slice(1)], this.dtype);
    for (let i = 0; i < indices.length; i++) {
      const r = indices[i];
      if (!Number.isInteger(r) || r < 0 || r >= n) {
        throw new Error(`Tensor.take: index ${r} out of range for axis 0 of size ${n}`);
      }
      out.data.set(this.data.subarray(r * row, (r + 1) * row), i * row);
    }
    return out;
  }

  // ---------------------------------------------------------------- elementwise

  /** `this + other`, with numpy broadcasting. */
  add(other: Tensor | number): Tensor {
    const out = binary("add", this, other, (a, b) => a + b);
    if (binaryNeedsGrad(this, other)) {
      recordBinary(out, "add", this, other, (g) => g, (g) => g);
    }
    return out;
  }

  /** `this - other`, with numpy broadcasting. */
  sub(other: Tensor | number): Tensor {
    const out = binary("sub", this, other, (a, b) => a - b);
    if (binaryNeedsGrad(this, other)) {
      recordBinary(out, "sub", this, other, (g) => g, (g) => g.neg());
    }
    return out;
  }

  /** `this * other`, with numpy broadcasting. */
  mul(other: Tensor | number): Tensor {
    const out = binary("mul", this, other, (a, b) => a * b);
    if (binaryNeedsGrad(this, other)) {
      recordBinary(out, "mul", this, other, (g) => g.mul(other), (g) => g.mul(this));
    }
    return out;
  }

  /** `this / other`, with numpy broadcasting. */
  div(other: Tensor | number): Tensor {
    const out = binary("div", this, other, (a, b) => a / b);
    if (binaryNeedsGrad(this, other)) {
      recordBinary(
        out,
        "div",
        this,
        other,
        (g) => g.div(other),
        (g) => g.mul(this).div((other as Tensor).square()).neg(),
      );
    }
    return out;
  }

  /**
   * `this ** exponent` elementwise (a number, or a tensor with numpy broadcasting).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Tensor } from "./tensor.ts";
   * const x = Tensor.fromArray([1, 2, 3], undefined, { requiresGrad: true });
   * x.pow(3).sum().backward();
   * assert.deepEqual(x.grad?.toNested(), [3, 12, 27]); // 3x²
   * ```
   */
  pow(exponent: Tensor | number): Tensor {
    const out = binary("pow", this, exponent, (a, b) => a ** b);
    if (binaryNeedsGrad(this, exponent)) {
      recordBinary(
        out,
        "pow",
        this,
        exponent,
        (g) =>
          typeof exponent === "number"
            ? g.mul(this.pow(exponent - 1).mul(exponent))
            : g.mul(exponent).mul(this.pow(exponent.sub(1))),
        (g) => g.mul(out).mul(this.log()),
      );
    }
    return out;
  }

  /** Elementwise maximum, with numpy broadcasting. */
  maximum(other: Tensor | number): Tensor {
    return binary("maximum", this, other, (a, b) => (a > b || Number.isNaN(a) ? a : b));
  }

  /** Elementwise minimum, with numpy broadcasting. */
  minimum(other: Tensor | number): Tensor {
    return binary("minimum", this, other, (a, b) => (a < b || Number.isNaN(a) ? a : b));
  }

  /** `f` applied to every element, into a new tensor of the same dtype. */
  map(f: (v: number, i: number) => number): Tensor {
    const out = Tensor.zeros(this.shape, this.dtype);
    for (let i = 0; i < this.size; i++) out.data[i] = f(this.data[i], i);
    return out;
  }

  /** `-this`. */
  neg(): Tensor {
    return unary(this, "neg", (v) => -v, (g) => g.neg());
  }

  /** Elementwise `e^x`. */
  exp(): Tensor {
    return unary(this, "exp", Math.exp, (g, out) => g.mul(out));
  }

  /** Elementwise natural logarithm. */
  log(): Tensor {
    return unary(this, "log", Math.log, (g) => g.div(this));
  }

  /** Elementwise square root. */
  sqrt(): Tensor {
    return unary(this, "sqrt", Math.sqrt, (g, out) => g.div(out.mul(2)));
  }

  /** Elementwise absolute value (its gradient at 0 is 0, as in PyTorch). */
  abs(): Tensor {
    return unary(this, "abs", Math.abs, (g) => g.mul(this.map(Math.sign)));
  }

  /** Elementwise square. */
  square(): Tensor {
    return unary(this, "square", (v) => v * v, (g) => g.mul(this.mul(2)));
  }

  // ---------------------------------------------------------------- reductions

  /** Sum of all elements, or along `axis` (the axis is removed unless `keepDims`). */
  sum(axis?: number, keepDims = false): Tensor {
    const out = reduce("sum", this, axis, keepDims, 0, (acc, v) => acc + v);
    if (needsGrad(this)) {
      // Put the reduced axis back as size 1, then broadcast over it.
      const kept = axis === undefined
        ? this.shape.map(() => 1)
        : this.shape.map((d, i) => (i === normAxis("sum", this, axis) ? 1 : d));
      recordOp(
        out,
        "sum",
        [this],
        (g) => [Tensor.zeros(this.shape, this.dtype).add(g.reshape(kept))],
      );
    }
    return out;
  }

  /** Mean of all elements, or along `axis`. */
  mean(axis?: number, keepDims = false): Tensor {
    const n = axis === undefined ? this.size : this.shape[normAxis("mean", this, axis)];
    return this.sum(axis, keepDims).div(n);
  }

  /** Maximum of all elements, or along `axis`. */
  max(axis?: number, keepDims = false): Tensor {
    if (this.size === 0) throw new Error(`Tensor.max: empty tensor of shape [${this.shape}]`);
    return reduce(
      "max",
      this,
      axis,
      keepDims,
      -Infinity,
      (acc, v) => (v > acc || Number.isNaN(v) ? v : acc),
    );
  }

  /** Minimum of all elements, or along `axis`. */
  min(axis?: number, keepDims = false): Tensor {
    if (this.size === 0) throw new Error(`Tensor.min: empty tensor of shape [${this.shape}]`);
    return reduce(
      "min",
      this,
      axis,
      keepDims,
      Infinity,
      (acc, v) => (v < acc || Number.isNaN(v) ? v : acc),
    );
  }

  /**
   * Index of the largest element along `axis` (first one on ties, like numpy), as an
   * `Int32Array` in row-major order of the remaining axes; without `axis`, of the
   * flattened tensor.
   */
  argmax(axis?: number): Int32Array {
    if (this.size === 0) throw new Error(`Tensor.argmax: empty tensor of shape [${this.shape}]`);
    if (axis === undefined) {
      let best = 0;
      for (let i = 1; i < this.size; i++) if (this.data[i] > this.data[best]) best = i;
      return Int32Array.of(best);
    }
    const ax = normAxis("argmax", this, axis);
    const [outer, n, inner] = splitAt(this.shape, ax);
    const out = new Int32Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        let best = 0;
        let bestV = this.data[base];
        for (let k = 1; k < n; k++) {
          const v = this.data[base + k * inner];
          if (v > bestV) {
            bestV = v;
            best = k;
          }
        }
        out[o * inner + i] = best;
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- linear algebra

  /** Matrix product of two 2-d tensors of the same dtype, through the GEMM kernel. */
  matmul(other: Tensor): Tensor {
    if (this.ndim !== 2 || other.ndim !== 2 || this.shape[1] !== other.shape[0]) {
      throw new Error(
        `Tensor.matmul: shapes [${this.shape}] and [${other.shape}] do not fit (need (M,K)·(K,N))`,
      );
    }
    checkSameDType("matmul", this, other);
    const [M, K] = this.shape;
    const N = other.shape[1];
    // From the buffer pool (see allocateOutput); GEMM with beta 0 writes every element.
    const out = new Tensor(allocateOutput(this.dtype, M * N, false), [M, N]);
    gemm(
      false,
      false,
      M,
      N,
      K,
      1,
      this.data,
      Math.max(K, 1),
      other.data,
      Math.max(N, 1),
      0,
      out.data,
      Math.max(N, 1),
    );
    if (needsGrad(this, other)) {
      recordOp(out, "matmul", [this, other], (g) => [
        this.requiresGrad ? matmulTransposed(g, other, false, true) : null,
        other.requiresGrad ? matmulTransposed(this, g, true, false) : null,
      ]);
    }
    return out;
  }

  #offset(fn: string, idx: number[]): number {
    if (idx.length !== this.ndim) {
      throw new Error(
        `${fn}: got ${idx.length} indices for a ${this.ndim}-d tensor of shape [${this.shape}]`,
      );
    }
    let off = 0;
    for (let d = 0; d < idx.length; d++) {
      let i = idx[d];
      if (i < 0) i += this.shape[d];
      if (!Number.isInteger(i) || i < 0 || i >= this.shape[d]) {
        throw new Error(
          `${fn}: index ${idx[d]} out of range for axis ${d} of size ${this.shape[d]}`,
        );
      }
      off = off * this.shape[d] + i;
    }
    return off;
  }
}

// ------------------------------------------------------------------ helpers

function factoryOptions(fn: string, options: DType | TensorOptions): Required<TensorOptions> {
  if (typeof options === "string") return { dtype: checkDType(fn, options), requiresGrad: false };
  if (options === null || typeof options !== "object") {
    throw new Error(`${fn}: expected a dtype or { dtype, requiresGrad }, got ${options}`);
  }
  return {
    dtype: checkDType(fn, options.dtype ?? "float64"),
    requiresGrad: options.requiresGrad ?? false,
  };
}

function binaryNeedsGrad(a: Tensor, other: Tensor | number): boolean {
  return typeof other === "number" ? needsGrad(a) : needsGrad(a, other);
}

/**
 * Records a broadcasting binary op: `ga`/`gb` give the gradients at the broadcast shape,
 * which are then summed back to each input's own shape.
 */
function recordBinary(
  out: Tensor,
  name: string,
  a: Tensor,
  b: Tensor | number,
  ga: (g: Tensor) => Tensor,
  gb: (g: Tensor) => Tensor,
): void {
  if (typeof b === "number") {
    recordOp(out, name, [a], (g) => [ga(g)]);
    return;
  }
  recordOp(out, name, [a, b], (g) => [
    a.requiresGrad ? sumToShape(ga(g), a.shape) : null,
    b.requiresGrad ? sumToShape(gb(g), b.shape) : null,
  ]);
}

/** An elementwise op `f`, recorded with `backward(g, out)` when its input requires grad. */
function unary(
  x: Tensor,
  name: string,
  f: (v: number) => number,
  backward: (g: Tensor, out: Tensor) => Tensor,
): Tensor {
  const out = x.map(f);
  if (needsGrad(x)) recordOp(out, name, [x], (g) => [backward(g, out)]);
  return out;
}

/** `op(a) · op(b)` for 2-d tensors, transposes read in place by GEMM. */
function matmulTransposed(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const M = transA ? a.shape[1] : a.shape[0];
  const K = transA ? a.shape[0] : a.shape[1];
  const N = transB ? b.shape[0] : b.shape[1];
  // From the buffer pool (see allocateOutput); GEMM with beta 0 writes every element.
  const out = new Tensor(allocateOutput(a.dtype, M * N, false), [M, N]);
  const lda = Math.max(a.shape[1], 1), ldb = Math.max(b.shape[1], 1);
  gemm(transA, transB, M, N, K, 1, a.data, lda, b.data, ldb, 0, out.data, Math.max(N, 1));
  return out;
}

/**
 * Sums `t` down to `shape`, a shape that broadcasts to `t.shape`: the gradient of a
 * broadcast input is the sum over the positions it was repeated at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sumToShape, Tensor } from "./tensor.ts";
 * const g = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
 * assert.deepEqual(sumToShape(g, [3]).toNested(), [5, 7, 9]);
 * assert.deepEqual(sumToShape(g, [2, 1]).toNested(), [[6], [15]]);
 * ```
 */
export function sumToShape(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  broadcastShapes("sumToShape", shape, t.shape);
  const out = Tensor.zeros(shape, t.dtype);
  const trailing = trimLeadingOnes(shape);
  const m = shapeSize(trailing);
  if (m > 0 && sameShape(trailing, t.shape.slice(t.ndim - trailing.length))) {
    // A bias-like shape: one column sum per element of `shape` (the common case).
    columnSums(t.data, t.size / m, m, out.data);
    return out;
  }
  const nd = t.ndim;
  const strides = broadcastStrides(shape, t.shape);
  const idx = new Array(nd).fill(0);
  let o = 0;
  const od = out.data, td = t.data;
  for (let i = 0; i < td.length; i++) {
    od[o] += td[i];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      o += strides[d];
      if (idx[d] < t.shape[d]) break;
      o -= strides[d] * t.shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Product of the dimensions (1 for a 0-d shape). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Row-major strides (in elements) of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

/** Throws unless `a` and `b` have the same dtype, naming the op and both. */
export function checkSameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new Error(`${op}: dtypes differ: ${a.dtype} [${a.shape}] vs ${b.dtype} [${b.shape}]`);
  }
}

function checkShape(fn: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${fn}: shape must be non-negative integers, got [${shape}]`);
  }
}

function nestedShape(values: Nested[]): number[] {
  const shape = [values.length];
  let v: Nested = values[0];
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function normAxis(op: string, t: Tensor, axis: number): number {
  const a = axis < 0 ? axis + t.ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= t.ndim) {
    throw new Error(`Tensor.${op}: axis ${axis} out of range for shape [${t.shape}]`);
  }
  return a;
}

/** [product of dims before axis, dim at axis, product of dims after axis]. */
function splitAt(shape: readonly number[], axis: number): [number, number, number] {
  return [shapeSize(shape.slice(0, axis)), shape[axis], shapeSize(shape.slice(axis + 1))];
}

function reduce(
  op: string,
  t: Tensor,
  axis: number | undefined,
  keepDims: boolean,
  init: number,
  f: (acc: number, v: number) => number,
): Tensor {
  if (axis === undefined) {
    let acc = init;
    for (let i = 0; i < t.size; i++) acc = f(acc, t.data[i]);
    const out = Tensor.zeros(keepDims ? t.shape.map(() => 1) : [], t.dtype);
    out.data[0] = acc;
    return out;
  }
  const ax = normAxis(op, t, axis);
  const [outer, n, inner] = splitAt(t.shape, ax);
  const outShape = keepDims
    ? t.shape.map((d, i) => (i === ax ? 1 : d))
    : t.shape.filter((_, i) => i !== ax);
  const out = Tensor.zeros(outShape, t.dtype);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = init;
      const base = o * n * inner + i;
      for (let k = 0; k < n; k++) acc = f(acc, t.data[base + k * inner]);
      out.data[o * inner + i] = acc;
    }
  }
  return out;
}

/** The numpy broadcast of two shapes, or an Error naming the op and both shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const nd = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    const da = a[a.length - nd + i] ?? 1;
    const db = b[b.length - nd + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`Tensor.${op}: shapes [${a}] and [${b}] cannot be broadcast together`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function binary(
  op: string,
  a: Tensor,
  other: Tensor | number,
  f: (x: number, y: number) => number,
): Tensor {
  if (typeof other === "number") {
    const out = Tensor.zeros(a.shape, a.dtype);
    for (let i = 0; i < a.size; i++) out.data[i] = f(a.data[i], other);
    return out;
  }
  checkSameDType(op, a, other);
  const shape = broadcastShapes(op, a.shape, other.shape);
  const out = Tensor.zeros(shape, a.dtype);
  const ad = a.data, bd = other.data, od = out.data;
  if (sameShape(a.shape, other.shape)) {
    for (let i = 0; i < od.length; i++) od[i] = f(ad[i], bd[i]);
    return out;
  }
  // Fast path: `other` covers the trailing dims of `a` (a bias or per-feature statistic).
  if (
    sameShape(shape, a.shape) && other.size > 0 && a.size % other.size === 0 &&
    sameShape(
      trimLeadingOnes(other.shape),
      a.shape.slice(a.ndim - trimLeadingOnes(other.shape).length),
    )
  ) {
    const m = other.size;
    for (let i = 0; i < od.length; i++) od[i] = f(ad[i], bd[i % m]);
    return out;
  }
  const nd = shape.length;
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(other.shape, shape);
  const idx = new Array(nd).fill(0);
  let ia = 0, ib = 0;
  for (let o = 0; o < od.length; o++) {
    od[o] = f(ad[ia], bd[ib]);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < shape[d]) break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function trimLeadingOnes(shape: readonly number[]): number[] {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  return shape.slice(i);
}

/** Strides of `shape` aligned to `outShape`, with 0 on broadcast dimensions. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

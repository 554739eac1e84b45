/**
 * The small loops the fully-connected layers need besides GEMM: copying a bias into every
 * row, summing columns, the ReLU and its mask, and the two reductions the L2 penalty uses.
 *
 * They work on raw typed arrays (either dtype, in any mix) so that the layers can write
 * straight into freshly allocated outputs without temporary tensors. Reductions accumulate
 * in double precision whatever the storage type: a float32 sum over a 59,000-image epoch's
 * worth of terms would otherwise drift visibly.
 *
 * The ReLU and its mask run on every layer of a network, and on activations of random
 * sign their JavaScript loops mispredict a branch per element (~5 ns per element,
 * measured): arrays of a few hundred elements or more go through branch-free WebAssembly
 * SIMD kernels instead (`wasm/elementwise_module.ts`, ~0.3 ns per element including the
 * copies in and out of WebAssembly memory), with identical results. Large ones whose
 * operands are all on shared memory (the buffer pool's recycled activations are) are cut
 * into fixed blocks shared out over the worker pool; an element's result does not depend
 * on the split, so any thread count gives the same bits.
 *
 * @module
 */

import { needLength } from "./_checks.ts";
import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { dtypeOf, type FloatArray, isShared } from "../storage.ts";
import { streamThrough, WASM_MIN_LENGTH } from "./_stream.ts";
import { layerKernels } from "./wasm/layer_kernels.ts";

/**
 * Elements per task when an elementwise pass is split over the pool, and the fewest
 * elements worth splitting: below that, one thread is quicker than waking the workers.
 */
const PARALLEL_BLOCK = 1 << 16;
const PARALLEL_MIN_ELEMENTS = 1 << 18;

/** Whether an elementwise pass over `n` elements of these arrays goes to the pool. */
function splitOverPool(n: number, operands: FloatArray[]): boolean {
  return n >= PARALLEL_MIN_ELEMENTS && operands.every(isShared) &&
    useParallel(Math.ceil(n / PARALLEL_BLOCK));
}

/** The element range of tasks [t0, t1) of a split pass over `n` elements. */
function blockRange(t0: number, t1: number, n: number): [number, number] {
  return [t0 * PARALLEL_BLOCK, Math.min(n, t1 * PARALLEL_BLOCK)];
}

registerWorkerModule(import.meta.url);
registerJob("elementwise.relu", (a: { x: FloatArray; out: FloatArray }, t0: number, t1: number) => {
  const [i0, i1] = blockRange(t0, t1, a.x.length);
  reluSerial(a.x.subarray(i0, i1), a.out.subarray(i0, i1));
});
registerJob(
  "elementwise.reluMask",
  (a: { dout: FloatArray; x: FloatArray; dx: FloatArray }, t0: number, t1: number) => {
    const [i0, i1] = blockRange(t0, t1, a.x.length);
    reluMaskSerial(a.dout.subarray(i0, i1), a.x.subarray(i0, i1), a.dx.subarray(i0, i1));
  },
);

/**
 * Writes `row` (its first `cols` elements) into each of the `rows` rows of `out`
 * (row-major, `rows × cols`). Used to seed an affine output with its bias, so that GEMM can
 * then accumulate `x·w` on top with `beta = 1` instead of needing a second pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { broadcastRows } from "./elementwise.ts";
 * const out = new Float64Array(6);
 * broadcastRows(new Float64Array([1, 2, 3]), out, 2, 3);
 * assert.ok(out.join() === "1,2,3,1,2,3");
 * ```
 */
export function broadcastRows(row: FloatArray, out: FloatArray, rows: number, cols: number): void {
  needLength("broadcastRows", "row", row, cols);
  needLength("broadcastRows", "out", out, rows * cols);
  const src = row.length === cols ? row : row.subarray(0, cols);
  // TypedArray.set is a memcpy when the element types match, and converts otherwise.
  for (let i = 0; i < rows; i++) out.set(src, i * cols);
}

/**
 * `out[j] = Σ_i src[i * cols + j]` for a row-major `rows × cols` matrix (numpy's
 * `src.sum(axis=0)`), accumulated in float64 and then stored in `out`'s type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { columnSums } from "./elementwise.ts";
 * const out = new Float64Array(2);
 * columnSums(new Float64Array([1, 2, 3, 4, 5, 6]), 3, 2, out);
 * assert.ok(out.join() === "9,12");
 * ```
 */
export function columnSums(src: FloatArray, rows: number, cols: number, out: FloatArray): void {
  needLength("columnSums", "src", src, rows * cols);
  needLength("columnSums", "out", out, cols);
  // Row-by-row keeps the reads sequential; the float64 accumulators live in a reused scratch
  // buffer rather than `out` itself so that float32 outputs are rounded only once.
  if (columnScratch.length < cols) columnScratch = new Float64Array(cols);
  const acc = columnScratch;
  acc.fill(0, 0, cols);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < cols; j++) acc[j] += src[base + j];
  }
  for (let j = 0; j < cols; j++) out[j] = acc[j];
}

let columnScratch = new Float64Array(1024);

/**
 * `out[i] = max(0, x[i])` for the first `x.length` elements. NaN stays NaN (as with
 * `np.maximum`) so that a diverging network is not silently masked by its activations.
 * Long arrays of one dtype take the WebAssembly kernel, others {@link reluJs}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relu } from "./elementwise.ts";
 * const out = new Float64Array(3);
 * relu(new Float64Array([-1, 0.5, 2]), out);
 * assert.ok(out.join() === "0,0.5,2");
 * ```
 */
export function relu(x: FloatArray, out: FloatArray): void {
  const n = x.length;
  needLength("relu", "out", out, n);
  if (splitOverPool(n, [x, out])) {
    getPool().run(
      "elementwise.relu",
      { x, out: out.subarray(0, n) },
      Math.ceil(n / PARALLEL_BLOCK),
    );
  } else {
    reluSerial(x, out);
  }
}

/** {@link relu} on the calling thread. */
function reluSerial(x: FloatArray, out: FloatArray): void {
  const n = x.length;
  const dtype = dtypeOf(x);
  const wasm = n >= WASM_MIN_LENGTH && dtypeOf(out) === dtype ? layerKernels() : null;
  if (wasm === null) {
    reluJs(x, out);
    return;
  }
  const kernel = dtype === "float32" ? wasm.exports.f32_relu : wasm.exports.f64_relu;
  streamThrough(wasm, dtype, n, [x], [[0, out]], ([at], count) => kernel(at, at, count));
}

/** {@link relu} in JavaScript: the fallback, and the readable version. */
export function reluJs(x: FloatArray, out: FloatArray): void {
  const n = x.length;
  needLength("reluJs", "out", out, n);
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v > 0 || v !== v ? v : 0;
  }
}

/**
 * The ReLU backward pass: `dx[i] = dout[i] * (x[i] > 0)`. Written as a product rather than
 * a select so that a NaN or infinite upstream gradient propagates exactly as in numpy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reluMask } from "./elementwise.ts";
 * const dx = new Float64Array(3);
 * reluMask(new Float64Array([5, 6, 7]), new Float64Array([-1, 0, 2]), dx);
 * assert.ok(dx.join() === "0,0,7");
 * ```
 */
export function reluMask(dout: FloatArray, x: FloatArray, dx: FloatArray): void {
  const n = x.length;
  needLength("reluMask", "dout", dout, n);
  needLength("reluMask", "dx", dx, n);
  if (splitOverPool(n, [dout, x, dx])) {
    const job = { dout: dout.subarray(0, n), x, dx: dx.subarray(0, n) };
    getPool().run("elementwise.reluMask", job, Math.ceil(n / PARALLEL_BLOCK));
  } else {
    reluMaskSerial(dout, x, dx);
  }
}

/** {@link reluMask} on the calling thread. */
function reluMaskSerial(dout: FloatArray, x: FloatArray, dx: FloatArray): void {
  const n = x.length;
  const dtype = dtypeOf(x);
  const wasm = n >= WASM_MIN_LENGTH && dtypeOf(dout) === dtype && dtypeOf(dx) === dtype
    ? layerKernels()
    : null;
  if (wasm === null) {
    reluMaskJs(dout, x, dx);
    return;
  }
  const kernel = dtype === "float32" ? wasm.exports.f32_reluMask : wasm.exports.f64_reluMask;
  const inputs = [dout.length === n ? dout : dout.subarray(0, n), x];
  streamThrough(wasm, dtype, n, inputs, [[0, dx]], ([d, v], count) => kernel(d, v, d, count));
}

/** {@link reluMask} in JavaScript: the fallback, and the readable version. */
export function reluMaskJs(dout: FloatArray, x: FloatArray, dx: FloatArray): void {
  const n = x.length;
  needLength("reluMaskJs", "dout", dout, n);
  needLength("reluMaskJs", "dx", dx, n);
  for (let i = 0; i < n; i++) dx[i] = dout[i] * (x[i] > 0 ? 1 : 0);
}

/**
 * `out[r] = Σ_j m[r·cols + j]` for a row-major `rows × cols` matrix, summed in float64 (the
 * bias gradient of a convolution: one row per filter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowSums } from "./elementwise.ts";
 * const out = new Float64Array(2);
 * rowSums(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3, out);
 * assert.deepEqual([...out], [6, 15]);
 * ```
 */
export function rowSums(m: FloatArray, rows: number, cols: number, out: Float64Array): void {
  needLength("rowSums", "m", m, rows * cols);
  needLength("rowSums", "out", out as FloatArray, rows);
  for (let r = 0; r < rows; r++) {
    out[r] = m instanceof Float32Array
      ? sumF32(m, r * cols, (r + 1) * cols)
      : sumF64(m as Float64Array, r * cols, (r + 1) * cols);
  }
}

// Four running sums instead of one: a single accumulator makes every addition wait for the
// previous one (measured 3.3 ns per element here), four independent chains run 7× faster.
// The order is fixed, so the result does not depend on anything but the data.

function sumF32(a: Float32Array, start: number, end: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = start;
  for (; i + 3 < end; i += 4) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
  }
  for (; i < end; i++) s0 += a[i];
  return (s0 + s1) + (s2 + s3);
}

function sumF64(a: Float64Array, start: number, end: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = start;
  for (; i + 3 < end; i += 4) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
  }
  for (; i < end; i++) s0 += a[i];
  return (s0 + s1) + (s2 + s3);
}

/**
 * `Σ a[i]²`, accumulated in float64 (the L2 penalty `0.5 * reg * ΣW²`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sumOfSquares } from "./elementwise.ts";
 * assert.ok(sumOfSquares(new Float32Array([1, -2, 3])) === 14);
 * ```
 */
export function sumOfSquares(a: FloatArray): number {
  let acc = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) acc += a[i] * a[i];
  return acc;
}

/**
 * `y[i] += alpha * x[i]` in place (BLAS `axpy`): adds the L2 term `reg * W` to a weight
 * gradient that the backward pass has just allocated, without a temporary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { axpy } from "./elementwise.ts";
 * const y = new Float64Array([1, 1]);
 * axpy(2, new Float64Array([3, 4]), y);
 * assert.ok(y.join() === "7,9");
 * ```
 */
export function axpy(alpha: number, x: FloatArray, y: FloatArray): void {
  const n = x.length;
  needLength("axpy", "y", y, n);
  for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}

/**
 * `KNearestNeighbor`, cs231n `k_nearest_neighbor.py`: a classifier that remembers the
 * training set and labels a test example by a majority vote of its k nearest training
 * examples in Euclidean (L2) distance.
 *
 * The three distance versions of the notebook are here side by side. The no-loop version
 * expands `‖x − y‖² = ‖x‖² + ‖y‖² − 2·x·y` so that the bulk of the work is one matrix
 * product, computed by the GEMM kernel on every thread of the worker pool. `predict` runs
 * it block by block: a block of test rows gets its distances to all training rows, each
 * row keeps only its k nearest, and the block buffer is reused, so memory stays bounded
 * (the full float64 matrix for Fashion-MNIST, 10,000 × 59,000, would be 4.7 GB).
 *
 * @module
 */

import { gemm } from "../kernels/gemm.ts";
import { gemmParallel } from "../kernels/gemm_parallel.ts";
import { allocate, type FloatArray } from "../storage.ts";
import { Tensor } from "../tensor.ts";
import { checkInt, checkOptionKeys } from "../checks.ts";
import { cast, checkLabels, checkMatrix } from "./_check.ts";

/** Options of {@link KNearestNeighbor.predict}. */
export interface KnnPredictOptions {
  /** Number of neighbours that vote (default 1). */
  k?: number;
  /**
   * Which distance version to use: 0 (default) the blocked no-loop version, 1 or 2 the
   * one-loop or two-loop version on the whole test set at once (as in the notebook).
   */
  numLoops?: 0 | 1 | 2;
  /**
   * Test rows per block of the no-loop version (default: as many as fit in 2²⁴ distance
   * elements, e.g. 284 rows against 59,000 training examples).
   */
  blockSize?: number;
  /** Called after each block with the rows done and the total (progress, memory probes). */
  onBlock?: (done: number, total: number) => void;
}

const PREDICT_OPTIONS = ["k", "numLoops", "blockSize", "onBlock"] as const;

/** Distance elements per block of {@link KNearestNeighbor.predict} by default. */
const BLOCK_ELEMENTS = 1 << 24;

/**
 * A k-nearest-neighbour classifier with L2 distance.
 *
 * Distances have the dtype of the test examples `X`. A test row whose nearest neighbours
 * are tied in distance keeps the training examples that come first (a stable sort), and a
 * tied vote goes to the smallest label, as numpy's `argmax(bincount(...))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { KNearestNeighbor } from "./knn.ts";
 * const knn = new KNearestNeighbor();
 * knn.train(Tensor.fromArray([[0, 0], [0, 1], [5, 5], [6, 5]]), [0, 0, 1, 1]);
 * const X = Tensor.fromArray([[0.2, 0.4], [5.5, 4.8]]);
 * assert.deepEqual([...knn.predict(X, { k: 1 })], [0, 1]);
 * assert.equal(knn.computeDistancesNoLoops(X).get(0, 0), Math.sqrt(0.2 ** 2 + 0.4 ** 2));
 * ```
 */
export class KNearestNeighbor {
  /** The training examples `(N, D)`, null before {@link KNearestNeighbor.train}. */
  XTrain: Tensor | null = null;
  /** The training labels, null before {@link KNearestNeighbor.train}. */
  yTrain: Int32Array | null = null;
  /** `max(yTrain) + 1`. */
  numClasses = 0;
  /** ‖y‖² of every training row, in float64. */
  #trainNorms: Float64Array = new Float64Array(0);
  /**
   * The block buffer of {@link KNearestNeighbor.predict}, kept between calls: a fresh
   * 67 MB SharedArrayBuffer per call left the process ~90 MB larger after each one until
   * the garbage collector caught up (measured in bench/knn_bench.ts).
   */
  #block: FloatArray | null = null;

  /** Remembers the training data (`X` is kept, not copied, as in the course). */
  train(X: Tensor, y: ArrayLike<number>): void {
    const fn = "KNearestNeighbor.train";
    const [N] = checkMatrix(fn, "X", X);
    if (N === 0) throw new Error(`${fn}: X has no rows (shape [${X.shape}])`);
    const labels = checkLabels(fn, y, N);
    this.XTrain = X;
    this.yTrain = labels;
    this.numClasses = labels.reduce((m, v) => Math.max(m, v), 0) + 1;
    this.#trainNorms = rowSquaredNorms(X);
  }

  /**
   * Distances `(numTest, numTrain)` by a double loop over test and training rows:
   * `dists[i, j] = sqrt(Σ_d (X[i, d] − XTrain[j, d])²)`, summed in float64.
   */
  computeDistancesTwoLoops(X: Tensor): Tensor {
    const { train, Xc, numTest, numTrain, D } = this.#prepare(
      "KNearestNeighbor.computeDistancesTwoLoops",
      X,
    );
    const out = Tensor.zeros([numTest, numTrain], X.dtype);
    const a = Xc.data, b = train.data, o = out.data;
    for (let i = 0; i < numTest; i++) {
      for (let j = 0; j < numTrain; j++) {
        let sum = 0;
        for (let d = 0; d < D; d++) {
          const diff = a[i * D + d] - b[j * D + d];
          sum += diff * diff;
        }
        o[i * numTrain + j] = Math.sqrt(sum);
      }
    }
    return out;
  }

  /**
   * Distances `(numTest, numTrain)` with one loop over test rows, each row's distances to
   * all training rows computed at once: the notebook vectorises `(XTrain − X[i])²` over the
   * training rows; here the row is one matrix–vector product `−2·XTrain·X[i]` by the GEMM
   * kernel plus the norms, `sqrt(‖X[i]‖² + ‖y‖² − 2·XTrain·X[i])` (clamped at 0). Per-row
   * temporaries the size of the training set would be allocated and dropped 10,000 times.
   */
  computeDistancesOneLoop(X: Tensor): Tensor {
    const { train, Xc, numTest, numTrain, D } = this.#prepare(
      "KNearestNeighbor.computeDistancesOneLoop",
      X,
    );
    const out = Tensor.zeros([numTest, numTrain], X.dtype);
    const row = allocate(train.dtype, numTrain, false);
    const xx = rowSquaredNorms(Xc), yy = this.#trainNorms;
    const ld = Math.max(D, 1);
    for (let i = 0; i < numTest; i++) {
      const x = Xc.data.subarray(i * D, (i + 1) * D);
      gemm(false, true, 1, numTrain, D, -2, x, ld, train.data, ld, 0, row, numTrain);
      const base = i * numTrain;
      for (let j = 0; j < numTrain; j++) {
        const squared = xx[i] + yy[j] + row[j];
        out.data[base + j] = squared < 0 ? 0 : Math.sqrt(squared);
      }
    }
    return out;
  }

  /**
   * Distances `(numTest, numTrain)` with no explicit loop over examples:
   * `sqrt(‖x‖² + ‖y‖² − 2·X·XTrainᵀ)`, the product by the (threaded) GEMM kernel, the norms
   * in float64; rounding can make a tiny squared distance negative, which is clamped to 0
   * before the square root.
   */
  computeDistancesNoLoops(X: Tensor): Tensor {
    const { Xc, numTest, numTrain } = this.#prepare(
      "KNearestNeighbor.computeDistancesNoLoops",
      X,
    );
    const out = Tensor.zeros([numTest, numTrain], X.dtype);
    // The product runs in the training dtype; the distances are rounded to X's.
    const product = out.dtype === Xc.dtype ? out.data : allocate(Xc.dtype, numTest * numTrain);
    this.#productRows(Xc, 0, numTest, product);
    const xx = rowSquaredNorms(Xc), yy = this.#trainNorms;
    const o = out.data;
    for (let i = 0; i < numTest; i++) {
      const base = i * numTrain;
      for (let j = 0; j < numTrain; j++) {
        const squared = xx[i] + yy[j] + product[base + j];
        // `<` rather than `>` keeps NaN as NaN instead of turning it into a distance 0.
        o[base + j] = squared < 0 ? 0 : Math.sqrt(squared);
      }
    }
    return out;
  }

  /**
   * Labels by a majority vote of the `k` nearest training examples of each row of `dists`
   * (`(numTest, numTrain)`, as returned by the `computeDistances*` methods). Ties in
   * distance keep the earlier training example; a tied vote goes to the smallest label.
   */
  predictLabels(dists: Tensor, k = 1): Int32Array {
    const fn = "KNearestNeighbor.predictLabels";
    const { numTrain } = this.#trained(fn);
    const [numTest] = checkMatrix(fn, "dists", dists, numTrain);
    this.#checkK(fn, k);
    const voter = this.#voter(k, new Float64Array(numTrain), (d) => d);
    const labels = new Int32Array(numTest);
    for (let i = 0; i < numTest; i++) labels[i] = voter(dists.data, i * numTrain, 0);
    return labels;
  }

  /**
   * Predicted labels of the rows of `X` `(numTest, D)`. With `numLoops: 0` (the default)
   * the distances are computed in blocks of test rows and each row keeps only its `k`
   * nearest, so memory stays bounded; the labels equal those of
   * `predictLabels(computeDistancesNoLoops(X), k)`.
   */
  predict(X: Tensor, options: KnnPredictOptions = {}): Int32Array {
    const fn = "KNearestNeighbor.predict";
    checkOptionKeys(fn, options, PREDICT_OPTIONS);
    const { k = 1, numLoops = 0, onBlock } = options;
    const { numTrain } = this.#trained(fn);
    this.#checkK(fn, k);
    if (numLoops === 1) return this.predictLabels(this.computeDistancesOneLoop(X), k);
    if (numLoops === 2) return this.predictLabels(this.computeDistancesTwoLoops(X), k);
    if (numLoops !== 0) throw new Error(`${fn}: numLoops must be 0, 1 or 2, got ${numLoops}`);
    const { Xc, numTest } = this.#prepare(fn, X);
    const blockSize = options.blockSize === undefined
      ? Math.max(1, Math.floor(BLOCK_ELEMENTS / numTrain))
      : checkInt(fn, "blockSize", options.blockSize, 1);
    if (onBlock !== undefined && typeof onBlock !== "function") {
      throw new Error(`${fn}: onBlock must be a function, got ${onBlock}`);
    }
    const rows = Math.min(blockSize, numTest);
    // The block holds −2·X·XTrainᵀ; the voter adds the norms and takes square roots only
    // for the few candidates that could enter a row's k nearest (see #voter).
    const block = this.#blockBuffer(Xc.dtype, rows * numTrain);
    const xNorms = rowSquaredNorms(Xc);
    const round = X.dtype === "float32" ? Math.fround : (v: number) => v;
    const voter = this.#voter(k, this.#trainNorms, (s) => round(s < 0 ? 0 : Math.sqrt(s)));
    const labels = new Int32Array(numTest);
    for (let start = 0; start < numTest; start += rows) {
      const end = Math.min(numTest, start + rows);
      this.#productRows(Xc, start, end, block);
      for (let i = start; i < end; i++) {
        labels[i] = voter(block, (i - start) * numTrain, xNorms[i]);
      }
      onBlock?.(end, numTest);
    }
    return labels;
  }

  /** A shared buffer of at least `size` elements of `dtype`, reused between calls. */
  #blockBuffer(dtype: "float32" | "float64", size: number): FloatArray {
    const b = this.#block;
    if (b !== null && b.length >= size && (b instanceof Float32Array) === (dtype === "float32")) {
      return b;
    }
    this.#block = allocate(dtype, size);
    return this.#block;
  }

  /** `out = −2 · X[start:end] · XTrainᵀ` by the threaded GEMM kernel. */
  #productRows(Xc: Tensor, start: number, end: number, out: FloatArray): void {
    const train = this.XTrain as Tensor;
    const [numTrain, D] = train.shape;
    const M = end - start;
    gemmParallel(
      false,
      true,
      M,
      numTrain,
      D,
      -2,
      Xc.data.subarray(start * D, end * D),
      Math.max(D, 1),
      train.data,
      Math.max(D, 1),
      0,
      out,
      numTrain,
    );
  }

  /**
   * A function that votes for one row: `values` at `offset` holds, for every training
   * example j, a number that becomes its squared distance as `s = xx + yy[j] + values[j]`
   * and its distance as `toDistance(s)` (monotone non-decreasing). The k nearest by
   * distance are kept in an insertion buffer — stable: an equal distance never displaces an
   * earlier example; NaN counts as +∞ — then their labels are counted.
   *
   * Why two numbers per example: the buffer orders by the distance exactly as
   * `computeDistancesNoLoops` would store it (square root, rounded to X's dtype), so the
   * labels equal those of `predictLabels` on that matrix; but since `s ≥ s_worst` implies
   * `toDistance(s) ≥ toDistance(s_worst)`, an example whose `s` is not below the `s` of the
   * current k-th nearest can never enter, and almost every example is rejected by that
   * one comparison, with no square root (the full pass of square roots cost 4 s of a
   * 10,000 × 59,000 prediction).
   */
  #voter(
    k: number,
    yy: Float64Array,
    toDistance: (s: number) => number,
  ): (values: FloatArray, offset: number, xx: number) => number {
    const yTrain = this.yTrain as Int32Array;
    const numTrain = yTrain.length;
    const bestDistance = new Float64Array(k);
    const bestSquared = new Float64Array(k);
    const bestIndex = new Int32Array(k);
    const counts = new Int32Array(this.numClasses);
    return (values, offset, xx) => {
      let count = 0;
      let worstSquared = Infinity;
      for (let j = 0; j < numTrain; j++) {
        let s = xx + yy[j] + values[offset + j];
        if (count === k && !(s < worstSquared)) continue;
        if (s !== s) s = Infinity;
        const d = s === Infinity ? Infinity : toDistance(s);
        if (count === k && !(d < bestDistance[k - 1])) continue;
        let p = count < k ? count++ : k - 1;
        while (p > 0 && bestDistance[p - 1] > d) {
          bestDistance[p] = bestDistance[p - 1];
          bestSquared[p] = bestSquared[p - 1];
          bestIndex[p] = bestIndex[p - 1];
          p--;
        }
        bestDistance[p] = d;
        bestSquared[p] = s;
        bestIndex[p] = j;
        if (count === k) worstSquared = bestSquared[k - 1];
      }
      counts.fill(0);
      for (let m = 0; m < k; m++) counts[yTrain[bestIndex[m]]]++;
      let label = 0;
      for (let c = 1; c < counts.length; c++) if (counts[c] > counts[label]) label = c;
      return label;
    };
  }

  #trained(fn: string): { train: Tensor; numTrain: number; D: number } {
    if (this.XTrain === null) {
      throw new Error(`${fn}: the classifier has no training data; call train(X, y) first`);
    }
    return { train: this.XTrain, numTrain: this.XTrain.shape[0], D: this.XTrain.shape[1] };
  }

  #checkK(fn: string, k: number): void {
    const numTrain = (this.XTrain as Tensor).shape[0];
    if (!Number.isInteger(k) || k < 1 || k > numTrain) {
      throw new Error(
        `${fn}: k must be an integer in [1, ${numTrain}] (the training set size), got ${k}`,
      );
    }
  }

  /** Checks X against the training data; `Xc` is X in the training dtype. */
  #prepare(fn: string, X: Tensor) {
    const { train, numTrain, D } = this.#trained(fn);
    const [numTest] = checkMatrix(fn, "X", X, D);
    return { train, Xc: cast(X, train.dtype), numTest, numTrain, D };
  }
}

/** ‖row‖² of every row of a 2-d tensor, summed in float64. */
function rowSquaredNorms(X: Tensor): Float64Array {
  const [N, D] = X.shape;
  const out = new Float64Array(N);
  const x = X.data;
  for (let i = 0; i < N; i++) {
    let sum = 0;
    for (let d = i * D, end = d + D; d < end; d++) sum += x[d] * x[d];
    out[i] = sum;
  }
  return out;
}

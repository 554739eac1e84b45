/**
 * `DataLoader`: minibatches of a dataset held in memory (PyTorch's
 * `torch.utils.data.DataLoader` over a `TensorDataset`).
 *
 * @module
 */

import { getGlobalRng, type Rng } from "../rng.ts";
import { Tensor } from "../tensor.ts";
import type { Transform } from "./transforms.ts";

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  /** Examples per batch (default 1, as PyTorch). */
  batchSize?: number;
  /** Visit the examples in a new random order each epoch (default false). */
  shuffle?: boolean;
  /** Generator of the order and of the transforms (default: the global one). */
  rng?: Rng;
  /** Applied to every example `(C, H, W)` of a batch (data augmentation). */
  transform?: Transform;
  /** Drop the last batch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
}

/**
 * Iterates over `[xBatch, yBatch]` pairs: `xBatch` a Tensor of `batchSize` examples,
 * `yBatch` their labels as an `Int32Array`. Every `for … of` is one epoch (reshuffled
 * when `shuffle`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { DataLoader } from "./data_loader.ts";
 * const X = Tensor.arange(10).reshape([5, 2]);
 * const y = Int32Array.of(0, 1, 2, 3, 4);
 * const loader = new DataLoader({ X, y }, { batchSize: 2, shuffle: true, rng: new Rng(0) });
 * const seen = [];
 * for (const [xb, yb] of loader) {
 *   assert.equal(xb.shape[1], 2);
 *   seen.push(...yb);
 * }
 * assert.equal(loader.length, 3);
 * assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4]);
 * ```
 */
export class DataLoader implements Iterable<[Tensor, Int32Array]> {
  /** The examples `(N, ...)`. */
  readonly X: Tensor;
  /** Their labels. */
  readonly y: Int32Array;
  /** Examples per batch. */
  readonly batchSize: number;
  /** Whether each epoch is reshuffled. */
  readonly shuffle: boolean;
  /** Whether a short last batch is dropped. */
  readonly dropLast: boolean;
  readonly #rng: Rng | undefined;
  readonly #transform: Transform | undefined;

  /** A loader over `{ X, y }`. */
  constructor(data: { X: Tensor; y: ArrayLike<number> }, options: DataLoaderOptions = {}) {
    const fn = "DataLoader";
    if (!(data?.X instanceof Tensor) || data.X.ndim < 1) {
      throw new Error(`${fn}: data.X must be a Tensor with a batch axis, got ${data?.X}`);
    }
    if (data.y == null || data.y.length !== data.X.shape[0]) {
      throw new Error(
        `${fn}: data.y has ${data.y?.length} labels but X has ${data.X.shape[0]} examples`,
      );
    }
    const batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`${fn}: batchSize must be an integer ≥ 1, got ${batchSize}`);
    }
    this.X = data.X;
    this.y = Int32Array.from(data.y);
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.#rng = options.rng;
    this.#transform = options.transform;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.X.shape[0];
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** One epoch of batches. */
  *[Symbol.iterator](): Iterator<[Tensor, Int32Array]> {
    const n = this.X.shape[0];
    const rng = this.#rng ?? getGlobalRng();
    const order = this.shuffle ? rng.permutation(n) : null;
    for (let b = 0; b < this.length; b++) {
      const start = b * this.batchSize, end = Math.min(start + this.batchSize, n);
      let xb: Tensor, yb: Int32Array;
      if (order === null) {
        xb = this.X.sliceRows(start, end).clone();
        yb = this.y.slice(start, end);
      } else {
        const idx = order.subarray(start, end);
        xb = this.X.take(idx);
        yb = Int32Array.from(idx, (i) => this.y[i]);
      }
      if (this.#transform !== undefined) xb = this.#applyTransform(xb, rng);
      yield [xb, yb];
    }
  }

  #applyTransform(xb: Tensor, rng: Rng): Tensor {
    const rows: Tensor[] = [];
    for (let i = 0; i < xb.shape[0]; i++) {
      rows.push(this.#transform!(xb.sliceRows(i, i + 1).reshape(xb.shape.slice(1)), rng));
    }
    const out = Tensor.zeros([rows.length, ...rows[0].shape], xb.dtype);
    rows.forEach((r, i) => out.data.set(r.data, i * r.size));
    return out;
  }
}

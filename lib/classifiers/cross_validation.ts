/**
 * k-fold cross-validation splits with numpy's `array_split` semantics, as the kNN notebook
 * uses them: `n` examples cut into `numFolds` contiguous folds whose sizes differ by at most
 * one, the larger folds first; no shuffling unless asked.
 *
 * @module
 */

import { getGlobalRng, type Rng } from "../rng.ts";
import { checkInt, checkOptionKeys } from "../checks.ts";

/** One fold of {@link kFoldSplits}: training and validation example indices. */
export interface FoldSplit {
  /** Indices of the examples to train on (every fold but this one, in order). */
  train: Int32Array;
  /** Indices of this fold's examples. */
  val: Int32Array;
}

/** Options of {@link kFoldSplits}. */
export interface KFoldOptions {
  /** Shuffle the examples before cutting them into folds (default false, as the course). */
  shuffle?: boolean;
  /** Generator of the shuffle (default: the library's global one). */
  rng?: Rng;
}

/**
 * The `[start, end)` ranges of numpy's `array_split(range(n), sections)`: the first
 * `n % sections` parts have `floor(n / sections) + 1` elements, the rest `floor(n / sections)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arraySplitRanges } from "./cross_validation.ts";
 * assert.deepEqual(arraySplitRanges(7, 3), [[0, 3], [3, 5], [5, 7]]);
 * ```
 */
export function arraySplitRanges(n: number, sections: number): [number, number][] {
  checkInt("arraySplitRanges", "n", n, 0);
  checkInt("arraySplitRanges", "sections", sections, 1);
  const base = Math.floor(n / sections), extra = n % sections;
  const out: [number, number][] = [];
  let start = 0;
  for (let s = 0; s < sections; s++) {
    const end = start + base + (s < extra ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * Training/validation index pairs for k-fold cross-validation over `n` examples: fold `i`
 * validates on the `i`-th part of `array_split` and trains on all the others, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kFoldSplits } from "./cross_validation.ts";
 * const folds = kFoldSplits(5, 2);
 * assert.deepEqual([...folds[0].val], [0, 1, 2]);
 * assert.deepEqual([...folds[0].train], [3, 4]);
 * assert.deepEqual([...folds[1].train], [0, 1, 2]);
 * ```
 */
export function kFoldSplits(n: number, numFolds: number, options: KFoldOptions = {}): FoldSplit[] {
  const fn = "kFoldSplits";
  checkOptionKeys(fn, options, ["shuffle", "rng"]);
  checkInt(fn, "n", n, 0);
  checkInt(fn, "numFolds", numFolds, 1);
  if (numFolds > n) {
    throw new Error(`${fn}: numFolds (${numFolds}) is larger than the number of examples (${n})`);
  }
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (options.shuffle) (options.rng ?? getGlobalRng()).shuffle(order);
  return arraySplitRanges(n, numFolds).map(([start, end]) => {
    const train = new Int32Array(n - (end - start));
    train.set(order.subarray(0, start));
    train.set(order.subarray(end), start);
    return { train, val: order.slice(start, end) };
  });
}

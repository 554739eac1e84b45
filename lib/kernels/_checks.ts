/**
 * The argument checks that every kernel shares. Kernels take raw typed arrays, so a short
 * array would make reads yield `undefined` and writes vanish without a word: they check
 * lengths and dtypes up front and name the function and the argument when they fail.
 *
 * @module
 */

import { dtypeOf, type FloatArray } from "../storage.ts";

/** Throws unless `arr` has at least `length` elements, naming `fn` and the argument. */
export function needLength(
  fn: string,
  name: string,
  arr: ArrayLike<number>,
  length: number,
): void {
  if (arr.length < length) {
    throw new Error(`${fn}: ${name} needs at least ${length} elements, got ${arr.length}`);
  }
}

/**
 * Whether both arrays are float32; throws, naming both arguments and their dtypes, if their
 * dtypes differ.
 */
export function sameDType(
  fn: string,
  aName: string,
  a: FloatArray,
  bName: string,
  b: FloatArray,
): boolean {
  const f32 = a instanceof Float32Array;
  if (f32 !== (b instanceof Float32Array)) {
    throw new Error(
      `${fn}: ${aName} and ${bName} must share a dtype, got ${aName} ${dtypeOf(a)} and ` +
        `${bName} ${dtypeOf(b)}`,
    );
  }
  return f32;
}

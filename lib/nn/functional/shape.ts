/**
 * `F.flatten`.
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

/**
 * Merges dimensions `startDim..endDim` (inclusive; negative counts from the end) into one,
 * sharing storage (a recorded `reshape`). `flatten(x)` turns `(N, C, H, W)` into
 * `(N, C·H·W)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { flatten } from "./shape.ts";
 * assert.deepEqual(flatten(Tensor.zeros([2, 3, 4, 5])).shape, [2, 60]);
 * assert.deepEqual(flatten(Tensor.zeros([2, 3, 4]), 0, 1).shape, [6, 4]);
 * ```
 */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  checkTensor("F.flatten", "x", x);
  const nd = Math.max(x.ndim, 1);
  const s = startDim < 0 ? startDim + nd : startDim;
  const e = endDim < 0 ? endDim + nd : endDim;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e >= nd || s > e) {
    throw new Error(
      `F.flatten: dims ${startDim}..${endDim} are not a valid range for shape [${x.shape}]`,
    );
  }
  if (x.ndim === 0) return x.reshape([1]);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return x.reshape([...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/**
 * The affine–ReLU "sandwich", cs231n `affine_relu_forward` / `affine_relu_backward`: the
 * hidden layer of every fully-connected net in the course.
 *
 * @module
 */

import { affineBackward, type AffineCache, affineForward } from "./affine.ts";
import { reluBackward, type ReluCache, reluForward } from "./relu.ts";
import type { Tensor } from "../tensor.ts";

/** What {@link affineReluForward} keeps: the affine cache and the ReLU cache. */
export type AffineReluCache = [fcCache: AffineCache, reluCache: ReluCache];

/**
 * `relu(x·w + b)`: an {@link affineForward} followed by a {@link reluForward}. Returns
 * `[out (N, M), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineReluForward } from "./affine_relu.ts";
 * const x = Tensor.fromArray([[1, -1]]);
 * const [out] = affineReluForward(x, Tensor.fromArray([[1, -1], [1, -1]]), Tensor.zeros([2]));
 * assert.ok(out.toNested().toString() === "0,0");
 * ```
 */
export function affineReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
): [Tensor, AffineReluCache] {
  const [a, fcCache] = affineForward(x, w, b);
  const [out, reluCache] = reluForward(a);
  return [out, [fcCache, reluCache]];
}

/**
 * Backward pass of {@link affineReluForward}: returns `[dx, dw, db]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineReluBackward, affineReluForward } from "./affine_relu.ts";
 * const x = Tensor.fromArray([[1, 2]]);
 * const w = Tensor.fromArray([[1, -1], [1, -1]]);
 * const [, cache] = affineReluForward(x, w, Tensor.zeros([2]));
 * const [dx, dw, db] = affineReluBackward(Tensor.fromArray([[1, 1]]), cache);
 * // Only the first unit (pre-activation 3) is active; the second (-3) blocks its gradient.
 * assert.ok(dx.toNested().toString() === "1,1" && dw.toNested().toString() === "1,0,2,0");
 * assert.ok(db.toNested().toString() === "1,0");
 * ```
 */
export function affineReluBackward(
  dout: Tensor,
  cache: AffineReluCache,
): [Tensor, Tensor, Tensor] {
  if (!Array.isArray(cache) || cache.length !== 2) {
    throw new Error(
      "affineReluBackward: cache must be the [fcCache, reluCache] returned by affineReluForward",
    );
  }
  const [fcCache, reluCache] = cache;
  const da = reluBackward(dout, reluCache);
  return affineBackward(da, fcCache);
}

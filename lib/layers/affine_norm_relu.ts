/**
 * The affine–norm–ReLU "sandwiches": the hidden layer of a fully-connected net with batch
 * or layer normalization, as cs231n asks students to add to `layer_utils.py`
 * (`affine_bn_relu_forward` and friends).
 *
 * @module
 */

import { affineBackward, type AffineCache, affineForward } from "./affine.ts";
import {
  batchnormBackwardAlt,
  type BatchnormCache,
  batchnormForward,
  type BatchnormParam,
} from "./batchnorm.ts";
import {
  layernormBackward,
  type LayernormCache,
  layernormForward,
  type LayernormParam,
} from "./layernorm.ts";
import { reluBackward, type ReluCache, reluForward } from "./relu.ts";
import type { Tensor } from "../tensor.ts";

/** What {@link affineBatchnormReluForward} keeps: the three layers' caches. */
export type AffineBatchnormReluCache = [
  fcCache: AffineCache,
  bnCache: BatchnormCache,
  reluCache: ReluCache,
];

/** What {@link affineLayernormReluForward} keeps: the three layers' caches. */
export type AffineLayernormReluCache = [
  fcCache: AffineCache,
  lnCache: LayernormCache,
  reluCache: ReluCache,
];

/**
 * `relu(batchnorm(x·w + b))`: {@link affineForward}, then `batchnormForward` with `gamma`,
 * `beta` and `bnParam` (whose running statistics it updates in training mode), then
 * {@link reluForward}. Returns `[out (N, M), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineBatchnormReluForward } from "./affine_norm_relu.ts";
 * const x = Tensor.fromArray([[1], [2], [3], [4]]);
 * const w = Tensor.fromArray([[100]]), b = Tensor.fromArray([-7]);
 * const [out] = affineBatchnormReluForward(x, w, b, Tensor.ones([1]), Tensor.zeros([1]), {
 *   mode: "train",
 * });
 * // Whatever the scale of x·w + b, batchnorm centres it: half the units stay active.
 * assert.equal(out.data.filter((v) => v > 0).length, 2);
 * ```
 */
export function affineBatchnormReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): [Tensor, AffineBatchnormReluCache] {
  const [a, fcCache] = affineForward(x, w, b);
  const [an, bnCache] = batchnormForward(a, gamma, beta, bnParam);
  const [out, reluCache] = reluForward(an);
  return [out, [fcCache, bnCache, reluCache]];
}

/**
 * Backward pass of {@link affineBatchnormReluForward} (batchnorm in the closed form):
 * returns `[dx, dw, db, dgamma, dbeta]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import {
 *   affineBatchnormReluBackward,
 *   affineBatchnormReluForward,
 * } from "./affine_norm_relu.ts";
 * const x = Tensor.fromArray([[1, 0], [0, 1], [2, 2]]);
 * const w = Tensor.fromArray([[1, -1], [2, 0]]), b = Tensor.zeros([2]);
 * const [out, cache] = affineBatchnormReluForward(x, w, b, Tensor.ones([2]), Tensor.zeros([2]), {
 *   mode: "train",
 * });
 * const grads = affineBatchnormReluBackward(Tensor.ones(out.shape), cache);
 * assert.deepEqual(grads.map((g) => g.shape), [[3, 2], [2, 2], [2], [2], [2]]);
 * ```
 */
export function affineBatchnormReluBackward(
  dout: Tensor,
  cache: AffineBatchnormReluCache,
): [Tensor, Tensor, Tensor, Tensor, Tensor] {
  checkCache("affineBatchnormReluBackward", "affineBatchnormReluForward", cache);
  const [fcCache, bnCache, reluCache] = cache;
  const dan = reluBackward(dout, reluCache);
  const [da, dgamma, dbeta] = batchnormBackwardAlt(dan, bnCache);
  const [dx, dw, db] = affineBackward(da, fcCache);
  return [dx, dw, db, dgamma, dbeta];
}

/**
 * `relu(layernorm(x·w + b))`: {@link affineForward}, `layernormForward` with `gamma`,
 * `beta` and `lnParam`, then {@link reluForward}. Returns `[out (N, M), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineLayernormReluForward } from "./affine_norm_relu.ts";
 * const x = Tensor.fromArray([[1, 2]]);
 * const w = Tensor.fromArray([[1, 2, 3, 4], [0, 0, 0, 0]]), b = Tensor.zeros([4]);
 * const [out] = affineLayernormReluForward(x, w, b, Tensor.ones([4]), Tensor.zeros([4]), {});
 * // One example is enough: its four features are normalized among themselves.
 * assert.equal(out.data.filter((v) => v > 0).length, 2);
 * ```
 */
export function affineLayernormReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  lnParam: LayernormParam = {},
): [Tensor, AffineLayernormReluCache] {
  const [a, fcCache] = affineForward(x, w, b);
  const [an, lnCache] = layernormForward(a, gamma, beta, lnParam);
  const [out, reluCache] = reluForward(an);
  return [out, [fcCache, lnCache, reluCache]];
}

/**
 * Backward pass of {@link affineLayernormReluForward}: returns
 * `[dx, dw, db, dgamma, dbeta]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import {
 *   affineLayernormReluBackward,
 *   affineLayernormReluForward,
 * } from "./affine_norm_relu.ts";
 * const x = Tensor.fromArray([[1, 2]]);
 * const w = Tensor.fromArray([[1, 2, 3], [0, 1, 0]]), b = Tensor.zeros([3]);
 * const [out, cache] = affineLayernormReluForward(x, w, b, Tensor.ones([3]), Tensor.zeros([3]));
 * const grads = affineLayernormReluBackward(Tensor.ones(out.shape), cache);
 * assert.deepEqual(grads.map((g) => g.shape), [[1, 2], [2, 3], [3], [3], [3]]);
 * ```
 */
export function affineLayernormReluBackward(
  dout: Tensor,
  cache: AffineLayernormReluCache,
): [Tensor, Tensor, Tensor, Tensor, Tensor] {
  checkCache("affineLayernormReluBackward", "affineLayernormReluForward", cache);
  const [fcCache, lnCache, reluCache] = cache;
  const dan = reluBackward(dout, reluCache);
  const [da, dgamma, dbeta] = layernormBackward(dan, lnCache);
  const [dx, dw, db] = affineBackward(da, fcCache);
  return [dx, dw, db, dgamma, dbeta];
}

function checkCache(fn: string, forward: string, cache: unknown): void {
  if (!Array.isArray(cache) || cache.length !== 3) {
    throw new Error(
      `${fn}: cache must be the [fcCache, normCache, reluCache] returned by ${forward}`,
    );
  }
}

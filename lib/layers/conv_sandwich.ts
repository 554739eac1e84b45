/**
 * Convolutional "sandwich" layers, cs231n `layer_utils.py`: the fast convolution followed
 * by a ReLU (`convRelu`), by a ReLU and a max pool (`convReluPool`), or by spatial
 * batchnorm and a ReLU (`convBnRelu`).
 *
 * @module
 */

import type { BatchnormCache, BatchnormParam } from "./batchnorm.ts";
import type { ConvCache, ConvParam } from "./conv.ts";
import { convBackwardFast, convForwardFast } from "./conv_fast.ts";
import {
  maxPoolBackwardFast,
  type MaxPoolFastCache,
  maxPoolForwardFast,
  type PoolParam,
} from "./pool.ts";
import { reluBackward, type ReluCache, reluForward } from "./relu.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "./spatial_batchnorm.ts";
import { Tensor } from "../tensor.ts";

/** What {@link convReluForward} keeps: the convolution's and the ReLU's caches. */
export type ConvReluCache = [convCache: ConvCache, reluCache: ReluCache];

/**
 * What {@link convReluPoolForward} keeps: the convolution's cache and the pool's, which
 * holds the ReLU's output (the ReLU runs after the pool, in the same pass: see there).
 */
export type ConvReluPoolCache = [convCache: ConvCache, poolCache: MaxPoolFastCache];

/** What {@link convBnReluForward} keeps: the convolution's, batchnorm's and ReLU's caches. */
export type ConvBnReluCache = [
  convCache: ConvCache,
  bnCache: BatchnormCache,
  reluCache: ReluCache,
];

/**
 * `relu(conv(x, w) + b)`. Returns `[out (N, F, Ho, Wo), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convReluForward } from "./conv_sandwich.ts";
 * const x = Tensor.fromArray([[[[1, -2]]]]); // (1, 1, 1, 2), a 1×1 kernel of weight 1
 * const [out] = convReluForward(x, Tensor.ones([1, 1, 1, 1]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * assert.deepEqual(out.toNested(), [[[[1, 0]]]]);
 * ```
 */
export function convReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
): [Tensor, ConvReluCache] {
  const [a, convCache] = convForwardFast(x, w, b, convParam);
  const [out, reluCache] = reluForward(a);
  return [out, [convCache, reluCache]];
}

/**
 * Backward pass of {@link convReluForward}: returns `[dx, dw, db]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convReluBackward, convReluForward } from "./conv_sandwich.ts";
 * const x = Tensor.fromArray([[[[1, -2]]]]);
 * const [, cache] = convReluForward(x, Tensor.ones([1, 1, 1, 1]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dx, dw, db] = convReluBackward(Tensor.fromArray([[[[5, 5]]]]), cache);
 * // The second pixel was negative: the ReLU blocks its gradient.
 * assert.deepEqual(dx.toNested(), [[[[5, 0]]]]);
 * assert.equal(dw.get(0, 0, 0, 0), 5);
 * assert.equal(db.get(0), 5);
 * ```
 */
export function convReluBackward(dout: Tensor, cache: ConvReluCache): [Tensor, Tensor, Tensor] {
  checkCache("convReluBackward", cache, 2, "[convCache, reluCache]", "convReluForward");
  const [convCache, reluCache] = cache;
  return convBackwardFast(reluBackward(dout, reluCache), convCache);
}

/**
 * `maxPool(relu(conv(x, w) + b))`: the usual convolutional block. Returns
 * `[out (N, F, Ho', Wo'), cache]`.
 *
 * It computes `relu(maxPool(conv(x, w) + b))` instead: ReLU is monotonic, so the two agree
 * exactly, forward and backward (a window whose maximum is positive routes its gradient to
 * the same first maximum either way; one whose maximum is ≤ 0 passes no gradient either
 * way), and the ReLU then touches a quarter of the values of a 2×2 pool, inside the
 * pooling's pass (`maxPoolForwardFast` with `relu`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convReluPoolForward } from "./conv_sandwich.ts";
 * const x = Tensor.fromArray([[[[1, -2], [3, 0]]]]);
 * const [out] = convReluPoolForward(
 *   x,
 *   Tensor.ones([1, 1, 1, 1]),
 *   Tensor.zeros([1]),
 *   { stride: 1, pad: 0 },
 *   { poolHeight: 2, poolWidth: 2, stride: 2 },
 * );
 * assert.deepEqual(out.toNested(), [[[[3]]]]);
 * ```
 */
export function convReluPoolForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
  poolParam: PoolParam,
): [Tensor, ConvReluPoolCache] {
  const [a, convCache] = convForwardFast(x, w, b, convParam);
  const [out, poolCache] = maxPoolForwardFast(a, poolParam, { relu: true });
  return [out, [convCache, poolCache]];
}

/**
 * Backward pass of {@link convReluPoolForward}: returns `[dx, dw, db]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convReluPoolBackward, convReluPoolForward } from "./conv_sandwich.ts";
 * const x = Tensor.fromArray([[[[1, -2], [3, 0]]]]);
 * const [, cache] = convReluPoolForward(
 *   x,
 *   Tensor.ones([1, 1, 1, 1]),
 *   Tensor.zeros([1]),
 *   { stride: 1, pad: 0 },
 *   { poolHeight: 2, poolWidth: 2, stride: 2 },
 * );
 * const [dx, dw, db] = convReluPoolBackward(Tensor.fromArray([[[[1]]]]), cache);
 * // Only the maximum (3, bottom-left) receives the gradient.
 * assert.deepEqual(dx.toNested(), [[[[0, 0], [1, 0]]]]);
 * assert.equal(dw.get(0, 0, 0, 0), 3);
 * assert.equal(db.get(0), 1);
 * ```
 */
export function convReluPoolBackward(
  dout: Tensor,
  cache: ConvReluPoolCache,
): [Tensor, Tensor, Tensor] {
  checkCache("convReluPoolBackward", cache, 2, "[convCache, poolCache]", "convReluPoolForward");
  const [convCache, poolCache] = cache;
  if (!(poolCache?.reluOut instanceof Tensor)) {
    // A pool cache made without `relu` would skip the ReLU's mask without a word.
    throw new Error(
      "convReluPoolBackward: cache[1] must be the pool cache of convReluPoolForward, which " +
        "holds the ReLU's output (reluOut); got a cache without it",
    );
  }
  return convBackwardFast(maxPoolBackwardFast(dout, poolCache), convCache);
}

/**
 * `relu(spatialBatchnorm(conv(x, w) + b))`, with `gamma`, `beta` of shape `(F,)` and
 * `bnParam` as for `spatialBatchnormForward` (its running statistics are updated in
 * training mode). Returns `[out (N, F, Ho, Wo), cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convBnReluForward } from "./conv_sandwich.ts";
 * const x = Tensor.fromArray([[[[1, 3]]]]); // normalised to ≈ [-1, 1], then the ReLU
 * const [out] = convBnReluForward(
 *   x,
 *   Tensor.ones([1, 1, 1, 1]),
 *   Tensor.zeros([1]),
 *   Tensor.ones([1]),
 *   Tensor.zeros([1]),
 *   { stride: 1, pad: 0 },
 *   { mode: "train" },
 * );
 * assert.ok(out.get(0, 0, 0, 0) === 0 && Math.abs(out.get(0, 0, 0, 1) - 1) < 1e-4);
 * ```
 */
export function convBnReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  convParam: ConvParam,
  bnParam: BatchnormParam,
): [Tensor, ConvBnReluCache] {
  const [a, convCache] = convForwardFast(x, w, b, convParam);
  const [an, bnCache] = spatialBatchnormForward(a, gamma, beta, bnParam);
  const [out, reluCache] = reluForward(an);
  return [out, [convCache, bnCache, reluCache]];
}

/**
 * Backward pass of {@link convBnReluForward} (training mode): returns
 * `[dx, dw, db, dgamma, dbeta]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convBnReluBackward, convBnReluForward } from "./conv_sandwich.ts";
 * const [, cache] = convBnReluForward(
 *   Tensor.fromArray([[[[1, 3]]]]),
 *   Tensor.ones([1, 1, 1, 1]),
 *   Tensor.zeros([1]),
 *   Tensor.ones([1]),
 *   Tensor.zeros([1]),
 *   { stride: 1, pad: 0 },
 *   { mode: "train" },
 * );
 * const [dx, dw, db, dgamma, dbeta] = convBnReluBackward(Tensor.fromArray([[[[1, 1]]]]), cache);
 * assert.equal(dbeta.get(0), 1); // only the active unit passes its gradient
 * assert.ok(Math.abs(dgamma.get(0) - 1) < 1e-4); // ... times its normalised value, ≈ 1
 * // The conv bias does not change the normalised output: its gradient vanishes.
 * assert.ok(Math.abs(db.get(0)) < 1e-12 && dx.shape.length === 4 && dw.size === 1);
 * ```
 */
export function convBnReluBackward(
  dout: Tensor,
  cache: ConvBnReluCache,
): [Tensor, Tensor, Tensor, Tensor, Tensor] {
  checkCache(
    "convBnReluBackward",
    cache,
    3,
    "[convCache, bnCache, reluCache]",
    "convBnReluForward",
  );
  const [convCache, bnCache, reluCache] = cache;
  const dan = reluBackward(dout, reluCache);
  const [da, dgamma, dbeta] = spatialBatchnormBackward(dan, bnCache);
  const [dx, dw, db] = convBackwardFast(da, convCache);
  return [dx, dw, db, dgamma, dbeta];
}

function checkCache(
  fn: string,
  cache: unknown,
  length: number,
  what: string,
  forward: string,
): void {
  if (!Array.isArray(cache) || cache.length !== length) {
    throw new Error(`${fn}: cache must be the ${what} returned by ${forward}`);
  }
}

/**
 * `F.dropout`, with PyTorch's meaning of `p` (the probability of dropping).
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { dropoutBackward, dropoutForward } from "../../layers/dropout.ts";
import type { Rng } from "../../rng.ts";
import type { Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing each element (default 0.5), in [0, 1]. */
  p?: number;
  /** Drop only when true (default true); false returns `x` itself. */
  training?: boolean;
  /** Generator of the mask (default: the library's global one, see `setSeed`). */
  rng?: Rng;
}

/**
 * Zeroes each element with probability `p` and scales the others by `1 / (1 − p)`
 * (inverted dropout), through `dropoutForward` / `dropoutBackward` with keep probability
 * `1 − p`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../../rng.ts";
 * import { Tensor } from "../../tensor.ts";
 * import { dropout } from "./dropout.ts";
 * const y = dropout(Tensor.ones([1000]), { p: 0.25, rng: new Rng(0) });
 * assert.ok(y.data.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-12));
 * assert.equal(dropout(y, { training: false }), y);
 * ```
 */
export function dropout(x: Tensor, options: DropoutOptions = {}): Tensor {
  const fn = "F.dropout";
  checkTensor(fn, "x", x);
  const { p = 0.5, training = true, rng } = options;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new Error(`${fn}: p (drop probability) must be in [0, 1], got ${p}`);
  }
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  // The layer draws from `new Rng(seed)` when given a seed: one draw from `rng` picks it.
  const seed = rng === undefined ? undefined : rng.nextUint32();
  const [out, cache] = dropoutForward(x.detach(), { p: 1 - p, mode: "train", seed });
  if (needsGrad(x)) recordOp(out, "dropout", [x], (g) => [dropoutBackward(g, cache)]);
  return out;
}

/**
 * Inverted dropout, cs231n `dropout_forward` / `dropout_backward`.
 *
 * In training mode each unit is kept with probability `p` and the kept ones are divided by
 * `p`, so the expected activation is unchanged and test mode can be the identity: nothing
 * needs rescaling at prediction time.
 *
 * @module
 */

import { allocateOutput } from "../scratch.ts";
import { checkTensor } from "../tensor_checks.ts";
import { applyMask, dropoutMask } from "../kernels/dropout.ts";
import { getGlobalRng, Rng } from "../rng.ts";
import { sameShape, Tensor } from "../tensor.ts";

/** Settings of a dropout layer (cs231n's `dropout_param`). */
export interface DropoutParam {
  /** Probability of **keeping** a unit, in (0, 1] (as in cs231n; PyTorch's `p` drops). */
  p: number;
  /** `"train"` draws a mask; `"test"` passes the input through. */
  mode: "train" | "test";
  /**
   * If set, every training-mode forward pass draws its mask from `new Rng(seed)`, so the
   * same mask each call (cs231n reseeds numpy inside the forward pass; gradient checks rely
   * on it). Without it the masks come from the global generator (`getGlobalRng()`).
   */
  seed?: number;
}

/**
 * What {@link dropoutForward} keeps: a copy of its settings and the mask `(u < p) / p`
 * (float64, shaped like `x`), or `null` in test mode.
 */
export type DropoutCache = [dropoutParam: DropoutParam, mask: Tensor | null];

/**
 * Inverted dropout of `x` (any shape). Training mode: `out = x · mask` with
 * `mask = (u < p) / p` for independent uniform `u`. Test mode: `out` is `x` itself (no copy,
 * as in cs231n). Returns `[out, cache]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { dropoutForward } from "./dropout.ts";
 * const x = Tensor.ones([4, 250]);
 * const [out] = dropoutForward(x, { p: 0.5, mode: "train", seed: 1 });
 * // Kept units are doubled, so the mean stays near 1 while about half are zero.
 * assert.ok(out.data.every((v) => v === 0 || v === 2));
 * assert.ok(Math.abs(out.mean().item() - 1) < 0.1);
 * const [same] = dropoutForward(x, { p: 0.5, mode: "test" });
 * assert.equal(same, x);
 * ```
 */
export function dropoutForward(x: Tensor, dropoutParam: DropoutParam): [Tensor, DropoutCache] {
  const fn = "dropoutForward";
  checkTensor(fn, "x", x);
  const param = checkDropoutParam(fn, dropoutParam);
  if (param.mode === "test") return [x, [param, null]];
  const rng = param.seed === undefined ? getGlobalRng() : new Rng(param.seed);
  const mask = Tensor.zeros(x.shape, "float64");
  dropoutMask(rng, param.p, mask.data);
  const out = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  applyMask(x.data, mask.data, out.data);
  return [out, [param, mask]];
}

/**
 * Backward pass of {@link dropoutForward}: `dx = dout · mask` in training mode (dropped
 * units pass no gradient, kept ones are scaled by `1/p` like their activations), and
 * `dx = dout` in test mode. `dx` has dout's dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { dropoutBackward, dropoutForward } from "./dropout.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4, 5, 6]);
 * const [out, cache] = dropoutForward(x, { p: 0.5, mode: "train", seed: 3 });
 * const dx = dropoutBackward(Tensor.ones([6]), cache);
 * // Where a unit was kept, out = 2x and dx = 2; where dropped, both are 0.
 * assert.ok(dx.data.every((d, i) => d * x.data[i] === out.data[i]));
 * ```
 */
export function dropoutBackward(dout: Tensor, cache: DropoutCache): Tensor {
  const fn = "dropoutBackward";
  if (!Array.isArray(cache) || cache.length !== 2) {
    throw new Error(`${fn}: cache must be the [dropoutParam, mask] returned by dropoutForward`);
  }
  const [param, mask] = cache;
  checkTensor(fn, "dout", dout);
  if (param.mode === "test" || mask === null) return dout;
  if (!sameShape(dout.shape, mask.shape)) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward input had shape [${mask.shape}]`,
    );
  }
  const dx = new Tensor(allocateOutput(dout.dtype, dout.size, false), dout.shape);
  applyMask(dout.data, mask.data, dx.data);
  return dx;
}

/** Validates the settings; returns a snapshot, so a later change of mode cannot alter a cache. */
function checkDropoutParam(fn: string, dropoutParam: DropoutParam): DropoutParam {
  if (dropoutParam == null || typeof dropoutParam !== "object") {
    throw new Error(
      `${fn}: dropoutParam must be an object such as { p: 0.5, mode: "train" }, got ` +
        `${dropoutParam}`,
    );
  }
  const { p, mode, seed } = dropoutParam;
  if (typeof p !== "number" || !(p > 0 && p <= 1)) {
    throw new Error(`${fn}: dropoutParam.p (keep probability) must be in (0, 1], got ${p}`);
  }
  if (mode !== "train" && mode !== "test") {
    throw new Error(
      `${fn}: dropoutParam.mode must be "train" or "test", got ${JSON.stringify(mode)}`,
    );
  }
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new Error(`${fn}: dropoutParam.seed must be an integer, got ${seed}`);
  }
  return seed === undefined ? { p, mode } : { p, mode, seed };
}

/**
 * Inverted dropout's two loops: drawing the mask and applying it (forward and backward are
 * the same product with the same mask).
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";
import { needLength } from "./_checks.ts";

/**
 * Draws an inverted-dropout mask: `mask[i] = (u < p) / p` with `u = rng.random()`, one
 * uniform draw per element in order (cs231n's `(np.random.rand(*x.shape) < p) / p`), so
 * kept units are scaled by `1 / p` and the expected activation is unchanged. When `rng`
 * has `fillRandom` (the library's `Rng`), the same draws come from it a block at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { dropoutMask } from "./dropout.ts";
 * const mask = new Float64Array(1000);
 * dropoutMask(new Rng(0), 0.5, mask);
 * assert.ok(mask.every((m) => m === 0 || m === 2));
 * ```
 */
export function dropoutMask(
  rng: { random(): number; fillRandom?(out: Float64Array): unknown },
  p: number,
  mask: FloatArray,
): void {
  const keep = 1 / p;
  const n = mask.length;
  if (typeof rng.fillRandom !== "function") {
    for (let i = 0; i < n; i++) mask[i] = rng.random() < p ? keep : 0;
    return;
  }
  // The library's Rng draws a block at a time, the same values in the same order.
  for (let start = 0; start < n; start += DRAW_BLOCK) {
    const count = Math.min(DRAW_BLOCK, n - start);
    const u = drawn.subarray(0, count);
    rng.fillRandom(u);
    for (let k = 0; k < count; k++) mask[start + k] = u[k] < p ? keep : 0;
  }
}

/** Uniform draws per `fillRandom` call of `dropoutMask` (32 KiB of doubles). */
const DRAW_BLOCK = 4096;
const drawn = new Float64Array(DRAW_BLOCK);

/**
 * `out[i] = a[i] · mask[i]` for the first `a.length` elements: dropout's forward
 * (`a = x`) and backward (`a = dout`) pass. The product is formed in double precision and
 * rounded once to `out`'s type, as numpy does for a float32 array times a float64 mask.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyMask } from "./dropout.ts";
 * const out = new Float32Array(3);
 * applyMask(new Float32Array([1, 2, 3]), new Float64Array([0, 4, 4]), out);
 * assert.deepEqual([...out], [0, 8, 12]);
 * ```
 */
export function applyMask(a: FloatArray, mask: FloatArray, out: FloatArray): void {
  const n = a.length;
  needLength("applyMask", "mask", mask, n);
  needLength("applyMask", "out", out, n);
  for (let i = 0; i < n; i++) out[i] = a[i] * mask[i];
}

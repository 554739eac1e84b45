/**
 * Inverted dropout's two loops: drawing the mask and applying it (forward and backward are
 * the same product with the same mask).
 *
 * @module
 */

import { fillUniform } from "../rng.ts";
import type { FloatArray } from "../storage.ts";
import { needLength } from "./_checks.ts";

/**
 * Draws an inverted-dropout mask: `mask[i] = (u < p) / p` with `u = rng.random()`, one
 * uniform draw per element in order (cs231n's `(np.random.rand(*x.shape) < p) / p`), so
 * kept units are scaled by `1 / p` and the expected activation is unchanged. The draws
 * come a block at a time through `fillUniform` (the same values).
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
export function dropoutMask(rng: { random(): number }, p: number, mask: FloatArray): void {
  const keep = 1 / p;
  const n = mask.length;
  // A block of draws at a time: the library's Rng fills it without a call per draw.
  for (let start = 0; start < n; start += DRAW_BLOCK) {
    const count = Math.min(DRAW_BLOCK, n - start);
    const u = fillUniform(rng, drawn.subarray(0, count));
    for (let k = 0; k < count; k++) mask[start + k] = u[k] < p ? keep : 0;
  }
}

/** Uniform draws per block of `dropoutMask` (32 KiB of doubles). */
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

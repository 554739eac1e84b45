/**
 * Elementwise loops of the first-order update rules (cs231n `optim.py`).
 *
 * Each kernel reads the current weights, gradient and optimizer state and writes the next
 * weights and next state into separate output arrays, so the caller decides whether to
 * update in place (pass the same array twice) or keep the inputs intact. One fused pass
 * replaces the chain of temporaries the numpy formulas would create. Arithmetic is done in
 * double precision whatever the storage type; float32 outputs are rounded once on store.
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";

/**
 * Vanilla SGD: `outW = w - learningRate * dw`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgdKernel } from "./optim_kernels.ts";
 * const out = new Float64Array(2);
 * sgdKernel(new Float64Array([1, 2]), new Float64Array([10, -10]), 0.1, out);
 * assert.deepEqual(Array.from(out), [0, 3]);
 * ```
 */
export function sgdKernel(
  w: FloatArray,
  dw: FloatArray,
  learningRate: number,
  outW: FloatArray,
): void {
  for (let i = 0; i < w.length; i++) outW[i] = w[i] - learningRate * dw[i];
}

/**
 * SGD with momentum: `v ← momentum·v − learningRate·dw`, then `outW = w + v`.
 */
export function sgdMomentumKernel(
  w: FloatArray,
  dw: FloatArray,
  velocity: FloatArray,
  learningRate: number,
  momentum: number,
  outW: FloatArray,
  outVelocity: FloatArray,
): void {
  for (let i = 0; i < w.length; i++) {
    const v = momentum * velocity[i] - learningRate * dw[i];
    outVelocity[i] = v;
    outW[i] = w[i] + v;
  }
}

/**
 * RMSProp: `cache ← d·cache + (1 − d)·dw²`, then `outW = w − lr·dw / (√cache + ε)`.
 */
export function rmspropKernel(
  w: FloatArray,
  dw: FloatArray,
  cache: FloatArray,
  learningRate: number,
  decayRate: number,
  epsilon: number,
  outW: FloatArray,
  outCache: FloatArray,
): void {
  for (let i = 0; i < w.length; i++) {
    const g = dw[i];
    const c = decayRate * cache[i] + (1 - decayRate) * (g * g);
    outCache[i] = c;
    outW[i] = w[i] - (learningRate * g) / (Math.sqrt(c) + epsilon);
  }
}

/**
 * Adam with bias correction for step `t` (already incremented, so `t ≥ 1`):
 * `m ← β1·m + (1 − β1)·dw`, `v ← β2·v + (1 − β2)·dw²`,
 * `outW = w − lr·m̂ / (√v̂ + ε)` with `m̂ = m / (1 − β1^t)`, `v̂ = v / (1 − β2^t)`.
 */
export function adamKernel(
  w: FloatArray,
  dw: FloatArray,
  m: FloatArray,
  v: FloatArray,
  learningRate: number,
  beta1: number,
  beta2: number,
  epsilon: number,
  t: number,
  outW: FloatArray,
  outM: FloatArray,
  outV: FloatArray,
): void {
  // The bias-correction denominators are the same for every element of this step.
  const correction1 = 1 - beta1 ** t;
  const correction2 = 1 - beta2 ** t;
  for (let i = 0; i < w.length; i++) {
    const g = dw[i];
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * (g * g);
    outM[i] = mi;
    outV[i] = vi;
    const mHat = mi / correction1;
    const vHat = vi / correction2;
    outW[i] = w[i] - (learningRate * mHat) / (Math.sqrt(vHat) + epsilon);
  }
}

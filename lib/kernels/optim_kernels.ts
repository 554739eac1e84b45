/**
 * Elementwise loops of the first-order update rules (cs231n `optim.py`).
 *
 * Each kernel reads the current weights, gradient and optimizer state and writes the next
 * weights and next state into separate output arrays, so the caller decides whether to
 * update in place (pass the same array twice) or keep the inputs intact. One fused pass
 * replaces the chain of temporaries the numpy formulas would create. SGD, momentum and
 * RMSProp compute in double precision whatever the storage type and round float32 outputs
 * once on store. Adam computes float32 arrays in float32, each operation rounded to float32:
 * the precision in which numpy computes the course's float32 arrays and PyTorch float32
 * parameters (not their bits: the formula multiplies by the reciprocals of the bias
 * corrections, where numpy divides and PyTorch orders the terms otherwise). The square
 * root and the division set Adam's speed, and float32 SIMD does them four at a time where
 * float64 does two (ThreeLayerConvNet's update of its 637,000 weights on one thread,
 * alternating runs: 2.6–2.8 → 1.7–1.9 ms per step). Mixed storage types compute in float64.
 *
 * @module
 */

import { registerJob, registerWorkerModule } from "../parallel/jobs.ts";
import { getPool, useParallel } from "../parallel/worker_pool.ts";
import { copyBack, ScratchBuffers, sharedTarget, sharedView } from "../scratch.ts";
import { dtypeOf, type FloatArray } from "../storage.ts";
import { streamThrough, WASM_MIN_LENGTH } from "./_stream.ts";
import { layerKernels } from "./wasm/layer_kernels.ts";

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
 *
 * Float32 arrays are computed in float32 (the hyper-parameters rounded to float32 first),
 * float64 ones, and mixed ones, in float64. Large arrays run in WebAssembly
 * (`wasm/optim_module.ts`), split across the worker pool when there is more than one
 * thread; every path computes each element with the same operations in the same order, so
 * the result is bitwise the same on any path (up to the sign and payload of a NaN, which
 * engines do not keep alike when two NaNs meet).
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
  const n = w.length;
  const args: AdamJob = {
    w,
    dw,
    m,
    v,
    outW,
    outM,
    outV,
    learningRate,
    beta1,
    beta2,
    epsilon,
    // The bias corrections are the same for every element of this step: multiplying by
    // their reciprocals saves two of the three divisions per element, which set the
    // kernel's speed (the result moves by at most an ulp of float64).
    inverse1: 1 / (1 - beta1 ** t),
    inverse2: 1 / (1 - beta2 ** t),
  };
  const dtype = dtypeOf(w);
  const sameDType = [dw, m, v, outW, outM, outV].every((a) => dtypeOf(a) === dtype);
  const blocks = Math.ceil(n / ADAM_BLOCK);
  if (sameDType && n >= ADAM_PARALLEL_MIN && useParallel(blocks)) {
    const inputs = { w, dw, m, v } as const;
    const job: AdamJob = { ...args };
    for (const [name, array] of Object.entries(inputs)) {
      job[name as keyof typeof inputs] = sharedView(array, sharedScratch, `adam.${name}`);
    }
    job.outW = sharedTarget(outW, sharedScratch, "adam.outW");
    job.outM = sharedTarget(outM, sharedScratch, "adam.outM");
    job.outV = sharedTarget(outV, sharedScratch, "adam.outV");
    getPool().run("optim.adam", job, blocks);
    copyBack(outW, job.outW);
    copyBack(outM, job.outM);
    copyBack(outV, job.outV);
    return;
  }
  adamRange(args, 0, n);
}

/** Below this many elements Adam stays on the calling thread. */
const ADAM_PARALLEL_MIN = 1 << 17;
/** Elements per pool task. */
const ADAM_BLOCK = 8192;

/** Shared copies of operands on plain memory, for the pool. */
const sharedScratch = new ScratchBuffers({ shared: true });

interface AdamJob {
  w: FloatArray;
  dw: FloatArray;
  m: FloatArray;
  v: FloatArray;
  outW: FloatArray;
  outM: FloatArray;
  outV: FloatArray;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  inverse1: number;
  inverse2: number;
}

// The pool's workers load this module, so they know the job registered below.
registerWorkerModule(import.meta.url);

registerJob("optim.adam", (a: AdamJob, b0: number, b1: number) => {
  adamRange(a, b0 * ADAM_BLOCK, Math.min(a.w.length, b1 * ADAM_BLOCK));
});

/** The Adam update of elements `[i0, i1)`, in WebAssembly when it pays. */
function adamRange(a: AdamJob, i0: number, i1: number): void {
  const { learningRate, beta1, beta2, epsilon, inverse1, inverse2 } = a;
  const n = i1 - i0;
  const dtype = dtypeOf(a.w);
  const arrays = [a.dw, a.m, a.v, a.outW, a.outM, a.outV];
  const wasm = n >= WASM_MIN_LENGTH && arrays.every((x) => dtypeOf(x) === dtype)
    ? layerKernels()
    : null;
  if (wasm !== null) {
    const kernel = dtype === "float32" ? wasm.exports.f32_adam : wasm.exports.f64_adam;
    const inputs = [a.w, a.dw, a.m, a.v].map((x) => x.subarray(i0, i1));
    const outputs: [number, FloatArray][] = [
      [0, a.outW.subarray(i0, i1)],
      [2, a.outM.subarray(i0, i1)],
      [3, a.outV.subarray(i0, i1)],
    ];
    streamThrough(wasm, dtype, n, inputs, outputs, ([wAt, dwAt, mAt, vAt], count) => {
      kernel(
        wAt,
        dwAt,
        mAt,
        vAt,
        count,
        learningRate,
        beta1,
        beta2,
        1 - beta1,
        1 - beta2,
        inverse1,
        inverse2,
        epsilon,
      );
    });
    return;
  }
  // Float32 arithmetic only when every array is float32; mixed storage computes in float64.
  if (dtype === "float32" && arrays.every((x) => dtypeOf(x) === "float32")) {
    adamRangeFloat32(a, i0, i1);
    return;
  }
  const { w, dw, m, v, outW, outM, outV } = a;
  for (let i = i0; i < i1; i++) {
    const g = dw[i];
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * (g * g);
    outM[i] = mi;
    outV[i] = vi;
    const mHat = mi * inverse1;
    const vHat = vi * inverse2;
    outW[i] = w[i] - (learningRate * mHat) / (Math.sqrt(vHat) + epsilon);
  }
}

/**
 * {@link adamRange}'s loop in float32 arithmetic: every operation rounded to float32
 * (`Math.fround` of a double result is the float32 result for +, −, ×, ÷ and √, since a
 * double holds the exact product and rounds the others only once more innocuously). The
 * WebAssembly kernel's `f32x4` operations, in the same order, give the same bits.
 */
function adamRangeFloat32(a: AdamJob, i0: number, i1: number): void {
  const f = Math.fround;
  const { w, dw, m, v, outW, outM, outV } = a;
  const learningRate = f(a.learningRate), epsilon = f(a.epsilon);
  const beta1 = f(a.beta1), beta2 = f(a.beta2);
  const oneMinusBeta1 = f(1 - a.beta1), oneMinusBeta2 = f(1 - a.beta2);
  const inverse1 = f(a.inverse1), inverse2 = f(a.inverse2);
  for (let i = i0; i < i1; i++) {
    const g = dw[i];
    const mi = f(f(beta1 * m[i]) + f(oneMinusBeta1 * g));
    const vi = f(f(beta2 * v[i]) + f(oneMinusBeta2 * f(g * g)));
    const step = f(learningRate * f(mi * inverse1));
    const scale = f(f(Math.sqrt(f(vi * inverse2))) + epsilon);
    outM[i] = mi;
    outV[i] = vi;
    outW[i] = f(w[i] - f(step / scale));
  }
}

/**
 * First-order update rules for training neural networks (cs231n `optim.py`).
 *
 * Every rule has the same interface, so the {@link Solver} can use any of them:
 *
 * ```text
 * const [nextW, nextConfig] = rule(w, dw, config);
 * ```
 *
 * - `w` holds the current weights, `dw` the gradient of the loss with respect to `w`
 *   (same shape and dtype).
 * - `config` holds the hyperparameters (learning rate, momentum, ...) and the optimizer
 *   state that must survive between steps (velocity, moving averages, step count). Missing
 *   fields are filled with the cs231n defaults; the same object is returned, updated, and
 *   must be passed back on the next step.
 *
 * Inputs are never modified: `nextW` is a fresh tensor, and so is a state tensor the first
 * time a rule writes it — exactly as the numpy reference rebinds new arrays
 * (`config["velocity"] = v`). On later steps a rule updates *its own* state tensors (the
 * ones it created and stored in `config`) in place instead of allocating new ones: the
 * values are the same, and a large layer no longer pays for fresh memory on every step
 * (for a 6272×100 float32 weight, two 2.5 MB allocations whose first touch cost ~0.75 ms
 * each — 1.5 ms of a 14 ms ThreeLayerConvNet step). A state tensor you put into `config`
 * yourself is never modified.
 *
 * @module
 */

import { getNumThreads } from "./parallel/worker_pool.ts";
import { allocate, isSharedStorage } from "./storage.ts";
import { sameShape, Tensor } from "./tensor.ts";
import {
  adamKernel,
  rmspropKernel,
  sgdKernel,
  sgdMomentumKernel,
} from "./kernels/optim_kernels.ts";

/**
 * Hyperparameters and state of an update rule (cs231n's `config` dict, in camelCase).
 * Each rule reads only its own fields and ignores the others.
 */
export interface OptimConfig {
  /** Step size (all rules). Default 1e-2, except 1e-3 for Adam. */
  learningRate?: number;
  /** sgdMomentum: momentum coefficient μ in [0, 1). Default 0.9. */
  momentum?: number;
  /** sgdMomentum: velocity, same shape as w. Default zeros. */
  velocity?: Tensor;
  /** rmsprop: decay rate of the squared-gradient cache, in [0, 1]. Default 0.99. */
  decayRate?: number;
  /** rmsprop and adam: small constant that avoids division by zero. Default 1e-8. */
  epsilon?: number;
  /** rmsprop: moving average of squared gradients. Default zeros. */
  cache?: Tensor;
  /** adam: decay rate of the first moment, in [0, 1). Default 0.9. */
  beta1?: number;
  /** adam: decay rate of the second moment, in [0, 1). Default 0.999. */
  beta2?: number;
  /** adam: moving average of the gradient. Default zeros. */
  m?: Tensor;
  /** adam: moving average of the squared gradient. Default zeros. */
  v?: Tensor;
  /** adam: number of steps taken so far. Default 0. */
  t?: number;
}

/** The common signature of the update rules. */
export type UpdateRule = (w: Tensor, dw: Tensor, config?: OptimConfig) => [Tensor, OptimConfig];

/** Names accepted by {@link getUpdateRule} (cs231n's snake_case and our camelCase). */
export type UpdateRuleName = "sgd" | "sgd_momentum" | "sgdMomentum" | "rmsprop" | "adam";

const CONFIG_FIELDS: ReadonlySet<string> = new Set([
  "learningRate",
  "momentum",
  "velocity",
  "decayRate",
  "epsilon",
  "cache",
  "beta1",
  "beta2",
  "m",
  "v",
  "t",
]);

/**
 * Vanilla stochastic gradient descent: `w - learningRate * dw`.
 *
 * config: `learningRate` (default 1e-2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgd } from "./optim.ts";
 * import { sameShape, Tensor } from "./tensor.ts";
 * const w = Tensor.fromArray([1, 2]);
 * const [next, config] = sgd(w, Tensor.fromArray([10, -10]));
 * assert.equal(config.learningRate, 1e-2);
 * assert.deepEqual(Array.from(next.data), [0.9, 2.1]);
 * ```
 */
export function sgd(w: Tensor, dw: Tensor, config: OptimConfig = {}): [Tensor, OptimConfig] {
  checkArguments("sgd", w, dw, config);
  const lr = hyperparameter("sgd", config, "learningRate", 1e-2, "finite");
  const nextW = nextWeights(w);
  sgdKernel(w.data, dw.data, lr, nextW.data);
  return [nextW, config];
}

/**
 * Stochastic gradient descent with momentum:
 * `v = momentum * v - learningRate * dw`, then `w + v`.
 *
 * config: `learningRate` (1e-2), `momentum` (0.9), `velocity` (zeros like w).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgdMomentum } from "./optim.ts";
 * import { sameShape, Tensor } from "./tensor.ts";
 * let w = Tensor.fromArray([0]);
 * let config = {};
 * for (let step = 0; step < 2; step++) [w, config] = sgdMomentum(w, Tensor.fromArray([1]), config);
 * // The velocity builds up: -0.01, then 0.9 * -0.01 - 0.01 = -0.019.
 * assert.ok(Math.abs(w.get(0) - -0.029) < 1e-15);
 * ```
 */
export function sgdMomentum(
  w: Tensor,
  dw: Tensor,
  config: OptimConfig = {},
): [Tensor, OptimConfig] {
  const rule = "sgdMomentum";
  checkArguments(rule, w, dw, config);
  const lr = hyperparameter(rule, config, "learningRate", 1e-2, "finite");
  const momentum = hyperparameter(rule, config, "momentum", 0.9, "finite");
  const velocity = stateTensor(rule, config, "velocity", w);
  const nextW = nextWeights(w);
  const nextVelocity = nextState(velocity);
  sgdMomentumKernel(w.data, dw.data, velocity.data, lr, momentum, nextW.data, nextVelocity.data);
  config.velocity = nextVelocity;
  return [nextW, config];
}

/**
 * RMSProp: a per-parameter step size from a moving average of squared gradients.
 * `cache = decayRate * cache + (1 - decayRate) * dw²`, then
 * `w - learningRate * dw / (sqrt(cache) + epsilon)`.
 *
 * config: `learningRate` (1e-2), `decayRate` (0.99), `epsilon` (1e-8), `cache` (zeros).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rmsprop } from "./optim.ts";
 * import { sameShape, Tensor } from "./tensor.ts";
 * const [next, config] = rmsprop(Tensor.fromArray([1]), Tensor.fromArray([3]));
 * // cache = 0.01 * 9, so the step is 1e-2 * 3 / sqrt(0.09) = 0.1 (up to epsilon).
 * assert.ok(Math.abs(next.get(0) - 0.9) < 1e-7);
 * assert.ok(Math.abs(config.cache!.get(0) - 0.09) < 1e-15);
 * ```
 */
export function rmsprop(w: Tensor, dw: Tensor, config: OptimConfig = {}): [Tensor, OptimConfig] {
  const rule = "rmsprop";
  checkArguments(rule, w, dw, config);
  const lr = hyperparameter(rule, config, "learningRate", 1e-2, "finite");
  const decayRate = hyperparameter(rule, config, "decayRate", 0.99, "unit");
  const epsilon = hyperparameter(rule, config, "epsilon", 1e-8, "nonNegative");
  const cache = stateTensor(rule, config, "cache", w);
  const nextW = nextWeights(w);
  const nextCache = nextState(cache);
  rmspropKernel(w.data, dw.data, cache.data, lr, decayRate, epsilon, nextW.data, nextCache.data);
  config.cache = nextCache;
  return [nextW, config];
}

/**
 * Adam: moving averages of the gradient and its square, with bias correction.
 * `t += 1; m = β1·m + (1-β1)·dw; v = β2·v + (1-β2)·dw²;`
 * `w - learningRate · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + epsilon)`.
 *
 * config: `learningRate` (1e-3), `beta1` (0.9), `beta2` (0.999), `epsilon` (1e-8),
 * `m`, `v` (zeros), `t` (0; incremented before the bias correction). Float32 tensors are
 * updated in float32 arithmetic, each operation rounded (the precision numpy uses for
 * float32 arrays, not its bits: the bias corrections are applied as reciprocals); float64
 * in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adam } from "./optim.ts";
 * import { sameShape, Tensor } from "./tensor.ts";
 * const [next, config] = adam(Tensor.fromArray([1, 1]), Tensor.fromArray([5, -0.2]));
 * // After bias correction the first step is ±learningRate, whatever the gradient's size.
 * assert.equal(config.t, 1);
 * assert.ok(Math.abs(next.get(0) - 0.999) < 1e-9 && Math.abs(next.get(1) - 1.001) < 1e-9);
 * ```
 */
export function adam(w: Tensor, dw: Tensor, config: OptimConfig = {}): [Tensor, OptimConfig] {
  const rule = "adam";
  checkArguments(rule, w, dw, config);
  const lr = hyperparameter(rule, config, "learningRate", 1e-3, "finite");
  const beta1 = hyperparameter(rule, config, "beta1", 0.9, "unitOpen");
  const beta2 = hyperparameter(rule, config, "beta2", 0.999, "unitOpen");
  const epsilon = hyperparameter(rule, config, "epsilon", 1e-8, "nonNegative");
  const m = stateTensor(rule, config, "m", w);
  const v = stateTensor(rule, config, "v", w);
  config.t ??= 0;
  if (!Number.isSafeInteger(config.t) || config.t < 0) {
    throw new Error(`${rule}: config.t must be a non-negative integer, got ${config.t}`);
  }
  const t = config.t + 1;
  const nextW = nextWeights(w);
  const nextM = nextState(m);
  const nextV = nextState(v);
  adamKernel(
    w.data,
    dw.data,
    m.data,
    v.data,
    lr,
    beta1,
    beta2,
    epsilon,
    t,
    nextW.data,
    nextM.data,
    nextV.data,
  );
  config.t = t;
  config.m = nextM;
  config.v = nextV;
  return [nextW, config];
}

/**
 * The update rules by name: cs231n's `"sgd"`, `"sgd_momentum"`, `"rmsprop"`, `"adam"`,
 * plus the camelCase alias `"sgdMomentum"`.
 */
export const UPDATE_RULES: Readonly<Record<UpdateRuleName, UpdateRule>> = Object.freeze({
  sgd,
  sgd_momentum: sgdMomentum,
  sgdMomentum,
  rmsprop,
  adam,
});

/**
 * Looks up an update rule by name (see {@link UPDATE_RULES}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adam, getUpdateRule } from "./optim.ts";
 * assert.equal(getUpdateRule("adam"), adam);
 * ```
 */
export function getUpdateRule(name: string): UpdateRule {
  if (typeof name === "string" && Object.hasOwn(UPDATE_RULES, name)) {
    return UPDATE_RULES[name as UpdateRuleName];
  }
  const valid = Object.keys(UPDATE_RULES).map((k) => `"${k}"`).join(", ");
  throw new Error(`getUpdateRule: unknown update rule ${JSON.stringify(name)}; valid: ${valid}`);
}

// ------------------------------------------------------------------ validation helpers

function checkArguments(rule: string, w: Tensor, dw: Tensor, config: OptimConfig): void {
  if (!(w instanceof Tensor) || !(dw instanceof Tensor)) {
    throw new Error(`${rule}: w and dw must be Tensors`);
  }
  if (!sameShape(w.shape, dw.shape) || w.dtype !== dw.dtype) {
    throw new Error(
      `${rule}: w and dw must have the same shape and dtype, got w ${w.dtype} [${w.shape}] ` +
        `and dw ${dw.dtype} [${dw.shape}]`,
    );
  }
  if (config === null || typeof config !== "object") {
    throw new Error(`${rule}: config must be an object, got ${config}`);
  }
  for (const key of Object.keys(config)) {
    if (!CONFIG_FIELDS.has(key)) {
      const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const hint = CONFIG_FIELDS.has(camel) ? ` (did you mean "${camel}"?)` : "";
      throw new Error(
        `${rule}: unknown config field "${key}"${hint}; known fields: ${[...CONFIG_FIELDS]}`,
      );
    }
  }
}

type Range = "finite" | "nonNegative" | "unit" | "unitOpen";

const RANGE_TEXT: Record<Range, string> = {
  finite: "a finite number",
  nonNegative: "a finite number ≥ 0",
  unit: "in [0, 1]",
  unitOpen: "in [0, 1)",
};

/** Reads a scalar hyperparameter, filling in the default and rejecting unusable values. */
function hyperparameter(
  rule: string,
  config: OptimConfig,
  key: "learningRate" | "momentum" | "decayRate" | "epsilon" | "beta1" | "beta2",
  fallback: number,
  range: Range,
): number {
  const value = config[key] ??= fallback;
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (range === "finite" ||
      (range === "nonNegative" && value >= 0) ||
      (range === "unit" && value >= 0 && value <= 1) ||
      // β = 1 would make the bias correction divide by 1 - 1^t = 0.
      (range === "unitOpen" && value >= 0 && value < 1));
  if (!ok) {
    throw new Error(`${rule}: config.${key} must be ${RANGE_TEXT[range]}, got ${value}`);
  }
  return value;
}

/** Reads a state tensor (zeros like `w` when absent), checking it matches `w`. */
function stateTensor(
  rule: string,
  config: OptimConfig,
  key: "velocity" | "cache" | "m" | "v",
  w: Tensor,
): Tensor {
  let state = config[key];
  if (state === undefined) {
    state = Tensor.zerosLike(w);
    ownState.add(state);
    config[key] = state;
  }
  if (!(state instanceof Tensor) || !sameShape(state.shape, w.shape) || state.dtype !== w.dtype) {
    const got = state instanceof Tensor ? `${state.dtype} [${state.shape}]` : String(state);
    throw new Error(
      `${rule}: config.${key} must be a Tensor like w (${w.dtype} [${w.shape}]), got ${got}`,
    );
  }
  return state;
}

/** State tensors the rules created themselves: theirs to update in place. */
const ownState = new WeakSet<Tensor>();

/**
 * The array for an update's new weights: fresh memory each step (the old weights may still
 * be in the caller's hands), and never the buffer pool's: the Solver gives each step's
 * grads back to the pool, and a grad has the weights' size, so the pool would hand out a
 * fresh SharedArrayBuffer here every step. On one thread it is plain memory, which the C allocator recycles once the old
 * arrays are collected: a fresh SharedArrayBuffer faults in every page (ThreeLayerConvNet's
 * W2, 2.5 MB: 330–350 faults per step against 85–110, and Adam on W2 2.8–3.4 → 2.4–2.5
 * ms). With worker threads it is shared memory all the same: the workers write it in
 * Adam, and the next step's GEMMs read it, and plain weights would be copied to shared
 * memory three times a step and back once (ThreeLayerConvNet on two threads, median of
 * five interleaved runs: 13.8 ms per step with plain weights, 11.7 with shared ones).
 */
function nextWeights(w: Tensor): Tensor {
  const shared = isSharedStorage() && getNumThreads() > 1;
  return new Tensor(allocate(w.dtype, w.size, shared), w.shape);
}

/**
 * Where a rule writes the next value of a state tensor: the tensor itself if the rule
 * created it (the kernels are elementwise, so reading and writing one array is safe), else
 * a fresh tensor that becomes the rule's own.
 */
function nextState(state: Tensor): Tensor {
  if (ownState.has(state)) return state;
  const fresh = Tensor.zerosLike(state);
  ownState.add(fresh);
  return fresh;
}

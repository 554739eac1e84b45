/**
 * `nn.init`: in-place initialisers (PyTorch's `torch.nn.init.*_` functions).
 *
 * @module
 */

import { getGlobalRng, type Rng } from "../rng.ts";
import type { Tensor } from "../tensor.ts";

/** Nonlinearities that {@link calculateGain} knows. */
export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu";

/** Options of the Kaiming initialisers (PyTorch's defaults). */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU after this layer (default 0). */
  a?: number;
  /** Scale by the fan-in (default, preserves forward variance) or the fan-out. */
  mode?: "fanIn" | "fanOut" | "fan_in" | "fan_out";
  /** The nonlinearity after this layer (default `"leaky_relu"`, with slope `a`). */
  nonlinearity?: Nonlinearity;
  /** Generator (default: the global one). */
  rng?: Rng;
}

/**
 * The recommended gain for a nonlinearity (PyTorch's `calculate_gain`): 1 for linear and
 * sigmoid, 5/3 for tanh, √2 for ReLU, `√(2 / (1 + a²))` for leaky ReLU of slope `a`.
 */
export function calculateGain(nonlinearity: Nonlinearity, a = 0): number {
  switch (nonlinearity) {
    case "linear":
    case "conv2d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu":
      return Math.sqrt(2 / (1 + a * a));
    default:
      throw new Error(
        `nn.init.calculateGain: unknown nonlinearity ${JSON.stringify(nonlinearity)}`,
      );
  }
}

/**
 * `[fanIn, fanOut]` of a weight, PyTorch's way: `fanIn = size(1) · receptive field`,
 * `fanOut = size(0) · receptive field` (a `Linear` weight `(out, in)` has fan-in `in`).
 */
export function fans(t: Tensor): [number, number] {
  if (t.ndim < 2) {
    throw new Error(`nn.init: fan in and fan out need at least 2 dims, got shape [${t.shape}]`);
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

function kaimingStd(fn: string, t: Tensor, options: KaimingOptions): number {
  const { a = 0, mode = "fanIn", nonlinearity = "leaky_relu" } = options;
  const [fanIn, fanOut] = fans(t);
  let fan: number;
  if (mode === "fanIn" || mode === "fan_in") fan = fanIn;
  else if (mode === "fanOut" || mode === "fan_out") fan = fanOut;
  else throw new Error(`${fn}: mode must be "fanIn" or "fanOut", got ${JSON.stringify(mode)}`);
  return calculateGain(nonlinearity, a) / Math.sqrt(fan);
}

/**
 * Fills `t` with `N(0, std²)`, `std = gain / √fan` (He et al.). Returns `t`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { kaimingNormal } from "./init.ts";
 * const w = kaimingNormal(Tensor.zeros([200, 500]), { nonlinearity: "relu", rng: new Rng(0) });
 * const std = Math.sqrt(w.square().mean().item());
 * assert.ok(Math.abs(std - Math.sqrt(2 / 500)) < 0.002);
 * ```
 */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  const std = kaimingStd("nn.init.kaimingNormal", t, options);
  return normal(t, { mean: 0, std, rng: options.rng });
}

/** Fills `t` with `U(−bound, bound)`, `bound = gain · √(3 / fan)`. Returns `t`. */
export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd("nn.init.kaimingUniform", t, options);
  return uniform(t, { low: -bound, high: bound, rng: options.rng });
}

/** Fills `t` with `U(−b, b)`, `b = gain · √(6 / (fanIn + fanOut))` (Glorot). Returns `t`. */
export function xavierUniform(t: Tensor, options: { gain?: number; rng?: Rng } = {}): Tensor {
  const [fanIn, fanOut] = fans(t);
  const bound = (options.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, { low: -bound, high: bound, rng: options.rng });
}

/** Fills `t` with `N(mean, std²)` (defaults 0 and 1). Returns `t`. */
export function normal(
  t: Tensor,
  options: { mean?: number; std?: number; rng?: Rng } = {},
): Tensor {
  const { mean = 0, std = 1 } = options;
  const rng = options.rng ?? getGlobalRng();
  for (let i = 0; i < t.size; i++) t.data[i] = mean + std * rng.normal();
  return t;
}

/** Fills `t` with `U(low, high)` (defaults 0 and 1). Returns `t`. */
export function uniform(
  t: Tensor,
  options: { low?: number; high?: number; rng?: Rng } = {},
): Tensor {
  const { low = 0, high = 1 } = options;
  const rng = options.rng ?? getGlobalRng();
  for (let i = 0; i < t.size; i++) t.data[i] = rng.uniform(low, high);
  return t;
}

/** Fills `t` with `value`. Returns `t`. */
export function constant(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/** Fills `t` with zeros. Returns `t`. */
export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

/** Fills `t` with ones. Returns `t`. */
export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

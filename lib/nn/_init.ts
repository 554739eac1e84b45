/**
 * PyTorch's default initialisation of weight layers, shared by `Linear`, `Conv2d` and
 * `ConvTranspose2d`.
 *
 * @module
 */

import type { Rng } from "../rng.ts";
import type { DType } from "../storage.ts";
import { Tensor } from "../tensor.ts";
import { fans, kaimingUniform, uniform } from "./init.ts";
import { Parameter } from "./parameter.ts";

/**
 * A weight of `shape` drawn as PyTorch's layers do: Kaiming-uniform with `a = √5`
 * (bound `1/√fanIn`), and its bias (when `biasSize` > 0) uniform in `±1/√fanIn`.
 */
export function defaultWeights(
  shape: number[],
  biasSize: number,
  dtype: DType,
  rng: Rng | undefined,
): [Parameter, Parameter | null] {
  const w = kaimingUniform(Tensor.zeros(shape, dtype), { a: Math.sqrt(5), rng });
  let b: Parameter | null = null;
  if (biasSize > 0) {
    const [fanIn] = fans(w);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    b = new Parameter(uniform(Tensor.zeros([biasSize], dtype), { low: -bound, high: bound, rng }));
  }
  return [new Parameter(w), b];
}

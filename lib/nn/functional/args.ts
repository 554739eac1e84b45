/**
 * Argument helpers shared by the functional ops.
 *
 * @module
 */

import { Tensor } from "../../tensor.ts";

/** Throws unless `t` is a Tensor, naming the op and the argument. */
export function checkTensor(fn: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new Error(`${fn}: ${name} must be a Tensor, got ${t}`);
  return t;
}

/** A size given as `n` or `[nH, nW]`, as a pair of integers ≥ `min`. */
export function pair(fn: string, name: string, v: number | readonly number[], min = 1): [
  number,
  number,
] {
  const p = typeof v === "number" ? [v, v] : [...v];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min} or a pair of them, got ${v}`);
  }
  return [p[0], p[1]];
}

/** A pair that the kernels take as one number: both entries must agree. */
export function single(fn: string, name: string, v: number | readonly number[], min = 1): number {
  const [a, b] = pair(fn, name, v, min);
  if (a !== b) {
    throw new Error(
      `${fn}: ${name} must be the same in both directions (the kernels take one value), ` +
        `got [${a}, ${b}]`,
    );
  }
  return a;
}

/** The same data viewed with another shape, outside the graph (for calling a layer). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(t.data, shape);
}

/**
 * `nn.Sequential`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/**
 * Modules applied one after the other. Children are named `0`, `1`, ... (or by the keys
 * of a record), which gives the state-dict keys `0.weight`, `1.bias`, ... as in PyTorch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { ReLU } from "./activation.ts";
 * import { Sequential } from "./container.ts";
 * import { Linear } from "./linear.ts";
 * const model = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2));
 * assert.deepEqual(Object.keys(model.stateDict()), ["0.weight", "0.bias", "2.weight", "2.bias"]);
 * assert.deepEqual(model.forward(Tensor.zeros([3, 4], "float32")).shape, [3, 2]);
 * const named = new Sequential({ fc: new Linear(4, 2) });
 * assert.deepEqual(Object.keys(named.stateDict()), ["fc.weight", "fc.bias"]);
 * ```
 */
export class Sequential extends Module {
  readonly #layers: [string, Module][];

  /** The modules in order, or a record of named modules. */
  constructor(...modules: Module[] | [Record<string, Module>]) {
    super();
    const entries: [string, Module][] = modules.length === 1 && !(modules[0] instanceof Module)
      ? Object.entries(modules[0] as Record<string, Module>)
      : (modules as Module[]).map((m, i) => [String(i), m]);
    for (const [name, m] of entries) {
      if (!(m instanceof Module)) {
        throw new Error(`Sequential: entry "${name}" is not a Module (got ${m})`);
      }
    }
    this.#layers = entries;
  }

  override namedChildren(): [string, Module][] {
    return [...this.#layers];
  }

  /** Number of modules. */
  get length(): number {
    return this.#layers.length;
  }

  /** The module at position `i` (negative counts from the end). */
  at(i: number): Module {
    const m = this.#layers.at(i);
    if (m === undefined) {
      throw new Error(`Sequential.at: index ${i} out of range (${this.length} modules)`);
    }
    return m[1];
  }

  /** Feeds `x` through every module in order. */
  override forward(x: Tensor): Tensor {
    for (const [, m] of this.#layers) x = m.forward(x);
    return x;
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.#layers.map(([, m]) => m)[Symbol.iterator]();
  }
}

/**
 * `nn.Flatten` and `nn.Identity`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { flatten } from "./functional/shape.ts";
import { Module, type ModuleOptions } from "./module.ts";

/**
 * Merges dims `startDim..endDim` (default `1..-1`: one row per example).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { Flatten } from "./shape.ts";
 * assert.deepEqual(new Flatten().forward(Tensor.zeros([2, 3, 4])).shape, [2, 12]);
 * ```
 */
export class Flatten extends Module {
  /** First merged dim. */
  readonly startDim: number;
  /** Last merged dim. */
  readonly endDim: number;

  /** Flattens dims `startDim..endDim`. */
  constructor(startDim = 1, endDim = -1, _options: ModuleOptions = {}) {
    super();
    this.startDim = startDim;
    this.endDim = endDim;
  }

  /** Applies `F.flatten`. */
  override forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** Returns its input unchanged (a placeholder in a `Sequential`). */
export class Identity extends Module {
  /** An identity (`options` are accepted like every module's). */
  constructor(_options: ModuleOptions = {}) {
    super();
  }

  /** Returns `x`. */
  override forward(x: Tensor): Tensor {
    return x;
  }
}

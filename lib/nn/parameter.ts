/**
 * `Parameter`: a tensor that a `Module` owns and trains.
 *
 * @module
 */

import { Tensor } from "../tensor.ts";

/**
 * A leaf tensor that requires grad (PyTorch's `nn.Parameter`). A module's fields holding a
 * `Parameter` are its parameters: `parameters()`, `stateDict()` and the optimizers find
 * them there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { Parameter } from "./parameter.ts";
 * const p = new Parameter(Tensor.zeros([2, 3], "float32"));
 * assert.ok(p.requiresGrad && p.dtype === "float32" && p.gradFn === null);
 * ```
 */
export class Parameter extends Tensor {
  /** Wraps the data of `t` (shared, not copied) as a parameter. */
  constructor(t: Tensor, requiresGrad = true) {
    super(t.data, t.shape);
    this.requiresGrad = requiresGrad;
  }
}

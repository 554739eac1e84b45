/**
 * `nn.Linear`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { linear } from "./functional/linear.ts";
import { Module, type ModuleOptions } from "./module.ts";
import type { Parameter } from "./parameter.ts";
import { defaultWeights } from "./_init.ts";

/**
 * A fully-connected layer `y = x·Wᵀ + b` with `weight (out, in)` and `bias (out,)`,
 * initialised as PyTorch does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { Linear } from "./linear.ts";
 * const fc = new Linear(784, 10);
 * assert.deepEqual(fc.forward(Tensor.zeros([50, 784], "float32")).shape, [50, 10]);
 * assert.throws(() => fc.forward(Tensor.zeros([50, 100], "float32")),
 *   /Linear\(in=784, out=10\) got input of shape \[50,100\]/);
 * ```
 */
export class Linear extends Module {
  /** `(outFeatures, inFeatures)`. */
  weight: Parameter;
  /** `(outFeatures,)`, or `null` without bias. */
  bias: Parameter | null;
  /** Input features. */
  readonly inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;

  /** A layer from `inFeatures` to `outFeatures` (with a bias unless `bias: false`). */
  constructor(
    inFeatures: number,
    outFeatures: number,
    options: ModuleOptions & { bias?: boolean } = {},
  ) {
    super();
    for (const [name, v] of [["inFeatures", inFeatures], ["outFeatures", outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`Linear: ${name} must be an integer ≥ 1, got ${v}`);
      }
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    [this.weight, this.bias] = defaultWeights(
      [outFeatures, inFeatures],
      options.bias === false ? 0 : outFeatures,
      options.dtype ?? "float32",
      options.rng,
    );
  }

  /** `x (*, in)` → `(*, out)`. */
  override forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw this.shapeError(x, `(*, ${this.inFeatures})`);
    }
    return linear(x, this.weight, this.bias);
  }

  override describe(): string {
    return `Linear(in=${this.inFeatures}, out=${this.outFeatures})`;
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${
      this.bias === null ? "False" : "True"
    }`;
  }
}

/**
 * `nn.ReLU` and `nn.LeakyReLU`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { leakyRelu, relu } from "./functional/activation.ts";
import { Module, type ModuleOptions } from "./module.ts";

/**
 * `max(0, x)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { ReLU } from "./activation.ts";
 * assert.deepEqual(new ReLU().forward(Tensor.fromArray([-1, 1])).toNested(), [0, 1]);
 * ```
 */
export class ReLU extends Module {
  /** A ReLU (`options` are accepted like every module's; it has no parameters). */
  constructor(_options: ModuleOptions = {}) {
    super();
  }

  /** Applies `F.relu`. */
  override forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** `x` where positive, `negativeSlope · x` elsewhere. */
export class LeakyReLU extends Module {
  /** Slope for negative inputs. */
  readonly negativeSlope: number;

  /** A leaky ReLU with `negativeSlope` (default 0.01). */
  constructor(negativeSlope = 0.01, _options: ModuleOptions = {}) {
    super();
    this.negativeSlope = negativeSlope;
  }

  /** Applies `F.leakyRelu`. */
  override forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }

  override extraRepr(): string {
    return `negative_slope=${this.negativeSlope}`;
  }
}

/**
 * `nn.MaxPool2d` and `nn.AvgPool2d`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { avgPool2d, maxPool2d, maxPool2dRelu } from "./functional/pool.ts";
import { Module, type ModuleOptions } from "./module.ts";

/** Options of the pooling modules. */
export interface PoolModuleOptions extends ModuleOptions {
  /** Step (default: the kernel size). */
  stride?: number;
  /** Padding on each side (default 0). */
  padding?: number;
}

/** What both pooling modules hold: the window, its step and the padding. */
abstract class Pool2d extends Module {
  /** Window side. */
  readonly kernelSize: number;
  /** Step. */
  readonly stride: number;
  /** Padding. */
  readonly padding: number;

  /** Windows of `kernelSize`, moving by `stride` (default `kernelSize`). */
  constructor(kernelSize: number, options: PoolModuleOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
  }

  /** The functional op of this module. */
  protected abstract pool: typeof maxPool2d;

  /** `(N, C, H, W)` → `(N, C, Ho, Wo)`. */
  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw this.shapeError(x, "(N, C, H, W)");
    return this.pool(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  override extraRepr(): string {
    return `kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.padding}`;
  }
}

/**
 * Max pooling over `kernelSize` windows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { MaxPool2d } from "./pooling.ts";
 * assert.deepEqual(new MaxPool2d(2).forward(Tensor.zeros([1, 3, 28, 28])).shape, [1, 3, 14, 14]);
 * ```
 */
export class MaxPool2d extends Pool2d {
  protected pool = maxPool2d;

  /**
   * `relu(this.forward(x))` as one op, `F.maxPool2dRelu`: the ReLU runs inside the
   * pooling's pass; bitwise the ReLU module after this one. `nn.Sequential` calls it for a
   * `ReLU` followed by a `MaxPool2d` (same output bits: ReLU is monotonic).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Tensor } from "../tensor.ts";
   * import { MaxPool2d } from "./pooling.ts";
   * const x = Tensor.fromArray([-3, -1, -2, -5], [1, 1, 2, 2]);
   * assert.deepEqual(new MaxPool2d(2).forwardRelu(x).toNested(), [[[[0]]]]);
   * ```
   */
  forwardRelu(x: Tensor): Tensor {
    if (x.ndim !== 4) throw this.shapeError(x, "(N, C, H, W)");
    return maxPool2dRelu(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, dilation=1, ceil_mode=False`;
  }
}

/** Average pooling over `kernelSize` windows (padding counts as zeros). */
export class AvgPool2d extends Pool2d {
  protected pool = avgPool2d;
}

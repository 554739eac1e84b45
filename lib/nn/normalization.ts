/**
 * `nn.BatchNorm1d`, `nn.BatchNorm2d`, `nn.LayerNorm`, `nn.GroupNorm`.
 *
 * @module
 */

import { checkBoolean } from "../checks.ts";
import { Tensor } from "../tensor.ts";
import {
  batchNorm,
  batchNormMaxPool2d,
  batchNormMaxPool2dFuses,
  groupNorm,
  layerNorm,
} from "./functional/normalization.ts";
import { relu as reluOp } from "./functional/activation.ts";
import { maxPool2d } from "./functional/pool.ts";
import { Module, type ModuleOptions } from "./module.ts";
import { Parameter } from "./parameter.ts";

/** Options of the batchnorm modules (PyTorch's names and defaults). */
export interface BatchNormModuleOptions extends ModuleOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of the new batch in the running averages (default 0.1). */
  momentum?: number;
  /** Learn `weight` and `bias` (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default true). */
  trackRunningStats?: boolean;
}

/** The shared implementation of `BatchNorm1d` and `BatchNorm2d`. */
abstract class BatchNormBase extends Module {
  /** Scale `(C,)` (ones at first), or `null` without `affine`. */
  weight: Parameter | null;
  /** Shift `(C,)` (zeros at first), or `null`. */
  bias: Parameter | null;
  /** Running mean `(C,)`, or `null` without `trackRunningStats`. */
  runningMean: Tensor | null = null;
  /** Running unbiased variance `(C,)`, or `null`. */
  runningVar: Tensor | null = null;
  /** Training batches seen (a 0-d int64 tensor), or `null`. */
  numBatchesTracked: Tensor | null = null;
  /** Channels. */
  readonly numFeatures: number;
  /** Added to the variance. */
  readonly eps: number;
  /** Weight of the new batch in the running averages. */
  readonly momentum: number;

  constructor(numFeatures: number, options: BatchNormModuleOptions) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(`${new.target.name}: numFeatures must be an integer ≥ 1, got ${numFeatures}`);
    }
    const dtype = options.dtype ?? "float32";
    this.numFeatures = numFeatures;
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== "number" || !Number.isFinite(this.eps) || this.eps <= 0) {
      throw new Error(`${new.target.name}: eps must be a finite number > 0, got ${this.eps}`);
    }
    this.momentum = options.momentum ?? 0.1;
    if (typeof this.momentum !== "number" || !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(
        `${new.target.name}: momentum must be a number in [0, 1], got ${this.momentum}`,
      );
    }
    const affine = options.affine ?? true;
    this.weight = affine ? new Parameter(Tensor.ones([numFeatures], dtype)) : null;
    this.bias = affine ? new Parameter(Tensor.zeros([numFeatures], dtype)) : null;
    if (options.trackRunningStats ?? true) {
      this.registerBuffer("runningMean", Tensor.zeros([numFeatures], dtype));
      this.registerBuffer("runningVar", Tensor.ones([numFeatures], dtype));
      this.registerBuffer("numBatchesTracked", Tensor.int64([0], []));
    }
  }

  /** Batch statistics in training mode (updating the running ones), else the running ones. */
  override forward(x: Tensor): Tensor {
    this.checkInput(x);
    const useBatch = this.training || this.runningMean === null;
    // Without running statistics, evaluation also normalizes with the batch's own.
    const out = batchNorm(
      x,
      this.runningMean,
      this.runningVar,
      {
        weight: this.weight,
        bias: this.bias,
        training: useBatch,
        momentum: this.momentum,
        eps: this.eps,
      },
    );
    // Counted once the batch went through (a call that throws changes nothing).
    if (this.training && this.numBatchesTracked !== null) this.numBatchesTracked.data[0] += 1;
    return out;
  }

  /** Throws unless `x` fits this layer. */
  protected abstract checkInput(x: Tensor): void;

  override describe(): string {
    return `${this.constructor.name}(${this.numFeatures})`;
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyNumber(this.eps)}, momentum=${pyNumber(this.momentum)}, ` +
      `affine=${this.weight !== null ? "True" : "False"}, track_running_stats=${
        this.runningMean !== null ? "True" : "False"
      }`;
  }
}

/**
 * Batch normalization of `(N, C)` or `(N, C, L)` inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { BatchNorm1d } from "./normalization.ts";
 * const bn = new BatchNorm1d(3);
 * bn.forward(Tensor.fromArray([[1, 2, 3], [3, 4, 5]], undefined, "float32"));
 * assert.ok(Math.abs(bn.runningMean!.get(0) - 0.2) < 1e-7);
 * assert.deepEqual(Object.keys(bn.stateDict()),
 *   ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]);
 * ```
 */
export class BatchNorm1d extends BatchNormBase {
  /** Batchnorm over `numFeatures` channels. */
  constructor(numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(numFeatures, options);
  }

  protected checkInput(x: Tensor): void {
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[1] !== this.numFeatures) {
      throw this.shapeError(x, `(N, ${this.numFeatures}) or (N, ${this.numFeatures}, L)`);
    }
  }
}

/**
 * Batch normalization of `(N, C, H, W)` inputs, per channel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { BatchNorm2d } from "./normalization.ts";
 * const bn = new BatchNorm2d(2);
 * assert.throws(() => bn.forward(Tensor.zeros([4, 3, 5, 5], "float32")),
 *   /BatchNorm2d\(2\) got input of shape \[4,3,5,5\]/);
 * ```
 */
export class BatchNorm2d extends BatchNormBase {
  /** Batchnorm over `numFeatures` channels. */
  constructor(numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(numFeatures, options);
  }

  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw this.shapeError(x, `(N, ${this.numFeatures}, H, W)`);
    }
  }

  /**
   * Whether {@link forwardMaxPool2x2} runs fused for `x`: a `BatchNorm2d` itself (not a
   * subclass, whose `forward` may differ) in training mode, and an `x` that fits it and
   * that `F.batchNormMaxPool2d` fuses (float32, even height and width, the WebAssembly
   * kernels). `nn.Sequential` fuses a `BatchNorm2d` with the 2×2 `MaxPool2d` after it only
   * then, and only when all its modules are the library's own (as for its recycling).
   */
  fusesMaxPool2x2(x: Tensor): boolean {
    return Object.getPrototypeOf(this) === BatchNorm2d.prototype &&
      !Object.hasOwn(this, "forward") && this.training &&
      x instanceof Tensor && x.ndim === 4 && x.shape[1] === this.numFeatures &&
      batchNormMaxPool2dFuses(x, this.runningMean, this.runningVar, {
        weight: this.weight,
        bias: this.bias,
      });
  }

  /**
   * `maxPool2d(this.forward(x), 2)`: this layer followed by 2×2 max pooling with stride 2,
   * then by a ReLU when `relu` is true. Where {@link fusesMaxPool2x2} holds it runs as one
   * op (`F.batchNormMaxPool2d`: bitwise the same output, running statistics and gradients,
   * without storing the normalized activation); otherwise it is that composition.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Tensor } from "../tensor.ts";
   * import { BatchNorm2d } from "./normalization.ts";
   * const bn = new BatchNorm2d(3);
   * const x = Tensor.ones([2, 3, 4, 6], "float32");
   * assert.deepEqual(bn.forwardMaxPool2x2(x).shape, [2, 3, 2, 3]);
   * assert.equal(bn.numBatchesTracked!.data[0], 1);
   * ```
   */
  forwardMaxPool2x2(x: Tensor, relu = false): Tensor {
    if (x instanceof Tensor && x.ndim === 4 && (x.shape[2] < 2 || x.shape[3] < 2)) {
      // Before forward() would update the running statistics.
      throw this.shapeError(x, `(N, ${this.numFeatures}, H, W) with H and W at least 2`);
    }
    checkBoolean("BatchNorm2d.forwardMaxPool2x2", "relu", relu);
    if (!this.fusesMaxPool2x2(x)) {
      const pooled = maxPool2d(this.forward(x), 2);
      return relu ? reluOp(pooled) : pooled;
    }
    const pooled = batchNormMaxPool2d(x, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      momentum: this.momentum,
      eps: this.eps,
      relu,
    });
    // Counted once the batch went through, as forward() counts it.
    if (this.numBatchesTracked !== null) this.numBatchesTracked.data[0] += 1;
    return pooled;
  }
}

/** Options of {@link LayerNorm} and {@link GroupNorm}. */
export interface NormModuleOptions extends ModuleOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learn a scale and shift (default true; PyTorch's `elementwise_affine` / `affine`). */
  affine?: boolean;
}

/**
 * Layer normalization over the trailing dims `normalizedShape`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { LayerNorm } from "./normalization.ts";
 * const ln = new LayerNorm([4]);
 * assert.deepEqual(ln.forward(Tensor.zeros([2, 4], "float32")).shape, [2, 4]);
 * ```
 */
export class LayerNorm extends Module {
  /** Scale shaped like `normalizedShape`, or `null`. */
  weight: Parameter | null;
  /** Shift, or `null`. */
  bias: Parameter | null;
  /** The normalized trailing dims. */
  readonly normalizedShape: number[];
  /** Added to the variance. */
  readonly eps: number;

  /** Normalizes over `normalizedShape` (a number means `[n]`). */
  constructor(normalizedShape: number | readonly number[], options: NormModuleOptions = {}) {
    super();
    const dtype = options.dtype ?? "float32";
    this.normalizedShape = typeof normalizedShape === "number"
      ? [normalizedShape]
      : [...normalizedShape];
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = affine ? new Parameter(Tensor.ones(this.normalizedShape, dtype)) : null;
    this.bias = affine ? new Parameter(Tensor.zeros(this.normalizedShape, dtype)) : null;
  }

  /** `(*, ...normalizedShape)` → same shape. */
  override forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    if (x.ndim < k || x.shape.slice(x.ndim - k).some((d, i) => d !== this.normalizedShape[i])) {
      throw this.shapeError(x, `(*, ${this.normalizedShape.join(", ")})`);
    }
    return layerNorm(x, this.normalizedShape, {
      weight: this.weight,
      bias: this.bias,
      eps: this.eps,
    });
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(", ")}${this.normalizedShape.length === 1 ? "," : ""}), ` +
      `eps=${pyNumber(this.eps)}, elementwise_affine=${this.weight !== null ? "True" : "False"}`;
  }
}

/**
 * Group normalization of `(N, C, *)` in `numGroups` groups of channels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { GroupNorm } from "./normalization.ts";
 * const gn = new GroupNorm(2, 4);
 * assert.deepEqual(gn.forward(Tensor.zeros([2, 4, 3, 3], "float32")).shape, [2, 4, 3, 3]);
 * ```
 */
export class GroupNorm extends Module {
  /** Scale `(C,)`, or `null`. */
  weight: Parameter | null;
  /** Shift `(C,)`, or `null`. */
  bias: Parameter | null;
  /** Groups. */
  readonly numGroups: number;
  /** Channels. */
  readonly numChannels: number;
  /** Added to the variance. */
  readonly eps: number;

  /** `numChannels` channels in `numGroups` groups (which must divide it). */
  constructor(numGroups: number, numChannels: number, options: NormModuleOptions = {}) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: numGroups ${numGroups} must divide numChannels ${numChannels}`);
    }
    const dtype = options.dtype ?? "float32";
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = affine ? new Parameter(Tensor.ones([numChannels], dtype)) : null;
    this.bias = affine ? new Parameter(Tensor.zeros([numChannels], dtype)) : null;
  }

  /** `(N, C, *)` → same shape. */
  override forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw this.shapeError(x, `(N, ${this.numChannels}, *)`);
    }
    return groupNorm(x, this.numGroups, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyNumber(this.eps)}, affine=${
      this.weight !== null ? "True" : "False"
    }`;
  }
}

/** Numbers as Python prints them (`1e-05`, `0.1`). */
function pyNumber(v: number): string {
  const s = v !== 0 && Math.abs(v) < 1e-4 ? v.toExponential() : String(v);
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

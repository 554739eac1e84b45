/**
 * `nn.Conv2d` and `nn.ConvTranspose2d`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { convCore, type ConvPadding, convPads, convTranspose2d } from "./functional/conv.ts";
import { pad } from "./functional/pad.ts";
import { pair, single } from "./functional/args.ts";
import { Module, type ModuleOptions } from "./module.ts";
import type { Parameter } from "./parameter.ts";
import { defaultWeights } from "./_init.ts";

/** How `Conv2d` fills its padding: zeros, or `F.pad`'s other modes. */
export type PaddingMode = "zeros" | "reflect" | "replicate" | "circular";

/** Options of {@link Conv2d} (PyTorch's names and defaults). */
export interface Conv2dModuleOptions extends ModuleOptions {
  /** Step (default 1). */
  stride?: number | readonly number[];
  /** Padding (default 0): number, pair, `"same"` or `"valid"`. */
  padding?: ConvPadding;
  /** Spacing between taps (default 1). */
  dilation?: number | readonly number[];
  /** Channel groups (default 1). */
  groups?: number;
  /** Learn a bias (default true). */
  bias?: boolean;
  /** How the padding is filled (default `"zeros"`). */
  paddingMode?: PaddingMode;
}

const PADDING_MODES: readonly PaddingMode[] = ["zeros", "reflect", "replicate", "circular"];

/**
 * A 2-d convolution with `weight (out, in/groups, kH, kW)` and `bias (out,)`, PyTorch's
 * default initialisation, any padding mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { Conv2d } from "./conv.ts";
 * const conv = new Conv2d(1, 4, 3, { padding: "same", paddingMode: "reflect" });
 * assert.deepEqual(conv.forward(Tensor.zeros([2, 1, 5, 5], "float32")).shape, [2, 4, 5, 5]);
 * assert.throws(() => new Conv2d(1, 4, 3, { paddingMode: "mirror" as "reflect" }),
 *   /unknown paddingMode "mirror"/);
 * ```
 */
export class Conv2d extends Module {
  /** `(outChannels, inChannels / groups, kH, kW)`. */
  weight: Parameter;
  /** `(outChannels,)` or `null`. */
  bias: Parameter | null;
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** `[kH, kW]`. */
  readonly kernelSize: [number, number];
  /** Step. */
  readonly stride: number;
  /** The padding as given. */
  readonly padding: ConvPadding;
  /** Spacing between taps. */
  readonly dilation: number;
  /** Channel groups. */
  readonly groups: number;
  /** How the padding is filled. */
  readonly paddingMode: PaddingMode;
  readonly #pads: [number, number, number, number];

  /** A convolution from `inChannels` to `outChannels` with `kernelSize` windows. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | readonly number[],
    options: Conv2dModuleOptions = {},
  ) {
    super();
    const fn = "Conv2d";
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1 || inChannels % groups || outChannels % groups) {
      throw new Error(
        `${fn}: groups ${groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`,
      );
    }
    const paddingMode = options.paddingMode ?? "zeros";
    if (!PADDING_MODES.includes(paddingMode)) {
      throw new Error(
        `${fn}: unknown paddingMode ${JSON.stringify(paddingMode)}; expected one of ` +
          PADDING_MODES.map((m) => `"${m}"`).join(", "),
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(fn, "kernelSize", kernelSize);
    this.stride = single(fn, "stride", options.stride ?? 1);
    this.dilation = single(fn, "dilation", options.dilation ?? 1);
    this.groups = groups;
    this.padding = options.padding ?? 0;
    this.paddingMode = paddingMode;
    this.#pads = convPads(fn, this.padding, this.kernelSize, this.dilation, this.stride);
    [this.weight, this.bias] = defaultWeights(
      [outChannels, inChannels / groups, ...this.kernelSize],
      options.bias === false ? 0 : outChannels,
      options.dtype ?? "float32",
      options.rng,
    );
  }

  /** `x (N, in, H, W)` → `(N, out, Ho, Wo)`. */
  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw this.shapeError(x, `(N, ${this.inChannels}, H, W)`);
    }
    const pads = this.#pads;
    const symmetric = pads.every((p) => p === pads[0]);
    let input = x, padAmount = pads[0];
    if (this.paddingMode !== "zeros" || !symmetric) {
      if (pads.some((p) => p > 0)) {
        input = pad(x, pads, this.paddingMode === "zeros" ? "constant" : this.paddingMode);
      }
      padAmount = 0;
    }
    return convCore(input, this.weight, this.bias, {
      stride: this.stride,
      pad: padAmount,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override describe(): string {
    return `Conv2d(in=${this.inChannels}, out=${this.outChannels})`;
  }

  override extraRepr(): string {
    const [kh, kw] = this.kernelSize;
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=(${kh}, ${kw}), ` +
      `stride=(${this.stride}, ${this.stride})`;
    if (typeof this.padding === "string") s += `, padding=${this.padding}`;
    else {
      const [ph, pw] = pair("Conv2d", "padding", this.padding, 0);
      if (ph !== 0 || pw !== 0) s += `, padding=(${ph}, ${pw})`;
    }
    if (this.dilation !== 1) s += `, dilation=(${this.dilation}, ${this.dilation})`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ", bias=False";
    if (this.paddingMode !== "zeros") s += `, padding_mode=${this.paddingMode}`;
    return s;
  }
}

/** Options of {@link ConvTranspose2d}. */
export interface ConvTranspose2dModuleOptions extends ModuleOptions {
  /** Stride of the underlying convolution (default 1). */
  stride?: number;
  /** Padding of the underlying convolution (default 0). */
  padding?: number;
  /** Extra rows/columns at the bottom/right (default 0). */
  outputPadding?: number;
  /** Channel groups (default 1). */
  groups?: number;
  /** Spacing between taps (default 1). */
  dilation?: number;
  /** Learn a bias (default true). */
  bias?: boolean;
}

/**
 * A transposed convolution with `weight (in, out/groups, kH, kW)` and `bias (out,)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { ConvTranspose2d } from "./conv.ts";
 * const up = new ConvTranspose2d(4, 2, 2, { stride: 2 });
 * assert.deepEqual(up.forward(Tensor.zeros([1, 4, 3, 3], "float32")).shape, [1, 2, 6, 6]);
 * ```
 */
export class ConvTranspose2d extends Module {
  /** `(inChannels, outChannels / groups, kH, kW)`. */
  weight: Parameter;
  /** `(outChannels,)` or `null`. */
  bias: Parameter | null;
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** `[kH, kW]`. */
  readonly kernelSize: [number, number];
  readonly #options: ConvTranspose2dModuleOptions;

  /** A transposed convolution from `inChannels` to `outChannels`. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | readonly number[],
    options: ConvTranspose2dModuleOptions = {},
  ) {
    super();
    const groups = options.groups ?? 1;
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair("ConvTranspose2d", "kernelSize", kernelSize);
    this.#options = { ...options, groups };
    [this.weight, this.bias] = defaultWeights(
      [inChannels, outChannels / groups, ...this.kernelSize],
      options.bias === false ? 0 : outChannels,
      options.dtype ?? "float32",
      options.rng,
    );
  }

  /** `x (N, in, H, W)` → `(N, out, Ho, Wo)`. */
  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw this.shapeError(x, `(N, ${this.inChannels}, H, W)`);
    }
    const { stride, padding, outputPadding, groups, dilation } = this.#options;
    return convTranspose2d(x, this.weight, this.bias, {
      stride,
      padding,
      outputPadding,
      groups,
      dilation,
    });
  }

  override describe(): string {
    return `ConvTranspose2d(in=${this.inChannels}, out=${this.outChannels})`;
  }

  override extraRepr(): string {
    const [kh, kw] = this.kernelSize;
    const s = this.#options.stride ?? 1;
    return `${this.inChannels}, ${this.outChannels}, kernel_size=(${kh}, ${kw}), stride=(${s}, ${s})`;
  }
}

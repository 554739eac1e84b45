/**
 * `F.conv2d` and `F.convTranspose2d`, on the fast convolution layers.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { convBackwardFast, convForwardFast, convParamGradsFast } from "../../layers/conv_fast.ts";
import { convTransposeBackward, convTransposeForward } from "../../layers/conv_transpose.ts";
import { Tensor } from "../../tensor.ts";
import { pad as padOp, type PadMode } from "./pad.ts";
import { checkTensor, pair, single } from "./args.ts";

/** Padding of a convolution: pixels on each side (one number or `[pH, pW]`), or a name. */
export type ConvPadding = number | readonly number[] | "same" | "valid";

/** Options of {@link conv2d}, PyTorch's names and defaults. */
export interface Conv2dOptions {
  /** Step between windows (default 1); the kernels take the same value in both directions. */
  stride?: number | readonly number[];
  /**
   * Zero padding (default 0): a number, `[pH, pW]`, `"valid"` (none) or `"same"` (output
   * as large as the input; stride 1 only; an odd total puts the extra pixel at the
   * bottom/right, as PyTorch does).
   */
  padding?: ConvPadding;
  /** Spacing between kernel taps (default 1). */
  dilation?: number | readonly number[];
  /** Channel groups (default 1). */
  groups?: number;
}

/**
 * Resolves a padding to PyTorch `F.pad` order `[left, right, top, bottom]` for a kernel of
 * `kernelSize` with `dilation` and `stride`.
 */
export function convPads(
  fn: string,
  padding: ConvPadding,
  kernelSize: readonly [number, number],
  dilation: number,
  stride: number,
): [number, number, number, number] {
  if (padding === "valid") return [0, 0, 0, 0];
  if (padding === "same") {
    if (stride !== 1) {
      throw new Error(
        `${fn}: padding "same" is not supported for strided convolutions (stride ${stride})`,
      );
    }
    const [th, tw] = kernelSize.map((k) => dilation * (k - 1));
    const top = Math.floor(th / 2), left = Math.floor(tw / 2);
    return [left, tw - left, top, th - top];
  }
  if (typeof padding === "string") {
    throw new Error(`${fn}: padding must be a number, a pair, "same" or "valid", got "${padding}"`);
  }
  const [ph, pw] = pair(fn, "padding", padding, 0);
  return [pw, pw, ph, ph];
}

/**
 * 2-d convolution (PyTorch's `F.conv2d`, a cross-correlation): `x (N, C, H, W)`,
 * `w (F, C/groups, kH, kW)`, optional `b (F,)` → `(N, F, Ho, Wo)`. Runs on
 * `convForwardFast`; the backward pass uses `convBackwardFast`, or `convParamGradsFast`
 * when `x` needs no gradient (a network's first layer). Padding the same on all sides goes
 * to the kernel; other paddings go through {@link padOp} first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { conv2d } from "./conv.ts";
 * const x = Tensor.ones([1, 1, 3, 3]);
 * const w = Tensor.ones([1, 1, 2, 2], { requiresGrad: true });
 * const y = conv2d(x, w, null, { padding: "same" });
 * assert.deepEqual(y.toNested(), [[[[4, 4, 2], [4, 4, 2], [2, 2, 1]]]]);
 * y.sum().backward();
 * assert.deepEqual(w.grad?.toNested(), [[[[9, 6], [6, 4]]]]);
 * ```
 */
export function conv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  const fn = "F.conv2d";
  checkTensor(fn, "x", x);
  checkTensor(fn, "w", w);
  if (w.ndim !== 4) {
    throw new Error(`${fn}: w must be 4-d (F, C/groups, kH, kW), got shape [${w.shape}]`);
  }
  const stride = single(fn, "stride", options.stride ?? 1);
  const dilation = single(fn, "dilation", options.dilation ?? 1);
  const groups = options.groups ?? 1;
  const pads = convPads(fn, options.padding ?? 0, [w.shape[2], w.shape[3]], dilation, stride);
  let input = x;
  let pad = pads[0];
  if (pads.some((p) => p !== pads[0])) {
    input = padOp(x, pads, "constant");
    pad = 0;
  }
  return convCore(input, w, b, { stride, pad, dilation, groups });
}

/**
 * The convolution with one padding on all sides, recorded as one node. Exposed for
 * `nn.Conv2d`, which pads in its own mode first.
 */
export function convCore(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  param: { stride: number; pad: number; dilation: number; groups: number },
): Tensor {
  if (x.ndim === 4 && w.ndim === 4) {
    // The kernel wants windows that tile the padded input exactly; PyTorch drops the rows
    // and columns no window reaches, so crop them (a negative pad) first.
    const unused = [2, 3].map((d) => {
      const span = x.shape[d] + 2 * param.pad - param.dilation * (w.shape[d] - 1) - 1;
      return span >= 0 ? span % param.stride : 0;
    });
    if (unused[0] > 0 || unused[1] > 0) {
      const p = param.pad;
      const cropped = padOp(x, [p, p - unused[1], p, p - unused[0]], "constant");
      return convCore(cropped, w, b, { ...param, pad: 0 });
    }
  }
  const bias = b ?? Tensor.zeros([w.shape[0]], w.dtype);
  const [out, cache] = convForwardFast(x.detach(), w.detach(), bias.detach(), param);
  if (needsGrad(x, w, b)) {
    const inputs = b === null ? [x, w] : [x, w, b];
    recordOp(out, "conv2d", inputs, (g) => {
      if (x.requiresGrad) return convBackwardFast(g, cache);
      const [dw, db] = convParamGradsFast(g, cache);
      return [null, dw, db];
    });
  }
  return out;
}

/** Options of {@link convTranspose2d}, PyTorch's names and defaults. */
export interface ConvTranspose2dOptions {
  /** Stride of the underlying convolution (default 1). */
  stride?: number | readonly number[];
  /** Padding of the underlying convolution (default 0). */
  padding?: number | readonly number[];
  /** Extra rows/columns at the bottom/right (default 0). */
  outputPadding?: number | readonly number[];
  /** Channel groups (default 1). */
  groups?: number;
  /** Spacing between kernel taps (default 1). */
  dilation?: number | readonly number[];
}

/**
 * Transposed convolution (PyTorch's `F.conv_transpose2d`): `x (N, Cin, H, W)`,
 * `w (Cin, Cout/groups, kH, kW)`, optional `b (Cout,)`. Runs on `convTransposeForward` /
 * `convTransposeBackward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { convTranspose2d } from "./conv.ts";
 * const y = convTranspose2d(Tensor.ones([1, 1, 2, 2]), Tensor.ones([1, 1, 2, 2]), null, {
 *   stride: 2,
 * });
 * assert.deepEqual(y.shape, [1, 1, 4, 4]);
 * ```
 */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null = null,
  options: ConvTranspose2dOptions = {},
): Tensor {
  const fn = "F.convTranspose2d";
  checkTensor(fn, "x", x);
  checkTensor(fn, "w", w);
  if (w.ndim !== 4) {
    throw new Error(`${fn}: w must be 4-d (Cin, Cout/groups, kH, kW), got shape [${w.shape}]`);
  }
  const groups = options.groups ?? 1;
  const param = {
    stride: single(fn, "stride", options.stride ?? 1),
    pad: single(fn, "padding", options.padding ?? 0, 0),
    outputPadding: single(fn, "outputPadding", options.outputPadding ?? 0, 0),
    dilation: single(fn, "dilation", options.dilation ?? 1),
    groups,
  };
  const bias = b ?? Tensor.zeros([w.shape[1] * groups], w.dtype);
  const [out, cache] = convTransposeForward(x.detach(), w.detach(), bias.detach(), param);
  if (needsGrad(x, w, b)) {
    recordOp(
      out,
      "convTranspose2d",
      b === null ? [x, w] : [x, w, b],
      (g) => convTransposeBackward(g, cache),
    );
  }
  return out;
}

export type { PadMode };

/**
 * The transposed convolution ("deconvolution"), with PyTorch `ConvTranspose2d` semantics:
 * `stride`, `pad`, `outputPadding`, `dilation` and `groups`.
 *
 * A transposed convolution is the adjoint of a convolution: its forward pass is exactly the
 * input-gradient computation of the convolution that has the same weights, and its backward
 * pass is that convolution's forward pass (for `dx`) and weight gradient (for `dw`, with the
 * roles of input and output swapped). So it runs on the same range functions as
 * `convForwardFast` / `convBackwardFast`, via the geometry of that underlying convolution.
 *
 * Shapes: `x (N, Cin, H, W)`, `w (Cin, Cout/groups, HH, WW)` (PyTorch's layout: the
 * underlying convolution maps `Cout` channels to `Cin`), `b (Cout,)`, output
 * `(N, Cout, Ho, Wo)` with `Ho = (H − 1)·stride − 2·pad + dilation·(HH − 1) + outputPadding
 * + 1`, likewise `Wo`.
 *
 * @module
 */

import { Tensor } from "../tensor.ts";
import {
  convBackwardRange,
  convChunkCount,
  convForwardRange,
  type ConvGeometry,
  sumPartials,
} from "../kernels/conv.ts";
import { defaultScratch } from "../scratch.ts";
import { checkConvDout, checkConvParam, checkConvTensors } from "./conv.ts";

/** Hyper-parameters of a transposed convolution (PyTorch `ConvTranspose2d`'s). */
export interface ConvTransposeParam {
  /** Stride of the underlying convolution: the output is about `stride` times larger. */
  stride: number;
  /** Padding of the underlying convolution: removes `pad` rows/columns on each side. */
  pad: number;
  /**
   * Extra rows and columns added at the bottom and right (default 0), to pick among the
   * output sizes that a strided convolution maps to the same input size. Must be smaller
   * than `stride` or than `dilation`.
   */
  outputPadding?: number;
  /** Spacing between kernel taps (default 1). */
  dilation?: number;
  /** Channel groups (default 1); must divide `Cin` and `Cout`. */
  groups?: number;
}

/** What {@link convTransposeForward} keeps: its inputs `(x, w, b, param)`. */
export type ConvTransposeCache = [x: Tensor, w: Tensor, b: Tensor, param: ConvTransposeParam];

/**
 * The transposed convolution of `x` with weights `w` plus the bias `b`. Returns
 * `[out (N, Cout, Ho, Wo), cache]`; the dtype of the inputs (which must agree) is kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convTransposeForward } from "./conv_transpose.ts";
 * // Each input pixel stamps the 2×2 kernel, scaled by its value, at twice its position.
 * const x = Tensor.fromArray([[[[1, 2]]]]); // (1, 1, 1, 2)
 * const w = Tensor.fromArray([[[[1, 10], [100, 1000]]]]); // (1, 1, 2, 2)
 * const [out] = convTransposeForward(x, w, Tensor.zeros([1]), { stride: 2, pad: 0 });
 * assert.deepEqual(out.toNested(), [[[[1, 10, 2, 20], [100, 1000, 200, 2000]]]]);
 * ```
 */
export function convTransposeForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  param: ConvTransposeParam,
): [Tensor, ConvTransposeCache] {
  const g = transposeGeometry("convTransposeForward", x, w, b, param);
  const out = Tensor.zeros([g.batch, g.channels, g.height, g.width], x.dtype);
  // The underlying convolution's input gradient, with x in the role of its dout.
  convBackwardRange(x.data, null, w.data, g, 0, g.batch, out.data, null, null, defaultScratch);
  const plane = g.height * g.width;
  for (let n = 0, o = 0; n < g.batch; n++) {
    for (let c = 0; c < g.channels; c++) {
      const bias = b.data[c];
      for (let p = 0; p < plane; p++, o++) out.data[o] += bias;
    }
  }
  return [out, [x, w, b, param]];
}

/**
 * Backward pass of {@link convTransposeForward}: from `dout (N, Cout, Ho, Wo)` returns
 * `[dx, dw, db]` shaped like `x`, `w` and `b`. `dx` is the underlying convolution of `dout`
 * (no bias), `db` sums `dout` over examples and pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convTransposeBackward, convTransposeForward } from "./conv_transpose.ts";
 * const x = Tensor.fromArray([[[[1, 2]]]]);
 * const w = Tensor.fromArray([[[[1, 10], [100, 1000]]]]);
 * const [, cache] = convTransposeForward(x, w, Tensor.zeros([1]), { stride: 2, pad: 0 });
 * const [dx, dw, db] = convTransposeBackward(Tensor.ones([1, 1, 2, 4]), cache);
 * assert.deepEqual(dx.toNested(), [[[[1111, 1111]]]]);
 * assert.deepEqual(dw.toNested(), [[[[3, 3], [3, 3]]]]);
 * assert.equal(db.get(0), 8);
 * ```
 */
export function convTransposeBackward(
  dout: Tensor,
  cache: ConvTransposeCache,
): [Tensor, Tensor, Tensor] {
  const fn = "convTransposeBackward";
  if (!Array.isArray(cache) || cache.length !== 4) {
    throw new Error(`${fn}: cache must be the [x, w, b, param] returned by convTransposeForward`);
  }
  const [x, w, b, param] = cache;
  const g = transposeGeometry(fn, x, w, b, param);
  checkConvDout(fn, dout, [g.batch, g.channels, g.height, g.width], x);

  const dx = Tensor.zeros(x.shape, x.dtype);
  convForwardRange(dout.data, w.data, null, g, dx.data, 0, g.batch, defaultScratch);

  // dw: the underlying convolution's weight gradient, its input being our dout and its
  // output gradient our x.
  const slots = convChunkCount(g);
  const dwPartials = defaultScratch.get("convT.dwPartials", x.dtype, slots * w.size);
  convBackwardRange(x.data, dout.data, w.data, g, 0, g.batch, null, dwPartials, null);
  const dw = Tensor.zeros(w.shape, w.dtype);
  sumPartials(dwPartials, slots, w.size, dw.data, defaultScratch);

  const sums = new Float64Array(g.channels);
  const plane = g.height * g.width;
  for (let n = 0, o = 0; n < g.batch; n++) {
    for (let c = 0; c < g.channels; c++) {
      let acc = 0;
      for (let p = 0; p < plane; p++, o++) acc += dout.data[o];
      sums[c] += acc;
    }
  }
  const db = Tensor.zeros(b.shape, b.dtype);
  db.data.set(sums);
  return [dx, dw, db];
}

/**
 * Validates a transposed convolution's inputs and returns the geometry of the underlying
 * convolution: its input is our output `(N, Cout, Ho, Wo)`, its output our input
 * `(N, Cin, H, W)`.
 */
function transposeGeometry(
  fn: string,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  param: ConvTransposeParam,
): ConvGeometry {
  checkConvTensors(fn, x, w, b, "(N, Cin, H, W)", "(Cin, Cout/groups, HH, WW)");
  const { stride, pad, dilation, groups } = checkConvParam(fn, param);
  const outputPadding = param.outputPadding ?? 0;
  if (!Number.isInteger(outputPadding) || outputPadding < 0) {
    throw new Error(`${fn}: param.outputPadding must be an integer ≥ 0, got ${outputPadding}`);
  }
  if (outputPadding >= stride && outputPadding >= dilation) {
    throw new Error(
      `${fn}: param.outputPadding ${outputPadding} must be smaller than stride ${stride} or ` +
        `dilation ${dilation}`,
    );
  }
  const [N, Cin, H, W] = x.shape;
  const [wIn, CoutG, HH, WW] = w.shape;
  const shapes = `(x shape [${x.shape}], w shape [${w.shape}], groups ${groups})`;
  if (wIn !== Cin) {
    throw new Error(`${fn}: x has ${Cin} channels but w expects ${wIn} ${shapes}`);
  }
  if (Cin % groups !== 0) {
    throw new Error(`${fn}: groups ${groups} must divide the ${Cin} input channels ${shapes}`);
  }
  const Cout = CoutG * groups;
  if (b.ndim !== 1 || b.shape[0] !== Cout) {
    throw new Error(
      `${fn}: b must have shape [${Cout}] (w.shape[1] × groups output channels), got shape ` +
        `[${b.shape}] ${shapes}`,
    );
  }
  const size = (n: number, k: number) =>
    (n - 1) * stride - 2 * pad + dilation * (k - 1) + outputPadding + 1;
  const Ho = size(H, HH), Wo = size(W, WW);
  if (Ho < 1 || Wo < 1) {
    throw new Error(
      `${fn}: output size (H-1)*stride - 2*pad + dilation*(HH-1) + outputPadding + 1 = ` +
        `${Ho}×${Wo} is empty (x shape [${x.shape}], w shape [${w.shape}], stride ${stride}, ` +
        `pad ${pad}, dilation ${dilation}, outputPadding ${outputPadding})`,
    );
  }
  return {
    batch: N,
    channels: Cout,
    height: Ho,
    width: Wo,
    filters: Cin,
    groups,
    kernelH: HH,
    kernelW: WW,
    stride,
    pad,
    dilation,
    outH: H,
    outW: W,
  };
}

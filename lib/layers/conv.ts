/**
 * The convolutional layer as plain loops, cs231n `conv_forward_naive` /
 * `conv_backward_naive`: the readable reference that the fast im2col + GEMM version
 * (`conv_fast.ts`) is tested against. Also home of the parameter type, the cache type and
 * the shape checks that every convolution front door shares.
 *
 * Semantics are PyTorch's `Conv2d` (cross-correlation, zero padding): input `x (N, C, H, W)`,
 * weights `w (F, C/groups, HH, WW)`, bias `b (F,)`, output `(N, F, Ho, Wo)` with
 * `Ho = (H + 2·pad − dilation·(HH − 1) − 1) / stride + 1` (and likewise `Wo`), which must be
 * a whole number.
 *
 * @module
 */

import { checkSameDType, checkTensor } from "../tensor_checks.ts";
import type { ConvGeometry } from "../kernels/conv.ts";

export type { ConvGeometry };
import { Tensor } from "../tensor.ts";

/**
 * Hyper-parameters of a convolution: cs231n's `conv_param` (`stride`, `pad`), plus PyTorch's
 * `dilation` and `groups` (both default to 1).
 */
export interface ConvParam {
  /** Step between neighbouring windows, in both directions (≥ 1). */
  stride: number;
  /** Zeros added on each of the four sides (≥ 0). */
  pad: number;
  /** Spacing between kernel taps (default 1: a dense kernel). */
  dilation?: number;
  /**
   * Channel groups (default 1): group `g` of the filters sees only input channels
   * `[g·C/groups, (g+1)·C/groups)`. Must divide both `C` and `F`.
   */
  groups?: number;
}

/** What a convolution's forward pass keeps: its inputs `(x, w, b, convParam)`. */
export type ConvCache = [x: Tensor, w: Tensor, b: Tensor, convParam: ConvParam];

/**
 * Computes the output of a convolution with loops over every output element and kernel tap.
 * Returns `[out (N, F, Ho, Wo), cache]`; `x`, `w` and `b` must share a dtype, which `out`
 * keeps. Accepts `dilation` and `groups` as well, so that it can serve as the reference for
 * every configuration of the fast version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convForwardNaive } from "./conv.ts";
 * // A 2×2 box filter over a 3×3 image, stride 1, no padding: sums of 2×2 blocks.
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const w = Tensor.ones([1, 1, 2, 2]);
 * const [out] = convForwardNaive(x, w, Tensor.fromArray([0.5]), { stride: 1, pad: 0 });
 * assert.deepEqual(out.toNested(), [[[[8.5, 12.5], [20.5, 24.5]]]]);
 * ```
 */
export function convForwardNaive(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
): [Tensor, ConvCache] {
  const g = convGeometry("convForwardNaive", x, w, b, convParam);
  const { batch: N, channels: C, height: H, width: W, filters: F, groups } = g;
  const { kernelH: HH, kernelW: WW, stride, pad, dilation, outH, outW } = g;
  const Cg = C / groups, Fg = F / groups;
  const out = Tensor.zeros([N, F, outH, outW], x.dtype);
  const xd = x.data, wd = w.data, od = out.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const firstChannel = Math.floor(f / Fg) * Cg;
      for (let i = 0; i < outH; i++) {
        for (let j = 0; j < outW; j++) {
          let acc = b.data[f];
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < HH; kh++) {
              const ih = i * stride - pad + kh * dilation;
              if (ih < 0 || ih >= H) continue; // a padding row: contributes zero
              for (let kw = 0; kw < WW; kw++) {
                const iw = j * stride - pad + kw * dilation;
                if (iw < 0 || iw >= W) continue;
                acc += xd[((n * C + firstChannel + c) * H + ih) * W + iw] *
                  wd[((f * Cg + c) * HH + kh) * WW + kw];
              }
            }
          }
          od[((n * F + f) * outH + i) * outW + j] = acc;
        }
      }
    }
  }
  return [out, [x, w, b, convParam]];
}

/**
 * Backward pass of {@link convForwardNaive}: from `dout (N, F, Ho, Wo)` returns
 * `[dx, dw, db]`, shaped like `x`, `w` and `b`. Each output element sends
 * `dout · w` back to the pixels of its window and `dout · x` to the kernel taps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convBackwardNaive, convForwardNaive } from "./conv.ts";
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const [, cache] = convForwardNaive(x, Tensor.ones([1, 1, 2, 2]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dx, dw, db] = convBackwardNaive(Tensor.ones([1, 1, 2, 2]), cache);
 * // The centre pixel lies in all four windows; dw sums each tap's four pixels.
 * assert.deepEqual(dx.toNested(), [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
 * assert.deepEqual(dw.toNested(), [[[[8, 12], [20, 24]]]]);
 * assert.equal(db.get(0), 4);
 * ```
 */
export function convBackwardNaive(dout: Tensor, cache: ConvCache): [Tensor, Tensor, Tensor] {
  const g = checkConvBackward("convBackwardNaive", dout, cache);
  const [x, w, b] = cache;
  const { batch: N, channels: C, height: H, width: W, filters: F, groups } = g;
  const { kernelH: HH, kernelW: WW, stride, pad, dilation, outH, outW } = g;
  const Cg = C / groups, Fg = F / groups;
  // Accumulate in float64 whatever the dtype, and round once at the end.
  const dx = new Float64Array(x.size), dw = new Float64Array(w.size), db = new Float64Array(F);
  const xd = x.data, wd = w.data, dd = dout.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const firstChannel = Math.floor(f / Fg) * Cg;
      for (let i = 0; i < outH; i++) {
        for (let j = 0; j < outW; j++) {
          const d = dd[((n * F + f) * outH + i) * outW + j];
          db[f] += d;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < HH; kh++) {
              const ih = i * stride - pad + kh * dilation;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < WW; kw++) {
                const iw = j * stride - pad + kw * dilation;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + firstChannel + c) * H + ih) * W + iw;
                const wi = ((f * Cg + c) * HH + kh) * WW + kw;
                dx[xi] += d * wd[wi];
                dw[wi] += d * xd[xi];
              }
            }
          }
        }
      }
    }
  }
  return [toTensor(dx, x), toTensor(dw, w), toTensor(db, b)];
}

function toTensor(values: Float64Array, like: Tensor): Tensor {
  const t = Tensor.zeros(like.shape, like.dtype);
  t.data.set(values);
  return t;
}

/**
 * Validates the inputs of a convolution and derives its sizes. Every failure names the
 * function `fn`, the offending argument and the shapes involved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convGeometry } from "./conv.ts";
 * const x = Tensor.zeros([2, 3, 7, 7]), w = Tensor.zeros([4, 3, 3, 3]), b = Tensor.zeros([4]);
 * const g = convGeometry("demo", x, w, b, { stride: 2, pad: 1 });
 * assert.equal(g.outH, 4);
 * // (7 + 2·1 − 3) / 4 + 1 = 2.5 output rows: rejected.
 * assert.throws(() => convGeometry("demo", x, w, b, { stride: 4, pad: 1 }), /whole number/);
 * ```
 */
export function convGeometry(
  fn: string,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
): ConvGeometry {
  checkConvTensors(fn, x, w, b, "(N, C, H, W)", "(F, C/groups, HH, WW)");
  const { stride, pad, dilation, groups } = checkConvParam(fn, convParam);
  const [N, C, H, W] = x.shape;
  const [F, Cg, HH, WW] = w.shape;
  const shapes = `(x shape [${x.shape}], w shape [${w.shape}], groups ${groups})`;
  if (C % groups !== 0 || F % groups !== 0) {
    throw new Error(
      `${fn}: groups ${groups} must divide both the ${C} input channels and the ${F} ` +
        `filters ${shapes}`,
    );
  }
  if (Cg * groups !== C) {
    throw new Error(
      `${fn}: x has ${C} channels but w expects ${Cg} per group × ${groups} groups = ` +
        `${Cg * groups} ${shapes}`,
    );
  }
  if (b.ndim !== 1 || b.shape[0] !== F) {
    throw new Error(
      `${fn}: b must have shape [${F}] to match the ${F} filters of w (shape [${w.shape}]), ` +
        `got shape [${b.shape}]`,
    );
  }
  const where = `(x shape [${x.shape}], w shape [${w.shape}], stride ${stride}, pad ${pad}, ` +
    `dilation ${dilation})`;
  const outH = outputSize(fn, "height", H, HH, stride, pad, dilation, where);
  const outW = outputSize(fn, "width", W, WW, stride, pad, dilation, where);
  return {
    batch: N,
    channels: C,
    height: H,
    width: W,
    filters: F,
    groups,
    kernelH: HH,
    kernelW: WW,
    stride,
    pad,
    dilation,
    outH,
    outW,
  };
}

/**
 * Checks `convParam` and fills in the defaults (`dilation` 1, `groups` 1), naming `fn` and
 * the field on failure.
 */
export function checkConvParam(fn: string, convParam: ConvParam): Required<ConvParam> {
  if (convParam === null || typeof convParam !== "object") {
    throw new Error(`${fn}: convParam must be an object { stride, pad }, got ${convParam}`);
  }
  const { stride, pad, dilation = 1, groups = 1 } = convParam;
  const positive = (name: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new Error(`${fn}: convParam.${name} must be an integer ≥ 1, got ${v}`);
    }
  };
  positive("stride", stride);
  if (!Number.isInteger(pad) || pad < 0) {
    throw new Error(`${fn}: convParam.pad must be an integer ≥ 0, got ${pad}`);
  }
  positive("dilation", dilation);
  positive("groups", groups);
  return { stride, pad, dilation, groups };
}

/**
 * `(size + 2·pad − dilation·(kernel − 1) − 1) / stride + 1`, which must be a whole number ≥ 1.
 * cs231n asserts this; PyTorch would silently drop the leftover rows instead.
 */
function outputSize(
  fn: string,
  axis: "height" | "width",
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  dilation: number,
  where: string,
): number {
  const [S, K] = axis === "height" ? ["H", "HH"] : ["W", "WW"];
  const span = size + 2 * pad - dilation * (kernel - 1) - 1;
  const formula = `(${S} + 2*pad - dilation*(${K}-1) - 1) / stride + 1 = ` +
    `(${size} + 2*${pad} - ${dilation}*(${kernel}-1) - 1) / ${stride} + 1`;
  if (span < 0) {
    throw new Error(
      `${fn}: the kernel (${kernel} taps, dilation ${dilation}) is larger than the padded ` +
        `input ${axis} ${size + 2 * pad}: output ${axis} ${formula} < 1 ${where}`,
    );
  }
  if (span % stride !== 0) {
    throw new Error(
      `${fn}: output ${axis} ${formula} = ${span / stride + 1} is not a whole number ${where}`,
    );
  }
  return span / stride + 1;
}

/**
 * Validates a convolution's backward inputs: `cache` must be the `[x, w, b, convParam]` of a
 * forward pass and `dout` must have the forward output's shape and dtype.
 */
export function checkConvBackward(fn: string, dout: Tensor, cache: ConvCache): ConvGeometry {
  if (!Array.isArray(cache) || cache.length !== 4) {
    throw new Error(`${fn}: cache must be the [x, w, b, convParam] returned by the forward pass`);
  }
  const [x, w, b, convParam] = cache;
  const g = convGeometry(fn, x, w, b, convParam);
  checkConvDout(fn, dout, [g.batch, g.filters, g.outH, g.outW], x);
  return g;
}

/**
 * The checks every convolution front door (plain and transposed) starts with: `x`, `w` and
 * `b` are Tensors of one dtype and `x`, `w` are 4-d (their layouts named in the message).
 */
export function checkConvTensors(
  fn: string,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  xLayout: string,
  wLayout: string,
): void {
  checkSameDType(fn, { x, w, b });
  if (x.ndim !== 4) {
    throw new Error(`${fn}: x must be 4-d, shape ${xLayout}; got shape [${x.shape}]`);
  }
  if (w.ndim !== 4) {
    throw new Error(`${fn}: w must be 4-d, shape ${wLayout}; got shape [${w.shape}]`);
  }
}

/**
 * Checks a convolution's backward input: `dout` is a Tensor of the forward output's shape
 * `expected` and of the forward input `x`'s dtype.
 */
export function checkConvDout(fn: string, dout: Tensor, expected: number[], x: Tensor): void {
  checkTensor(fn, "dout", dout);
  if (dout.ndim !== 4 || dout.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward output had shape [${expected}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`${fn}: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
}

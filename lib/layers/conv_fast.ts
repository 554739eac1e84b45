/**
 * The fast convolutional layer, cs231n `conv_forward_fast` / `conv_backward_fast`, with
 * PyTorch `Conv2d` semantics (`stride`, `pad`, `dilation`, `groups`): the front doors that
 * validate Tensors and hand raw arrays to the im2col + GEMM kernels of `kernels/conv.ts`
 * (which also describes how the batch is chunked and split across the worker pool).
 *
 * @module
 */

import { convBackwardBatch, convForwardBatch, type ConvGeometry } from "../kernels/conv.ts";
import { allocateOutput } from "../scratch.ts";
import { Tensor } from "../tensor.ts";
import { checkConvBackward, type ConvCache, convGeometry, type ConvParam } from "./conv.ts";

/**
 * The output of a convolution by im2col and GEMM; same contract as `convForwardNaive`
 * (returns `[out (N, F, Ho, Wo), cache]`) and also accepts `dilation` and `groups`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { convForwardNaive } from "./conv.ts";
 * import { convForwardFast } from "./conv_fast.ts";
 * const rng = new Rng(0);
 * const x = Tensor.randn([2, 4, 7, 7], rng), w = Tensor.randn([6, 2, 3, 3], rng);
 * const b = Tensor.randn([6], rng);
 * const param = { stride: 2, pad: 1, dilation: 1, groups: 2 };
 * const [fast] = convForwardFast(x, w, b, param);
 * const [naive] = convForwardNaive(x, w, b, param);
 * assert.deepEqual(fast.shape, [2, 6, 4, 4]);
 * assert.ok(fast.data.every((v, i) => Math.abs(v - naive.data[i]) < 1e-12));
 * ```
 */
export function convForwardFast(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
): [Tensor, ConvCache] {
  const g = convGeometry("convForwardFast", x, w, b, convParam);
  // Every path of convForwardBatch overwrites all of `out`: no need to zero it (a pass
  // over 13 MB of shared memory for the conv-BN network's first layer).
  const size = g.batch * g.filters * g.outH * g.outW;
  const out = new Tensor(allocateOutput(x.dtype, size, false), [
    g.batch,
    g.filters,
    g.outH,
    g.outW,
  ]);
  convForwardBatch(x.data, w.data, b.data, g, out.data);
  return [out, [x, w, b, convParam]];
}

/**
 * Backward pass of {@link convForwardFast} (or of `convForwardNaive`: the caches are the
 * same): returns `[dx, dw, db]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convBackwardFast, convForwardFast } from "./conv_fast.ts";
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const [, cache] = convForwardFast(x, Tensor.ones([1, 1, 2, 2]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dx, dw, db] = convBackwardFast(Tensor.ones([1, 1, 2, 2]), cache);
 * assert.deepEqual(dx.toNested(), [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
 * assert.deepEqual(dw.toNested(), [[[[8, 12], [20, 24]]]]);
 * assert.equal(db.get(0), 4);
 * ```
 */
export function convBackwardFast(dout: Tensor, cache: ConvCache): [Tensor, Tensor, Tensor] {
  const g = checkConvBackward("convBackwardFast", dout, cache);
  const [x] = cache;
  // convBackwardBatch overwrites all of `dx`, so it need not be zeroed.
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  const [dw, db] = paramGrads(dout, cache, g, dx);
  return [dx, dw, db];
}

/**
 * The `[dw, db]` part of {@link convBackwardFast} alone. The first layer of a network needs
 * nothing more (no one consumes the gradient with respect to the images), and skipping
 * `dx` saves its GEMM and the col2im pass: about half of the backward time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { convForwardFast, convParamGradsFast } from "./conv_fast.ts";
 * const x = Tensor.arange(9).reshape([1, 1, 3, 3]);
 * const [, cache] = convForwardFast(x, Tensor.ones([1, 1, 2, 2]), Tensor.zeros([1]), {
 *   stride: 1,
 *   pad: 0,
 * });
 * const [dw, db] = convParamGradsFast(Tensor.ones([1, 1, 2, 2]), cache);
 * assert.deepEqual(dw.toNested(), [[[[8, 12], [20, 24]]]]);
 * assert.equal(db.get(0), 4);
 * ```
 */
export function convParamGradsFast(dout: Tensor, cache: ConvCache): [Tensor, Tensor] {
  const g = checkConvBackward("convParamGradsFast", dout, cache);
  return paramGrads(dout, cache, g, null);
}

/** `[dw, db]` of a validated backward call, filling `dx` too unless it is null. */
function paramGrads(
  dout: Tensor,
  cache: ConvCache,
  g: ConvGeometry,
  dx: Tensor | null,
): [Tensor, Tensor] {
  const [x, w, b] = cache;
  // convBackwardBatch overwrites both whole.
  const dw = new Tensor(allocateOutput(w.dtype, w.size, false), w.shape);
  const db = new Tensor(allocateOutput(b.dtype, b.size, false), b.shape);
  convBackwardBatch(dout.data, x.data, w.data, g, dx === null ? null : dx.data, dw.data, db.data);
  return [dw, db];
}

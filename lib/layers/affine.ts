/**
 * The affine (fully-connected) layer, cs231n `affine_forward` / `affine_backward`.
 *
 * Every product goes through the GEMM kernel with transposition flags, so `wᵀ` and `xᵀ` are
 * never materialised: GEMM's packing step reads the operands in whichever order it needs.
 * Large products (a first layer on raw pixels) run on the worker pool (`gemmParallel`),
 * with the same result bit for bit as on one thread.
 *
 * @module
 */

import { checkSameDType, checkTensor } from "../tensor_checks.ts";
import { broadcastRows, columnSums } from "../kernels/elementwise.ts";
import { gemmParallel } from "../kernels/gemm_parallel.ts";
import { allocateOutput } from "../scratch.ts";
import { shapeSize, Tensor } from "../tensor.ts";

/** What {@link affineForward} keeps for the backward pass: the inputs `(x, w, b)`. */
export type AffineCache = [x: Tensor, w: Tensor, b: Tensor];

/**
 * Computes `out = x·w + b`, where each example of `x` (shape `(N, d1, ..., dk)`) is
 * flattened to a row of length `D = d1·…·dk`; `w` has shape `(D, M)` and `b` shape `(M,)`.
 * Returns `[out (N, M), cache]`. All three inputs must share a dtype, which `out` keeps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineForward } from "./affine.ts";
 * const x = Tensor.fromArray([[1, 2], [3, 4]]);
 * const w = Tensor.fromArray([[1, 0, 1], [0, 1, 1]]);
 * const b = Tensor.fromArray([10, 20, 30]);
 * const [out] = affineForward(x, w, b);
 * assert.ok(JSON.stringify(out.toNested()) === "[[11,22,33],[13,24,37]]");
 * ```
 */
export function affineForward(x: Tensor, w: Tensor, b: Tensor): [Tensor, AffineCache] {
  const { N, D, M } = checkAffineInputs("affineForward", x, w, b);
  const out = new Tensor(allocateOutput(x.dtype, N * M, false), [N, M]);
  // Seeding every row with the bias lets GEMM add x·w on top (beta = 1): one pass over out.
  broadcastRows(b.data, out.data, N, M);
  gemmParallel(false, false, N, M, D, 1, x.data, ld(D), w.data, ld(M), 1, out.data, ld(M));
  return [out, [x, w, b]];
}

/**
 * Backward pass of {@link affineForward}: given the upstream gradient `dout` of shape
 * `(N, M)`, returns `[dx, dw, db]` with `dx` shaped like `x`, `dw` like `w`, `db` like `b`:
 * `dx = dout·wᵀ`, `dw = xᵀ·dout` (x flattened to `(N, D)`), `db = Σ_n dout[n]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineBackward, affineForward } from "./affine.ts";
 * const x = Tensor.fromArray([[1, 2]]);
 * const [, cache] = affineForward(x, Tensor.fromArray([[3], [4]]), Tensor.fromArray([0]));
 * const [dx, dw, db] = affineBackward(Tensor.fromArray([[1]]), cache);
 * assert.ok(dx.toNested().toString() === "3,4" && dw.toNested().toString() === "1,2");
 * assert.ok(db.get(0) === 1);
 * ```
 */
export function affineBackward(dout: Tensor, cache: AffineCache): [Tensor, Tensor, Tensor] {
  const [x, w] = cache;
  const { N, D, M } = checkAffineBackward("affineBackward", dout, cache);
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  gemmParallel(false, true, N, D, M, 1, dout.data, ld(M), w.data, ld(M), 0, dx.data, ld(D));
  const [dw, db] = affineParamGrads(dout, cache);
  return [dx, dw, db];
}

/**
 * The `[dw, db]` part of {@link affineBackward} alone. A network's first layer needs
 * nothing more (no one consumes the gradient with respect to the data), and skipping
 * `dx = dout·wᵀ` saves a third of that layer's backward arithmetic — usually the largest
 * layer of the net, since it reads the raw pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { affineForward, affineParamGrads } from "./affine.ts";
 * const x = Tensor.fromArray([[1, 2], [3, 4]]);
 * const [, cache] = affineForward(x, Tensor.fromArray([[1], [1]]), Tensor.fromArray([0]));
 * const [dw, db] = affineParamGrads(Tensor.fromArray([[1], [1]]), cache);
 * assert.ok(dw.toNested().toString() === "4,6" && db.get(0) === 2);
 * ```
 */
export function affineParamGrads(dout: Tensor, cache: AffineCache): [Tensor, Tensor] {
  const [x, w, b] = cache;
  const { N, D, M } = checkAffineBackward("affineParamGrads", dout, cache);
  const dw = new Tensor(allocateOutput(w.dtype, w.size, false), w.shape);
  gemmParallel(true, false, D, M, N, 1, x.data, ld(D), dout.data, ld(M), 0, dw.data, ld(M));
  const db = new Tensor(allocateOutput(b.dtype, b.size), b.shape);
  columnSums(dout.data, N, M, db.data);
  return [dw, db];
}

/** GEMM wants a leading dimension of at least 1 even for an empty matrix. */
function ld(cols: number): number {
  return Math.max(1, cols);
}

interface AffineDims {
  N: number;
  D: number;
  M: number;
}

function checkAffineInputs(fn: string, x: Tensor, w: Tensor, b: Tensor): AffineDims {
  checkSameDType(fn, { x, w, b });
  if (x.ndim < 1) {
    throw new Error(`${fn}: x needs a batch axis, shape (N, d1, ..., dk); got shape [${x.shape}]`);
  }
  if (w.ndim !== 2) {
    throw new Error(`${fn}: w must be 2-d, shape (D, M); got shape [${w.shape}]`);
  }
  const N = x.shape[0];
  const D = shapeSize(x.shape.slice(1));
  const M = w.shape[1];
  if (D !== w.shape[0]) {
    throw new Error(
      `${fn}: x has ${D} features per example (shape [${x.shape}]) but w expects ` +
        `${w.shape[0]} (shape [${w.shape}])`,
    );
  }
  if (b.ndim !== 1 || b.shape[0] !== M) {
    throw new Error(
      `${fn}: b must have shape [${M}] to match w's ${M} outputs (shape [${w.shape}]), ` +
        `got shape [${b.shape}]`,
    );
  }
  return { N, D, M };
}

function checkAffineBackward(fn: string, dout: Tensor, cache: AffineCache): AffineDims {
  if (!Array.isArray(cache) || cache.length !== 3) {
    throw new Error(`${fn}: cache must be the [x, w, b] returned by affineForward`);
  }
  const [x, w, b] = cache;
  const dims = checkAffineInputs(fn, x, w, b);
  checkTensor(fn, "dout", dout);
  if (dout.ndim !== 2 || dout.shape[0] !== dims.N || dout.shape[1] !== dims.M) {
    throw new Error(
      `${fn}: dout has shape [${dout.shape}] but the forward output had shape ` +
        `[${dims.N},${dims.M}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`${fn}: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
  return dims;
}

/**
 * `F.linear`: the fully-connected layer with PyTorch's weight layout `(out, in)`.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { broadcastRows, columnSums } from "../../kernels/elementwise.ts";
import { gemmParallel } from "../../kernels/gemm_parallel.ts";
import { allocateOutput } from "../../scratch.ts";
import { Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

/**
 * `y = x·wᵀ + b` for `x` of shape `(*, in)`, `w` `(out, in)` and `b` `(out,)`, giving
 * `(*, out)`. The products run on the GEMM kernel (the worker pool for large ones) with
 * transposition flags, as `affineForward` does, so `wᵀ` is never materialised; the
 * backward pass skips `dx` when `x` needs no gradient.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { linear } from "./linear.ts";
 * const x = Tensor.fromArray([[1, 2]]);
 * const w = Tensor.fromArray([[1, 0], [1, 1], [0, 2]], undefined, { requiresGrad: true });
 * const y = linear(x, w, Tensor.fromArray([0, 0, 1]));
 * assert.deepEqual(y.toNested(), [[1, 3, 5]]);
 * y.sum().backward();
 * assert.deepEqual(w.grad?.toNested(), [[1, 2], [1, 2], [1, 2]]);
 * ```
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const fn = "F.linear";
  checkTensor(fn, "x", x);
  checkTensor(fn, "w", w);
  if (w.ndim !== 2) throw new Error(`${fn}: w must be 2-d (out, in), got shape [${w.shape}]`);
  const [M, D] = w.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== D) {
    throw new Error(
      `${fn}: x has shape [${x.shape}] but w (shape [${w.shape}]) expects ${D} input features ` +
        "in its last dimension",
    );
  }
  if (b !== null && (checkTensor(fn, "b", b).ndim !== 1 || b.shape[0] !== M)) {
    throw new Error(`${fn}: b must have shape [${M}], got shape [${b.shape}]`);
  }
  for (const [name, t] of [["w", w], ["b", b]] as const) {
    if (t !== null && t.dtype !== x.dtype) {
      throw new Error(`${fn}: ${name} is ${t.dtype} but x is ${x.dtype}; they must match`);
    }
  }
  const N = x.size / Math.max(D, 1);
  const outShape = [...x.shape.slice(0, -1), M];
  const out = new Tensor(allocateOutput(x.dtype, N * M, false), outShape);
  if (b !== null) broadcastRows(b.data, out.data, N, M);
  gemmParallel(
    false,
    true,
    N,
    M,
    D,
    1,
    x.data,
    ld(D),
    w.data,
    ld(D),
    b === null ? 0 : 1,
    out.data,
    ld(M),
  );
  if (needsGrad(x, w, b)) {
    const inputs = b === null ? [x, w] : [x, w, b];
    recordOp(out, "linear", inputs, (g) => {
      let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
      if (x.requiresGrad) {
        dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
        gemmParallel(false, false, N, D, M, 1, g.data, ld(M), w.data, ld(D), 0, dx.data, ld(D));
      }
      if (w.requiresGrad) {
        dw = new Tensor(allocateOutput(w.dtype, w.size, false), w.shape);
        gemmParallel(true, false, M, D, N, 1, g.data, ld(M), x.data, ld(D), 0, dw.data, ld(D));
      }
      if (b !== null && b.requiresGrad) {
        db = new Tensor(allocateOutput(b.dtype, M), [M]);
        columnSums(g.data, N, M, db.data);
      }
      return [dx, dw, db];
    });
  }
  return out;
}

/** GEMM wants a leading dimension of at least 1 even for an empty matrix. */
function ld(cols: number): number {
  return Math.max(1, cols);
}

/**
 * The rectified linear unit, cs231n `relu_forward` / `relu_backward`.
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";
import { relu, reluMask } from "../kernels/elementwise.ts";
import { allocateOutput } from "../scratch.ts";
import { sameShape, Tensor } from "../tensor.ts";

/** What {@link reluForward} keeps for the backward pass: its input `x`. */
export type ReluCache = Tensor;

/**
 * Computes `out = max(0, x)` elementwise, for a tensor of any shape. Returns
 * `[out, cache]` with `out` of the same shape and dtype as `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { reluForward } from "./relu.ts";
 * const [out] = reluForward(Tensor.fromArray([-2, 0, 3]));
 * assert.ok(out.toNested().toString() === "0,0,3");
 * ```
 */
export function reluForward(x: Tensor): [Tensor, ReluCache] {
  checkTensor("reluForward", "x", x);
  const out = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  relu(x.data, out.data);
  return [out, x];
}

/**
 * Backward pass of {@link reluForward}: `dx = dout * (x > 0)`, so the gradient passes only
 * where the unit was active (at exactly 0 it is blocked, as in the reference).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { reluBackward, reluForward } from "./relu.ts";
 * const [, cache] = reluForward(Tensor.fromArray([-2, 0, 3]));
 * const dx = reluBackward(Tensor.fromArray([5, 5, 5]), cache);
 * assert.ok(dx.toNested().toString() === "0,0,5");
 * ```
 */
export function reluBackward(dout: Tensor, cache: ReluCache): Tensor {
  const x = cache;
  if (!(x instanceof Tensor)) {
    throw new Error(`reluBackward: cache must be the Tensor returned by reluForward, got ${x}`);
  }
  checkTensor("reluBackward", "dout", dout);
  if (!sameShape(dout.shape, x.shape)) {
    throw new Error(
      `reluBackward: dout has shape [${dout.shape}] but the forward input had shape [${x.shape}]`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new Error(`reluBackward: dout is ${dout.dtype} but the forward pass ran in ${x.dtype}`);
  }
  const dx = new Tensor(allocateOutput(x.dtype, x.size, false), x.shape);
  reluMask(dout.data, x.data, dx.data);
  return dx;
}

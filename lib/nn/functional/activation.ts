/**
 * `F.relu` and `F.leakyRelu`.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { reluBackward, reluForward } from "../../layers/relu.ts";
import type { Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

/**
 * `max(0, x)` elementwise, on `reluForward` / `reluBackward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { relu } from "./activation.ts";
 * assert.deepEqual(relu(Tensor.fromArray([-1, 2])).toNested(), [0, 2]);
 * ```
 */
export function relu(x: Tensor): Tensor {
  checkTensor("F.relu", "x", x);
  const [out, cache] = reluForward(x.detach());
  if (needsGrad(x)) recordOp(out, "relu", [x], (g) => [reluBackward(g, cache)]);
  return out;
}

/**
 * `x` where positive, `negativeSlope · x` elsewhere (PyTorch's default slope 0.01):
 * composed as `relu(x) − slope · relu(−x)`, so its gradient comes from `relu`'s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { leakyRelu } from "./activation.ts";
 * assert.deepEqual(leakyRelu(Tensor.fromArray([-100, 2])).toNested(), [-1, 2]);
 * ```
 */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  checkTensor("F.leakyRelu", "x", x);
  if (typeof negativeSlope !== "number" || !Number.isFinite(negativeSlope)) {
    throw new Error(`F.leakyRelu: negativeSlope must be a finite number, got ${negativeSlope}`);
  }
  return relu(x).sub(relu(x.neg()).mul(negativeSlope));
}

/**
 * `F` (PyTorch's `torch.nn.functional`): differentiable operations on tensors, each a thin
 * front door over an existing layer or kernel that records one autograd node when an input
 * requires grad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import * as F from "./functional.ts";
 * const x = Tensor.ones([2, 1, 4, 4]);
 * const w = Tensor.ones([3, 1, 3, 3], { requiresGrad: true });
 * const scores = F.linear(F.flatten(F.maxPool2d(F.relu(F.conv2d(x, w, null, { padding: 1 })), 2)),
 *   Tensor.ones([5, 12]));
 * const loss = F.crossEntropy(scores, Int32Array.of(0, 1));
 * loss.backward();
 * assert.deepEqual(w.grad?.shape, [3, 1, 3, 3]);
 * ```
 *
 * @module
 */

export { leakyRelu, relu } from "./functional/activation.ts";
export {
  conv2d,
  type Conv2dOptions,
  type ConvPadding,
  convTranspose2d,
  type ConvTranspose2dOptions,
} from "./functional/conv.ts";
export { dropout, type DropoutOptions } from "./functional/dropout.ts";
export { linear } from "./functional/linear.ts";
export { crossEntropy, type LossOptions, mseLoss, type Reduction } from "./functional/loss.ts";
export {
  batchNorm,
  batchNormMaxPool2d,
  batchNormMaxPool2dFuses,
  type BatchNormMaxPoolOptions,
  type BatchNormOptions,
  groupNorm,
  type GroupNormOptions,
  layerNorm,
  type LayerNormOptions,
} from "./functional/normalization.ts";
export { pad, type PadMode } from "./functional/pad.ts";
export { avgPool2d, maxPool2d, maxPool2dRelu, type Pool2dOptions } from "./functional/pool.ts";
export { flatten } from "./functional/shape.ts";

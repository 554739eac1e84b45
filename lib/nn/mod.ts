/**
 * `nn`: modules (PyTorch's `torch.nn`), with `nn.functional` and `nn.init`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import * as nn from "./mod.ts";
 * const model = new nn.Sequential(
 *   new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
 *   new nn.Flatten(), new nn.Linear(8 * 14 * 14, 10),
 * );
 * const x = Tensor.zeros([4, 1, 28, 28], "float32");
 * const loss = new nn.CrossEntropyLoss().forward(model.forward(x), Int32Array.of(0, 1, 2, 3));
 * loss.backward();
 * assert.ok(model.parameters().every((p) => p.grad !== null));
 * ```
 *
 * @module
 */

export { LeakyReLU, ReLU } from "./activation.ts";
export { Sequential } from "./container.ts";
export {
  Conv2d,
  type Conv2dModuleOptions,
  ConvTranspose2d,
  type ConvTranspose2dModuleOptions,
  type PaddingMode,
} from "./conv.ts";
export { Dropout } from "./dropout.ts";
export { Linear } from "./linear.ts";
export { CrossEntropyLoss, MSELoss } from "./loss.ts";
export { type LoadStateDictResult, Module, type ModuleOptions } from "./module.ts";
export {
  BatchNorm1d,
  BatchNorm2d,
  type BatchNormModuleOptions,
  GroupNorm,
  LayerNorm,
  type NormModuleOptions,
} from "./normalization.ts";
export { Parameter } from "./parameter.ts";
export { AvgPool2d, MaxPool2d, type PoolModuleOptions } from "./pooling.ts";
export { Flatten, Identity } from "./shape.ts";
export * as functional from "./functional.ts";
export * as init from "./init.ts";

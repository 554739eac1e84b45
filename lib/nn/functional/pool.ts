/**
 * `F.maxPool2d` and `F.avgPool2d`, on the pooling layers.
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import {
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackwardFast,
  maxPoolForwardFast,
} from "../../layers/pool.ts";
import type { Tensor } from "../../tensor.ts";
import { pad as padOp } from "./pad.ts";
import { checkTensor, pair, single } from "./args.ts";

/** Options of the pooling ops (PyTorch's names; `ceilMode` is not supported). */
export interface Pool2dOptions {
  /** Step between windows (default: the kernel size); one value for both directions. */
  stride?: number | readonly number[];
  /** Implicit padding on each side (default 0): −∞ for max pooling, 0 for average pooling
   * (PyTorch's `count_include_pad=True`). */
  padding?: number | readonly number[];
}

/**
 * Max pooling of `x (N, C, H, W)` with windows of `kernelSize`; the output size is
 * `floor((H + 2·padding − k) / stride) + 1` as in PyTorch. Runs on `maxPoolForwardFast`
 * and `maxPoolBackwardFast` (rows and columns that no window reaches are cropped first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { maxPool2d } from "./pool.ts";
 * const x = Tensor.arange(25).reshape([1, 1, 5, 5]);
 * assert.deepEqual(maxPool2d(x, 2).toNested(), [[[[6, 8], [16, 18]]]]);
 * ```
 */
export function maxPool2d(
  x: Tensor,
  kernelSize: number | readonly number[],
  options: Pool2dOptions = {},
): Tensor {
  return maxPoolOp("maxPool2d", x, kernelSize, options, false);
}

/**
 * `relu(maxPool2d(x, kernelSize, options))` as one op (graph node `maxPool2dRelu`): the
 * ReLU runs inside the pooling's pass, on the maxima (`maxPoolForwardFast` with `relu`),
 * and its backward pass masks the gradient there too. Bitwise `F.relu` after `F.maxPool2d`,
 * output and gradient. As ReLU is monotonic it equals the pooling of `relu(x)` too, up to
 * the sign of a zero gradient and where a NaN or infinite gradient lands in a window with
 * no positive value; `nn.Sequential` runs a `ReLU` followed by a `MaxPool2d` through it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { maxPool2dRelu } from "./pool.ts";
 * const x = Tensor.fromArray([-3, -1, -2, -5, 4, 0, 1, 2], [1, 2, 2, 2]);
 * assert.deepEqual(maxPool2dRelu(x, 2).toNested(), [[[[0]], [[4]]]]);
 * ```
 */
export function maxPool2dRelu(
  x: Tensor,
  kernelSize: number | readonly number[],
  options: Pool2dOptions = {},
): Tensor {
  return maxPoolOp("maxPool2dRelu", x, kernelSize, options, true);
}

/** {@link maxPool2d} (and the ReLU after it with `relu`) as the graph node `name`. */
function maxPoolOp(
  name: string,
  x: Tensor,
  kernelSize: number | readonly number[],
  options: Pool2dOptions,
  relu: boolean,
): Tensor {
  const { input, param } = prepare(`F.${name}`, x, kernelSize, options, -Infinity);
  const [out, cache] = maxPoolForwardFast(input.detach(), param, { relu });
  if (needsGrad(input)) recordOp(out, name, [input], (g) => [maxPoolBackwardFast(g, cache)]);
  return out;
}

/**
 * Average pooling of `x (N, C, H, W)` (PyTorch's `F.avg_pool2d` with
 * `count_include_pad=True`). Runs on `avgPoolForward` / `avgPoolBackward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { avgPool2d } from "./pool.ts";
 * const x = Tensor.arange(16).reshape([1, 1, 4, 4]);
 * assert.deepEqual(avgPool2d(x, 2).toNested(), [[[[2.5, 4.5], [10.5, 12.5]]]]);
 * ```
 */
export function avgPool2d(
  x: Tensor,
  kernelSize: number | readonly number[],
  options: Pool2dOptions = {},
): Tensor {
  const { input, param } = prepare("F.avgPool2d", x, kernelSize, options, 0);
  const [out, cache] = avgPoolForward(input.detach(), param);
  if (needsGrad(input)) recordOp(out, "avgPool2d", [input], (g) => [avgPoolBackward(g, cache)]);
  return out;
}

/** Pads (or crops to the windows' reach) so that the layers see whole windows. */
function prepare(
  fn: string,
  x: Tensor,
  kernelSize: number | readonly number[],
  options: Pool2dOptions,
  fill: number,
) {
  checkTensor(fn, "x", x);
  if (x.ndim !== 4) throw new Error(`${fn}: x must be 4-d (N, C, H, W), got shape [${x.shape}]`);
  const [kh, kw] = pair(fn, "kernelSize", kernelSize);
  const stride = single(fn, "stride", options.stride ?? [kh, kw]);
  const [ph, pw] = pair(fn, "padding", options.padding ?? 0, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(
      `${fn}: padding [${ph}, ${pw}] must be at most half of kernelSize [${kh}, ${kw}]`,
    );
  }
  const [H, W] = [x.shape[2], x.shape[3]];
  const reach = (n: number, p: number, k: number) => {
    if (n + 2 * p < k) {
      throw new Error(
        `${fn}: kernelSize ${k} is larger than the padded input ${
          n + 2 * p
        } (x shape [${x.shape}])`,
      );
    }
    return Math.floor((n + 2 * p - k) / stride) * stride + k; // rows the windows cover
  };
  const usedH = reach(H, ph, kh), usedW = reach(W, pw, kw);
  const pads = [pw, usedW - W - pw, ph, usedH - H - ph];
  const input = pads.every((p) => p === 0) ? x : padOp(x, pads, "constant", fill);
  return { input, param: { poolHeight: kh, poolWidth: kw, stride } };
}

/**
 * `F.pad`: padding the trailing dimensions (constant, reflect, replicate, circular).
 *
 * @module
 */

import { needsGrad, recordOp } from "../../autograd/engine.ts";
import { padGather, padIndexMap, type PadMode, padScatter } from "../../kernels/pad.ts";
import { shapeSize, Tensor } from "../../tensor.ts";
import { checkTensor } from "./args.ts";

export type { PadMode } from "../../kernels/pad.ts";

const MODES: readonly PadMode[] = ["constant", "reflect", "replicate", "circular"];

/**
 * Pads the last `pads.length / 2` dimensions of `x`, with PyTorch's argument order (last
 * dimension first: `[left, right]`, `[left, right, top, bottom]`, ...). `"constant"` fills
 * with `value` and accepts negative pads (which crop); `"reflect"` mirrors without
 * repeating the edge (pads < size); `"replicate"` repeats the edge; `"circular"` wraps
 * around (pads ≤ size). The gradient of a position copied several times is the sum.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../../tensor.ts";
 * import { pad } from "./pad.ts";
 * const x = Tensor.fromArray([[1, 2, 3]]);
 * assert.deepEqual(pad(x, [1, 2], "reflect").toNested(), [[2, 1, 2, 3, 2, 1]]);
 * assert.deepEqual(pad(x, [1, 0], "constant", 9).toNested(), [[9, 1, 2, 3]]);
 * ```
 */
export function pad(
  x: Tensor,
  pads: readonly number[],
  mode: PadMode = "constant",
  value = 0,
): Tensor {
  const fn = "F.pad";
  checkTensor(fn, "x", x);
  if (!MODES.includes(mode)) {
    throw new Error(
      `${fn}: unknown padding mode ${JSON.stringify(mode)}; expected one of ${
        MODES.map((m) => `"${m}"`).join(", ")
      }`,
    );
  }
  if (
    !Array.isArray(pads) || pads.length === 0 || pads.length % 2 !== 0 ||
    pads.some((p) => !Number.isInteger(p))
  ) {
    throw new Error(`${fn}: pads must be an even number of integers, got [${pads}]`);
  }
  const k = pads.length / 2;
  if (k > x.ndim) {
    throw new Error(`${fn}: ${pads.length} pads need ${k} dimensions, x has shape [${x.shape}]`);
  }
  const inner = x.shape.slice(x.ndim - k);
  for (let d = 0; d < k; d++) {
    const n = inner[d];
    const lo = pads[2 * (k - 1 - d)], hi = pads[2 * (k - 1 - d) + 1];
    const bad = mode === "constant" ? n + lo + hi < 0 || lo < -n || hi < -n : lo < 0 || hi < 0 ||
      (mode === "reflect" && (lo >= n || hi >= n)) ||
      (mode === "circular" && (lo > n || hi > n)) || n === 0;
    if (bad) {
      throw new Error(
        `${fn}: pads [${lo}, ${hi}] do not fit dimension ${x.ndim - k + d} of size ${n} ` +
          `in mode "${mode}" (x shape [${x.shape}])` +
          (mode === "reflect" ? "; reflect needs pads smaller than the size" : ""),
      );
    }
  }
  const { shape: padded, map } = padIndexMap(inner, pads, mode);
  const outer = shapeSize(x.shape.slice(0, x.ndim - k));
  const blockSize = shapeSize(inner);
  const out = Tensor.zeros([...x.shape.slice(0, x.ndim - k), ...padded], x.dtype);
  padGather(x.data, blockSize, map, outer, value, out.data);
  if (needsGrad(x)) {
    recordOp(out, "pad", [x], (g) => {
      const dx = Tensor.zeros(x.shape, x.dtype);
      padScatter(g.data, blockSize, map, outer, dx.data);
      return [dx];
    });
  }
  return out;
}

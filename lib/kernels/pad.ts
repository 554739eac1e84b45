/**
 * Padding of the trailing dimensions of an array (PyTorch's `F.pad`): zero or constant,
 * reflect, replicate and circular. A padding is an index map from each position of the
 * padded block to the input position it copies (or −1 for the constant); the forward pass
 * gathers through the map and the backward pass scatters back through it, so every mode
 * shares one pair of loops.
 *
 * @module
 */

import type { FloatArray } from "../storage.ts";

/** How the border of a padded array is filled. */
export type PadMode = "constant" | "reflect" | "replicate" | "circular";

/**
 * For the trailing dims `shape` (e.g. `[H, W]`) and `pads` in PyTorch's order (last dim
 * first: `[left, right, top, bottom, ...]`, negative values crop), returns the padded
 * shape and, for each position of the padded block in row-major order, the offset in the
 * input block that it copies, or −1 where the constant goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padIndexMap } from "./pad.ts";
 * assert.deepEqual([...padIndexMap([3], [2, 1], "reflect").map], [2, 1, 0, 1, 2, 1]);
 * assert.deepEqual([...padIndexMap([3], [1, 1], "replicate").map], [0, 0, 1, 2, 2]);
 * assert.deepEqual([...padIndexMap([3], [1, 1], "circular").map], [2, 0, 1, 2, 0]);
 * assert.deepEqual([...padIndexMap([3], [1, -1], "constant").map], [-1, 0, 1]);
 * ```
 */
export function padIndexMap(
  shape: readonly number[],
  pads: readonly number[],
  mode: PadMode,
): { shape: number[]; map: Int32Array } {
  const k = shape.length;
  const outShape: number[] = [];
  const dimMaps: Int32Array[] = [];
  for (let d = 0; d < k; d++) {
    const n = shape[d];
    // pads[0..1] belong to the last dim.
    const lo = pads[2 * (k - 1 - d)], hi = pads[2 * (k - 1 - d) + 1];
    const m = n + lo + hi;
    const dimMap = new Int32Array(Math.max(m, 0));
    for (let j = 0; j < m; j++) {
      const s = j - lo;
      if (mode === "constant") dimMap[j] = s >= 0 && s < n ? s : -1;
      else if (mode === "reflect") dimMap[j] = s < 0 ? -s : s >= n ? 2 * (n - 1) - s : s;
      else if (mode === "replicate") dimMap[j] = s < 0 ? 0 : s >= n ? n - 1 : s;
      else dimMap[j] = ((s % n) + n) % n;
    }
    outShape.push(m);
    dimMaps.push(dimMap);
  }
  let size = 1;
  for (const m of outShape) size *= m;
  const map = new Int32Array(size);
  // Row-major walk over the padded block, combining the per-dimension maps.
  const idx = new Array(k).fill(0);
  for (let o = 0; o < size; o++) {
    let src = 0;
    for (let d = 0; d < k; d++) {
      const s = dimMaps[d][idx[d]];
      if (s < 0) {
        src = -1;
        break;
      }
      src = src * shape[d] + s;
    }
    map[o] = src;
    for (let d = k - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape: outShape, map };
}

/**
 * `out[o·M + j] = map[j] ≥ 0 ? x[o·N + map[j]] : value` for `outer` blocks, where `N` is
 * the input block size and `M = map.length`.
 */
export function padGather(
  x: FloatArray,
  blockSize: number,
  map: Int32Array,
  outer: number,
  value: number,
  out: FloatArray,
): void {
  const m = map.length;
  for (let o = 0; o < outer; o++) {
    const xb = o * blockSize, ob = o * m;
    for (let j = 0; j < m; j++) {
      const s = map[j];
      out[ob + j] = s >= 0 ? x[xb + s] : value;
    }
  }
}

/**
 * The backward pass of {@link padGather}: `dx[o·N + map[j]] += g[o·M + j]` (`dx` must
 * start zeroed), so an input copied into several padded positions gets their sum.
 */
export function padScatter(
  g: FloatArray,
  blockSize: number,
  map: Int32Array,
  outer: number,
  dx: FloatArray,
): void {
  const m = map.length;
  for (let o = 0; o < outer; o++) {
    const xb = o * blockSize, gb = o * m;
    for (let j = 0; j < m; j++) {
      const s = map[j];
      if (s >= 0) dx[xb + s] += g[gb + j];
    }
  }
}

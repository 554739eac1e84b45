/**
 * Streaming elementwise work through WebAssembly memory: a WebAssembly kernel can only read
 * its own memory, so operands are copied in a cache-sized chunk at a time (bulk `set`
 * copies), the kernel runs on the chunk, and the results are copied back out.
 *
 * @module
 */

import type { DType, FloatArray } from "../storage.ts";
import type { LayerKernels } from "./wasm/layer_kernels.ts";

/**
 * Elements per round trip: 8,192 (32 KiB of float32) per operand keeps the copy in, the
 * kernel and the copy out within the L1 and L2 caches.
 */
export const STREAM_CHUNK = 8192;

/**
 * Below this many elements the JavaScript loops win: a round trip costs a few views and
 * calls whatever the length.
 */
export const WASM_MIN_LENGTH = 256;

/**
 * Runs `kernel(offsets, count)` over `n` elements, a chunk at a time: copies each of
 * `inputs` into WebAssembly memory (at `offsets[i]`), calls the kernel, then copies the
 * chunk of input slot `slot` into `array` for each `[slot, array]` of `outputs` (kernels
 * write their results over their inputs). All arrays have elements of `dtype`.
 */
export function streamThrough(
  wasm: LayerKernels,
  dtype: DType,
  n: number,
  inputs: FloatArray[],
  outputs: [slot: number, array: FloatArray][],
  kernel: (offsets: number[], count: number) => void,
): void {
  const mark = wasm.gemm.mark();
  try {
    const size = Math.min(n, STREAM_CHUNK);
    const offsets = inputs.map(() => wasm.alloc(dtype, size));
    // Views only after the last allocation: growing the memory detaches earlier ones.
    const views = offsets.map((o) => wasm.view(dtype, o, size));
    for (let start = 0; start < n; start += size) {
      const count = Math.min(size, n - start);
      for (let i = 0; i < inputs.length; i++) {
        views[i].set(inputs[i].subarray(start, start + count));
      }
      kernel(offsets, count);
      for (const [slot, array] of outputs) {
        array.set(count === size ? views[slot] : views[slot].subarray(0, count), start);
      }
    }
  } finally {
    wasm.gemm.release(mark);
  }
}

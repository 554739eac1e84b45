/**
 * Streaming elementwise work through WebAssembly memory: a WebAssembly kernel can only read
 * its own memory, so operands are copied in a chunk at a time (bulk `set` copies), the
 * kernel runs on the chunk, and the results are copied back out.
 *
 * @module
 */

import type { DType, FloatArray } from "../storage.ts";
import type { LayerKernels } from "./wasm/layer_kernels.ts";

/**
 * Elements per round trip: 262,144 (1 MiB of float32) per operand. Each round trip has a
 * fixed cost in JavaScript (views, two bulk copies, a call), and that cost, not the cache,
 * set the speed of the memory-bound layers. Going from 8,192 elements (32 KiB, which kept
 * a chunk in L1) to 262,144, together with batchnorm's groups (`channel_blocks.ts`), took
 * the conv-BN network's training step from 104–111 to 97–100 ms on one thread and from
 * 64–67 to 58 ms on two; twice as long was no faster.
 */
export const STREAM_CHUNK = 262144;

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

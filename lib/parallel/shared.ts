/**
 * Getting arrays onto shared memory for the pool's workers, and back.
 *
 * Workers can only read and write SharedArrayBuffers. A parallel layer therefore reads its
 * inputs in place when they are shared (tensors are, by default, see `setSharedStorage`) or
 * from a copy in a reusable shared scratch buffer ({@link sharedView}), and its workers
 * write into shared scratch that the calling thread then copies into the output.
 *
 * **Why outputs are not simply allocated shared.** Fresh memory costs a page fault per
 * 4 KiB page on first touch. The C allocator recycles plain ArrayBuffers once V8 has
 * collected them; shared ones kept paying: in a loop that allocates and drops buffers as a
 * training step does, 0.33 ms per MB for SharedArrayBuffers against 0.03 ms for plain
 * ones, while a bulk copy out of already-touched scratch costs about 0.02 ms per MB. So
 * the hot layers allocate their outputs with {@link allocateOutput} (plain memory) and pay
 * one copy when they run on the pool. Measured on the ThreeLayerConvNet epoch bench
 * (`bench/cnn_epoch_bench.ts`, ~25 MB of fresh activations and gradients per step): 26–28
 * s/epoch with shared outputs, 19.5–21.5 with plain ones, on one thread.
 *
 * @module
 */

import type { ScratchBuffers } from "../kernels/im2col.ts";
import { allocate, type DType, dtypeOf, type FloatArray, isShared } from "../storage.ts";
import { getNumThreads } from "./pool.ts";

/** `data` itself if workers can use it in place, else a copy in `scratch` under `name`. */
export function sharedView(data: FloatArray, scratch: ScratchBuffers, name: string): FloatArray {
  if (isShared(data)) return data;
  const copy = scratch.get(name, dtypeOf(data), data.length);
  copy.set(data);
  return copy;
}

/**
 * Whether a batch of `numTasks` independent tasks is worth handing to the pool: more than
 * one task, more than one thread, and a process allowed to start the pool's workers (a
 * program run without read access to the worker module stays on the calling thread
 * instead of failing).
 */
export function useParallel(numTasks: number): boolean {
  return numTasks > 1 && getNumThreads() > 1 && workersAllowed();
}

let canStartWorkers: boolean | undefined;

/** Whether the pool's worker module may be loaded (read permission for a local file). */
function workersAllowed(): boolean {
  if (canStartWorkers === undefined) {
    const url = new URL("./worker.ts", import.meta.url);
    const permissions = globalThis.Deno?.permissions;
    canStartWorkers = url.protocol !== "file:" || permissions?.querySync === undefined ||
      permissions.querySync({ name: "read", path: url }).state === "granted";
  }
  return canStartWorkers;
}

/**
 * A zero-filled output array of `size` elements on plain (non-shared) memory, which is
 * an order of magnitude cheaper to allocate than fresh shared memory (see the module
 * notes). Layers that run on the pool write into shared scratch and copy into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocateOutput } from "./shared.ts";
 * const out = allocateOutput("float32", 3);
 * assert.ok(out instanceof Float32Array && !(out.buffer instanceof SharedArrayBuffer));
 * ```
 */
export function allocateOutput(dtype: DType, size: number): FloatArray {
  return allocate(dtype, size, false);
}

/**
 * Where the pool's workers should write an output: `out` itself when it is shared memory,
 * else the shared scratch buffer `name` (copy it into `out` afterwards with
 * {@link copyBack}).
 */
export function sharedTarget(out: FloatArray, scratch: ScratchBuffers, name: string): FloatArray {
  return isShared(out) ? out : scratch.get(name, dtypeOf(out), out.length);
}

/** Copies `target` into `out` unless it is `out` itself (see {@link sharedTarget}). */
export function copyBack(out: FloatArray, target: FloatArray): void {
  if (target !== out) out.set(target);
}

/**
 * A Uint16Array of `length` entries on the shared buffer `name` of `scratch` (scratch
 * buffers hold floats; this reinterprets the bytes of enough of them).
 */
export function sharedUint16(scratch: ScratchBuffers, name: string, length: number): Uint16Array {
  const floats = scratch.get(name, "float32", Math.ceil(length / 2));
  return new Uint16Array(floats.buffer, floats.byteOffset, length);
}

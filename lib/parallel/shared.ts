/**
 * Getting arrays onto shared memory for the pool's workers.
 *
 * Tensors are allocated on SharedArrayBuffers by default (see `setSharedStorage`), so this
 * is usually a no-op; a tensor built on a plain ArrayBuffer is copied once into a reusable
 * shared scratch buffer.
 *
 * @module
 */

import type { ScratchBuffers } from "../kernels/im2col.ts";
import { dtypeOf, type FloatArray, isShared } from "../storage.ts";
import { getNumThreads } from "./pool.ts";

/** `data` itself if workers can use it in place, else a copy in `scratch` under `name`. */
export function sharedView(data: FloatArray, scratch: ScratchBuffers, name: string): FloatArray {
  if (isShared(data)) return data;
  const copy = scratch.get(name, dtypeOf(data), data.length);
  copy.set(data);
  return copy;
}

/** Whether a batch of `numTasks` independent tasks is worth handing to the pool. */
export function useParallel(numTasks: number): boolean {
  return numTasks > 1 && getNumThreads() > 1;
}

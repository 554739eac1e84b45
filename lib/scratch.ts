/**
 * Scratch memory that survives between calls, and getting arrays onto shared memory for
 * the pool's workers and back.
 *
 * Workers can only read and write SharedArrayBuffers. A parallel layer therefore reads its
 * inputs in place when they are shared (tensors are, by default, see `setSharedStorage`) or
 * from a copy in a reusable shared scratch buffer ({@link sharedView}), and its workers
 * write into the output when it is shared, else into shared scratch that the calling
 * thread then copies into the output.
 *
 * **Where outputs come from.** Fresh memory costs a page fault per 4 KiB page on first
 * touch. The C allocator recycles plain ArrayBuffers once V8 has collected them; shared
 * ones kept paying: in a loop that allocates and drops buffers as a training step does,
 * 0.33 ms per MB for SharedArrayBuffers against 0.03 ms for plain ones, while a bulk copy
 * out of already-touched scratch costs about 0.02 ms per MB. So the hot layers allocate
 * their outputs with {@link allocateOutput}, from the buffer pool (`buffer_pool.ts`): plain
 * memory the first time a size is asked for, and recycled SharedArrayBuffers once buffers
 * of that size come back, which need neither faults nor copies. (Plain outputs alone took
 * the ThreeLayerConvNet epoch from 26–28 to 19.5–21.5 s on one thread; the pool then took
 * the conv-BN step on two threads from 88–96 to 58–64 ms.)
 *
 * @module
 */

import { takeBuffer } from "./buffer_pool.ts";
import { allocate, type DType, dtypeOf, type FloatArray, isShared } from "./storage.ts";

/**
 * Named scratch arrays that survive between calls and only ever grow.
 *
 * Large fresh allocations are slow here (every page faults on first touch), and the
 * convolution engine needs the same big buffers (im2col columns, output chunks, per-chunk
 * weight-gradient partials) on every training step. Each thread keeps its own instance
 * (workers cannot share one), and a caller must not hold two views of the same name at
 * once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScratchBuffers } from "./scratch.ts";
 * const scratch = new ScratchBuffers();
 * const a = scratch.get("cols", "float32", 100);
 * const b = scratch.get("cols", "float32", 50); // reuses a's memory
 * assert.ok(a.buffer === b.buffer && b.length === 50);
 * ```
 */
export class ScratchBuffers {
  #buffers = new Map<string, FloatArray>();
  readonly #shared: boolean;

  /** `shared: true` puts the buffers on SharedArrayBuffers, for memory the pool's workers share. */
  constructor(options: { shared?: boolean } = {}) {
    this.#shared = options.shared ?? false;
  }

  /** A view of `size` elements of the buffer `name` of `dtype` (contents unspecified). */
  get(name: string, dtype: DType, size: number): FloatArray {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new Error(`ScratchBuffers.get: size must be a non-negative integer, got ${size}`);
    }
    const key = `${name}:${dtype}`;
    let buf = this.#buffers.get(key);
    if (buf === undefined || buf.length < size) {
      // Growing by at least 1.5× avoids a reallocation on every slightly larger batch.
      const length = Math.max(size, Math.ceil((buf?.length ?? 0) * 1.5));
      buf = allocate(dtype, length, this.#shared);
      this.#buffers.set(key, buf);
    }
    return buf.length === size ? buf : buf.subarray(0, size);
  }

  /** A view of `size` elements of the float64 buffer `name` (for exact accumulators). */
  getFloat64(name: string, size: number): Float64Array {
    return this.get(name, "float64", size) as Float64Array;
  }

  /** Total bytes held, for diagnostics. */
  get bytes(): number {
    let total = 0;
    for (const b of this.#buffers.values()) total += b.byteLength;
    return total;
  }

  /** Lets the memory go (the next `get` allocates afresh). */
  clear(): void {
    this.#buffers.clear();
  }
}

/** The calling thread's scratch memory, used when a caller passes none. */
export const defaultScratch: ScratchBuffers = new ScratchBuffers();

/** `data` itself if workers can use it in place, else a copy in `scratch` under `name`. */
export function sharedView(data: FloatArray, scratch: ScratchBuffers, name: string): FloatArray {
  if (isShared(data)) return data;
  const copy = scratch.get(name, dtypeOf(data), data.length);
  copy.set(data);
  return copy;
}

/**
 * An output array of `size` elements for a layer, from the buffer pool
 * (`buffer_pool.ts`): a recycled SharedArrayBuffer when one of that size has come back
 * (no page faults, and the pool's workers can write it in place), else fresh memory,
 * plain the first time a size is asked for (an order of magnitude cheaper to fault in
 * than fresh shared memory, see the module notes). Zero-filled unless `zero` is false,
 * in which case the caller must write every element. Layers whose output is not shared
 * write into shared scratch on the pool and copy into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocateOutput } from "./scratch.ts";
 * const out = allocateOutput("float32", 3);
 * assert.ok(out instanceof Float32Array && out.every((v) => v === 0));
 * ```
 */
export function allocateOutput(dtype: DType, size: number, zero = true): FloatArray {
  return takeBuffer(dtype, size, zero);
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

/**
 * A pool of tensor buffers that the library has proved dead, so that a training step in
 * the steady state touches no fresh memory.
 *
 * **Why.** On these machines the first touch of a fresh 4 KiB page costs a page fault, and
 * a training step makes tens of megabytes of activations and gradients: the conv-BN
 * network's step (batch 128) faulted ~4,000 times and spent ~15% of its time on it. Fresh
 * SharedArrayBuffers cost three times more per page than plain ones, which is why layer
 * outputs used to be plain memory, which in turn kept the memory-bound layers (ReLU,
 * batchnorm, pooling) off the worker pool. Buffers that come back through this pool are
 * SharedArrayBuffers already touched: no faults, and the pool's workers can read and
 * write them in place. (With `setSharedStorage(false)`, or where SharedArrayBuffer does
 * not exist, plain buffers circulate instead.)
 *
 * **Who gives buffers back.** JavaScript has no reference counts, so nothing here guesses
 * when a tensor dies. Buffers come back only from code that owns them and can prove that
 * nobody else holds them (see {@link releaseStorage} in `tensor.ts`, which also makes any
 * later use of a released tensor throw): the autograd engine (gradients flowing between
 * built-in operations), `nn.Sequential` (the activations between its built-in layers,
 * once a backward pass has freed their graph) and the cs231n models' `loss()` (their
 * caches). A tensor handed to user code is never released behind its back.
 *
 * **Sizes.** Buffers are kept by exact dtype and length (a training loop asks for the same
 * shapes every step), at most {@link POOL_LIMIT_BYTES} in all by default
 * ({@link setBufferPoolLimit}); past that the oldest go to the garbage collector. A length
 * asked for that has never come back is allocated as plain memory (cheaper to fault in; it
 * may never be recycled); one that has come back before is allocated shared, so the
 * second step's buffers are the ones that circulate. A buffer goes back at most once per
 * issue: giving it back ends its issue (see {@link bufferStamp}).
 *
 * @module
 */

import { allocate, type DType, type FloatArray, isSharedStorage } from "./storage.ts";

/** The default of {@link setBufferPoolLimit}: 768 MiB. */
export const POOL_LIMIT_BYTES = 768 * 1024 * 1024;
let limitBytes = POOL_LIMIT_BYTES;

/** Free buffers by key `dtype:length`, oldest first. */
const free = new Map<string, FloatArray[]>();
/** The keys of free buffers in the order they came back (for evicting the oldest). */
const order: string[] = [];
/** Keys that have come back at least once: new buffers of these sizes are shared. */
const recycledKeys = new Set<string>();
let heldBytes = 0;
/** Buffers handed out fresh and recycled, since the start or {@link clearBufferPool}. */
let freshCount = 0;
let reusedCount = 0;
/** Counts every buffer handed out; {@link issuedSince} compares against it. */
let issued = 0;
/** When each buffer handed out by the pool was issued (its buffer, to that count). */
const issuedAt = new WeakMap<ArrayBufferLike, number>();

function keyOf(dtype: DType, length: number): string {
  return `${dtype}:${length}`;
}

/**
 * An array of `size` elements of `dtype` for a layer's output: a recycled buffer when one
 * of that size is free, else a new one. With `zero` (the default) its contents are zero;
 * without, they are unspecified and the caller must write every element.
 */
export function takeBuffer(dtype: DType, size: number, zero = true): FloatArray {
  const key = keyOf(dtype, size);
  const list = free.get(key);
  let data: FloatArray;
  if (list !== undefined && list.length > 0) {
    data = list.pop()!;
    heldBytes -= data.byteLength;
    const at = order.indexOf(key);
    if (at >= 0) order.splice(at, 1);
    if (zero) data.fill(0);
    reusedCount++;
  } else {
    // Shared only where tensors may be (setSharedStorage, and SharedArrayBuffer exists).
    data = allocate(dtype, size, recycledKeys.has(key) && size > 0 && isSharedStorage());
    freshCount++;
  }
  issuedAt.set(data.buffer, ++issued);
  return data;
}

/**
 * The stamp of the issue that handed `buffer` out (0 for a buffer the pool did not hand
 * out, or that came back): a tensor notes it when made and, when it no longer matches,
 * knows its memory was recycled, whichever view of the buffer it is.
 */
export function bufferStamp(buffer: ArrayBufferLike): number {
  return issuedAt.get(buffer) ?? 0;
}

/** The current issue count: buffers taken after this have a larger stamp. */
export function issueCount(): number {
  return issued;
}

/**
 * Whether `data` is a whole buffer that {@link takeBuffer} handed out after the issue
 * count was `since` (so it was made after that point, by the library).
 */
export function issuedSince(data: FloatArray, since: number): boolean {
  const at = issuedAt.get(data.buffer);
  return at !== undefined && at > since && data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength;
}

/**
 * Gives a buffer back. Only whole buffers that {@link takeBuffer} handed out are kept,
 * and while tensors live on shared memory (`setSharedStorage`) only SharedArrayBuffers
 * (plain ones go to the GC: the next one of that size is then allocated shared); the
 * caller must know that nothing else uses `data` any more.
 */
export function giveBack(data: FloatArray): void {
  const buffer = data.buffer;
  if (
    !issuedAt.has(buffer) || data.byteOffset !== 0 || data.byteLength !== buffer.byteLength
  ) return;
  // From here on every tensor made on this buffer is stale (see bufferStamp).
  issuedAt.delete(buffer);
  const key = keyOf(data instanceof Float32Array ? "float32" : "float64", data.length);
  recycledKeys.add(key);
  // A plain buffer is dropped while tensors live on shared memory, so that the next one
  // of its size is allocated shared (see the module notes); without shared storage,
  // plain buffers are what circulates.
  if (data.length === 0 || (!(buffer instanceof SharedArrayBuffer) && isSharedStorage())) return;
  let list = free.get(key);
  if (list === undefined) free.set(key, list = []);
  list.push(data);
  order.push(key);
  heldBytes += data.byteLength;
  trimTo(limitBytes);
}

/** Drops the oldest free buffers until at most `bytes` are held. */
function trimTo(bytes: number): void {
  while (heldBytes > bytes && order.length > 0) {
    const oldest = order.shift()!;
    const dropped = free.get(oldest)!.shift()!;
    heldBytes -= dropped.byteLength;
  }
}

/**
 * Sets the most bytes of free buffers the pool keeps (default {@link POOL_LIMIT_BYTES});
 * 0 turns recycling off. Drops the oldest free buffers at once if more are held.
 */
export function setBufferPoolLimit(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new Error(`setBufferPoolLimit: bytes must be a non-negative integer, got ${bytes}`);
  }
  limitBytes = bytes;
  trimTo(bytes);
}

/**
 * Drops every free buffer (their memory goes back once the GC collects them) and zeroes
 * the counts of {@link bufferPoolStats}.
 */
export function clearBufferPool(): void {
  free.clear();
  order.length = 0;
  recycledKeys.clear();
  heldBytes = 0;
  freshCount = reusedCount = 0;
}

/** What the pool does and holds: see {@link bufferPoolStats}. */
export interface BufferPoolStats {
  /** Free buffers held. */
  buffers: number;
  /** Their bytes. */
  bytes: number;
  /** Output buffers handed out fresh (newly allocated). */
  fresh: number;
  /** Output buffers handed out recycled. */
  reused: number;
}

/**
 * What the pool holds, and how many output buffers it has handed out fresh and recycled
 * (since the start or {@link clearBufferPool}): in a training loop's steady state,
 * `fresh` stops growing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufferPoolStats } from "./buffer_pool.ts";
 * const { fresh, reused, buffers, bytes } = bufferPoolStats();
 * assert.ok(fresh >= 0 && reused >= 0 && buffers >= 0 && bytes >= 0);
 * ```
 */
export function bufferPoolStats(): BufferPoolStats {
  let buffers = 0;
  for (const list of free.values()) buffers += list.length;
  return { buffers, bytes: heldBytes, fresh: freshCount, reused: reusedCount };
}

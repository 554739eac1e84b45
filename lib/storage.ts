/**
 * The one place where tensor storage is allocated.
 *
 * Every tensor's buffer comes from {@link allocate}. When shared storage is on, buffers
 * live on a `SharedArrayBuffer`, so the worker pool can read inputs and write outputs in
 * place, with no copies.
 *
 * @module
 */

/** Element type of a tensor. */
export type DType = "float32" | "float64";

/** The typed array behind a tensor of either dtype. */
export type FloatArray = Float32Array | Float64Array;

// On by default: the worker pool then reads and writes every tensor in place. Plain
// element access on shared memory costs the same as on an ArrayBuffer in V8 (measured).
let sharedStorage = typeof SharedArrayBuffer === "function";

/** Makes later allocations use `SharedArrayBuffer` (true) or a plain `ArrayBuffer` (false). */
export function setSharedStorage(on: boolean): void {
  sharedStorage = on;
}

/** Whether new tensors are allocated on a `SharedArrayBuffer`. */
export function isSharedStorage(): boolean {
  return sharedStorage;
}

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return dtype === "float32" ? 4 : 8;
}

/** Checks that `dtype` names a supported element type. */
export function checkDType(fn: string, dtype: unknown): DType {
  if (dtype !== "float32" && dtype !== "float64") {
    throw new Error(`${fn}: dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
  }
  return dtype;
}

/**
 * Allocates a zero-filled array of `size` elements of `dtype`, on a SharedArrayBuffer when
 * `shared` (default: the current {@link setSharedStorage} setting).
 */
export function allocate(dtype: DType, size: number, shared: boolean = sharedStorage): FloatArray {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new Error(`allocate: size must be a non-negative integer, got ${size}`);
  }
  const bytes = size * bytesPerElement(dtype);
  let buffer: ArrayBufferLike;
  try {
    buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new Error(
      `allocate: cannot allocate ${size} ${dtype} elements (${formatBytes(bytes)}): more than ` +
        `this process can have (${e.message})`,
    );
  }
  return dtype === "float32" ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** The dtype of a typed array. */
export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float32Array ? "float32" : "float64";
}

/** Whether `data` lives on a SharedArrayBuffer (so pool workers can use it in place). */
export function isShared(data: FloatArray): boolean {
  return typeof SharedArrayBuffer === "function" && data.buffer instanceof SharedArrayBuffer;
}

/** `bytes` in the largest unit that keeps the number ≥ 1 (for messages). */
function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) [bytes, i] = [bytes / 1000, i + 1];
  return `${Number(bytes.toPrecision(3))} ${units[i]}`;
}

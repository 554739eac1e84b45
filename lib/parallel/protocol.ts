/**
 * The shared-memory protocol between the calling thread and the pool's workers.
 *
 * One `Int32Array` over a SharedArrayBuffer holds `CTRL_STRIDE` words per worker slot:
 * whether the worker has loaded, the sequence number of the last job it finished, and
 * whether that job failed. A second SharedArrayBuffer holds `ERROR_BYTES` per slot for a
 * failing job's message and stack, so the caller can rethrow it while still blocked in
 * `Atomics.wait` (no event-loop turn is needed to learn about a failure).
 *
 * @module
 */

import type { MessagePort } from "node:worker_threads";

/**
 * Int32 words per worker slot in the control array: 16 words = one 64-byte cache line,
 * so a worker writing its words never invalidates the line another thread is polling.
 */
export const CTRL_STRIDE = 16;
/** Word offset: 1 once the worker has loaded its modules. */
export const CTRL_READY = 0;
/** Word offset: sequence number of the last job the worker finished. */
export const CTRL_DONE = 1;
/** Word offset: `STATUS_OK` or `STATUS_ERROR` of that job. */
export const CTRL_STATUS = 2;
/**
 * Word offset: the doorbell, how many job messages have been posted to the worker.
 * The worker sleeps on it (`Atomics.wait`) between jobs instead of in its event loop.
 */
export const CTRL_POSTED = 3;
/**
 * Word offset: 1 asks the worker to leave its loop and exit. A worker asleep in
 * `Atomics.wait` must be woken this way before `terminate()`: terminating it while it
 * sleeps resolves but leaves its OS thread and memory behind until the process exits.
 */
export const CTRL_SHUTDOWN = 4;
/** Bytes per slot for an error's message and stack (UTF-8, zero-terminated). */
export const ERROR_BYTES = 8192;

/** The job finished normally. */
export const STATUS_OK = 0;
/** The job threw; its message is in the slot's error bytes. */
export const STATUS_ERROR = 1;

/** What a worker receives when it starts (`workerData`). */
export interface WorkerInit {
  /** The control words (Int32, `CTRL_STRIDE` per slot). */
  control: SharedArrayBuffer;
  /** The error text buffers (`ERROR_BYTES` per slot). */
  errors: SharedArrayBuffer;
  /** This worker's slot (1-based: slot 0 is the calling thread). */
  slot: number;
  /**
   * Modules to import before taking work: those that register the jobs (see
   * `registerWorkerModule`).
   */
  modules: string[];
  /** The worker's end of its job channel, read with `receiveMessageOnPort`. */
  jobs: MessagePort;
  /**
   * How long the worker keeps polling its doorbell after a job before it sleeps, in
   * milliseconds: a job that follows within this window starts without a futex wake-up.
   */
  spinMs: number;
}

/** One job handed to a worker: run `job` on each [start, end) of `ranges`. */
export interface JobMessage {
  seq: number;
  job: string;
  args: unknown;
  ranges: [number, number][];
}

/**
 * How a typed array travels in a job message: its buffer (a SharedArrayBuffer, for the
 * arrays jobs work on) plus where the view starts and how long it is.
 */
interface EncodedView {
  [VIEW_MARK]: TypedArrayName;
  buffer: ArrayBufferLike;
  byteOffset: number;
  length: number;
}

const VIEW_MARK = "__typedArrayView";

const VIEW_TYPES = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Uint8Array,
  Uint8ClampedArray,
  Uint16Array,
  Uint32Array,
} as const;

type TypedArrayName = keyof typeof VIEW_TYPES;

/**
 * Replaces every typed array in `args` (searched through plain objects and arrays) by its
 * buffer, offset and length. Why: Deno's `node:worker_threads` `postMessage` passes a bare
 * SharedArrayBuffer in constant time but walks a typed-array view element by element
 * (measured in Deno 2.9: ~0.15 s per MB, even for a view of shared memory), which made
 * every parallel layer call wait for its worker — a two-thread convolution ran 7× slower
 * than one thread. {@link decodeArgs} rebuilds the views on the worker's side.
 */
export function encodeArgs(args: unknown): unknown {
  if (ArrayBuffer.isView(args) && !(args instanceof DataView)) {
    const name = args.constructor.name as TypedArrayName;
    if (!(name in VIEW_TYPES)) return args;
    const view = args as unknown as { length: number };
    const encoded: EncodedView = {
      [VIEW_MARK]: name,
      buffer: args.buffer,
      byteOffset: args.byteOffset,
      length: view.length,
    };
    return encoded;
  }
  if (Array.isArray(args)) return args.map(encodeArgs);
  if (isPlainObject(args)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(args)) out[key] = encodeArgs(value);
    return out;
  }
  return args;
}

/** The inverse of {@link encodeArgs}: views over the same (shared) memory. */
export function decodeArgs(args: unknown): unknown {
  if (Array.isArray(args)) return args.map(decodeArgs);
  if (isPlainObject(args)) {
    const name = (args as Partial<EncodedView>)[VIEW_MARK];
    if (name !== undefined) {
      const { buffer, byteOffset, length } = args as unknown as EncodedView;
      // The constructors accept shared buffers too; their declared types say ArrayBuffer.
      return new VIEW_TYPES[name](buffer as ArrayBuffer, byteOffset, length);
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(args)) out[key] = decodeArgs(value);
    return out;
  }
  return args;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

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

/** Int32 words per worker slot in the control array. */
export const CTRL_STRIDE = 4;
/** Word offset: 1 once the worker has loaded its modules. */
export const CTRL_READY = 0;
/** Word offset: sequence number of the last job the worker finished. */
export const CTRL_DONE = 1;
/** Word offset: `STATUS_OK` or `STATUS_ERROR` of that job. */
export const CTRL_STATUS = 2;
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
}

/** One job handed to a worker: run `job` on each [start, end) of `ranges`. */
export interface JobMessage {
  seq: number;
  job: string;
  args: unknown;
  ranges: [number, number][];
}

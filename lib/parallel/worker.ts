/**
 * The body of every pool worker. It imports the job table, says it is ready through shared
 * memory, then runs each job message it receives and reports completion (or the error's
 * message and stack) through shared memory, where the blocked calling thread can see it.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import "./all_jobs.ts";
import { getJob } from "./jobs.ts";
import {
  CTRL_DONE,
  CTRL_READY,
  CTRL_STATUS,
  CTRL_STRIDE,
  decodeArgs,
  ERROR_BYTES,
  STATUS_ERROR,
  STATUS_OK,
} from "./protocol.ts";
import type { JobMessage, WorkerInit } from "./protocol.ts";

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.control);
const base = init.slot * CTRL_STRIDE;
const errorBytes = new Uint8Array(init.errors, init.slot * ERROR_BYTES, ERROR_BYTES);
const encoder = new TextEncoder();

parentPort!.on("message", (message: JobMessage) => {
  let status = STATUS_OK;
  try {
    const job = getJob(message.job);
    const args = decodeArgs(message.args);
    for (const [start, end] of message.ranges) job(args, start, end);
  } catch (e) {
    status = STATUS_ERROR;
    const err = e instanceof Error ? e : new Error(String(e));
    const text = `${err.message}\n${err.stack ?? ""}`;
    // Zero-terminated UTF-8, truncated to the slot's buffer.
    const { written } = encoder.encodeInto(text, errorBytes.subarray(0, ERROR_BYTES - 1));
    errorBytes[written] = 0;
  }
  Atomics.store(ctrl, base + CTRL_STATUS, status);
  Atomics.store(ctrl, base + CTRL_DONE, message.seq);
  Atomics.notify(ctrl, base + CTRL_DONE);
});

Atomics.store(ctrl, base + CTRL_READY, 1);
Atomics.notify(ctrl, base + CTRL_READY);
parentPort!.postMessage("ready");

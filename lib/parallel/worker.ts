/**
 * The body of every pool worker. It imports the modules that register the jobs (the
 * kernels name them with `registerWorkerModule`; this floor imports none of them), says it
 * is ready through shared memory, then loops until told to shut down: sleep on its doorbell
 * word, take the job message off its channel with `receiveMessageOnPort`, run it, report
 * completion (or the error's message and stack) through shared memory, where the blocked
 * calling thread can see it.
 *
 * **Why a doorbell and not the event loop.** A worker idling in its event loop took
 * 0.06–0.15 ms (median, p90 more) to notice a posted message after a few milliseconds of
 * idleness — a tenth of a 2 ms product split over two threads. Sleeping in `Atomics.wait`
 * and polling for a short while after each job first makes the hand-off a futex wake-up,
 * or nothing at all when jobs follow each other closely. The worker never returns to its
 * event loop until the pool sets its shutdown word, and then leaves the loop so that
 * `terminate()` ends a running thread, not a sleeping one (which would leak the thread).
 *
 * @module
 */

import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { getJob, setThreadSlot } from "./jobs.ts";
import {
  CTRL_DONE,
  CTRL_POSTED,
  CTRL_READY,
  CTRL_SHUTDOWN,
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
setThreadSlot(init.slot);
for (const href of init.modules) await import(href);

function runJob(message: JobMessage): void {
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
}

/**
 * Returns once more than `received` jobs have been posted or shutdown was asked for: polls
 * for `spinMs`, then sleeps (the pool rings the doorbell for a shutdown too).
 */
function waitForJob(received: number): void {
  const until = performance.now() + init.spinMs;
  for (;;) {
    const posted = Atomics.load(ctrl, base + CTRL_POSTED);
    if (posted !== received || Atomics.load(ctrl, base + CTRL_SHUTDOWN) === 1) return;
    if (performance.now() > until) {
      Atomics.wait(ctrl, base + CTRL_POSTED, posted);
      return;
    }
  }
}

Atomics.store(ctrl, base + CTRL_READY, 1);
Atomics.notify(ctrl, base + CTRL_READY);
parentPort!.postMessage("ready");

// The caller posts the message, then counts it on the doorbell: once the count has moved,
// the message is on the channel (retrying covers a channel that delivers a moment late).
for (let received = 0;;) {
  waitForJob(received);
  if (Atomics.load(ctrl, base + CTRL_SHUTDOWN) === 1) break;
  if (Atomics.load(ctrl, base + CTRL_POSTED) === received) continue;
  const message = receiveMessageOnPort(init.jobs);
  if (!message) continue;
  received++;
  runJob(message.message as JobMessage);
}
// Back in the event loop with nothing left to do: the thread ends, or `terminate()` ends it.
init.jobs.close();

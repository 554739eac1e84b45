/**
 * The jobs a {@link WorkerPool} can run, by name. The same table is imported by the calling
 * thread and by every worker, so a job runs the same code wherever its tasks land.
 *
 * A job is `(args, start, end) => void`: it processes the task indices [start, end) (for
 * example a range of examples, or of fixed-size chunks of a batch) reading and writing
 * the shared arrays inside `args` in place. Jobs must not depend on which thread runs
 * them: that is what makes results bitwise identical for any thread count.
 *
 * @module
 */

import process from "node:process";
import { isMainThread } from "node:worker_threads";

/** A job body: processes tasks [start, end) on the shared memory in `args`. */
// deno-lint-ignore no-explicit-any
export type Job = (args: any, start: number, end: number) => void;

const jobs = new Map<string, Job>();

/**
 * Adds a job to the table. Call it at the top level of a module that also calls
 * {@link registerWorkerModule} with its own URL, so that every thread registers the same
 * jobs.
 */
export function registerJob(name: string, job: Job): void {
  if (jobs.has(name) && jobs.get(name) !== job) {
    throw new Error(`registerJob: a different job is already registered as "${name}"`);
  }
  jobs.set(name, job);
}

const workerModules: string[] = [];

/**
 * Makes the pool's workers load the module at `url` (pass `import.meta.url`) before they
 * take work, so that the jobs it registers at its top level exist on every thread. This is
 * how the kernels hand the pool its worker entry: the pool never imports a kernel, the
 * kernels tell it which modules their jobs live in. Workers started earlier are replaced
 * (between two calls) when a new module is registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerWorkerModule, workerModuleList } from "./jobs.ts";
 * registerWorkerModule(import.meta.url);
 * assert.ok(workerModuleList().includes(import.meta.url));
 * ```
 */
export function registerWorkerModule(url: string | URL): void {
  const href = typeof url === "string" ? url : url.href;
  if (!workerModules.includes(href)) workerModules.push(href);
}

/** The modules every worker loads, in registration order (a fresh copy). */
export function workerModuleList(): string[] {
  return [...workerModules];
}

/** The job registered under `name`, or an Error listing the known names. */
export function getJob(name: string): Job {
  const job = jobs.get(name);
  if (!job) {
    throw new Error(`WorkerPool: unknown job "${name}" (known: ${[...jobs.keys()].join(", ")})`);
  }
  return job;
}

/**
 * Which thread of the pool this is: 0 on the calling thread, the worker's slot (1, 2, …)
 * on a pool worker. Jobs use it to pick per-thread resources, e.g. packing scratch.
 */
export function threadSlot(): number {
  return slot;
}

let slot = 0;

/** Called once by a pool worker (`worker.ts`) with its slot. */
export function setThreadSlot(workerSlot: number): void {
  slot = workerSlot;
}

// Diagnostic jobs: a pool self-test, and the faults the pool must survive (tests use them).

/** Writes `args.value + i` at every index i in [start, end) of the shared `args.out`. */
registerJob("pool.fill", (args: { out: Float64Array; value: number }, start, end) => {
  for (let i = start; i < end; i++) args.out[i] = args.value + i;
});

/** Throws when the range contains `args.at`: a job that fails on one thread. */
registerJob("pool.throw", (args: { at: number; message: string }, start, end) => {
  if (args.at >= start && args.at < end) throw new Error(args.message);
});

/** Busy-waits `args.ms` milliseconds when the range contains `args.at`: a hung thread. */
registerJob("pool.spin", (args: { at: number; ms: number }, start, end) => {
  if (args.at < start || args.at >= end) return;
  const until = performance.now() + args.ms;
  while (performance.now() < until) { /* spin */ }
});

/**
 * Ends the worker thread that runs task `args.at` (never the calling thread): a worker that
 * dies in the middle of a job.
 */
registerJob("pool.exit", (args: { at: number }, start, end) => {
  if (args.at < start || args.at >= end) return;
  if (isMainThread) throw new Error("pool.exit: refusing to end the calling thread");
  process.exit(1);
});

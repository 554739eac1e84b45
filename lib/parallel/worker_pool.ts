/**
 * A persistent pool of Workers that splits batch work across cores, behind a synchronous
 * API: the calling thread hands each worker a range of tasks, runs its own range, then
 * blocks in `Atomics.wait` until every worker has reported through shared memory.
 *
 * Why these choices:
 * - Workers are `node:worker_threads` Workers because they can be `unref()`'d: an idle pool
 *   never keeps a script alive (a Web Worker would, until terminated).
 * - Jobs read and write SharedArrayBuffer-backed arrays in place: nothing is copied.
 * - A job message goes down a per-worker `MessageChannel` (it carries the shared buffers,
 *   which are not copied) and is announced on a doorbell word in shared memory; the worker
 *   sleeps on that word, not in its event loop, which wakes it faster (see `worker.ts`).
 *   Completion and errors travel back through shared memory, because the caller is
 *   blocked and cannot receive messages.
 * - Both sides poll shared memory for up to `spinMs` before sleeping in `Atomics.wait`:
 *   back-to-back calls then start and finish without futex wake-ups.
 * - Only workers that have finished loading are given work. A worker module fetched over
 *   http needs the calling thread's event loop to load, so until `await pool.ready()` (or
 *   any other await) lets it, calls simply run on the calling thread. Jobs are written so
 *   that results do not depend on how ranges are split, so this never changes a result.
 * - A worker that dies or hangs is caught by a timeout, never a deadlock: the pool
 *   terminates its workers, throws, and starts fresh ones on the next call.
 *
 * @module
 */

import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { getJob, workerModuleList } from "./jobs.ts";
import {
  CTRL_DONE,
  CTRL_POSTED,
  CTRL_READY,
  CTRL_SHUTDOWN,
  CTRL_STATUS,
  CTRL_STRIDE,
  encodeArgs,
  ERROR_BYTES,
  type JobMessage,
  STATUS_ERROR,
  type WorkerInit,
} from "./protocol.ts";

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * How long a call waits for a worker before declaring it dead or hung, in milliseconds
   * (default 120,000: far longer than any single layer call of this library).
   */
  timeoutMs?: number;
  /**
   * How long a thread keeps polling shared memory before it sleeps in `Atomics.wait`, in
   * milliseconds: a worker after finishing a job (waiting for the next), the calling
   * thread after finishing its own share (waiting for the workers). Polling costs an
   * otherwise idle core; sleeping costs a futex wake-up (tens of microseconds) when the
   * wait ends. Default 1.
   */
  spinMs?: number;
}

const decoder = new TextDecoder();

/**
 * A pool of `numThreads - 1` workers plus the calling thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerPool } from "./worker_pool.ts";
 * const pool = new WorkerPool(2);
 * await pool.ready();
 * const out = new Float64Array(new SharedArrayBuffer(8 * 100));
 * pool.run("pool.fill", { out, value: 1 }, 100); // half on a worker, half here
 * assert.equal(out[99], 100);
 * await pool.close();
 * ```
 */
export class WorkerPool {
  /** Threads that share the work, the calling thread included. */
  readonly numThreads: number;
  readonly #timeoutMs: number;
  readonly #spinMs: number;
  #workers: (Worker | null)[] = [];
  /** The calling thread's end of each worker's job channel. */
  #ports: MessagePort[] = [];
  #control: Int32Array<ArrayBufferLike> = new Int32Array(0);
  #errors: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  #seq = 0;
  /** Calls shared with at least one worker, by job name (see {@link sharedRuns}). */
  #shared = new Map<string, number>();
  #started = false;
  /** Set when a worker exited or failed outside a job: restart all before the next call. */
  #broken = false;
  #closed = false;
  #readyPromise: Promise<void> | null = null;
  /** The worker modules the running workers loaded (see `registerWorkerModule`). */
  #modules: string[] = [];

  /** Creates a pool; its workers start on first use (or `ready()`), not here. */
  constructor(numThreads: number = defaultNumThreads(), options: WorkerPoolOptions = {}) {
    checkThreadCount("WorkerPool", "numThreads", numThreads);
    const timeoutMs = options.timeoutMs ?? 120_000;
    if (!(timeoutMs > 0)) {
      throw new Error(`WorkerPool: timeoutMs must be positive, got ${timeoutMs}`);
    }
    const spinMs = options.spinMs ?? 1;
    if (!(spinMs >= 0)) {
      throw new Error(`WorkerPool: spinMs must be non-negative, got ${spinMs}`);
    }
    this.numThreads = numThreads;
    this.#timeoutMs = timeoutMs;
    this.#spinMs = spinMs;
  }

  /** Starts the workers if needed and resolves once all of them have loaded. */
  ready(): Promise<void> {
    this.#checkOpen("ready");
    if (this.numThreads > 1) {
      const unreadable = unreadableWorkerModules();
      if (unreadable.length > 0) {
        return Promise.reject(unreadableError("WorkerPool.ready", unreadable));
      }
    }
    this.#start();
    if (!this.#readyPromise) {
      this.#readyPromise = Promise.all(
        this.#workers.map((w, i) =>
          w === null || Atomics.load(this.#control, (i + 1) * CTRL_STRIDE + CTRL_READY) === 1
            ? undefined
            : new Promise<void>((resolve, reject) => {
              w.once("message", () => resolve());
              w.once("error", (e) => reject(e));
            })
        ),
      ).then(() => {});
    }
    return this.#readyPromise;
  }

  /**
   * How many calls of the job `name` were shared with at least one worker (for tests and
   * diagnostics: whether a kernel really went to the pool).
   */
  sharedRuns(name: string): number {
    return this.#shared.get(name) ?? 0;
  }

  /** Threads that would share a call made now: 1 plus the workers that have loaded. */
  get activeThreads(): number {
    let n = 1;
    for (let i = 0; i < this.#workers.length; i++) if (this.#isReady(i + 1)) n++;
    return n;
  }

  /**
   * Runs the job `name` on tasks [0, numTasks): the tasks are cut into one contiguous range
   * per active thread; workers get theirs by message, the calling thread runs the first.
   * Returns when all are done; rethrows a worker's error with its message and stack.
   */
  run(name: string, args: unknown, numTasks: number): void {
    this.#checkOpen("run");
    if (!Number.isInteger(numTasks) || numTasks < 0) {
      throw new Error(`WorkerPool.run: numTasks must be a non-negative integer, got ${numTasks}`);
    }
    const job = getJob(name);
    if (this.numThreads === 1) {
      job(args, 0, numTasks);
      return;
    }
    checkShared(args);
    // Start the workers even when this call cannot use them, so that later calls can: a
    // synchronous loop that never yields to the event loop still gets every thread once
    // the workers have loaded (they load on their own threads).
    this.#start();
    if (numTasks <= 1) {
      job(args, 0, numTasks);
      return;
    }
    const slots: number[] = [];
    for (let s = 1; s <= this.#workers.length && slots.length + 1 < numTasks; s++) {
      if (this.#isReady(s)) slots.push(s);
    }
    const parts = slots.length + 1;
    if (parts > 1) this.#shared.set(name, (this.#shared.get(name) ?? 0) + 1);
    const bound = (p: number) => Math.floor((p * numTasks) / parts);
    const seq = ++this.#seq;
    const encoded = slots.length > 0 ? encodeArgs(args) : args;
    slots.forEach((slot, i) => {
      const message: JobMessage = {
        seq,
        job: name,
        args: encoded,
        ranges: [[bound(i + 1), bound(i + 2)]],
      };
      // Message first, then the doorbell: a worker that sees the count move finds it.
      this.#ports[slot - 1].postMessage(message);
      Atomics.add(this.#control, slot * CTRL_STRIDE + CTRL_POSTED, 1);
      Atomics.notify(this.#control, slot * CTRL_STRIDE + CTRL_POSTED);
    });

    let ownError: unknown = null;
    try {
      job(args, 0, bound(1));
    } catch (e) {
      ownError = e;
    }
    // Wait for every worker even if our own part failed: they are still writing into
    // memory that the caller may reuse as soon as we return.
    const failures = this.#waitFor(name, seq, slots);
    if (ownError) throw ownError;
    if (failures.length > 0) {
      const [slot, text] = failures[0];
      throw new Error(`WorkerPool: job "${name}" failed on worker ${slot}: ${text}`);
    }
  }

  /** Terminates the workers. The pool cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#terminate();
  }

  /** Terminates the workers without waiting (for `using pool = new WorkerPool()`). */
  [Symbol.dispose](): void {
    void this.close();
  }

  /** Terminates the workers and waits for them to exit (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new Error(`WorkerPool.${what}: the pool has been closed`);
  }

  #isReady(slot: number): boolean {
    return this.#workers[slot - 1] !== null &&
      Atomics.load(this.#control, slot * CTRL_STRIDE + CTRL_READY) === 1;
  }

  #start(): void {
    // Workers that died, or that predate a newly registered worker module, are replaced.
    if (this.#broken || this.#modules.length !== workerModuleList().length) {
      void this.#terminate();
    }
    if (this.#started) return;
    this.#started = true;
    const slots = this.numThreads;
    this.#control = new Int32Array(new SharedArrayBuffer(4 * CTRL_STRIDE * slots));
    this.#errors = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES * slots));
    this.#readyPromise = null;
    this.#workers = [];
    this.#ports = [];
    this.#modules = workerModuleList();
    for (let slot = 1; slot < slots; slot++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = {
        control: this.#control.buffer as SharedArrayBuffer,
        errors: this.#errors.buffer as SharedArrayBuffer,
        slot,
        modules: this.#modules,
        jobs: port2,
        spinMs: this.#spinMs,
      };
      // `env: {}`: by default a worker gets a copy of the whole environment, and reading it
      // all makes Deno ask for env access on a terminal (even under --allow-env=ONE_NAME),
      // stopping any script at its first parallel call. Jobs never read the environment.
      const worker = new Worker(workerUrl(), {
        workerData: init,
        transferList: [port2],
        env: {},
      });
      // Referenced while it loads (so `await pool.ready()` keeps the event loop alive),
      // unreferenced once ready: an idle pool never keeps a script alive.
      worker.once("message", () => worker.unref());
      // A worker that exits or fails outside a job is dropped; the next call restarts all.
      const drop = () => {
        if (this.#workers[slot - 1] === worker) {
          this.#workers[slot - 1] = null;
          this.#broken = true;
        }
      };
      worker.on("exit", drop);
      worker.on("error", drop);
      this.#workers.push(worker);
      this.#ports.push(port1);
    }
  }

  async #terminate(): Promise<void> {
    const workers = this.#workers.filter((w): w is Worker => w !== null);
    // Wake every worker with the shutdown word first: terminating a worker asleep in
    // Atomics.wait would leave its thread and memory behind (measured: 30 pool restarts
    // kept 67 threads and 1.3 GB).
    for (let slot = 1; slot <= this.#workers.length; slot++) {
      Atomics.store(this.#control, slot * CTRL_STRIDE + CTRL_SHUTDOWN, 1);
      Atomics.add(this.#control, slot * CTRL_STRIDE + CTRL_POSTED, 1);
      Atomics.notify(this.#control, slot * CTRL_STRIDE + CTRL_POSTED);
    }
    for (const port of this.#ports) port.close();
    this.#workers = [];
    this.#ports = [];
    this.#started = false;
    this.#broken = false;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** Blocks until each slot reports `seq`; returns the [slot, error text] of failures. */
  #waitFor(name: string, seq: number, slots: number[]): [number, string][] {
    const deadline = performance.now() + this.#timeoutMs;
    const failures: [number, string][] = [];
    for (const slot of slots) {
      const done = slot * CTRL_STRIDE + CTRL_DONE;
      // Workers usually finish within a fraction of a millisecond of the caller: poll
      // first, sleep only if the wait drags on.
      const pollUntil = performance.now() + this.#spinMs;
      while (Atomics.load(this.#control, done) !== seq && performance.now() < pollUntil) {
        /* poll */
      }
      for (;;) {
        const seen = Atomics.load(this.#control, done);
        if (seen === seq) break;
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          void this.#terminate();
          throw new Error(
            `WorkerPool: worker ${slot} did not finish job "${name}" within ${this.#timeoutMs} ms ` +
              "(it died or hung); the pool's workers were terminated and will be restarted " +
              "on the next call",
          );
        }
        Atomics.wait(this.#control, done, seen, remaining);
      }
      if (Atomics.load(this.#control, slot * CTRL_STRIDE + CTRL_STATUS) === STATUS_ERROR) {
        const bytes = this.#errors.subarray(slot * ERROR_BYTES, (slot + 1) * ERROR_BYTES);
        const end = bytes.indexOf(0);
        // TextDecoder refuses views of shared memory: copy the bytes out first.
        failures.push([slot, decoder.decode(bytes.slice(0, end < 0 ? bytes.length : end))]);
      }
    }
    return failures;
  }
}

/**
 * The worker entry module. File URLs load directly; other schemes (http when `mod.ts` is
 * imported from a URL) go through a one-line `data:` module that imports it, because
 * `node:worker_threads` only accepts `file:` and `data:` URLs.
 */
function workerUrl(): URL {
  const url = new URL("./worker.ts", import.meta.url);
  if (url.protocol === "file:") return url;
  return new URL(`data:text/javascript,import ${JSON.stringify(url.href)};`);
}

/** One thread per core (`navigator.hardwareConcurrency`), at least 1. */
export function defaultNumThreads(): number {
  const n = globalThis.navigator?.hardwareConcurrency;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

let defaultPool: WorkerPool | null = null;
let requestedThreads: number | null = null;

/** The library's shared pool (created on first use with {@link setNumThreads}'s count). */
export function getPool(): WorkerPool {
  defaultPool ??= new WorkerPool(requestedThreads ?? defaultNumThreads());
  return defaultPool;
}

/**
 * Sets how many threads the library's parallel kernels use (default: one per core);
 * `1` runs everything on the calling thread. Closes the previous pool's workers.
 * Returns a promise that resolves when the new pool's workers have loaded.
 *
 * @example
 * ```ts
 * import { getNumThreads, setNumThreads } from "./worker_pool.ts";
 * await setNumThreads(1);
 * console.log(getNumThreads()); // 1
 * ```
 */
export async function setNumThreads(n: number): Promise<void> {
  checkThreadCount("setNumThreads", "n", n);
  requestedThreads = n;
  const old = defaultPool;
  defaultPool = null;
  await old?.close();
  if (n > 1) {
    const unreadable = unreadableWorkerModules();
    if (unreadable.length > 0) throw unreadableError("setNumThreads", unreadable);
    await getPool().ready();
  }
}

/** The thread count the library's parallel kernels use. */
export function getNumThreads(): number {
  // Without permission to load the workers, every kernel runs on the calling thread.
  if (!workersAllowed()) return 1;
  return defaultPool?.numThreads ?? requestedThreads ?? defaultNumThreads();
}

/**
 * Most threads a pool may have: 4 per core. More only cost memory and start-up time (each
 * worker is a V8 isolate of ~30 MB that takes ~30 ms to start); 1,000 threads on 2 cores
 * were still not ready after 60 s at 8.3 GB.
 */
export function maxNumThreads(): number {
  return 4 * defaultNumThreads();
}

function checkThreadCount(fn: string, name: string, n: unknown): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new Error(`${fn}: ${name} must be a positive integer, got ${describe(n)}`);
  }
  if (n > maxNumThreads()) {
    throw new Error(
      `${fn}: ${name} must be at most ${maxNumThreads()} (4 per core on this machine's ` +
        `${defaultNumThreads()} cores), got ${n}`,
    );
  }
}

/** A value as a message shows it: strings quoted, so `"2"` is not mistaken for 2. */
function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
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

/**
 * Whether the workers may load their modules: the worker body and every registered worker
 * module need read permission when they are local files. Asked with `querySync`, which
 * never prompts.
 */
function workersAllowed(): boolean {
  // Layers ask on every call: remember a grant (for this many modules) rather than query
  // the permissions again each time.
  const modules = workerModuleList().length;
  if (grantedForModules === modules) return true;
  const allowed = unreadableWorkerModules().length === 0;
  if (allowed) grantedForModules = modules;
  return allowed;
}

let grantedForModules = -1;

/** The local worker modules this process may not read (none when served over http). */
function unreadableWorkerModules(): string[] {
  const permissions = globalThis.Deno?.permissions;
  if (permissions?.querySync === undefined) return [];
  const urls = [
    new URL("./worker.ts", import.meta.url),
    ...workerModuleList().map((h) => new URL(h)),
  ];
  return urls.filter((url) =>
    url.protocol === "file:" &&
    permissions.querySync({ name: "read", path: url }).state !== "granted"
  ).map((url) => url.href);
}

/** The error for a pool whose workers cannot load: which files, and the flag that fixes it. */
function unreadableError(fn: string, files: string[]): Error {
  const lib = new URL("..", import.meta.url);
  return new Error(
    `${fn}: the worker threads load the library's modules from ${lib.pathname}, and this ` +
      `process may not read them (${files.map((f) => new URL(f).pathname).join(", ")}). ` +
      `Run with --allow-read=${lib.pathname.replace(/\/$/, "")} (or keep one thread: ` +
      "setNumThreads(1))",
  );
}

/**
 * Throws unless every typed array in `args` (searched through plain objects and arrays) lives
 * on shared memory: a worker writing into an ordinary ArrayBuffer would write into its own
 * copy, and the caller would never see the result.
 */
function checkShared(args: unknown, path = "args"): void {
  if (ArrayBuffer.isView(args)) {
    if (!(args.buffer instanceof SharedArrayBuffer)) {
      throw new Error(
        `WorkerPool.run: ${path} is a ${args.constructor.name} on a non-shared ArrayBuffer; ` +
          "workers can only read and write SharedArrayBuffer memory (allocate it with " +
          "new SharedArrayBuffer, or use tensors, which are shared by default)",
      );
    }
  } else if (Array.isArray(args)) {
    args.forEach((v, i) => checkShared(v, `${path}[${i}]`));
  } else if (args !== null && typeof args === "object") {
    const proto = Object.getPrototypeOf(args);
    if (proto !== Object.prototype && proto !== null) return;
    for (const [key, value] of Object.entries(args)) checkShared(value, `${path}.${key}`);
  }
}

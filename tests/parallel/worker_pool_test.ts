import assert from "node:assert/strict";
import {
  defaultNumThreads,
  getNumThreads,
  maxNumThreads,
  setNumThreads,
  WorkerPool,
} from "../../lib/parallel/worker_pool.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };

function sharedFloats(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * n));
}

Deno.test(
  "WorkerPool splits a job across threads and writes shared memory in place",
  sanitizers,
  async () => {
    const pool = new WorkerPool(3);
    try {
      await pool.ready();
      assert.equal(pool.activeThreads, 3);
      const out = sharedFloats(1000);
      pool.run("pool.fill", { out, value: 0.5 }, 1000);
      for (let i = 0; i < 1000; i++) assert.equal(out[i], 0.5 + i);
      // More threads than tasks: still every task exactly once.
      const few = sharedFloats(2);
      pool.run("pool.fill", { out: few, value: 7 }, 2);
      assert.deepEqual([...few], [7, 8]);
      pool.run("pool.fill", { out: few, value: 7 }, 0);
    } finally {
      await pool.close();
    }
  },
);

Deno.test(
  "WorkerPool rethrows a worker's error with its message and stack",
  sanitizers,
  async () => {
    const pool = new WorkerPool(2);
    try {
      await pool.ready();
      // Task 9 of 10 lands on the worker (the calling thread runs tasks 0..4).
      assert.throws(
        () => pool.run("pool.throw", { at: 9, message: "boom in task 9" }, 10),
        (e: Error) =>
          /job "pool.throw" failed on worker 1: boom in task 9/.test(e.message) &&
          /jobs\.ts/.test(e.message), // the worker's stack names where it threw
      );
      // The calling thread's own error is rethrown as is.
      assert.throws(
        () => pool.run("pool.throw", { at: 0, message: "boom here" }, 10),
        /^Error: boom here$/m,
      );
      // The pool still works afterwards.
      const out = sharedFloats(10);
      pool.run("pool.fill", { out, value: 1 }, 10);
      assert.equal(out[9], 10);
    } finally {
      await pool.close();
    }
  },
);

Deno.test(
  "WorkerPool detects a hung worker by timeout, restarts, and the next call works",
  sanitizers,
  async () => {
    const pool = new WorkerPool(2, { timeoutMs: 300 });
    try {
      await pool.ready();
      const t0 = performance.now();
      assert.throws(
        () => pool.run("pool.spin", { at: 9, ms: 5000 }, 10),
        /worker 1 did not finish job "pool.spin" within 300 ms/,
      );
      assert.ok(performance.now() - t0 < 2000, "the caller must not wait for the hung worker");
      await pool.ready(); // fresh workers
      const out = sharedFloats(10);
      pool.run("pool.fill", { out, value: 2 }, 10);
      assert.equal(out[9], 11);
      assert.equal(pool.activeThreads, 2);
    } finally {
      await pool.close();
    }
  },
);

Deno.test("WorkerPool survives a worker that dies during a job", sanitizers, async () => {
  const pool = new WorkerPool(2, { timeoutMs: 2000 });
  try {
    await pool.ready();
    // The worker's thread ends in the middle of a job: the caller finds out by timeout.
    assert.throws(
      () => pool.run("pool.exit", { at: 9 }, 10),
      /worker 1 did not finish job "pool.exit" within 2000 ms \(it died or hung\)/,
    );
    const out = sharedFloats(10);
    pool.run("pool.fill", { out, value: 3 }, 10);
    assert.equal(out[0], 3);
  } finally {
    await pool.close();
  }
});

Deno.test(
  "WorkerPool hands jobs over to workers that are polling and to workers that sleep",
  sanitizers,
  async () => {
    // spinMs 0: every job wakes a sleeping worker; 1000: every job finds it polling.
    for (const spinMs of [0, 1000]) {
      const pool = new WorkerPool(2, { spinMs });
      try {
        await pool.ready();
        const out = sharedFloats(20);
        for (let i = 0; i < 50; i++) {
          pool.run("pool.fill", { out, value: i }, 20);
          assert.equal(out[19], i + 19, `spinMs ${spinMs}, call ${i}`);
          // Now and then let the worker's poll window lapse.
          if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        await pool.close();
      }
    }
  },
);

Deno.test(
  "WorkerPool validates its arguments and refuses use after close",
  sanitizers,
  async () => {
    assert.throws(() => new WorkerPool(0), /numThreads must be a positive integer, got 0/);
    assert.throws(() => new WorkerPool(2, { timeoutMs: 0 }), /timeoutMs must be positive/);
    assert.throws(
      () => new WorkerPool(2, { spinMs: -1 }),
      /spinMs must be non-negative, got -1/,
    );
    const pool = new WorkerPool(1);
    assert.throws(() => pool.run("no.such.job", {}, 1), /unknown job "no.such.job"/);
    assert.throws(() => pool.run("pool.fill", {}, -1), /numTasks must be a non-negative integer/);
    await pool.close();
    assert.throws(() => pool.run("pool.fill", {}, 1), /the pool has been closed/);
  },
);

Deno.test("setNumThreads controls the library's pool", sanitizers, async () => {
  assert.ok(defaultNumThreads() >= 1);
  await setNumThreads(2);
  assert.equal(getNumThreads(), 2);
  await setNumThreads(1); // closes the 2-thread pool's worker
  assert.equal(getNumThreads(), 1);
  await assert.rejects(() => setNumThreads(0), /n must be a positive integer/);
  await assert.rejects(() => setNumThreads("2" as unknown as number), /got "2"/);
  // A count far beyond the cores is refused at once, naming the limit (not started).
  await assert.rejects(
    () => setNumThreads(1000),
    new RegExp(`n must be at most ${maxNumThreads()} \\(4 per core .* got 1000`),
  );
  assert.throws(() => new WorkerPool(maxNumThreads() + 1), /numThreads must be at most/);
  assert.equal(getNumThreads(), 1);
});

Deno.test(
  "closing pools wakes their workers: threads and memory are returned",
  sanitizers,
  async () => {
    // Terminating a worker asleep in Atomics.wait kept its thread and ~25 MB each; 20
    // start/close cycles of a 3-thread pool then held ~1 GB more. Woken first, they exit.
    await setNumThreads(1);
    const rss0 = Deno.memoryUsage().rss;
    for (let i = 0; i < 20; i++) {
      await setNumThreads(3);
      await setNumThreads(1);
    }
    const pool = new WorkerPool(2);
    await pool.ready();
    pool.run("pool.throw", { at: -1, message: "" }, 4); // a job, then sleep, then close
    await new Promise((r) => setTimeout(r, 20));
    await pool.close();
    const grownMb = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grownMb < 250, `RSS grew by ${grownMb.toFixed(0)} MB over 20 pool restarts`);
  },
);

Deno.test("WorkerPool.run refuses arrays that workers cannot write back", sanitizers, async () => {
  const pool = new WorkerPool(2);
  try {
    const plain = new Float64Array(10);
    assert.throws(
      () => pool.run("pool.fill", { out: plain, value: 1 }, 10),
      /WorkerPool.run: args.out is a Float64Array on a non-shared ArrayBuffer/,
    );
    assert.throws(
      () => pool.run("pool.fill", { parts: [sharedFloats(2), new Int32Array(2)] }, 10),
      /args.parts\[1\] is a Int32Array on a non-shared/,
    );
    assert.ok(plain.every((v) => v === 0));
  } finally {
    await pool.close();
  }
});

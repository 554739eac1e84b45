// How job arguments travel to pool workers: typed arrays as (buffer, offset, length), so
// that Deno's worker_threads postMessage never walks their elements.
import assert from "node:assert/strict";
import { decodeArgs, encodeArgs } from "../../lib/parallel/protocol.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";

Deno.test("encodeArgs / decodeArgs: views over the same memory, nested, any element type", () => {
  const sab = new SharedArrayBuffer(64);
  const f32 = new Float32Array(sab, 8, 6);
  const u16 = new Uint16Array(sab, 32, 4);
  const args = {
    a: f32,
    nested: { list: [u16, 3, "text", null], flag: true },
    geometry: { batch: 2, channels: 3 },
    plain: new Float64Array([1, 2]),
  };
  const encoded = encodeArgs(args) as Record<string, unknown>;
  // No typed array is left in the message: only buffers and numbers.
  const hasView = (v: unknown): boolean =>
    ArrayBuffer.isView(v) ||
    (typeof v === "object" && v !== null && Object.values(v).some(hasView));
  assert.equal(hasView(encoded), false);
  const decoded = decodeArgs(structuredClone(encoded)) as typeof args;
  assert.ok(decoded.a instanceof Float32Array);
  assert.ok(decoded.a.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([decoded.a.byteOffset, decoded.a.length], [8, 6]);
  decoded.a[0] = 5; // the same memory (a clone of a SharedArrayBuffer shares it)
  assert.equal(f32[0], 5);
  assert.ok(decoded.nested.list[0] instanceof Uint16Array);
  assert.deepEqual([(decoded.nested.list[0] as Uint16Array).byteOffset], [32]);
  assert.deepEqual(decoded.nested.list.slice(1), [3, "text", null]);
  assert.deepEqual(decoded.geometry, { batch: 2, channels: 3 });
  assert.deepEqual([...decoded.plain], [1, 2]);
});

Deno.test(
  "a job with a large shared array reaches the worker in well under a second",
  { sanitizeOps: true, sanitizeResources: true },
  async () => {
    try {
      await setNumThreads(2);
      // 48 MB: posting the typed array itself took ~0.8 s in Deno 2.9 (its elements were
      // walked); as (buffer, offset, length) it takes microseconds, and the job ~30 ms.
      const n = 6_000_000;
      const out = new Float64Array(new SharedArrayBuffer(8 * n));
      const t0 = performance.now();
      getPool().run("pool.fill", { out, value: 1 }, n);
      const ms = performance.now() - t0;
      assert.equal(out[n - 1], n);
      assert.ok(ms < 300, `the job took ${ms.toFixed(0)} ms`);
    } finally {
      await setNumThreads(1);
    }
  },
);

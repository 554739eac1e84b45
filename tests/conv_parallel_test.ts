import assert from "node:assert/strict";
import { convBackwardFast, convForwardFast, convParamGradsFast } from "../lib/layers/conv_fast.ts";
import type { ConvParam } from "../lib/layers/conv.ts";
import { getPool, setNumThreads } from "../lib/parallel/pool.ts";
import { Rng } from "../lib/rng.ts";
import { setSharedStorage } from "../lib/storage.ts";
import { Tensor } from "../lib/tensor.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };

interface Case {
  name: string;
  x: number[];
  w: number[];
  param: ConvParam;
}

// Batches large enough for several chunks, so the pool really splits them.
const cases: Case[] = [
  { name: "W2b-like", x: [24, 32, 14, 14], w: [16, 32, 3, 3], param: { stride: 1, pad: 1 } },
  { name: "strided", x: [40, 3, 31, 31], w: [8, 3, 3, 3], param: { stride: 2, pad: 1 } },
  {
    name: "grouped dilated",
    x: [20, 8, 12, 12],
    w: [8, 4, 3, 3],
    param: { stride: 1, pad: 2, dilation: 2, groups: 2 },
  },
];

function run(c: Case, dtype: "float32" | "float64") {
  const rng = new Rng(7);
  const x = Tensor.randn(c.x, rng, dtype);
  const w = Tensor.randn(c.w, rng, dtype);
  const b = Tensor.randn([c.w[0]], rng, dtype);
  const [out, cache] = convForwardFast(x, w, b, c.param);
  const dout = Tensor.randn(out.shape, rng, dtype);
  const [dx, dw, db] = convBackwardFast(dout, cache);
  const [dw2, db2] = convParamGradsFast(dout, cache);
  return { out, dx, dw, db, dw2, db2 };
}

Deno.test("parallel conv is bitwise identical to one thread", sanitizers, async (t) => {
  try {
    for (const dtype of ["float32", "float64"] as const) {
      for (const c of cases) {
        await t.step(`${c.name} ${dtype}`, async () => {
          await setNumThreads(1);
          const single = run(c, dtype);
          await setNumThreads(3);
          assert.equal(getPool().activeThreads, 3);
          const multi = run(c, dtype);
          for (const key of Object.keys(single) as (keyof typeof single)[]) {
            assert.deepEqual(multi[key].shape, single[key].shape, key);
            assert.ok(
              multi[key].data.every((v, i) => Object.is(v, single[key].data[i])),
              `${key} differs between 1 and 3 threads`,
            );
          }
        });
      }
    }
  } finally {
    await setNumThreads(1);
  }
});

Deno.test("parallel conv accepts tensors on plain (non-shared) memory", sanitizers, async () => {
  try {
    const c = cases[0];
    await setNumThreads(1);
    const single = run(c, "float32");
    await setNumThreads(2);
    setSharedStorage(false);
    const multi = run(c, "float32");
    assert.ok(multi.out.data.every((v, i) => Object.is(v, single.out.data[i])));
    assert.ok(multi.dw.data.every((v, i) => Object.is(v, single.dw.data[i])));
  } finally {
    setSharedStorage(true);
    await setNumThreads(1);
  }
});

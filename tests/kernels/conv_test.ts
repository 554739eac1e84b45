import assert from "node:assert/strict";
import {
  type ConvAlgorithm,
  convAlgorithmFor,
  convBackwardBatch,
  convBackwardRange,
  convChunkCount,
  convChunkSize,
  convForwardBatch,
  convForwardRange,
  setConvAlgorithm,
  sumPartials,
} from "../../lib/kernels/conv.ts";
import { setGemmKernel } from "../../lib/kernels/gemm.ts";
import { winogradVariantFor } from "../../lib/kernels/winograd.ts";
import {
  convBackwardNaive,
  convForwardNaive,
  convGeometry,
  type ConvParam,
} from "../../lib/layers/conv.ts";
import { convBackwardFast, convForwardFast } from "../../lib/layers/conv_fast.ts";
import { Rng } from "../../lib/rng.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { ScratchBuffers } from "../../lib/scratch.ts";
import { allocate, type FloatArray } from "../../lib/storage.ts";
import { type DType, Tensor } from "../../lib/tensor.ts";

function randn(shape: number[], rng: Rng, dtype: DType = "float64"): Tensor {
  return Tensor.randn(shape, rng, dtype);
}

Deno.test("range functions: any chunk-aligned split gives bitwise the same results", () => {
  const rng = new Rng(12);
  const x = randn([11, 8, 32, 32], rng), w = randn([4, 8, 3, 3], rng), b = randn([4], rng);
  const param = { stride: 1, pad: 1 };
  const g = convGeometry("test", x, w, b, param);
  const nb = convChunkSize(g), slots = convChunkCount(g);
  assert.ok(nb > 1 && slots >= 3, `want several multi-example chunks, got ${nb} × ${slots}`);
  const [out, cache] = convForwardFast(x, w, b, param);
  const dout = randn(out.shape, rng);
  const [dx, dw, db] = convBackwardFast(dout, cache);

  // As a worker pool would: each "worker" its own scratch, its own range of chunks.
  const splits = [[0, 11], [0, nb, 11], [0, 2 * nb, 11], [0, nb, 2 * nb, 11]];
  for (const bounds of splits) {
    const out2 = new Float64Array(out.size), dx2 = new Float64Array(dx.size);
    const dwPartials = new Float64Array(slots * w.size), dbPartials = new Float64Array(slots * 4);
    for (let i = 0; i + 1 < bounds.length; i++) {
      const scratch = new ScratchBuffers();
      convForwardRange(x.data, w.data, b.data, g, out2, bounds[i], bounds[i + 1], scratch);
      convBackwardRange(
        dout.data,
        x.data,
        w.data,
        g,
        bounds[i],
        bounds[i + 1],
        dx2,
        dwPartials,
        dbPartials,
        scratch,
      );
    }
    const dw2 = new Float64Array(w.size), db2 = new Float64Array(4);
    sumPartials(dwPartials, slots, w.size, dw2);
    sumPartials(dbPartials, slots, 4, db2);
    assert.deepEqual(out2, out.data);
    assert.deepEqual(dx2, dx.data);
    assert.deepEqual(dw2, dw.data);
    assert.deepEqual(db2, db.data);
  }
  assert.throws(
    () =>
      convBackwardRange(
        dout.data,
        x.data,
        w.data,
        g,
        1,
        11,
        null,
        new Float64Array(slots * w.size),
        null,
      ),
    /convBackwardRange: with partials, the range \[1, 11\) must start and end on chunk boundaries/,
  );
});

Deno.test("a last chunk of one example after larger chunks is computed, not left stale", () => {
  // The WebAssembly path moves a chunk's results through a separate buffer when chunks hold
  // several examples; a last chunk of one example must go through it too (it once copied
  // the previous chunk's results instead).
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(13);
    const probe = convGeometry(
      "test",
      randn([1, 11, 18, 4], rng, dtype),
      randn([11, 11, 3, 3], rng, dtype),
      randn([11], rng, dtype),
      { stride: 1, pad: 3 },
    );
    const N = convChunkSize(probe) + 1;
    assert.ok(N > 2, `want chunks of several examples, got ${N - 1}`);
    const x = randn([N, 11, 18, 4], rng, dtype), w = randn([11, 11, 3, 3], rng, dtype);
    const b = randn([11], rng, dtype);
    const param = { stride: 1, pad: 3 };
    try {
      setConvAlgorithm("im2col");
      const [out, cache] = convForwardFast(x, w, b, param);
      const [want] = convForwardNaive(x, w, b, param);
      const dout = randn(out.shape, rng, dtype);
      const [dx, dw, db] = convBackwardFast(dout, cache);
      const [dx0, dw0, db0] = convBackwardNaive(dout, cache);
      const tol = dtype === "float32" ? 1e-4 : 1e-10;
      for (
        const [got, ref, name] of [[out, want, "out"], [dx, dx0, "dx"], [dw, dw0, "dw"], [
          db,
          db0,
          "db",
        ]] as const
      ) {
        const scale = Math.max(...ref.data.map(Math.abs));
        const err = Math.max(...got.data.map((v, i) => Math.abs(v - ref.data[i])));
        assert.ok(err <= tol * scale, `${dtype} ${name}: error ${err} (scale ${scale})`);
      }
    } finally {
      setConvAlgorithm("auto");
    }
  }
});

Deno.test("convForwardBatch and convBackwardBatch overwrite every element of out and dx, on every algorithm and thread count", async () => {
  // The layers hand them unzeroed buffers from the pool, so a path that only added into
  // its output would leak the buffer's last contents: NaN-filled outputs must give the
  // very bits that zero-filled ones give.
  interface Case {
    x: number[];
    w: number[];
    param: ConvParam;
    want: ConvAlgorithm;
    /** The Winograd variant the geometry takes, where it matters to the case. */
    variant?: "F2x2" | "F4x4";
    bias?: false;
  }
  const cases: Case[] = [
    { x: [40, 1, 28, 28], w: [8, 1, 3, 3], param: { stride: 1, pad: 1 }, want: "direct" },
    // Filters not a multiple of the kernel's block of 4, rows not a multiple of a vector.
    { x: [40, 1, 27, 13], w: [6, 1, 5, 5], param: { stride: 1, pad: 2 }, want: "direct" },
    { x: [40, 6, 16, 16], w: [8, 6, 3, 3], param: { stride: 1, pad: 1 }, want: "winograd" },
    // 14×14 maps take F(4×4) with cropped tiles, 10×10 maps F(2×2) with whole ones, and
    // pad 0 on odd sizes crops the last F(2×2) tiles (an 11×9 output).
    {
      x: [40, 8, 14, 14],
      w: [16, 8, 3, 3],
      param: { stride: 1, pad: 1 },
      want: "winograd",
      variant: "F4x4",
    },
    {
      x: [40, 8, 10, 10],
      w: [16, 8, 3, 3],
      param: { stride: 1, pad: 1 },
      want: "winograd",
      variant: "F2x2",
    },
    {
      x: [40, 8, 13, 11],
      w: [8, 8, 3, 3],
      param: { stride: 1, pad: 0 },
      want: "winograd",
      variant: "F2x2",
    },
    { x: [40, 6, 16, 16], w: [8, 6, 3, 3], param: { stride: 1, pad: 0 }, want: "im2col" },
    { x: [40, 3, 19, 17], w: [4, 3, 5, 3], param: { stride: 1, pad: 2 }, want: "im2col" },
    {
      x: [16, 4, 63, 63],
      w: [6, 2, 3, 3],
      param: { stride: 2, pad: 1, dilation: 2, groups: 2 },
      want: "im2col",
      bias: false,
    },
  ];
  const jobs = ["conv.forward", "conv.backward", "convDirect.forward", "convDirect.paramGrads"];
  jobs.push("winograd.conv", "winograd.filterGrad");
  const pooled = () => jobs.reduce((sum, name) => sum + getPool().sharedRuns(name), 0);
  const sameBits = (a: FloatArray, b: FloatArray) =>
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).every((v, i) =>
      v === new Uint8Array(b.buffer, b.byteOffset, b.byteLength)[i]
    );
  try {
    for (const threads of [1, 2]) {
      await setNumThreads(threads);
      // Workers that have not loaded yet would leave every chunk to this thread.
      await getPool().ready();
      for (const dtype of ["float32", "float64"] as const) {
        for (const c of cases) {
          const rng = new Rng(21);
          const x = randn(c.x, rng, dtype), w = randn(c.w, rng, dtype);
          const b = randn([c.w[0]], rng, dtype);
          const g = convGeometry("test", x, w, b, c.param);
          if (c.variant !== undefined) assert.equal(winogradVariantFor(g), c.variant);
          const bias = c.bias === false ? null : b.data;
          // "js": im2col with the JavaScript GEMM (every layer then stays in JavaScript).
          for (const algorithm of [c.want, "im2col", "js"] as const) {
            setConvAlgorithm(algorithm === "js" ? "im2col" : algorithm);
            setGemmKernel(algorithm === "js" ? "js" : "auto");
            const where = `${dtype} x[${c.x}] w[${c.w}] ${JSON.stringify(c.param)}, ` +
              `${algorithm}, ${threads}T`;
            // Shared outputs are written in place by the workers; plain ones through
            // shared scratch and a copy back.
            for (const shared of [true, false]) {
              const run = (fill: number) => {
                const size = g.batch * g.filters * g.outH * g.outW;
                const out = allocate(dtype, size, shared).fill(fill);
                convForwardBatch(x.data, w.data, bias, g, out);
                const dout = out.map((v, i) => Math.sin(i) * v);
                const dx = allocate(dtype, x.size, shared).fill(fill);
                const dw = allocate(dtype, w.size, shared).fill(fill);
                const db = allocate(dtype, b.size, shared).fill(fill);
                convBackwardBatch(dout, x.data, w.data, g, dx, dw, db);
                return [out, dx, dw, db];
              };
              const before = pooled();
              const zeroed = run(0), poisoned = run(NaN);
              if (threads > 1 && algorithm !== "js") {
                assert.ok(pooled() > before, `${where} ran on the pool`);
              }
              for (let k = 0; k < 4; k++) {
                const what = `${where}, ${shared ? "shared" : "plain"}: result ${k}`;
                assert.ok(zeroed[k].every(Number.isFinite), `${what} is finite`);
                assert.ok(sameBits(zeroed[k], poisoned[k]), `${what} overwritten`);
              }
            }
            if (dtype === "float32" && algorithm === c.want) {
              assert.equal(convAlgorithmFor(g, dtype), c.want, `${where} is really covered`);
            }
          }
        }
      }
    }
  } finally {
    setConvAlgorithm("auto");
    setGemmKernel("auto");
    await setNumThreads(1);
  }
});

Deno.test("with the JavaScript GEMM selected, a convolution on two threads gives the bits of one", async () => {
  const rng = new Rng(22);
  const x = randn([40, 3, 19, 17], rng), w = randn([4, 3, 5, 3], rng), b = randn([4], rng);
  const g = convGeometry("test", x, w, b, { stride: 1, pad: 2 });
  assert.ok(convChunkCount(g) >= 2, "several chunks, so two threads could share them");
  const run = async (threads: number) => {
    await setNumThreads(threads);
    const out = allocate("float64", g.batch * g.filters * g.outH * g.outW);
    convForwardBatch(x.data, w.data, b.data, g, out);
    const dout = out.map((v, i) => Math.cos(i) * v);
    const dx = allocate("float64", x.size), dw = allocate("float64", w.size);
    const db = allocate("float64", b.size);
    convBackwardBatch(dout, x.data, w.data, g, dx, dw, db);
    return [out, dx, dw, db];
  };
  try {
    setGemmKernel("js");
    const one = await run(1);
    for (let k = 0; k < 3; k++) {
      const two = await run(2);
      for (let r = 0; r < 4; r++) assert.deepEqual(two[r], one[r], `result ${r}, round ${k}`);
    }
  } finally {
    setGemmKernel("auto");
    await setNumThreads(1);
  }
});

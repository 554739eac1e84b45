import assert from "node:assert/strict";
import { gemm, gemmReference, setGemmKernel } from "../../lib/kernels/gemm.ts";
import {
  gemmParallelInPlace,
  sharedGemmInstance,
} from "../../lib/kernels/gemm_parallel_in_place.ts";
import { createGemmInstance } from "../../lib/kernels/wasm/gemm_instance.ts";
import { wasmFeatures } from "../../lib/kernels/wasm/features.ts";
import { type ConvAlgorithm, setConvAlgorithm } from "../../lib/kernels/conv.ts";
import { GEMM_PARALLEL_MIN_MULADDS, gemmParallel } from "../../lib/kernels/gemm_parallel.ts";
import { adamKernel } from "../../lib/kernels/optim_kernels.ts";
import { relu, reluMask } from "../../lib/kernels/elementwise.ts";
import { maxPoolBackwardBatch } from "../../lib/kernels/pooling.ts";
import { affineBackward, affineForward } from "../../lib/layers/affine.ts";
import {
  convBackwardFast,
  convForwardFast,
  convParamGradsFast,
} from "../../lib/layers/conv_fast.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "../../lib/layers/pool.ts";
import { relError } from "../../lib/gradient_check.ts";
import { convBackwardNaive, convForwardNaive, type ConvParam } from "../../lib/layers/conv.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";
import { type FloatArray, setSharedStorage } from "../../lib/storage.ts";
import { Tensor } from "../../lib/tensor.ts";

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

// ------------------------------------------------------------ the other parallel layers

/** Shared-memory float32 (or float64) array of random values. */
function sharedRandom(n: number, rng: Rng, dtype: "float32" | "float64" = "float32") {
  const a = dtype === "float32"
    ? new Float32Array(new SharedArrayBuffer(4 * n))
    : new Float64Array(new SharedArrayBuffer(8 * n));
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function assertBitwise(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) {
      assert.fail(`${what}: element ${i} is ${got[i]} on the pool, ${want[i]} on one thread`);
    }
  }
}

Deno.test(
  "gemmParallel is bitwise identical to gemm, cutting rows or columns",
  sanitizers,
  async (t) => {
    try {
      await setNumThreads(3);
      assert.equal(getPool().activeThreads, 3);
      const rng = new Rng(21);
      // [transA, transB, M, N, K]: tall products cut rows, wide ones cut columns; both
      // transpositions; sizes off the tile and block multiples.
      const cases: [boolean, boolean, number, number, number][] = [
        [false, false, 301, 90, 170],
        [false, false, 40, 1003, 130],
        [true, false, 257, 80, 211],
        [false, true, 50, 700, 150],
        [true, true, 150, 161, 199],
      ];
      for (const dtype of ["float32", "float64"] as const) {
        for (const [transA, transB, M, N, K] of cases) {
          // Large enough that gemmParallel really hands the product to the pool.
          assert.ok(M * N * K >= GEMM_PARALLEL_MIN_MULADDS);
          await t.step(`${dtype} ${transA ? "T" : "N"}${transB ? "T" : "N"} ${M}×${N}×${K}`, () => {
            // Leading dimensions with gaps, beta ≠ 0 (C is read), and the C gaps must survive.
            const lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 5, ldc = N + 2;
            const A = sharedRandom((transA ? K : M) * lda, rng, dtype);
            const B = sharedRandom((transB ? N : K) * ldb, rng, dtype);
            const C0 = sharedRandom(M * ldc, rng, dtype);
            const want = C0.slice();
            gemm(transA, transB, M, N, K, 0.75, A, lda, B, ldb, -0.5, want, ldc);
            const got = C0.slice(); // plain memory: computed on shared scratch, copied back
            gemmParallel(transA, transB, M, N, K, 0.75, A, lda, B, ldb, -0.5, got, ldc);
            assertBitwise(got, want, "C");
            const inPlace = sharedRandom(C0.length, rng, dtype);
            inPlace.set(C0);
            gemmParallel(transA, transB, M, N, K, 0.75, A, lda, B, ldb, -0.5, inPlace, ldc);
            assertBitwise(inPlace, want, "C on shared memory");
          });
        }
      }
    } finally {
      await setNumThreads(1);
    }
  },
);

Deno.test(
  "gemmParallelInPlace is bitwise identical to gemmInPlace, cutting rows or columns",
  sanitizers,
  async (t) => {
    const inst = sharedGemmInstance();
    try {
      await setNumThreads(3);
      const rng = new Rng(22);
      const cases: [boolean, boolean, number, number, number][] = [
        [false, false, 301, 90, 170], // tall: rows
        [false, false, 40, 1003, 130], // wide: columns, claimed
        [true, true, 150, 161, 199],
        [false, true, 50, 700, 150],
      ];
      for (const dtype of ["float32", "float64"] as const) {
        for (const [transA, transB, M, N, K] of cases) {
          assert.ok(M * N * K >= GEMM_PARALLEL_MIN_MULADDS);
          await t.step(`${dtype} ${transA ? "T" : "N"}${transB ? "T" : "N"} ${M}×${N}×${K}`, () => {
            const mark = inst.mark();
            const lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 5, ldc = N + 2;
            const put = (values: FloatArray) => {
              const offset = inst.alloc(dtype, values.length);
              inst.view(dtype, offset, values.length).set(values);
              return offset;
            };
            const a = put(sharedRandom((transA ? K : M) * lda, rng, dtype));
            const b = put(sharedRandom((transB ? N : K) * ldb, rng, dtype));
            const C0 = sharedRandom(M * ldc, rng, dtype);
            const want = put(C0), got = put(C0);
            inst.gemmInPlace(dtype, transA, transB, M, N, K, 0.75, a, lda, b, ldb, -0.5, want, ldc);
            gemmParallelInPlace(
              dtype,
              transA,
              transB,
              M,
              N,
              K,
              0.75,
              a,
              lda,
              b,
              ldb,
              -0.5,
              got,
              ldc,
            );
            const view = (offset: number) => inst.view(dtype, offset, C0.length).slice();
            assertBitwise(view(got), view(want), "C");
            // It really is A·B: compare with the reference loop.
            const ref = C0.slice();
            const A = inst.view(dtype, a, (transA ? K : M) * lda).slice();
            const B = inst.view(dtype, b, (transB ? N : K) * ldb).slice();
            gemmReference(transA, transB, M, N, K, 0.75, A, lda, B, ldb, -0.5, ref, ldc);
            const tol = dtype === "float32" ? 1e-3 : 1e-10;
            const c = view(got);
            for (let i = 0; i < c.length; i++) assert.ok(Math.abs(c[i] - ref[i]) < tol, `C[${i}]`);
            inst.release(mark);
          });
        }
      }
      await t.step("bad offsets are named", () => {
        const end = inst.memory.buffer.byteLength;
        assert.throws(
          () => gemmParallelInPlace("float32", false, false, 4, 4, 4, 1, 2, 4, 0, 4, 0, 0, 4),
          /gemmParallelInPlace: aOffset must be a non-negative multiple of 4, got 2/,
        );
        assert.throws(
          () => gemmParallelInPlace("float32", false, false, 4, 4, 4, 1, 0, 4, 0, 4, 0, end, 4),
          /gemmParallelInPlace: c spans bytes \[\d+, \d+\) but the memory has \d+/,
        );
      });
    } finally {
      await setNumThreads(1);
    }
  },
);

Deno.test("a guest GemmInstance allocates nothing and needs its scratch", () => {
  const owner = sharedGemmInstance();
  const guest = createGemmInstance({ memory: owner.memory, guest: true });
  assert.throws(
    () => guest.alloc("float32", 4),
    /guest instance; allocate with the memory's owner/,
  );
  assert.throws(
    () => guest.gemmInPlace("float32", false, false, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1),
    /a guest instance needs useScratch\(\) before multiplying/,
  );
  assert.throws(() => guest.useScratch(3), /offset must be a non-negative multiple of 16, got 3/);
  assert.throws(
    () => guest.useScratch(owner.memory.buffer.byteLength),
    /lies beyond the memory/,
  );
  assert.throws(() => createGemmInstance({ guest: true }), /a guest instance needs the owner's/);
});

Deno.test(
  "affine and max-pool layers are bitwise identical on 1 and 3 threads",
  sanitizers,
  async (t) => {
    const rng = new Rng(22);
    const x = Tensor.randn([64, 2000], rng, "float32");
    const w = Tensor.randn([2000, 100], rng, "float32");
    const b = Tensor.randn([100], rng, "float32");
    const dout = Tensor.randn([64, 100], rng, "float32");
    // ≥ 2M pixels, so that pooling goes to the pool; a tiling and an overlapping window.
    const image = Tensor.randn([8, 16, 128, 128], rng, "float32");
    const pools = [
      { poolHeight: 2, poolWidth: 2, stride: 2 },
      { poolHeight: 3, poolWidth: 3, stride: 1 },
    ];
    const runAll = () => {
      const [out, cache] = affineForward(x, w, b);
      const [dx, dw, db] = affineBackward(dout, cache);
      const pooled = pools.map((p) => {
        const [pout, pcache] = maxPoolForwardFast(image, p);
        const pdout = Tensor.randn(pout.shape, new Rng(5), "float32");
        return [pout, maxPoolBackwardFast(pdout, pcache), pcache.argmax] as const;
      });
      return { out, dx, dw, db, pooled };
    };
    try {
      await setNumThreads(1);
      const single = runAll();
      await setNumThreads(3);
      const multi = runAll();
      await t.step("affine", () => {
        for (const key of ["out", "dx", "dw", "db"] as const) {
          assertBitwise(multi[key].data, single[key].data, key);
        }
      });
      await t.step("max pool", () => {
        for (let i = 0; i < pools.length; i++) {
          const [out1, dx1, arg1] = single.pooled[i], [out3, dx3, arg3] = multi.pooled[i];
          assertBitwise(out3.data, out1.data, `pool ${i} out`);
          assertBitwise(dx3.data, dx1.data, `pool ${i} dx`);
          assertBitwise(arg3, arg1, `pool ${i} argmax`);
        }
      });
    } finally {
      await setNumThreads(1);
    }
  },
);

Deno.test('conv\'s JavaScript path (GEMM kernel "js") agrees with the WebAssembly path', () => {
  const c = cases[2]; // grouped and dilated
  const wasm = run(c, "float64");
  setGemmKernel("js");
  try {
    const js = run(c, "float64");
    for (const key of Object.keys(wasm) as (keyof typeof wasm)[]) {
      const a = js[key].data, b = wasm[key].data;
      let worst = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
      }
      assert.ok(worst < 1e-12, `${key}: the two paths differ by ${worst}`);
    }
  } finally {
    setGemmKernel("auto");
  }
});

Deno.test("adamKernel is bitwise identical on 1 and 3 threads", sanitizers, async () => {
  const rng = new Rng(23);
  const n = 300_001; // above the parallel threshold, not a multiple of the task size
  const [w, dw, m] = [0, 1, 2].map(() => sharedRandom(n, rng));
  const v = sharedRandom(n, rng).map(Math.abs); // plain memory: copied to shared scratch
  const step = () => {
    const outs = [0, 1, 2].map(() => new Float32Array(n));
    adamKernel(w, dw, m, v, 1e-3, 0.9, 0.999, 1e-8, 3, outs[0], outs[1], outs[2]);
    return outs;
  };
  try {
    await setNumThreads(1);
    const single = step();
    await setNumThreads(3);
    const multi = step();
    single.forEach((want, i) => assertBitwise(multi[i], want, `output ${i}`));
    // The moments updated in place (outputs aliasing inputs, as the optimizer does with
    // its own state), on shared memory (m) and on plain memory (v): the same values.
    const [mInPlace, vInPlace] = [m.slice(), v.slice()];
    const sharedM = sharedRandom(n, rng);
    sharedM.set(mInPlace);
    const outW = new Float32Array(n);
    adamKernel(w, dw, sharedM, vInPlace, 1e-3, 0.9, 0.999, 1e-8, 3, outW, sharedM, vInPlace);
    assertBitwise(outW, single[0], "w, moments in place");
    assertBitwise(sharedM, single[1], "m in place");
    assertBitwise(vInPlace, single[2], "v in place");
  } finally {
    await setNumThreads(1);
  }
});

Deno.test("a 7×7×32 first layer (dW computed transposed) matches the naive loops", () => {
  // 32 filters × 49 taps fit GEMM's tiles better as 49 × 32: the weight gradient is then
  // computed transposed and transposed back.
  const rng = new Rng(24);
  const x = Tensor.randn([3, 1, 28, 28], rng), w = Tensor.randn([32, 1, 7, 7], rng);
  const b = Tensor.randn([32], rng);
  const param = { stride: 1, pad: 3 };
  const [out, cache] = convForwardFast(x, w, b, param);
  const [outNaive, cacheNaive] = convForwardNaive(x, w, b, param);
  const dout = Tensor.randn(out.shape, rng);
  const fast = convBackwardFast(dout, cache), naive = convBackwardNaive(dout, cacheNaive);
  const pairs = [[out, outNaive], ...fast.map((g, i) => [g, naive[i]])];
  for (const [got, want] of pairs) assert.ok(relError(got, want) < 1e-10);
});

Deno.test(
  "ReLU, its mask and 2×2 max-pool backward split over the pool when every operand is shared, bit for bit",
  sanitizers,
  async () => {
    const rng = new Rng(29);
    const n = 600_007; // several blocks, the last one partial
    const x = sharedRandom(n, rng);
    x[5] = NaN;
    x[6] = -0;
    const dout = sharedRandom(n, rng);
    // Max pooling of (16, 8, 64, 64): 2×2 tiles; the kernel sees one channel per plane.
    const image = new Tensor(sharedRandom(16 * 8 * 64 * 64, rng), [16, 8, 64, 64]);
    const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
    const run = () => {
      const out = new Float32Array(new SharedArrayBuffer(4 * n));
      const dx = new Float32Array(new SharedArrayBuffer(4 * n));
      relu(x, out);
      reluMask(dout, x, dx);
      const [pooled, cache] = maxPoolForwardFast(image, poolParam);
      const pdout = new Tensor(sharedRandom(pooled.size, new Rng(31)), pooled.shape);
      const pdx = new Float32Array(new SharedArrayBuffer(4 * image.size));
      maxPoolBackwardBatch(
        pdout.data,
        cache.argmax,
        {
          channels: 1,
          height: 64,
          width: 64,
          kernelH: 2,
          kernelW: 2,
          stride: 2,
          pad: 0,
          dilation: 1,
          outH: 32,
          outW: 32,
        },
        16 * 8,
        pdx,
        true,
      );
      return { out, dx, pdx, pooledDx: maxPoolBackwardFast(pdout, cache).data };
    };
    try {
      await setNumThreads(1);
      const single = run();
      await setNumThreads(2);
      const pool = getPool();
      await pool.ready();
      const before = ["elementwise.relu", "elementwise.reluMask", "pool.maxBackward"].map((j) =>
        pool.sharedRuns(j)
      );
      const multi = run();
      const after = ["elementwise.relu", "elementwise.reluMask", "pool.maxBackward"].map((j) =>
        pool.sharedRuns(j)
      );
      after.forEach((count, i) => assert.ok(count > before[i], `job ${i} went to the pool`));
      assertBitwise(multi.out, single.out, "relu");
      assertBitwise(multi.dx, single.dx, "reluMask");
      assertBitwise(multi.pdx, single.pdx, "max-pool backward");
      assertBitwise(multi.pooledDx, single.pooledDx, "maxPoolBackwardFast");
      // The plain-memory path (no split) gives the same bits too.
      const plainOut = new Float32Array(n);
      relu(Float32Array.from(x), plainOut);
      assertBitwise(plainOut, single.out, "relu on plain memory");
    } finally {
      await setNumThreads(1);
    }
  },
);

Deno.test(
  "with a GEMM kernel other than the workers' selected, GEMMs and convolutions stay on this thread and give the bits of one thread",
  sanitizers,
  async () => {
    const { simd, relaxedSimd } = wasmFeatures();
    // The workers' kernel is the default. The others: the JavaScript kernel, and the
    // unfused WebAssembly one where the default fuses (an engine without relaxed SIMD has
    // no fused one to pick).
    const choices: [string, () => void][] = [["js", () => setGemmKernel("js")]];
    if (simd && relaxedSimd) {
      choices.push(["wasm unfused", () => setGemmKernel("wasm", { relaxed: false })]);
    }
    const rng = new Rng(23);
    // The affine forward's product, and a convolution that each algorithm takes (every
    // pool job that multiplies: the direct one's dx goes through im2col).
    const A = sharedRandom(50 * 1200, rng, "float32"), B = sharedRandom(1200 * 100, rng, "float32");
    const convCases: [number[], number[], ConvAlgorithm][] = [
      [[40, 6, 16, 16], [8, 6, 3, 3], "winograd"],
      [[40, 1, 28, 28], [8, 1, 3, 3], "direct"],
      [[40, 6, 16, 16], [8, 6, 3, 3], "im2col"],
    ];
    const jobs = ["gemm.blocks", "conv.forward", "conv.backward", "convDirect.forward"];
    jobs.push("convDirect.paramGrads", "winograd.conv", "winograd.filterGrad");
    const runs = () => jobs.map((name) => getPool().sharedRuns(name));
    const compute = () => {
      const C = new Float32Array(50 * 100);
      gemmParallel(false, false, 50, 100, 1200, 1, A, 1200, B, 100, 0, C, 100);
      const results: FloatArray[] = [C];
      for (const [xs, ws, algorithm] of convCases) {
        setConvAlgorithm(algorithm);
        const r = new Rng(24);
        const x = Tensor.randn(xs, r, "float32"), w = Tensor.randn(ws, r, "float32");
        const b = Tensor.randn([ws[0]], r, "float32");
        const [out, cache] = convForwardFast(x, w, b, { stride: 1, pad: 1 });
        const [dx, dw, db] = convBackwardFast(Tensor.randn(out.shape, r, "float32"), cache);
        results.push(out.data, dx.data, dw.data, db.data);
      }
      setConvAlgorithm("auto");
      return results;
    };
    try {
      await setNumThreads(2);
      // Workers still loading would leave every task to this thread and prove nothing.
      await getPool().ready();
      // The default kernel: every one of these jobs goes to the pool.
      const before = runs();
      compute();
      runs().forEach((n, k) => assert.ok(n > before[k], `${jobs[k]} ran on the pool`));
      for (const [name, select] of choices) {
        select();
        await setNumThreads(1);
        const one = compute();
        await setNumThreads(2);
        await getPool().ready();
        for (let round = 0; round < 3; round++) {
          const start = runs();
          const two = compute();
          runs().forEach((n, k) => assert.equal(n, start[k], `${name}: ${jobs[k]} stayed here`));
          one.forEach((want, i) => assertBitwise(two[i], want, `${name}, result ${i}`));
        }
      }
    } finally {
      setGemmKernel("auto");
      setConvAlgorithm("auto");
      await setNumThreads(1);
    }
  },
);

/**
 * The direct convolution kernels (`lib/kernels/conv_direct.ts`): WebAssembly against the
 * JavaScript reference of the same loop order, both against the naive float64 loops with
 * a bound derived from float32 rounding, thread-count independence, and the automatic
 * choice between direct and im2col + GEMM.
 */
import assert from "node:assert/strict";
import {
  convAlgorithmFor,
  convBackwardBatch,
  convForwardBatch,
  getConvAlgorithm,
  setConvAlgorithm,
} from "../../lib/kernels/conv.ts";
import {
  DIRECT_CONV_MAX_CHANNELS_WEIGHTS,
  DIRECT_CONV_MAX_TAPS,
  directConvApplies,
  directConvChunkSize,
  directConvForwardBatch,
  directConvForwardReference,
  directConvParamGradsBatch,
  directConvParamGradsReference,
  directConvPays,
} from "../../lib/kernels/conv_direct.ts";
import { gemmInstance, setGemmKernel } from "../../lib/kernels/gemm.ts";
import { wasmFeatures } from "../../lib/kernels/wasm/features.ts";
import { createGemmInstance } from "../../lib/kernels/wasm/gemm_instance.ts";
import { type LayerKernels, layerKernels } from "../../lib/kernels/wasm/layer_kernels.ts";
import {
  convBackwardNaive,
  convForwardNaive,
  type ConvGeometry,
  convGeometry,
} from "../../lib/layers/conv.ts";
import {
  convBackwardFast,
  convForwardFast,
  convParamGradsFast,
} from "../../lib/layers/conv_fast.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";
import type { FloatArray } from "../../lib/storage.ts";
import { Tensor } from "../../lib/tensor.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };
const simd = wasmFeatures().simd && gemmInstance() !== null;

/** [N, C, H, W, F, KH, KW, pad]: odd sizes, widths off multiples of 4 and 8, F off 4. */
type Shape = [number, number, number, number, number, number, number, number];
const shapes: Shape[] = [
  [1, 1, 1, 1, 1, 1, 1, 0],
  [2, 1, 5, 6, 5, 3, 3, 1],
  [3, 2, 7, 9, 6, 3, 3, 0],
  [5, 3, 6, 5, 3, 1, 1, 2],
  [2, 4, 9, 11, 7, 5, 5, 2],
  [4, 1, 13, 10, 9, 5, 5, 0],
  [3, 1, 12, 15, 4, 7, 7, 3],
  [2, 2, 8, 17, 2, 7, 7, 1],
  [2, 1, 3, 4, 5, 3, 5, 3],
  [1, 1, 2, 3, 3, 7, 7, 3],
  [7, 1, 28, 28, 10, 7, 7, 3],
  [9, 1, 28, 28, 32, 3, 3, 1],
  [3, 3, 16, 16, 12, 3, 3, 1],
  [2, 4, 5, 7, 1, 3, 3, 2],
  // Paired row tails with an odd last row; rows of more steps than the unrolled ones.
  [2, 2, 9, 12, 5, 3, 3, 1],
  [2, 1, 6, 40, 5, 3, 3, 1],
  [1, 1, 7, 41, 6, 5, 5, 2],
  // Many channels (as setConvAlgorithm("direct") allows), and a larger image.
  [2, 32, 6, 7, 5, 3, 3, 1],
  [1, 1, 64, 70, 5, 7, 7, 3],
];

interface Problem {
  g: ConvGeometry;
  x: Tensor;
  w: Tensor;
  b: Tensor;
  dout: Tensor;
}

function problem([N, C, H, W, F, KH, KW, pad]: Shape, seed: number): Problem {
  const rng = new Rng(seed);
  const x = Tensor.randn([N, C, H, W], rng, "float32");
  const w = Tensor.randn([F, C, KH, KW], rng, "float32");
  const b = Tensor.randn([F], rng, "float32");
  const g = convGeometry("test", x, w, b, { stride: 1, pad });
  const dout = Tensor.randn([N, F, g.outH, g.outW], rng, "float32");
  return { g, x, w, b, dout };
}

function label(s: Shape): string {
  const [N, C, H, W, F, KH, KW, pad] = s;
  return `x(${N},${C},${H},${W}) w(${F},${C},${KH},${KW}) pad ${pad}`;
}

/** Forward and gradients with the given kernels (undefined: the library's own). */
function direct(p: Problem, kernels?: LayerKernels) {
  const out = new Float32Array(p.dout.size);
  const dw = new Float32Array(p.w.size), db = new Float32Array(p.b.size);
  directConvForwardBatch(p.x.data, p.w.data, p.b.data, p.g, out, kernels);
  directConvParamGradsBatch(p.dout.data, p.x.data, p.g, dw, db, kernels);
  return { out, dw, db };
}

function reference(p: Problem) {
  const out = new Float32Array(p.dout.size);
  const dw = new Float32Array(p.w.size), db = new Float32Array(p.b.size);
  directConvForwardReference(p.x.data, p.w.data, p.b.data, p.g, out);
  directConvParamGradsReference(p.dout.data, p.x.data, p.g, dw, db);
  return { out, dw, db };
}

function assertBitwise(actual: FloatArray, expected: FloatArray, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}[${i}]: ${actual[i]} is not bitwise ${expected[i]}`);
    }
  }
}

/** |actual − exact| ≤ bound[i] for every i. */
function assertWithin(
  actual: FloatArray,
  exact: FloatArray,
  bound: FloatArray,
  what: string,
): void {
  assert.equal(actual.length, exact.length, what);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - exact[i]);
    if (!(err <= bound[i])) {
      assert.fail(`${what}[${i}]: ${actual[i]} vs exact ${exact[i]}, error ${err} > ${bound[i]}`);
    }
  }
}

const u = 2 ** -24; // unit roundoff of float32

/**
 * Exact results (float64 naive loops on the float32 values) and the sums of absolute
 * terms, Σ|w||x| + |b| per output and Σ|dout||x| per weight, Σ|dout| per bias.
 */
function exactAndMagnitudes(p: Problem) {
  const f64 = (t: Tensor) => t.astype("float64");
  const param = { stride: 1, pad: p.g.pad };
  const [out, cache] = convForwardNaive(f64(p.x), f64(p.w), f64(p.b), param);
  const [, dw, db] = convBackwardNaive(f64(p.dout), cache);
  const abs = (t: Tensor) => f64(t).map(Math.abs);
  const [outAbs, cacheAbs] = convForwardNaive(abs(p.x), abs(p.w), abs(p.b), param);
  const [, dwAbs, dbAbs] = convBackwardNaive(abs(p.dout), cacheAbs);
  return { out, dw, db, outAbs, dwAbs, dbAbs };
}

Deno.test("WebAssembly with mul + add is bitwise the JavaScript reference", () => {
  if (!simd) return;
  const kernels = layerKernels(createGemmInstance({ relaxed: false }))!;
  for (const [i, s] of shapes.entries()) {
    const p = problem(s, i);
    const ours = direct(p, kernels), ref = reference(p);
    for (const key of ["out", "dw", "db"] as const) {
      assertBitwise(ours[key], ref[key], `${label(s)} ${key}`);
    }
  }
});

Deno.test("WebAssembly with fused multiply-add is within one rounding per term", () => {
  if (!simd || !wasmFeatures().relaxedSimd) return;
  const kernels = layerKernels(createGemmInstance({ relaxed: true }))!;
  for (const [i, s] of shapes.entries()) {
    const p = problem(s, 100 + i);
    const ours = direct(p, kernels), ref = reference(p), m = exactAndMagnitudes(p);
    // Fusing drops one product rounding per term (≤ u·|term| each) and the sums' own
    // roundings then differ by at most as much again: 2u·Σ|terms| per result (+ the final
    // rounding of each result, 2u·|value|).
    const K = p.g.channels * p.g.kernelH * p.g.kernelW;
    const bound = (mag: Tensor, value: FloatArray, terms: number) =>
      mag.data.map((v, j) => 2 * terms * u * v + 2 * u * Math.abs(value[j]));
    assertWithin(ours.out, ref.out, bound(m.outAbs, ref.out, K + 1), `${label(s)} out`);
    const L = p.g.outH * Math.ceil(p.g.outW / 4) + directConvChunkSize(p.g) + 2;
    assertWithin(ours.dw, ref.dw, bound(m.dwAbs, ref.dw, L), `${label(s)} dw`);
    assertBitwise(ours.db, ref.db, `${label(s)} db`); // no multiplications
  }
});

Deno.test("direct kernels against the naive float64 loops, within float32 rounding", () => {
  if (!simd) return;
  for (const [i, s] of shapes.entries()) {
    const p = problem(s, 200 + i);
    const ours = direct(p), m = exactAndMagnitudes(p);
    // A float32 sum of n rounded products errs by at most γ_n·Σ|terms| ≤ 1.01·n·u·Σ|terms|
    // (γ_n = n·u/(1 − n·u)); then one rounding of the result. Forward: the bias then K taps,
    // each with its product rounding. Gradients: per lane, ⌈Wo/4⌉·Ho steps per image, then
    // the chunk's images, then exact-enough float64 sums and one rounding.
    const K = p.g.channels * p.g.kernelH * p.g.kernelW;
    const L = p.g.outH * Math.ceil(p.g.outW / 4) + directConvChunkSize(p.g) + 2;
    const bound = (mag: Tensor, exact: Tensor, n: number) =>
      mag.data.map((v, j) => 1.01 * n * u * v + u * Math.abs(exact.data[j]));
    assertWithin(ours.out, m.out.data, bound(m.outAbs, m.out, K + 1), `${label(s)} out`);
    assertWithin(ours.dw, m.dw.data, bound(m.dwAbs, m.dw, L), `${label(s)} dw`);
    assertWithin(ours.db, m.db.data, bound(m.dbAbs, m.db, L), `${label(s)} db`);
  }
});

Deno.test("the JavaScript reference against the naive float64 loops", () => {
  for (const [i, s] of shapes.slice(0, 6).entries()) {
    const p = problem(s, 300 + i);
    const ref = reference(p), m = exactAndMagnitudes(p);
    const K = p.g.channels * p.g.kernelH * p.g.kernelW;
    const L = p.g.outH * Math.ceil(p.g.outW / 4) + directConvChunkSize(p.g) + 2;
    const bound = (mag: Tensor, exact: Tensor, n: number) =>
      mag.data.map((v, j) => 1.01 * n * u * v + u * Math.abs(exact.data[j]));
    assertWithin(ref.out, m.out.data, bound(m.outAbs, m.out, K + 1), `${label(s)} out`);
    assertWithin(ref.dw, m.dw.data, bound(m.dwAbs, m.dw, L), `${label(s)} dw`);
    assertWithin(ref.db, m.db.data, bound(m.dbAbs, m.db, L), `${label(s)} db`);
  }
});

Deno.test("direct kernels are bitwise the same on 1, 2 and 3 threads", sanitizers, async () => {
  if (!simd) return;
  // Batches of several chunks, the two first layers we race, and a ragged one.
  const cases: Shape[] = [
    [50, 1, 28, 28, 32, 7, 7, 3],
    [40, 1, 28, 28, 32, 3, 3, 1],
    [23, 2, 27, 29, 30, 5, 5, 2],
  ];
  const previous = getConvAlgorithm();
  setConvAlgorithm("direct");
  try {
    for (const [i, s] of cases.entries()) {
      const p = problem(s, 400 + i);
      assert.ok(Math.ceil(s[0] / directConvChunkSize(p.g)) >= 4, `${label(s)}: want chunks`);
      const results = [];
      for (const threads of [1, 2, 3]) {
        await setNumThreads(threads);
        assert.equal(getPool().activeThreads, threads);
        const out = new Float32Array(p.dout.size);
        const dw = new Float32Array(p.w.size), db = new Float32Array(p.b.size);
        // Through the dispatching front doors, as the layers call them.
        convForwardBatch(p.x.data, p.w.data, p.b.data, p.g, out);
        convBackwardBatch(p.dout.data, p.x.data, p.w.data, p.g, null, dw, db);
        results.push({ out, dw, db });
        // An output on shared memory, which the workers write in place.
        const shared = new Float32Array(new SharedArrayBuffer(out.byteLength));
        convForwardBatch(p.x.data, p.w.data, p.b.data, p.g, shared);
        assertBitwise(shared, out, `${label(s)} out on shared memory, ${threads} threads`);
      }
      for (const r of results.slice(1)) {
        for (const key of ["out", "dw", "db"] as const) {
          assertBitwise(r[key], results[0][key], `${label(s)} ${key}`);
        }
      }
      // And the dispatch really went through the direct kernels.
      assertBitwise(results[0].out, direct(p).out, `${label(s)} out is direct`);
    }
  } finally {
    setConvAlgorithm(previous);
    await setNumThreads(1);
  }
});

Deno.test("auto takes the direct kernels only for float32, stride 1, short reductions", () => {
  const geometry = (
    x: number[],
    w: number[],
    param: { stride: number; pad: number; dilation?: number; groups?: number },
  ) =>
    convGeometry(
      "test",
      Tensor.zeros(x, "float32"),
      Tensor.zeros(w, "float32"),
      Tensor.zeros([w[0]], "float32"),
      param,
    );
  const direct = simd ? "direct" : "im2col", winograd = simd ? "winograd" : "im2col";
  const first7 = geometry([50, 1, 28, 28], [32, 1, 7, 7], { stride: 1, pad: 3 });
  const first3 = geometry([128, 1, 28, 28], [32, 1, 3, 3], { stride: 1, pad: 1 });
  const strided = geometry([8, 1, 29, 29], [32, 1, 3, 3], { stride: 2, pad: 1 });
  const dilated = geometry([8, 1, 28, 28], [32, 1, 3, 3], { stride: 1, pad: 2, dilation: 2 });
  const grouped = geometry([8, 2, 28, 28], [32, 1, 3, 3], { stride: 1, pad: 1, groups: 2 });
  // A deep reduction (a network's second layer) is Winograd's (3×3) or GEMM's.
  const deep3 = geometry([8, 32, 14, 14], [64, 32, 3, 3], { stride: 1, pad: 1 });
  const deep5 = geometry([8, 32, 14, 14], [64, 32, 5, 5], { stride: 1, pad: 2 });
  // Many channels in a short reduction: the forward goes direct, the weight gradient not.
  const wide = geometry([8, 40, 14, 14], [32, 40, 2, 2], { stride: 1, pad: 0 });
  assert.ok(32 * 25 > DIRECT_CONV_MAX_TAPS && 40 * 4 <= DIRECT_CONV_MAX_TAPS);
  assert.ok(40 > DIRECT_CONV_MAX_CHANNELS_WEIGHTS);
  const previous = getConvAlgorithm();
  try {
    setConvAlgorithm("auto");
    for (const g of [first7, first3]) {
      assert.equal(convAlgorithmFor(g, "float32"), direct);
      assert.equal(convAlgorithmFor(g, "float32", "backwardFilter"), direct);
      assert.equal(convAlgorithmFor(g, "float32", "backwardData"), "im2col", "no dx");
      assert.equal(convAlgorithmFor(g, "float64"), "im2col", "float64 stays on im2col");
    }
    for (const g of [strided, dilated, grouped, deep5]) {
      assert.equal(convAlgorithmFor(g, "float32"), "im2col");
      assert.equal(convAlgorithmFor(g, "float32", "backwardFilter"), "im2col");
    }
    assert.equal(convAlgorithmFor(deep3, "float32"), winograd);
    assert.equal(convAlgorithmFor(deep3, "float32", "backwardFilter"), winograd);
    assert.equal(convAlgorithmFor(wide, "float32"), direct);
    assert.equal(convAlgorithmFor(wide, "float32", "backwardFilter"), "im2col");
    assert.equal(directConvApplies(deep5, "float32"), simd);
    assert.equal(directConvPays(deep5, "forward"), false);
    // Forced: wherever they apply (never dx, strides, dilations, groups or float64).
    setConvAlgorithm("direct");
    assert.equal(convAlgorithmFor(deep5, "float32"), direct);
    assert.equal(convAlgorithmFor(deep3, "float32", "backwardFilter"), direct);
    assert.equal(convAlgorithmFor(wide, "float32", "backwardFilter"), direct);
    assert.equal(convAlgorithmFor(deep3, "float32", "backwardData"), "im2col");
    assert.equal(convAlgorithmFor(strided, "float32"), "im2col");
    assert.equal(convAlgorithmFor(first7, "float64"), "im2col");
    setConvAlgorithm("im2col");
    assert.equal(convAlgorithmFor(first7, "float32"), "im2col");
    assert.throws(() => setConvAlgorithm("sometimes" as "auto"), /setConvAlgorithm/);
  } finally {
    setConvAlgorithm(previous);
  }
});

Deno.test("the layers: float32 first layer goes direct, float64 stays on im2col", () => {
  const s: Shape = [6, 1, 28, 28, 8, 7, 7, 3];
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(500);
    const x = Tensor.randn([6, 1, 28, 28], rng, dtype), w = Tensor.randn([8, 1, 7, 7], rng, dtype);
    const b = Tensor.randn([8], rng, dtype);
    const param = { stride: 1, pad: 3 };
    const previous = getConvAlgorithm();
    const run = (algorithm: "im2col" | "auto") => {
      setConvAlgorithm(algorithm);
      const [out, cache] = convForwardFast(x, w, b, param);
      const dout = Tensor.randn(out.shape, new Rng(501), dtype);
      // Without dx (a network's first layer), and with dx.
      const [dw, db] = convParamGradsFast(dout, cache);
      const [dx, dw2, db2] = convBackwardFast(dout, cache);
      return { out, dw, db, dx, dw2, db2 };
    };
    let im2col, auto;
    try {
      im2col = run("im2col");
      auto = run("auto");
    } finally {
      setConvAlgorithm(previous);
    }
    const keys = ["out", "dw", "db", "dx", "dw2", "db2"] as const;
    const same = (key: typeof keys[number]) =>
      auto[key].data.every((v, i) => Object.is(v, im2col[key].data[i]));
    if (dtype === "float64" || !simd) {
      for (const key of keys) assert.ok(same(key), `${dtype} ${key}: auto must be im2col's`);
    } else {
      // The direct results, which differ from im2col's in rounding only; dx is im2col's.
      const p = problem(s, 0);
      p.x = x, p.w = w, p.b = b, p.dout = Tensor.randn(auto.out.shape, new Rng(501), dtype);
      const ours = direct(p);
      assertBitwise(auto.out.data, ours.out, "float32 auto forward is direct");
      for (const [dw, db] of [[auto.dw, auto.db], [auto.dw2, auto.db2]]) {
        assertBitwise(dw.data, ours.dw, "float32 auto dw is direct");
        assertBitwise(db.data, ours.db, "float32 auto db is direct");
      }
      assert.ok(!same("out") && !same("dw"), "float32 auto should not be im2col's bit for bit");
      assert.ok(same("dx"), "dx stays with im2col");
    }
  }
});

Deno.test("an empty batch: no outputs, zero gradients", () => {
  if (!simd) return;
  const g = {
    batch: 0,
    channels: 1,
    height: 5,
    width: 5,
    filters: 3,
    groups: 1,
    kernelH: 3,
    kernelW: 3,
    stride: 1,
    pad: 1,
    dilation: 1,
    outH: 5,
    outW: 5,
  };
  const dw = new Float32Array(27).fill(7), db = new Float32Array(3).fill(7);
  const empty = new Float32Array(0);
  directConvForwardBatch(empty, new Float32Array(27), new Float32Array(3), g, empty);
  directConvParamGradsBatch(empty, empty, g, dw, db);
  assert.ok(dw.every((v) => v === 0) && db.every((v) => v === 0));
});

Deno.test("with the JavaScript GEMM selected the layer stays in JavaScript (im2col)", () => {
  const g = {
    batch: 2,
    channels: 1,
    height: 8,
    width: 8,
    filters: 4,
    groups: 1,
    kernelH: 3,
    kernelW: 3,
    stride: 1,
    pad: 1,
    dilation: 1,
    outH: 8,
    outW: 8,
  };
  try {
    setGemmKernel("js");
    assert.equal(directConvApplies(g, "float32"), false);
    assert.equal(convAlgorithmFor(g, "float32"), "im2col");
  } finally {
    setGemmKernel("auto");
  }
  assert.equal(directConvApplies(g, "float32"), simd);
});

import assert from "node:assert/strict";
import { evalNumericalGradientArray, relError } from "../../lib/gradient_check.ts";
import {
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackwardFast,
  maxPoolBackwardNaive,
  maxPoolForwardFast,
  maxPoolForwardNaive,
  type PoolParam,
} from "../../lib/layers/pool.ts";
import {
  maxPoolBackwardBatch,
  maxPoolForwardBatch,
  maxPoolScatterRange,
} from "../../lib/kernels/pooling.ts";
import { reluBackward, reluForward } from "../../lib/layers/relu.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

const P2: PoolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };

Deno.test("maxPoolForwardNaive reproduces the notebook's check on linspace data", () => {
  // cs231n: x (2,3,4,4) = linspace(-0.3, 0.4), 2×2 windows, stride 2.
  const x = Tensor.linspace(-0.3, 0.4, 96).reshape([2, 3, 4, 4]);
  const [out] = maxPoolForwardNaive(x, P2);
  // x increases along its memory order, so each window's maximum is its bottom-right
  // pixel: plane p, window (i, j) → element p·16 + (2i+1)·4 + 2j+1 of the linspace.
  const step = 0.7 / 95;
  for (let p = 0; p < 6; p++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        const k = p * 16 + (2 * i + 1) * 4 + 2 * j + 1;
        const expected = k === 95 ? 0.4 : -0.3 + k * step;
        const got = out.data[p * 4 + i * 2 + j];
        assert.ok(Math.abs(got - expected) < 1e-15, `${got} vs ${expected}`);
      }
    }
  }
  const correctOut = [
    [
      [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
      [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
      [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
    ],
    [
      [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
      [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
      [[0.32631579, 0.34105263], [0.38526316, 0.4]],
    ],
  ];
  // The notebook prints 8 decimals: every value is within 5e-9 of the true one.
  const expected = Tensor.fromArray(correctOut);
  for (let i = 0; i < out.size; i++) assert.ok(Math.abs(out.data[i] - expected.data[i]) < 5e-9);
});

/** Pooling configurations: tiling ones take the "reshape" path, the others im2col. */
const CONFIGS: { name: string; x: number[]; p: PoolParam; method: "reshape" | "im2col" }[] = [
  { name: "2×2 s2 (tiles)", x: [3, 4, 8, 6], p: P2, method: "reshape" },
  {
    name: "3×3 s3 (tiles)",
    x: [2, 3, 9, 6],
    p: { poolHeight: 3, poolWidth: 3, stride: 3 },
    method: "reshape",
  },
  {
    name: "3×3 s2 (overlap)",
    x: [2, 3, 7, 9],
    p: { poolHeight: 3, poolWidth: 3, stride: 2 },
    method: "im2col",
  },
  {
    name: "2×3 s1 rectangular",
    x: [2, 2, 5, 6],
    p: { poolHeight: 2, poolWidth: 3, stride: 1 },
    method: "im2col",
  },
  {
    name: "2×2 s3 (gaps)",
    x: [2, 2, 8, 5],
    p: { poolHeight: 2, poolWidth: 2, stride: 3 },
    method: "im2col",
  },
  {
    name: "whole plane",
    x: [4, 3, 5, 5],
    p: { poolHeight: 5, poolWidth: 5, stride: 1 },
    method: "im2col",
  },
  // Enough planes for several im2col chunks.
  {
    name: "many planes, 3×3 s1",
    x: [40, 16, 16, 16],
    p: { poolHeight: 3, poolWidth: 3, stride: 1 },
    method: "im2col",
  },
];

Deno.test("maxPoolForwardFast / BackwardFast equal the naive loops exactly", async (t) => {
  const rng = new Rng(5);
  for (const { name, x: shape, p, method } of CONFIGS) {
    await t.step(name, () => {
      const x = Tensor.randn(shape, rng);
      const [naive, naiveCache] = maxPoolForwardNaive(x, p);
      const [fast, fastCache] = maxPoolForwardFast(x, p);
      assert.equal(fastCache.method, method);
      assert.deepEqual(fast.shape, naive.shape);
      // Max pooling selects values and the gradient routes them: no rounding anywhere.
      assert.deepEqual(fast.data, naive.data);
      const dout = Tensor.randn(naive.shape, rng);
      assert.deepEqual(
        maxPoolBackwardFast(dout, fastCache).data,
        maxPoolBackwardNaive(dout, naiveCache).data,
      );
    });
  }
});

Deno.test("pooling gradients match centered differences", async (t) => {
  const rng = new Rng(6);
  // Random inputs have no ties, so max pooling is differentiable there (as in the notebook).
  const cases = [
    { name: "naive 2×2 s2", p: P2, forward: maxPoolForwardNaive, backward: maxPoolBackwardNaive },
    {
      name: "fast reshape 2×2 s2",
      p: P2,
      forward: maxPoolForwardFast,
      backward: maxPoolBackwardFast,
    },
    {
      name: "fast im2col 3×3 s1",
      p: { poolHeight: 3, poolWidth: 3, stride: 1 },
      forward: maxPoolForwardFast,
      backward: maxPoolBackwardFast,
    },
    { name: "avg 2×2 s2", p: P2, forward: avgPoolForward, backward: avgPoolBackward },
    {
      name: "avg 3×2 s1 (overlap)",
      p: { poolHeight: 3, poolWidth: 2, stride: 1 },
      forward: avgPoolForward,
      backward: avgPoolBackward,
    },
  ] as const;
  for (const { name, p, forward, backward } of cases) {
    await t.step(name, () => {
      // The notebook's shapes: x (3, 2, 8, 8).
      const x = Tensor.randn([3, 2, 8, 8], rng);
      const [out, cache] = forward(x, p);
      const dout = Tensor.randn(out.shape, rng);
      // deno-lint-ignore no-explicit-any
      const dx = (backward as (d: Tensor, c: any) => Tensor)(dout, cache);
      const numeric = evalNumericalGradientArray((xx) => forward(xx, p)[0], x, dout);
      const err = relError(dx, numeric);
      assert.ok(err < 1e-9, `${name}: dx relative error ${err}`);
    });
  }
});

Deno.test("max pooling: the first maximum of a tie takes the gradient; NaN propagates", () => {
  // After a ReLU, windows full of zeros are common.
  const x = Tensor.fromArray([[[[0, 0, 1, 3], [0, 0, 3, 2]]]]);
  const dout = Tensor.fromArray([[[[5, 7]]]]);
  const expected = [[[[5, 0, 0, 7], [0, 0, 0, 0]]]];
  const [, naiveCache] = maxPoolForwardNaive(x, P2);
  assert.deepEqual(maxPoolBackwardNaive(dout, naiveCache).toNested(), expected);
  const [, fastCache] = maxPoolForwardFast(x, P2);
  assert.deepEqual(maxPoolBackwardFast(dout, fastCache).toNested(), expected);
  // Same plane through the im2col path (a 2×2 window with stride 1 overlaps).
  const overlap = { poolHeight: 2, poolWidth: 2, stride: 1 };
  const [, im2colCache] = maxPoolForwardFast(x, overlap);
  assert.equal(im2colCache.method, "im2col");
  const d3 = Tensor.fromArray([[[[1, 10, 100]]]]);
  const [, naive3] = maxPoolForwardNaive(x, overlap);
  const viaIm2col = maxPoolBackwardFast(d3, im2colCache).toNested();
  // Windows: all zeros (first pixel), then 3 at (1, 2), then 3 at (0, 3) before (1, 2).
  assert.deepEqual(viaIm2col, [[[[1, 0, 0, 100], [0, 0, 10, 0]]]]);
  assert.deepEqual(maxPoolBackwardNaive(d3, naive3).toNested(), viaIm2col);

  const withNaN = Tensor.fromArray([[[[1, NaN, 2, 3], [4, 5, 6, NaN]]]]);
  for (const forward of [maxPoolForwardNaive, maxPoolForwardFast]) {
    const [out] = forward(withNaN, P2);
    assert.ok(Number.isNaN(out.data[0]) && Number.isNaN(out.data[1]));
    const [overlapping] = forward(withNaN, overlap);
    assert.ok(overlapping.data.every((v) => Number.isNaN(v)));
  }
});

/** The bits of `b`, NaN payloads aside. */
function assertSameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
      assert.fail(`${what}[${i}]: ${a[i]}, apart ${b[i]}`);
    }
  }
}

/**
 * maxPoolForwardFast with `relu` against reluForward after it, and its backward against
 * reluBackward then maxPoolBackwardFast: every path (2×2 in WebAssembly for both dtypes,
 * the JavaScript tiled loops, im2col), with NaN in x and NaN and ∞ in dout.
 */
function checkPoolRelu(): void {
  const cases: [number[], PoolParam, "float32" | "float64"][] = [
    [[16, 8, 28, 28], P2, "float32"],
    [[3, 4, 6, 10], P2, "float64"],
    [[2, 3, 9, 9], { poolHeight: 3, poolWidth: 3, stride: 3 }, "float32"],
    [[2, 3, 7, 8], { poolHeight: 3, poolWidth: 3, stride: 1 }, "float32"],
  ];
  for (const [shape, param, dtype] of cases) {
    const rng = new Rng(shape[0] * 100 + shape[2]);
    const x = Tensor.randn(shape, rng, dtype);
    // The first plane negative (windows the ReLU zeroes), and a NaN in it.
    for (let i = 0; i < shape[2] * shape[3]; i++) x.data[i] = -Math.abs(x.data[i]);
    x.data[5] = NaN;
    const [pre, preCache] = maxPoolForwardFast(x, param);
    const [want, reluCache] = reluForward(pre);
    const [got, cache] = maxPoolForwardFast(x, param, { relu: true });
    const label = `[${shape}] ${dtype} ${JSON.stringify(param)}`;
    assertSameBits(got.data, want.data, `${label} out`);
    assert.ok(got.data.some((v) => Object.is(v, 0)) && got.data.some(Number.isNaN), label);
    assert.deepEqual(cache.argmax, preCache.argmax);
    const dout = Tensor.randn(got.shape, rng, dtype);
    dout.data[1] = NaN;
    dout.data[2] = Infinity;
    const dxWant = maxPoolBackwardFast(reluBackward(dout, reluCache), preCache);
    assertSameBits(maxPoolBackwardFast(dout, cache).data, dxWant.data, `${label} dx`);
  }
}

Deno.test("maxPoolForwardFast with relu: the bits of reluForward after the pooling, both ways", () => {
  checkPoolRelu();
  assert.throws(
    // @ts-expect-error: a number where a boolean belongs
    () => maxPoolForwardFast(Tensor.zeros([1, 1, 2, 2]), P2, { relu: 1 }),
    /maxPoolForwardFast: options\.relu must be true or false, got 1/,
  );
  const x = Tensor.zeros([1, 1, 2, 2]);
  assert.throws(
    // @ts-expect-error: a string where a boolean belongs
    () => maxPoolForwardFast(x, P2, { relu: "false" }),
    /maxPoolForwardFast: options\.relu must be true or false, got "false"/,
  );
  assert.throws(
    // @ts-expect-error: null where an options object belongs
    () => maxPoolForwardFast(x, P2, null),
    /maxPoolForwardFast: options must be an object, got null/,
  );
  assert.throws(
    // @ts-expect-error: an unknown option
    () => maxPoolForwardFast(x, P2, { reLU: true }),
    /maxPoolForwardFast: unknown option "reLU" \(did you mean "relu"\?\)/,
  );
  // A cache whose ReLU output does not fit dout.
  const x4 = Tensor.randn([1, 2, 4, 4], new Rng(3));
  const [out, cache] = maxPoolForwardFast(x4, P2, { relu: true });
  assert.throws(
    () => maxPoolBackwardFast(out, { ...cache, reluOut: Tensor.zeros([3]) }),
    /maxPoolBackwardFast: cache\.reluOut must be the pooled output, float64 \[1,2,2,2\] like dout, got float64 \[3\]/,
  );
});

Deno.test("maxPoolScatterRange with reluOut: a range of planes, on the JavaScript path", () => {
  // 3×3 windows, stride 2: overlapping, so the JavaScript scatter runs.
  const g = {
    channels: 1,
    height: 7,
    width: 7,
    kernelH: 3,
    kernelW: 3,
    stride: 2,
    pad: 0,
    dilation: 1,
    outH: 3,
    outW: 3,
  };
  const planes = 5, outPlane = 9, rng = new Rng(16);
  const x = Float64Array.from({ length: planes * 49 }, () => rng.normal() - 1.2);
  const out = new Float64Array(planes * outPlane), argmax = new Uint16Array(out.length);
  maxPoolForwardBatch(x, g, planes, out, argmax, false, true);
  const dout = Float64Array.from(out, () => rng.normal());
  // The reference: dout masked as the ReLU layer masks it, then scattered without a ReLU.
  const masked = dout.map((d, i) => d * (out[i] > 0 ? 1 : 0));
  const want = new Float64Array(x.length).fill(NaN), got = want.slice();
  maxPoolScatterRange(masked, argmax, g, 0, planes, want);
  for (const [p0, p1] of [[0, 2], [2, 5]]) maxPoolScatterRange(dout, argmax, g, p0, p1, got, out);
  assertSameBits(got, want, "dx");
  assert.ok(out.some((v) => v === 0) && masked.some((v, i) => v === 0 && dout[i] !== 0));
});

Deno.test({
  name: "max pooling with relu: the same bits split across two threads",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    // The kernels on shared memory (as the layers' recycled buffers are), 2×2 windows:
    // forward and backward both go to the pool.
    const [planes, side] = [48 * 8, 28];
    const g = {
      channels: 1,
      height: side,
      width: side,
      kernelH: 2,
      kernelW: 2,
      stride: 2,
      pad: 0,
      dilation: 1,
      outH: side / 2,
      outW: side / 2,
    };
    const rng = new Rng(12);
    const shared = (n: number, fill: () => number) => {
      const a = new Float32Array(new SharedArrayBuffer(4 * n));
      for (let i = 0; i < n; i++) a[i] = fill();
      return a;
    };
    const n = planes * side * side, m = n / 4;
    const x = shared(n, () => rng.normal());
    const dout = shared(m, () => rng.normal());
    const run = () => {
      const out = shared(m, () => NaN), argmax = new Uint16Array(m);
      maxPoolForwardBatch(x, g, planes, out, argmax, true, true);
      const dx = shared(n, () => NaN);
      maxPoolBackwardBatch(dout, argmax, g, planes, dx, true, out);
      return [out, dx];
    };
    await setNumThreads(1);
    const one = run();
    await setNumThreads(2);
    try {
      await getPool().ready();
      const runs = () =>
        getPool().sharedRuns("pool.maxForward") + getPool().sharedRuns("pool.maxBackward");
      const before = runs();
      const two = run();
      assert.equal(runs(), before + 2, "forward and backward ran on the pool");
      assertSameBits(two[0], one[0], "out");
      assertSameBits(two[1], one[1], "dx");
    } finally {
      await setNumThreads(1);
    }
  },
});

Deno.test("avgPoolForward computes window means; float32 keeps its dtype", () => {
  const rng = new Rng(9);
  const x = Tensor.randn([2, 3, 7, 6], rng);
  const p = { poolHeight: 3, poolWidth: 2, stride: 2 };
  const [out] = avgPoolForward(x, p);
  assert.deepEqual(out.shape, [2, 3, 3, 3]);
  for (let n = 0; n < 2; n++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let sum = 0;
          for (let a = 0; a < 3; a++) {
            for (let b = 0; b < 2; b++) sum += x.get(n, c, 2 * i + a, 2 * j + b);
          }
          assert.ok(Math.abs(out.get(n, c, i, j) - sum / 6) < 1e-15);
        }
      }
    }
  }
  const x32 = x.astype("float32");
  for (
    const [forward, backward] of [[avgPoolForward, avgPoolBackward], [
      maxPoolForwardNaive,
      maxPoolBackwardNaive,
    ]] as const
  ) {
    const [o32, cache] = forward(x32, p);
    assert.equal(o32.dtype, "float32");
    assert.equal(backward(Tensor.ones(o32.shape, "float32"), cache).dtype, "float32");
  }
  const [f32, cache32] = maxPoolForwardFast(x32, p);
  assert.equal(f32.dtype, "float32");
  assert.equal(maxPoolBackwardFast(Tensor.ones(f32.shape, "float32"), cache32).dtype, "float32");
});

Deno.test("pooling errors name the layer, the parameter and the shapes", () => {
  const x = Tensor.zeros([2, 3, 7, 8]);
  for (
    const [name, fn] of [
      ["maxPoolForwardNaive", maxPoolForwardNaive],
      ["maxPoolForwardFast", maxPoolForwardFast],
      ["avgPoolForward", avgPoolForward],
    ] as const
  ) {
    assert.throws(
      () => fn(x, P2),
      new RegExp(
        `^Error: ${name}: output height \\(H - poolHeight\\) / stride \\+ 1 = \\(7 - 2\\) / 2 \\+ 1 = ` +
          `3.5 is not a whole number \\(x shape \\[2,3,7,8\\], poolHeight 2, poolWidth 2, stride 2\\)`,
      ),
    );
    assert.throws(
      () => fn(x, { poolHeight: 2, poolWidth: 9, stride: 1 }),
      new RegExp(`${name}: poolWidth 9 is larger than the input width 8`),
    );
    assert.throws(
      () => fn(x, { poolHeight: 2, poolWidth: 2, stride: 0 }),
      new RegExp(`${name}: poolParam.stride must be an integer ≥ 1, got 0`),
    );
    assert.throws(() => fn(Tensor.zeros([3, 8, 8]), P2), new RegExp(`${name}: x must be 4-d`));
  }
  const [, cache] = maxPoolForwardFast(Tensor.zeros([2, 3, 8, 8]), P2);
  assert.throws(
    () => maxPoolBackwardFast(Tensor.zeros([2, 3, 4, 3]), cache),
    /maxPoolBackwardFast: dout has shape \[2,3,4,3\] but the forward output had shape \[2,3,4,4\]/,
  );
  const [, avgCache] = avgPoolForward(Tensor.zeros([2, 3, 8, 8]), P2);
  assert.throws(
    () => avgPoolBackward(Tensor.zeros([2, 3, 4, 4], "float32"), avgCache),
    /avgPoolBackward: dout is float32 but the forward pass ran in float64/,
  );
});

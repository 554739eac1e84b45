/**
 * The fused batchnorm + 2×2 max-pooling kernels, with and without the ReLU after the
 * pooling, against the layers' own kernels run one after the other: the same bits forward
 * and backward, on shapes with several groups of blocks, odd pooled widths, ties and
 * negative scales, on plain and shared memory, on one thread and split across the pool.
 */

import assert from "node:assert/strict";
import { relu as reluKernel, reluMask } from "../../lib/kernels/elementwise.ts";
import { setGemmKernel } from "../../lib/kernels/gemm.ts";
import {
  normalizeMaxPool2x2,
  normBackwardMaxPool2x2,
  normPoolApplies,
} from "../../lib/kernels/norm_pool.ts";
import {
  channelMoments,
  channelNormBackwardFromInput,
  inverseStd,
  normalizeChannels,
} from "../../lib/kernels/normalization.ts";
import { maxPoolBackwardBatch, maxPoolForwardBatch } from "../../lib/kernels/pooling.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };

type Shape = readonly [outer: number, channels: number, height: number, width: number];

/**
 * Shapes: several groups of 524,288 elements (64·24 planes of 28×28), odd pooled widths
 * (14×14 → 7×7, 6×10 → 3×5), one window per plane, and a batch too small to split.
 */
const SHAPES: Shape[] = [[64, 24, 28, 28], [64, 16, 14, 14], [5, 3, 6, 10], [4, 2, 2, 2]];

function floats(n: number, shared: boolean, fill: (i: number) => number): Float32Array {
  const a = new Float32Array(shared ? new SharedArrayBuffer(4 * n) : new ArrayBuffer(4 * n));
  for (let i = 0; i < n; i++) a[i] = fill(i);
  return a;
}

/**
 * Input, scales and gradient for a shape; a third of `x` is small integers (ties). With
 * `special`, channel 1 is constant (zero variance), channel 2 holds a NaN and channel 3 an
 * infinity, and the gradient holds a NaN and an infinity.
 */
function data([outer, channels, height, width]: Shape, shared: boolean, special = false) {
  const rng = new Rng(outer * 1000 + height);
  const n = outer * channels * height * width, inner = height * width;
  const x = floats(n, shared, () => rng.uniform() < 0.3 ? rng.randint(3) : rng.normal());
  if (special) {
    for (let i = 0; i < n; i++) if (Math.floor(i / inner) % channels === 1) x[i] = 0.25;
    x[2 * inner + 5] = NaN;
    x[3 * inner + 1] = -Infinity;
  }
  const gamma = floats(channels, false, (c) => (c % 3 === 0 ? -1 : 1) * (0.5 + c / 10));
  const beta = floats(channels, false, (c) => c / 7 - 1);
  const dpooled = floats(n / 4, shared, () => rng.normal());
  if (special) {
    dpooled[4 * (inner / 4) + 2] = NaN;
    dpooled[5 * (inner / 4)] = Infinity;
  }
  return { x, gamma, beta, dpooled };
}

/** The batch statistics as the batchnorm layers take them. */
function statistics(x: Float32Array, [outer, channels, height, width]: Shape) {
  const mean = new Float64Array(channels), variance = new Float64Array(channels);
  channelMoments(x, outer, channels, height * width, mean, variance);
  const invStd = new Float64Array(channels);
  inverseStd(variance, 1e-5, channels, invStd);
  return { mean, invStd };
}

/** Both passes fused (with the ReLU after the pooling when `relu`). */
function fused(shape: Shape, shared: boolean, special = false, relu = false) {
  const [outer, channels, height, width] = shape;
  const { x, gamma, beta, dpooled } = data(shape, shared, special);
  const { mean, invStd } = statistics(x, shape);
  const n = x.length;
  const pooled = floats(n / 4, shared, () => NaN), argmax = new Uint16Array(n / 4).fill(9);
  normalizeMaxPool2x2(
    x,
    outer,
    channels,
    height,
    width,
    mean,
    invStd,
    gamma,
    beta,
    pooled,
    argmax,
    relu,
  );
  const dx = floats(n, shared, () => NaN);
  const dgamma = new Float32Array(channels), dbeta = new Float32Array(channels);
  normBackwardMaxPool2x2(
    dpooled,
    argmax,
    x,
    outer,
    channels,
    height,
    width,
    mean,
    gamma,
    invStd,
    dx,
    dgamma,
    dbeta,
    relu ? pooled : null,
  );
  return { pooled, argmax, dx, dgamma, dbeta };
}

/** The same through the layers' kernels, one after the other (the ReLU's last). */
function apart(shape: Shape, shared: boolean, special = false, relu = false) {
  const [outer, channels, height, width] = shape;
  const { x, gamma, beta, dpooled } = data(shape, shared, special);
  const { mean, invStd } = statistics(x, shape);
  const n = x.length, inner = height * width, planes = outer * channels;
  const g = {
    channels: 1,
    height,
    width,
    kernelH: 2,
    kernelW: 2,
    stride: 2,
    pad: 0,
    dilation: 1,
    outH: height / 2,
    outW: width / 2,
  };
  const normalized = floats(n, shared, () => 0);
  normalizeChannels(x, outer, channels, inner, mean, invStd, gamma, beta, null, normalized);
  const pooled = floats(n / 4, shared, () => 0), argmax = new Uint16Array(n / 4);
  maxPoolForwardBatch(normalized, g, planes, pooled, argmax, true);
  // The ReLU layer's kernels: its output, and its gradient masked by its input.
  const out = relu ? floats(n / 4, shared, () => 0) : pooled;
  if (relu) reluKernel(pooled, out);
  const dReluIn = relu ? floats(n / 4, shared, () => 0) : dpooled;
  if (relu) reluMask(dpooled, pooled, dReluIn);
  const dout = floats(n, shared, () => 0);
  maxPoolBackwardBatch(dReluIn, argmax, g, planes, dout, true);
  const dx = floats(n, shared, () => 0);
  const dgamma = new Float32Array(channels), dbeta = new Float32Array(channels);
  channelNormBackwardFromInput(
    dout,
    x,
    outer,
    channels,
    inner,
    mean,
    gamma,
    invStd,
    dx,
    dgamma,
    dbeta,
  );
  return { pooled: out, argmax, dx, dgamma, dbeta };
}

function assertSameBits(a: ReturnType<typeof fused>, b: ReturnType<typeof apart>, what: string) {
  for (const key of ["pooled", "argmax", "dx", "dgamma", "dbeta"] as const) {
    const p = a[key], q = b[key];
    assert.equal(p.length, q.length, `${what}: ${key} length`);
    for (let i = 0; i < p.length; i++) {
      if (!Object.is(p[i], q[i])) assert.fail(`${what}: ${key}[${i}] = ${p[i]}, apart ${q[i]}`);
    }
  }
}

Deno.test("normPoolApplies: float32, even sides and the WebAssembly kernels", () => {
  assert.equal(normPoolApplies(new Float32Array(2 * 16), 2, 4, 4), true);
  assert.equal(normPoolApplies(new Float64Array(2 * 16), 2, 4, 4), false);
  assert.equal(normPoolApplies(new Float32Array(2 * 20), 2, 4, 5), false);
  assert.equal(normPoolApplies(new Float32Array(2 * 20), 2, 5, 4), false);
  assert.equal(normPoolApplies(new Float32Array(0), 0, 4, 4), false);
  assert.equal(normPoolApplies(new Float32Array(4), 1, 2, 2), true, "any length");
  setGemmKernel("js");
  try {
    // The batchnorm layers run their JavaScript loops then: nothing to fuse with.
    assert.equal(normPoolApplies(new Float32Array(2 * 16), 2, 4, 4), false);
  } finally {
    setGemmKernel("wasm");
  }
});

Deno.test("normalizeMaxPool2x2 / normBackwardMaxPool2x2: the bits of batchnorm then max pooling, on one thread", () => {
  for (const shape of SHAPES) {
    for (const shared of [false, true]) {
      for (const relu of [false, true]) {
        const what = `[${shape}] shared ${shared} relu ${relu}`;
        assertSameBits(fused(shape, shared, false, relu), apart(shape, shared, false, relu), what);
      }
    }
  }
});

Deno.test("normalizeMaxPool2x2 / normBackwardMaxPool2x2: NaN, infinities and a constant channel give the same bits too", () => {
  for (const shape of [[8, 6, 6, 10], [64, 8, 28, 28]] as Shape[]) {
    for (const relu of [false, true]) {
      const a = fused(shape, false, true, relu), b = apart(shape, false, true, relu);
      assertSameBits(a, b, `[${shape}] special values, relu ${relu}`);
      assert.ok(a.dx.some(Number.isNaN) && a.dgamma.some(Number.isFinite), "both kinds occur");
      if (relu) {
        // The ReLU did something: zeros out, and NaN kept.
        assert.ok(a.pooled.some((v) => Object.is(v, 0)) && a.pooled.some(Number.isNaN));
      }
    }
  }
});

Deno.test(
  "normalizeMaxPool2x2 / normBackwardMaxPool2x2: the same bits split across two threads",
  sanitizers,
  async () => {
    await setNumThreads(2);
    try {
      await getPool().ready();
      for (const [shape, relu] of SHAPES.flatMap((s) => [[s, false], [s, true]] as const)) {
        const one = apart(shape, false, false, relu);
        for (const shared of [false, true]) {
          const runs = () =>
            getPool().sharedRuns("normPool.forward") + getPool().sharedRuns("normPool.backward");
          const before = runs();
          const two = fused(shape, shared, false, relu);
          assertSameBits(two, one, `[${shape}] shared ${shared} relu ${relu}, 2 threads`);
          // Shared operands above the threshold go to the pool: the forward and both backward
          // passes.
          const big = shape[0] * shape[1] * shape[2] * shape[3] >= 1 << 18;
          if (shared && big) assert.equal(runs(), before + 3, `[${shape}] split`);
        }
      }
    } finally {
      await setNumThreads(1);
    }
  },
);

Deno.test("normalizeMaxPool2x2 / normBackwardMaxPool2x2: clear errors for bad sizes and taps", () => {
  const x = new Float32Array(2 * 3 * 4 * 4), c = (v: number) => new Float64Array(3).fill(v);
  const g32 = new Float32Array(3);
  assert.throws(
    () =>
      normalizeMaxPool2x2(
        x,
        2,
        3,
        4,
        4,
        c(0),
        c(1),
        g32,
        g32,
        new Float32Array(23),
        new Uint16Array(24),
      ),
    /normalizeMaxPool2x2: pooled needs at least 24 elements, got 23/,
  );
  assert.throws(
    () =>
      normalizeMaxPool2x2(
        new Float32Array(2 * 3 * 4 * 5),
        2,
        3,
        4,
        5,
        c(0),
        c(1),
        g32,
        g32,
        new Float32Array(30),
        new Uint16Array(30),
      ),
    /normalizeMaxPool2x2: 2×2 windows must tile the planes: height and width must be even, got 4×5/,
  );
  for (
    const [sizes, message] of [
      [[2, 0, 4, 4], /channels must be an integer ≥ 1, got 0/],
      [[2.5, 3, 4, 4], /outer must be an integer ≥ 0, got 2.5/],
      [[2, 3, -4, 4], /height must be an integer ≥ 1, got -4/],
    ] as const
  ) {
    const [outer, channels, height, width] = sizes;
    assert.throws(
      () =>
        normalizeMaxPool2x2(
          x,
          outer,
          channels,
          height,
          width,
          c(0),
          c(1),
          g32,
          g32,
          new Float32Array(24),
          new Uint16Array(24),
        ),
      new RegExp(`normalizeMaxPool2x2: ${message.source}`),
    );
  }
  // The backward pass on a 2×3×4×4 input, with these taps and ReLU output.
  const backward = (taps: Uint16Array, reluOut: Float32Array | null = null) => () =>
    normBackwardMaxPool2x2(
      new Float32Array(24),
      taps,
      x,
      2,
      3,
      4,
      4,
      c(0),
      g32,
      c(1),
      new Float32Array(x.length),
      new Float32Array(3),
      new Float32Array(3),
      reluOut,
    );
  // A bad tap anywhere, in either half of a 32-bit word, at the odd end, or unaligned.
  for (const [length, at, offset] of [[24, 17, 0], [24, 16, 0], [25, 24, 0], [24, 3, 1]]) {
    const taps = new Uint16Array(new ArrayBuffer(2 * (length + offset)), 2 * offset, length);
    taps[at] = 4;
    assert.throws(
      backward(taps),
      new RegExp(`normBackwardMaxPool2x2: argmax\\[${at}\\] = 4 is not a tap of a 2×2 window`),
    );
  }
  assert.throws(
    backward(new Uint16Array(24), new Float32Array(20)),
    /normBackwardMaxPool2x2: reluOut needs at least 24 elements, got 20/,
  );
});

import assert from "node:assert/strict";
import { evalNumericalGradientArray, relError } from "../../lib/gradient_check.ts";
import {
  channelMoments,
  channelNormBackward,
  channelNormBackwardGraph,
  groupNormBackward,
  inverseStd,
  momentumAverage,
  normalizeChannels,
  normalizeGroups,
  rowMoments,
} from "../../lib/kernels/normalization.ts";
import {
  affineBatchnormReluBackward,
  affineBatchnormReluForward,
  affineLayernormReluBackward,
  affineLayernormReluForward,
} from "../../lib/layers/affine_norm_relu.ts";
import {
  batchnormBackward,
  batchnormBackwardAlt,
  batchnormForward,
  type BatchnormParam,
} from "../../lib/layers/batchnorm.ts";
import { layernormBackward, layernormForward } from "../../lib/layers/layernorm.ts";
import { reluForward } from "../../lib/layers/relu.ts";
import {
  spatialBatchnormBackward,
  spatialBatchnormForward,
} from "../../lib/layers/spatial_batchnorm.ts";
import {
  spatialGroupnormBackward,
  spatialGroupnormForward,
} from "../../lib/layers/spatial_groupnorm.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

// ------------------------------------------------------------------ helpers

/** `scale · N(0, 1) + shift` of the given shape (the notebooks' `5 * randn(...) + 12`). */
function randn(shape: number[], rng: Rng, scale = 1, shift = 0): Tensor {
  return Tensor.randn(shape, rng).mul(scale).add(shift);
}

/** Batchnorm written with Tensor operations only: the reference the kernels must match. */
function naiveBatchnorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const mu = x.mean(0);
  const xmu = x.sub(mu);
  const variance = xmu.square().mean(0);
  return xmu.div(variance.add(eps).sqrt()).mul(gamma).add(beta);
}

/** Layernorm as batchnorm of the transpose, which is how cs231n suggests writing it. */
function naiveLayernorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const D = x.shape[0];
  const ones = Tensor.ones([D]), zeros = Tensor.zeros([D]);
  return naiveBatchnorm(x.transpose(), ones, zeros, eps).transpose().mul(gamma).add(beta);
}

/** Spatial batchnorm the cs231n way: (N, C, H, W) → (N·H·W, C), batchnorm, and back. */
function naiveSpatialBatchnorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const [N, C, H, W] = x.shape;
  const rows = x.transpose([0, 2, 3, 1]).reshape([N * H * W, C]);
  return naiveBatchnorm(rows, gamma, beta, eps).reshape([N, H, W, C]).transpose([0, 3, 1, 2]);
}

/** Groupnorm with Tensor operations: statistics over axis 2 of (N, G, C/G·H·W). */
function naiveGroupnorm(x: Tensor, gamma: Tensor, beta: Tensor, G: number, eps: number): Tensor {
  const [N, C, H, W] = x.shape;
  const blocks = x.reshape([N, G, (C / G) * H * W]);
  const xmu = blocks.sub(blocks.mean(2, true));
  const variance = xmu.square().mean(2, true);
  return xmu.div(variance.add(eps).sqrt()).reshape(x.shape).mul(gamma).add(beta);
}

/** Mean and (biased) standard deviation of each column of a 2-d tensor. */
function columnStats(t: Tensor): { mean: number[]; std: number[] } {
  const mean = t.mean(0);
  const std = t.sub(mean).square().mean(0).sqrt();
  return { mean: [...mean.data], std: [...std.data] };
}

function assertClose(actual: Tensor, expected: Tensor, tol: number, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const err = relError(actual, expected);
  assert.ok(err < tol, `${what}: relative error ${err} ≥ ${tol}`);
}

/** Entrywise: within `tol` relative error, or within `noiseFloor` absolute error. */
function assertCloseAboveNoise(
  actual: Tensor,
  expected: Tensor,
  noiseFloor: number,
  tol: number,
  what: string,
): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  for (let i = 0; i < actual.size; i++) {
    const a = actual.data[i], e = expected.data[i];
    assert.ok(
      Math.abs(a - e) <= noiseFloor || relError(a, e) < tol,
      `${what}[${i}]: analytic ${a} vs numeric ${e} (noise floor ${noiseFloor})`,
    );
  }
}

/**
 * Checks `[dx, dgamma, dbeta]` of a normalization layer against centered differences of
 * `Σ forward(x, gamma, beta) ⊙ dout`, as the notebooks do.
 */
function checkNormGradients(
  forward: (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor,
  analytic: [Tensor, Tensor, Tensor],
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  dout: Tensor,
  tol: number,
): void {
  const dxNum = evalNumericalGradientArray((t) => forward(t, gamma, beta), x, dout);
  const dgNum = evalNumericalGradientArray((t) => forward(x, t, beta), gamma, dout);
  const dbNum = evalNumericalGradientArray((t) => forward(x, gamma, t), beta, dout);
  const [dx, dgamma, dbeta] = analytic;
  assertClose(dx, dxNum, tol, "dx");
  assertClose(dgamma, dgNum, tol, "dgamma");
  assertClose(dbeta, dbNum, tol, "dbeta");
}

// ------------------------------------------------------------------ kernels

Deno.test("normalization kernels", async (t) => {
  const rng = new Rng(1);

  await t.step("channelMoments matches Tensor statistics for inner = 1 and inner > 1", () => {
    for (const [N, C, S] of [[7, 5, 1], [3, 4, 6], [1, 2, 9]]) {
      const x = randn([N, C, S], rng, 3, 20);
      const mean = new Float64Array(C), variance = new Float64Array(C);
      channelMoments(x.data, N, C, S, mean, variance);
      const rows = x.transpose([0, 2, 1]).reshape([N * S, C]);
      const mu = rows.mean(0);
      const expected = rows.sub(mu).square().mean(0);
      assert.ok(relError(Tensor.fromArray(mean), mu) < 1e-14, `mean (${N},${C},${S})`);
      assert.ok(relError(Tensor.fromArray(variance), expected) < 1e-12, `var (${N},${C},${S})`);
    }
  });

  await t.step("two-pass moments keep a large mean from swamping a small variance", () => {
    // 1e8 ± 1: E[x²] − E[x]² would lose every digit of the variance (1) to cancellation.
    const x = new Float64Array([1e8 - 1, 1e8 + 1, 1e8 - 1, 1e8 + 1]);
    const mean = new Float64Array(1), variance = new Float64Array(1);
    channelMoments(x, 4, 1, 1, mean, variance);
    assert.deepEqual([mean[0], variance[0]], [1e8, 1]);
    rowMoments(x, 1, 4, mean, variance);
    assert.deepEqual([mean[0], variance[0]], [1e8, 1]);
  });

  await t.step("float32 input accumulates in float64", () => {
    // 2^24 + 1 is not a float32: a float32 running sum of 2^24 and eight ones stays 2^24.
    const x = new Float32Array([2 ** 24, 1, 1, 1, 1, 1, 1, 1, 1]);
    const mean = new Float64Array(1), variance = new Float64Array(1);
    rowMoments(x, 1, 9, mean, variance);
    assert.equal(mean[0], (2 ** 24 + 8) / 9);
  });

  await t.step("inverseStd, momentumAverage and normalizeChannels compute their formulas", () => {
    const out = new Float64Array(2);
    inverseStd(new Float64Array([3, 0]), 1, 2, out);
    assert.deepEqual([...out], [0.5, 1]);
    const avg = new Float32Array([4]);
    momentumAverage(avg, new Float64Array([8]), 0.5, 1, avg); // in place
    assert.equal(avg[0], 6);
    const y = new Float64Array(2);
    normalizeChannels(
      new Float64Array([3, 5]),
      1,
      2,
      1,
      new Float64Array([1, 1]),
      new Float64Array([2, 0.5]),
      new Float64Array([1, 10]),
      new Float64Array([0, -1]),
      null,
      y,
    );
    assert.deepEqual([...y], [4, 19]);
  });

  await t.step("normalizeGroups with one channel per group is instance normalization", () => {
    const [N, C, S] = [2, 3, 4];
    const x = randn([N, C, S], rng);
    const mean = new Float64Array(N * C), variance = new Float64Array(N * C);
    rowMoments(x.data, N * C, S, mean, variance);
    const invStd = new Float64Array(N * C);
    inverseStd(variance, 1e-5, N * C, invStd);
    const gamma = new Float64Array([1, 2, 3]), beta = new Float64Array([0, 1, 2]);
    const xHat = new Float64Array(N * C * S), out = new Float64Array(N * C * S);
    normalizeGroups(x.data, N, C, S, C, mean, invStd, gamma, beta, xHat, out);
    for (let r = 0; r < N * C; r++) {
      const c = r % C;
      for (let k = 0; k < S; k++) {
        const i = r * S + k;
        const expected = gamma[c] * (x.data[i] - mean[r]) * invStd[r] + beta[c];
        assert.ok(Math.abs(out[i] - expected) < 1e-14, `element ${i}`);
      }
    }
  });

  await t.step("both channel backward kernels agree, for inner = 1 and inner > 1", () => {
    for (const [N, C, S] of [[6, 4, 1], [3, 2, 5]]) {
      const x = randn([N * C * S], rng, 2, 3).data;
      const dout = randn([N * C * S], rng).data;
      const gamma = randn([C], rng).data;
      const mean = new Float64Array(C), variance = new Float64Array(C);
      channelMoments(x, N, C, S, mean, variance);
      const invStd = new Float64Array(C);
      inverseStd(variance, 1e-5, C, invStd);
      const xHat = new Float64Array(N * C * S);
      normalizeChannels(x, N, C, S, mean, invStd, gamma, gamma, xHat, new Float64Array(N * C * S));
      const dxAlt = new Float64Array(N * C * S), dxGraph = new Float64Array(N * C * S);
      const dgA = new Float64Array(C), dbA = new Float64Array(C);
      const dgG = new Float64Array(C), dbG = new Float64Array(C);
      channelNormBackward(dout, xHat, N, C, S, gamma, invStd, dxAlt, dgA, dbA);
      channelNormBackwardGraph(dout, x, N, C, S, mean, variance, 1e-5, gamma, dxGraph, dgG, dbG);
      const T = (a: Float64Array) => Tensor.fromArray(a);
      assert.ok(relError(T(dxAlt), T(dxGraph)) < 1e-9, `dx (${N},${C},${S})`);
      assert.ok(relError(T(dgA), T(dgG)) < 1e-13 && relError(T(dbA), T(dbG)) < 1e-15);
    }
  });

  await t.step("groupNormBackward with one group per example matches the channel form", () => {
    // Layernorm of (N, D) is batchnorm of its transpose (D, N): their kernels must agree.
    const [N, D] = [3, 5];
    const x = randn([N, D], rng, 2, 1);
    const dout = randn([N, D], rng);
    const mean = new Float64Array(N), variance = new Float64Array(N), invStd = new Float64Array(N);
    rowMoments(x.data, N, D, mean, variance);
    inverseStd(variance, 1e-5, N, invStd);
    const ones = new Float64Array(D).fill(1);
    const xHat = new Float64Array(N * D);
    normalizeGroups(x.data, N, D, 1, 1, mean, invStd, ones, ones, xHat, new Float64Array(N * D));
    const dx = new Float64Array(N * D);
    groupNormBackward(dout.data, xHat, N, D, 1, 1, ones, invStd, dx, new Float64Array(D), ones);
    const dxT = new Float64Array(N * D);
    const xHatT = Tensor.fromArray(xHat, [N, D]).transpose();
    channelNormBackward(
      dout.transpose().data,
      xHatT.data,
      D,
      N,
      1,
      new Float64Array(N).fill(1),
      invStd,
      dxT,
      new Float64Array(N),
      new Float64Array(N),
    );
    const expected = Tensor.fromArray(dxT, [D, N]).transpose();
    assert.ok(relError(Tensor.fromArray(dx, [N, D]), expected) < 1e-12);
  });

  await t.step("short buffers are rejected", () => {
    assert.throws(
      () => channelMoments(new Float64Array(5), 2, 3, 1, new Float64Array(3), new Float64Array(3)),
      /channelMoments: x needs at least 6 elements, got 5/,
    );
    assert.throws(
      () => rowMoments(new Float64Array(6), 2, 3, new Float64Array(1), new Float64Array(2)),
      /rowMoments: mean needs at least 2 elements, got 1/,
    );
  });
});

// ------------------------------------------------------------------ batchnorm

Deno.test("batchnormForward", async (t) => {
  // The notebook's setup: a = relu(X·W1)·W2 with N = 200, D1 = 50, D2 = 60, D3 = 3, whose
  // columns have means and spreads far from 0 and 1.
  const rng = new Rng(231);
  const [N, D1, D2, D3] = [200, 50, 60, 3];
  const W1 = randn([D1, D2], rng), W2 = randn([D2, D3], rng);
  const makeBatch = () => reluForward(randn([N, D1], rng).matmul(W1))[0].matmul(W2);

  await t.step("train mode: each column gets mean beta and std gamma", () => {
    const a = makeBatch();
    const before = columnStats(a);
    assert.ok(before.mean.every((m) => Math.abs(m) > 1) && before.std.every((s) => s > 5));
    const variances = before.std.map((s) => s * s);
    for (
      const [gamma, beta] of [[[1, 1, 1], [0, 0, 0]], [[1, 2, 3], [11, 12, 13]]] as const
    ) {
      const [out] = batchnormForward(a, Tensor.fromArray(gamma), Tensor.fromArray(beta), {
        mode: "train",
      });
      assertClose(
        out,
        naiveBatchnorm(a, Tensor.fromArray(gamma), Tensor.fromArray(beta), 1e-5),
        1e-13,
        "out",
      );
      const after = columnStats(out);
      for (let j = 0; j < D3; j++) {
        assert.ok(Math.abs(after.mean[j] - beta[j]) < 1e-12, `mean ${j}: ${after.mean[j]}`);
        // eps shrinks the std slightly below gamma: by the factor sqrt(var / (var + eps)).
        const expectedStd = gamma[j] * Math.sqrt(variances[j] / (variances[j] + 1e-5));
        assert.ok(Math.abs(after.std[j] - expectedStd) < 1e-12, `std ${j}: ${after.std[j]}`);
      }
    }
  });

  await t.step("the running statistics follow running = 0.9·running + 0.1·batch", () => {
    const bnParam: BatchnormParam = { mode: "train" };
    const gamma = Tensor.ones([D3]), beta = Tensor.zeros([D3]);
    let expectedMean = Tensor.zeros([D3]), expectedVar = Tensor.zeros([D3]);
    for (let step = 0; step < 3; step++) {
      const a = makeBatch();
      const previous = bnParam.runningMean;
      batchnormForward(a, gamma, beta, bnParam);
      const { mean, std } = columnStats(a);
      expectedMean = expectedMean.mul(0.9).add(Tensor.fromArray(mean).mul(0.1));
      expectedVar = expectedVar.mul(0.9).add(Tensor.fromArray(std.map((s) => s * s)).mul(0.1));
      assert.ok(bnParam.runningMean !== previous, "a new tensor each step, as numpy rebinds");
      assertClose(bnParam.runningMean as Tensor, expectedMean, 1e-13, `running mean ${step}`);
      assertClose(bnParam.runningVar as Tensor, expectedVar, 1e-12, `running var ${step}`);
    }
    // momentum 0 keeps only the last batch's statistics.
    const p: BatchnormParam = { mode: "train", momentum: 0 };
    const a = makeBatch();
    batchnormForward(a, gamma, beta, p);
    assertClose(p.runningMean as Tensor, a.mean(0), 1e-13, "momentum 0");
  });

  await t.step("test mode after warm-up uses the running statistics", () => {
    // The notebook: 50 training-mode passes over fresh batches, then one test-mode pass.
    const bnParam: BatchnormParam = { mode: "train" };
    const gamma = Tensor.ones([D3]), beta = Tensor.zeros([D3]);
    for (let i = 0; i < 50; i++) batchnormForward(makeBatch(), gamma, beta, bnParam);
    bnParam.mode = "test";
    const a = makeBatch();
    const [out, cache] = batchnormForward(a, gamma, beta, bnParam);
    assert.equal(cache.mode, "test");
    const rm = bnParam.runningMean as Tensor, rv = bnParam.runningVar as Tensor;
    assertClose(out, a.sub(rm).div(rv.add(1e-5).sqrt()), 1e-13, "test-mode output");
    // The running averages estimate the population statistics (their weights sum to
    // 1 − 0.9^50 = 0.995), so a fresh batch comes out roughly standardized: within a few
    // standard errors (1/sqrt(200) ≈ 0.07 for the mean) of mean 0 and std 1.
    const after = columnStats(out);
    for (let j = 0; j < D3; j++) {
      assert.ok(Math.abs(after.mean[j]) < 0.25, `mean ${j}: ${after.mean[j]}`);
      assert.ok(Math.abs(after.std[j] - 1) < 0.2, `std ${j}: ${after.std[j]}`);
    }
    // Unlike train mode, one example's output does not depend on the others in its batch.
    const [single] = batchnormForward(a.sliceRows(3, 4), gamma, beta, bnParam);
    assert.deepEqual(single.data, out.sliceRows(3, 4).data);
  });

  await t.step("float32 keeps its dtype, including the running statistics", () => {
    const a64 = makeBatch();
    const a32 = a64.astype("float32");
    const p32: BatchnormParam = { mode: "train" };
    const gamma = Tensor.fromArray([1, 2, 3]), beta = Tensor.fromArray([0, 1, 2]);
    const [out32] = batchnormForward(a32, gamma.astype("float32"), beta.astype("float32"), p32);
    assert.equal(out32.dtype, "float32");
    assert.equal(p32.runningMean?.dtype, "float32");
    assert.equal(p32.runningVar?.dtype, "float32");
    const [out64] = batchnormForward(a32.astype("float64"), gamma, beta, { mode: "train" });
    assert.ok(relError(out32, out64) < 1e-6);
  });

  await t.step("bad arguments are rejected with the function and value named", () => {
    const x = Tensor.zeros([4, 3]);
    const g = Tensor.ones([3]), b = Tensor.zeros([3]);
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "eval" as "test" }),
      /^Error: batchnormForward: bnParam.mode must be "train" or "test", got "eval"/,
    );
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "test" }),
      new RegExp(
        "batchnormForward: test mode needs bnParam.runningMean and bnParam.runningVar, " +
          "but runningMean is missing",
      ),
    );
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "test", runningMean: Tensor.zeros([3]) }),
      /but runningVar is missing/,
    );
    assert.throws(
      () => batchnormForward(x, Tensor.ones([4]), b, { mode: "train" }),
      /batchnormForward: gamma must have shape \[3\] .* got shape \[4\]/,
    );
    assert.throws(
      () => batchnormForward(x, g, Tensor.zeros([1, 3]), { mode: "train" }),
      /beta must have shape \[3\]/,
    );
    assert.throws(
      () => batchnormForward(x, g.astype("float32"), b, { mode: "train" }),
      /gamma is float32 but x is float64/,
    );
    assert.throws(
      () => batchnormForward(Tensor.zeros([2, 3, 1]), g, b, { mode: "train" }),
      /batchnormForward: x must be 2-d, shape \(N, D\); got shape \[2,3,1\]/,
    );
    assert.throws(
      () => batchnormForward(Tensor.zeros([0, 3]), g, b, { mode: "train" }),
      /training mode needs at least one value per channel/,
    );
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "train", eps: 0 }),
      /bnParam.eps must be a finite number > 0, got 0/,
    );
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "train", momentum: 1.5 }),
      /bnParam.momentum must be in \[0, 1\], got 1.5/,
    );
    assert.throws(
      () => batchnormForward(x, g, b, { mode: "train", runningMean: Tensor.zeros([2]) }),
      /bnParam.runningMean must have shape \[3\], got shape \[2\]/,
    );
    assert.throws(
      () => batchnormForward(x, g, b, null as unknown as BatchnormParam),
      /bnParam must be an object/,
    );
  });
});

Deno.test("batchnormBackward and batchnormBackwardAlt", async (t) => {
  const rng = new Rng(0);

  await t.step("both match centered differences (notebook: N=4, D=5, x = 5·randn + 12)", () => {
    const [N, D] = [4, 5];
    const x = randn([N, D], rng, 5, 12);
    const gamma = randn([D], rng), beta = randn([D], rng), dout = randn([N, D], rng);
    const forward = (xx: Tensor, g: Tensor, b: Tensor) =>
      batchnormForward(xx, g, b, { mode: "train" })[0];
    const [, cache] = batchnormForward(x, gamma, beta, { mode: "train" });
    checkNormGradients(forward, batchnormBackward(dout, cache), x, gamma, beta, dout, 1e-8);
    checkNormGradients(forward, batchnormBackwardAlt(dout, cache), x, gamma, beta, dout, 1e-8);
  });

  await t.step("the closed form equals the graph form (notebook: N=100, D=500)", () => {
    const [N, D] = [100, 500];
    const x = randn([N, D], rng, 5, 12);
    const gamma = randn([D], rng), beta = randn([D], rng), dout = randn([N, D], rng);
    const [, cache] = batchnormForward(x, gamma, beta, { mode: "train" });
    const [dx1, dg1, db1] = batchnormBackward(dout, cache);
    const [dx2, dg2, db2] = batchnormBackwardAlt(dout, cache);
    // The notebook reports about 1e-12 for dx: the two forms round differently.
    assert.ok(relError(dx1, dx2) < 1e-10, `dx ${relError(dx1, dx2)}`);
    // dgamma and dbeta are the same sums over the same values in both forms.
    assert.deepEqual([dg1.data, db1.data], [dg2.data, db2.data]);
  });

  await t.step("float32 gradients keep their dtype and agree with float64", () => {
    const x = randn([8, 6], rng, 3, 1), dout = randn([8, 6], rng);
    const gamma = randn([6], rng), beta = randn([6], rng);
    const [, c64] = batchnormForward(x, gamma, beta, { mode: "train" });
    const [, c32] = batchnormForward(
      x.astype("float32"),
      gamma.astype("float32"),
      beta.astype("float32"),
      { mode: "train" },
    );
    for (const backward of [batchnormBackward, batchnormBackwardAlt]) {
      const g64 = backward(dout, c64);
      const g32 = backward(dout.astype("float32"), c32);
      for (let i = 0; i < 3; i++) {
        assert.equal(g32[i].dtype, "float32");
        // dx entries sum to zero per column, so compare against the gradient's scale.
        const scale = Math.max(...g64[i].abs().data);
        const worst = Math.max(...g32[i].sub(g64[i].astype("float32")).abs().data);
        assert.ok(worst < 1e-5 * scale, `${backward.name} gradient ${i}: ${worst}`);
      }
    }
  });

  await t.step("a test-mode cache or a wrong dout is rejected", () => {
    const x = randn([3, 2], rng);
    const g = Tensor.ones([2]), b = Tensor.zeros([2]);
    const bnParam: BatchnormParam = { mode: "train" };
    const [, trainCache] = batchnormForward(x, g, b, bnParam);
    bnParam.mode = "test";
    const [, testCache] = batchnormForward(x, g, b, bnParam);
    assert.throws(
      () => batchnormBackward(Tensor.ones([3, 2]), testCache),
      /batchnormBackward: the cache comes from a test-mode forward pass/,
    );
    assert.throws(
      () => batchnormBackwardAlt(Tensor.ones([2, 3]), trainCache),
      /batchnormBackwardAlt: dout has shape \[2,3\] but the forward input had shape \[3,2\]/,
    );
    assert.throws(
      () => batchnormBackwardAlt(Tensor.ones([3, 2], "float32"), trainCache),
      /dout is float32 but the forward pass ran in float64/,
    );
  });
});

// ------------------------------------------------------------------ layernorm

Deno.test("layernorm", async (t) => {
  const rng = new Rng(7);

  await t.step("each example gets mean beta and std gamma (notebook: N=4, D3=3)", () => {
    const [N, D1, D2, D3] = [4, 50, 60, 3];
    const X = randn([N, D1], rng);
    const a = reluForward(X.matmul(randn([D1, D2], rng)))[0].matmul(randn([D2, D3], rng));
    const rowStats = columnStats(a.transpose());
    for (const [g, b] of [[1, 0], [3, 5]]) {
      const gamma = Tensor.full([D3], g), beta = Tensor.full([D3], b);
      const [out] = layernormForward(a, gamma, beta, {});
      assertClose(out, naiveLayernorm(a, gamma, beta, 1e-5), 1e-13, "out");
      const after = columnStats(out.transpose());
      for (let n = 0; n < N; n++) {
        const v = rowStats.std[n] ** 2;
        assert.ok(Math.abs(after.mean[n] - b) < 1e-12, `mean ${n}: ${after.mean[n]}`);
        const expectedStd = g * Math.sqrt(v / (v + 1e-5));
        assert.ok(Math.abs(after.std[n] - expectedStd) < 1e-12, `std ${n}: ${after.std[n]}`);
      }
    }
  });

  await t.step("matches centered differences (notebook: N=4, D=5)", () => {
    const [N, D] = [4, 5];
    const x = randn([N, D], rng, 5, 12);
    const gamma = randn([D], rng), beta = randn([D], rng), dout = randn([N, D], rng);
    const forward = (xx: Tensor, g: Tensor, b: Tensor) => layernormForward(xx, g, b, {})[0];
    const [, cache] = layernormForward(x, gamma, beta, {});
    checkNormGradients(forward, layernormBackward(dout, cache), x, gamma, beta, dout, 1e-8);
  });

  await t.step("ignores mode, works on a single example, keeps float32", () => {
    const x = randn([1, 6], rng, 2, 3);
    const gamma = randn([6], rng), beta = randn([6], rng);
    const [train] = layernormForward(x, gamma, beta, { mode: "train" });
    const [test] = layernormForward(x, gamma, beta, { mode: "test" });
    assert.deepEqual(train.data, test.data);
    const [out32, cache32] = layernormForward(
      x.astype("float32"),
      gamma.astype("float32"),
      beta.astype("float32"),
    );
    assert.equal(out32.dtype, "float32");
    assert.ok(relError(out32, train) < 1e-5);
    const [dx] = layernormBackward(Tensor.ones([1, 6], "float32"), cache32);
    assert.equal(dx.dtype, "float32");
  });

  await t.step("bad arguments are rejected", () => {
    const g = Tensor.ones([3]), b = Tensor.zeros([3]);
    assert.throws(
      () => layernormForward(Tensor.zeros([2, 3, 4]), g, b, {}),
      /layernormForward: x must be 2-d/,
    );
    assert.throws(
      () => layernormForward(Tensor.zeros([2, 4]), g, b, {}),
      /layernormForward: gamma must have shape \[4\]/,
    );
    assert.throws(
      () => layernormForward(Tensor.zeros([2, 3]), g, b, { eps: -1 }),
      /layernormForward: lnParam.eps must be a finite number > 0, got -1/,
    );
    assert.throws(
      () => layernormForward(Tensor.zeros([2, 0]), Tensor.ones([0]), Tensor.zeros([0]), {}),
      /at least one value per group/,
    );
    const [, cache] = layernormForward(Tensor.ones([2, 3]), g, b, {});
    assert.throws(
      () => layernormBackward(Tensor.ones([3, 2]), cache),
      /layernormBackward: dout has shape \[3,2\] but the forward input had shape \[2,3\]/,
    );
  });
});

// ------------------------------------------------------------------ spatial layers

Deno.test("spatial batchnorm", async (t) => {
  const rng = new Rng(12);
  const [N, C, H, W] = [2, 3, 4, 5];

  await t.step("each channel gets mean beta and std gamma over N, H, W (notebook)", () => {
    const x = randn([N, C, H, W], rng, 4, 10);
    const gamma = Tensor.fromArray([3, 4, 5]), beta = Tensor.fromArray([6, 7, 8]);
    const [out] = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
    assertClose(out, naiveSpatialBatchnorm(x, gamma, beta, 1e-5), 1e-13, "out");
    const rows = out.transpose([0, 2, 3, 1]).reshape([N * H * W, C]);
    const stats = columnStats(rows);
    for (let c = 0; c < C; c++) {
      assert.ok(Math.abs(stats.mean[c] - beta.get(c)) < 1e-12, `mean ${c}`);
      assert.ok(Math.abs(stats.std[c] - gamma.get(c)) < 1e-5, `std ${c}: ${stats.std[c]}`);
    }
  });

  await t.step("test mode after warm-up uses the per-channel running statistics", () => {
    const bnParam: BatchnormParam = { mode: "train" };
    const gamma = Tensor.ones([C]), beta = Tensor.zeros([C]);
    for (let i = 0; i < 50; i++) {
      spatialBatchnormForward(randn([N, C, H, W], rng, 2.3, 13), gamma, beta, bnParam);
    }
    assert.deepEqual(bnParam.runningMean?.shape, [C]);
    bnParam.mode = "test";
    const x = randn([N, C, H, W], rng, 2.3, 13);
    const [out] = spatialBatchnormForward(x, gamma, beta, bnParam);
    const rm = (bnParam.runningMean as Tensor).reshape([1, C, 1, 1]);
    const rv = (bnParam.runningVar as Tensor).reshape([1, C, 1, 1]);
    assertClose(out, x.sub(rm).div(rv.add(1e-5).sqrt()), 1e-13, "test-mode output");
    // Population mean 13 and std 2.3: the running estimates are within a few percent.
    const stats = columnStats(out.transpose([0, 2, 3, 1]).reshape([N * H * W, C]));
    for (let c = 0; c < C; c++) {
      assert.ok(Math.abs(stats.mean[c]) < 0.3, `mean ${c}: ${stats.mean[c]}`);
      assert.ok(Math.abs(stats.std[c] - 1) < 0.3, `std ${c}: ${stats.std[c]}`);
    }
  });

  await t.step("matches centered differences (notebook: N=2, C=3, H=4, W=5)", () => {
    const x = randn([N, C, H, W], rng, 5, 12);
    const gamma = randn([C], rng), beta = randn([C], rng), dout = randn([N, C, H, W], rng);
    const forward = (xx: Tensor, g: Tensor, b: Tensor) =>
      spatialBatchnormForward(xx, g, b, { mode: "train" })[0];
    const [, cache] = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
    checkNormGradients(forward, spatialBatchnormBackward(dout, cache), x, gamma, beta, dout, 1e-6);
  });

  await t.step("bad arguments are rejected", () => {
    const g = Tensor.ones([C]), b = Tensor.zeros([C]);
    assert.throws(
      () => spatialBatchnormForward(Tensor.zeros([N, C * H * W]), g, b, { mode: "train" }),
      /spatialBatchnormForward: x must be 4-d, shape \(N, C, H, W\); got shape \[2,60\]/,
    );
    assert.throws(
      () =>
        spatialBatchnormForward(Tensor.zeros([N, C, H, W]), Tensor.ones([1, C, 1, 1]), b, {
          mode: "train",
        }),
      /spatialBatchnormForward: gamma must have shape \[3\] .* got shape \[1,3,1,1\]/,
    );
    assert.throws(
      () => spatialBatchnormForward(Tensor.zeros([N, C, H, W]), g, b, { mode: "test" }),
      /spatialBatchnormForward: test mode needs bnParam.runningMean/,
    );
  });
});

Deno.test("spatial groupnorm", async (t) => {
  const rng = new Rng(5);
  const [N, C, H, W, G] = [2, 6, 4, 5, 2];

  await t.step("each (example, group) block gets mean 0 and std 1 (notebook)", () => {
    const x = randn([N, C, H, W], rng, 4, 10);
    const gamma = Tensor.ones([1, C, 1, 1]), beta = Tensor.zeros([1, C, 1, 1]);
    const [out] = spatialGroupnormForward(x, gamma, beta, G, {});
    const blocks = columnStats(out.reshape([N * G, -1]).transpose());
    for (let r = 0; r < N * G; r++) {
      assert.ok(Math.abs(blocks.mean[r]) < 1e-12, `mean ${r}: ${blocks.mean[r]}`);
      assert.ok(Math.abs(blocks.std[r] - 1) < 1e-5, `std ${r}: ${blocks.std[r]}`);
    }
  });

  await t.step("matches a Tensor-operation reference, and G = 1 is layernorm", () => {
    const x = randn([N, C, H, W], rng, 3, -2);
    const gamma = randn([1, C, 1, 1], rng), beta = randn([1, C, 1, 1], rng);
    for (const groups of [1, 2, 3, 6]) {
      const [out] = spatialGroupnormForward(x, gamma, beta, groups, { eps: 1e-3 });
      assertClose(out, naiveGroupnorm(x, gamma, beta, groups, 1e-3), 1e-12, `G = ${groups}`);
    }
    // Layernorm of (N, D) = groupnorm of (N, D, 1, 1) in one group.
    const a = randn([3, 4], rng, 2, 1);
    const g = randn([4], rng), b = randn([4], rng);
    const [ln] = layernormForward(a, g, b, {});
    const [gn] = spatialGroupnormForward(
      a.reshape([3, 4, 1, 1]),
      g.reshape([1, 4, 1, 1]),
      b.reshape([1, 4, 1, 1]),
      1,
    );
    assert.deepEqual(gn.data, ln.data);
  });

  await t.step("matches centered differences (notebook: N=2, C=6, H=4, W=5, G=2)", () => {
    const x = randn([N, C, H, W], rng, 5, 12);
    const gamma = randn([1, C, 1, 1], rng), beta = randn([1, C, 1, 1], rng);
    const dout = randn([N, C, H, W], rng);
    const forward = (xx: Tensor, g: Tensor, b: Tensor) =>
      spatialGroupnormForward(xx, g, b, G, {})[0];
    const [, cache] = spatialGroupnormForward(x, gamma, beta, G, {});
    const grads = spatialGroupnormBackward(dout, cache);
    assert.deepEqual(grads[1].shape, [1, C, 1, 1]);
    assert.deepEqual(grads[2].shape, [1, C, 1, 1]);
    checkNormGradients(forward, grads, x, gamma, beta, dout, 1e-6);
  });

  await t.step("bad arguments are rejected", () => {
    const x = Tensor.zeros([N, C, H, W]);
    const g = Tensor.ones([1, C, 1, 1]), b = Tensor.zeros([1, C, 1, 1]);
    assert.throws(
      () => spatialGroupnormForward(x, g, b, 4, {}),
      new RegExp(
        String.raw`spatialGroupnormForward: the 6 channels of x \(shape \[2,6,4,5\]\) ` +
          "cannot be split into G = 4 equal groups",
      ),
    );
    assert.throws(
      () => spatialGroupnormForward(x, g, b, 0, {}),
      /spatialGroupnormForward: G must be a positive integer, got 0/,
    );
    assert.throws(
      () => spatialGroupnormForward(x, Tensor.ones([C]), b, 2, {}),
      /spatialGroupnormForward: gamma must have shape \[1,6,1,1\], got shape \[6\]/,
    );
    assert.throws(
      () => spatialGroupnormForward(x, g, Tensor.zeros([1, C, 1, 1], "float32"), 2, {}),
      /beta is float32 but x is float64/,
    );
    assert.throws(
      () => spatialGroupnormForward(Tensor.zeros([N, C]), g, b, 2, {}),
      /x must be 4-d/,
    );
  });
});

// ------------------------------------------------------------------ sandwiches

Deno.test("affine-norm-relu sandwiches", async (t) => {
  const rng = new Rng(9);
  const [N, D, M] = [4, 5, 6];
  const x = randn([N, D], rng), w = randn([D, M], rng), b = randn([M], rng);
  const gamma = randn([M], rng, 0.5, 1), beta = randn([M], rng), dout = randn([N, M], rng);

  for (
    const [name, forward, backward] of [
      [
        "batchnorm",
        (xx: Tensor, ww: Tensor, bb: Tensor, g: Tensor, be: Tensor) =>
          affineBatchnormReluForward(xx, ww, bb, g, be, { mode: "train" }),
        affineBatchnormReluBackward,
      ],
      [
        "layernorm",
        (xx: Tensor, ww: Tensor, bb: Tensor, g: Tensor, be: Tensor) =>
          affineLayernormReluForward(xx, ww, bb, g, be, {}),
        affineLayernormReluBackward,
      ],
    ] as const
  ) {
    await t.step(`affine-${name}-relu gradients match centered differences`, () => {
      const [out, cache] = forward(x, w, b, gamma, beta);
      // Centered differences of Σ out ⊙ dout carry an absolute error of about
      // ε · Σ|out ⊙ dout| / 2h (each output known to an ulp or so); entries of the weight
      // gradient that ReLU has almost cut off are no larger than that noise.
      const h = 1e-5;
      const noiseFloor = (8 * Number.EPSILON * out.mul(dout).abs().sum().item()) / (2 * h);
      // deno-lint-ignore no-explicit-any
      const grads = (backward as any)(dout, cache) as Tensor[];
      const inputs = [x, w, b, gamma, beta];
      inputs.forEach((input, k) => {
        const numeric = evalNumericalGradientArray(
          () => forward(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4])[0],
          input,
          dout,
        );
        if (name === "batchnorm" && k === 2) {
          // Batchnorm subtracts the batch mean, which removes any bias: db is exactly zero,
          // so a relative error would only compare rounding noise with rounding noise.
          assert.ok(grads[k].data.every((v) => Math.abs(v) < 1e-14), `db ${grads[k].data}`);
          assert.ok(numeric.data.every((v) => Math.abs(v) < 1e-9), `numeric db ${numeric.data}`);
          return;
        }
        assertCloseAboveNoise(grads[k], numeric, noiseFloor, 1e-8, `${name} gradient ${k}`);
      });
    });
  }

  await t.step("a wrong cache is rejected", () => {
    assert.throws(
      () => affineBatchnormReluBackward(dout, [] as never),
      /affineBatchnormReluBackward: cache must be the \[fcCache, normCache, reluCache\]/,
    );
  });
});

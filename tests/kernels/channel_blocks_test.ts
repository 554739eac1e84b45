import assert from "node:assert/strict";
import {
  blockGradientSumsFromInputRange,
  blockGradientSumsRange,
  blockGradientSumsRangeWasm,
  blockMomentsRange,
  blockMomentsRangeWasm,
  normalizeBlocksRange,
  normalizeBlocksRangeWasm,
  normBackwardBlocksRange,
  normBackwardBlocksRangeWasm,
  normBackwardFromInputBlocksRange,
} from "../../lib/kernels/channel_blocks.ts";
import { setGemmKernel } from "../../lib/kernels/gemm.ts";
import { layerKernels } from "../../lib/kernels/wasm/layer_kernels.ts";
import {
  channelMoments,
  channelNormBackward,
  channelNormBackwardFromInput,
  inverseStd,
  normalizeChannels,
} from "../../lib/kernels/normalization.ts";
import { setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";
import type { FloatArray } from "../../lib/storage.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };

/** (outer, channels, inner): above the parallel threshold (2^18), inner not a multiple of 4. */
const SHAPE = [64, 24, 14 * 14 - 1] as const;

function randomArray(n: number, rng: Rng, shared: boolean, offset = 0): Float32Array {
  const a = new Float32Array(shared ? new SharedArrayBuffer(4 * n) : new ArrayBuffer(4 * n));
  for (let i = 0; i < n; i++) a[i] = offset + rng.normal();
  return a;
}

/** Everything the per-channel kernels compute on one input, on the current thread count. */
function runAll(
  x: FloatArray,
  dout: FloatArray,
  [outer, channels, inner]: readonly [number, number, number] = SHAPE,
  shared = false,
) {
  const n = outer * channels * inner;
  // Outputs on plain memory (as the layers allocate them) or on shared memory, where the
  // WebAssembly kernels also split across the pool (see `parallel` in channel_blocks.ts).
  const output = (length: number) =>
    new Float32Array(shared ? new SharedArrayBuffer(4 * length) : new ArrayBuffer(4 * length));
  const mean = new Float64Array(channels), variance = new Float64Array(channels);
  channelMoments(x, outer, channels, inner, mean, variance);
  const invStd = new Float64Array(channels);
  inverseStd(variance, 1e-5, channels, invStd);
  const gamma = Float32Array.from({ length: channels }, (_, c) => 0.5 + c / 10);
  const beta = Float32Array.from({ length: channels }, (_, c) => c / 7 - 1);
  const xHat = output(n), out = output(n);
  normalizeChannels(x, outer, channels, inner, mean, invStd, gamma, beta, xHat, out);
  const dx = output(n);
  const dgamma = new Float32Array(channels), dbeta = new Float32Array(channels);
  channelNormBackward(dout, xHat, outer, channels, inner, gamma, invStd, dx, dgamma, dbeta);
  // The same backward pass without the stored xHat, recomputing it from x.
  const dxFromInput = output(n);
  const dgammaFromInput = new Float32Array(channels), dbetaFromInput = new Float32Array(channels);
  channelNormBackwardFromInput(
    dout,
    x,
    outer,
    channels,
    inner,
    mean,
    gamma,
    invStd,
    dxFromInput,
    dgammaFromInput,
    dbetaFromInput,
  );
  return {
    mean,
    variance,
    xHat,
    out,
    dx,
    dgamma,
    dbeta,
    dxFromInput,
    dgammaFromInput,
    dbetaFromInput,
  };
}

function assertBitwise(actual: FloatArray, expected: FloatArray, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}[${i}]: ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/**
 * Shapes above the parallel threshold (2^18 elements): inner not a multiple of 4, odd outer
 * and channel counts, several WebAssembly groups on one thread (a group holds 524,288
 * elements of whole blocks), and blocks longer than one group.
 */
const THREAD_SHAPES: [number, number, number][] = [
  [...SHAPE],
  [35, 7, 1123],
  [129, 5, 411],
  [3, 5, 17477],
  [5, 3, 40009],
  [1, 3, 524309],
];

Deno.test(
  "spatial batchnorm kernels are bitwise identical on 1, 2 and 3 threads, in WebAssembly or not",
  sanitizers,
  async () => {
    const rng = new Rng(31);
    try {
      for (const shape of THREAD_SHAPES) {
        const n = shape[0] * shape[1] * shape[2];
        // Mixed: x on shared memory, dout and the outputs on plain memory (copied through
        // shared scratch, or kept on the calling thread). Shared: every array on shared
        // memory, which the WebAssembly kernels split across the pool with no copies.
        for (const shared of [false, true]) {
          const x = randomArray(n, rng, true, 3);
          const dout = randomArray(n, rng, shared);
          await setNumThreads(1);
          // The JavaScript GEMM keeps this thread's block loops in JavaScript: the reference.
          setGemmKernel("js");
          const reference = runAll(x, dout, shape, shared);
          setGemmKernel("auto");
          for (const threads of [1, 2, 3]) {
            await setNumThreads(threads);
            const got = runAll(x, dout, shape, shared);
            for (const key of Object.keys(reference) as (keyof typeof reference)[]) {
              const where = `(${shape}, ${shared ? "shared" : "mixed"}) on ${threads} threads`;
              assertBitwise(got[key], reference[key], `${key} ${where}`);
            }
          }
        }
      }
    } finally {
      setGemmKernel("auto");
      await setNumThreads(1);
    }
  },
);

Deno.test("block-wise moments and backward sums match a direct float64 computation", () => {
  const [outer, channels, inner] = SHAPE;
  const rng = new Rng(32);
  const n = outer * channels * inner;
  // A large mean next to the spread: the case where E[x²] − E[x]² would cancel.
  const x = randomArray(n, rng, false, 1000);
  const dout = randomArray(n, rng, false);
  const got = runAll(x, dout);
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) s += x[(o * channels + c) * inner + k];
    }
    const mean = s / (outer * inner);
    let q = 0, sb = 0, sg = 0;
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        const i = (o * channels + c) * inner + k;
        q += (x[i] - mean) ** 2;
        sb += dout[i];
        sg += dout[i] * got.xHat[i];
      }
    }
    const variance = q / (outer * inner);
    // Both sides sum ~7,800 float64 terms in different orders: agreement to ~1e-12 relative.
    assert.ok(Math.abs(got.mean[c] - mean) <= 1e-12 * Math.abs(mean), `mean[${c}]`);
    assert.ok(Math.abs(got.variance[c] - variance) <= 1e-10 * variance, `variance[${c}]`);
    // dbeta and dgamma are stored in float32: one rounding of the float64 sum.
    assert.ok(Math.abs(got.dbeta[c] - sb) <= 2 ** -23 * Math.abs(sb) + 1e-9, `dbeta[${c}]`);
    assert.ok(Math.abs(got.dgamma[c] - sg) <= 2 ** -23 * Math.abs(sg) + 1e-9, `dgamma[${c}]`);
  }
  // The normalized values of each channel have mean ≈ 0 and variance ≈ 1.
  let s = 0, q = 0;
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) s += got.xHat[o * channels * inner + k];
  }
  const m = s / (outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) q += (got.xHat[o * channels * inner + k] - m) ** 2;
  }
  assert.ok(Math.abs(m) < 1e-4, `xHat mean ${m}`);
  assert.ok(Math.abs(q / (outer * inner) - 1) < 1e-3, `xHat variance ${q / (outer * inner)}`);
});

Deno.test("the backward pass from x matches the one from the stored xHat", () => {
  const [outer, channels, inner] = SHAPE;
  const rng = new Rng(33);
  const n = outer * channels * inner;
  const got = runAll(randomArray(n, rng, false, -2), randomArray(n, rng, false));
  // The two differ only by xHat's rounding to float32 (relative 2⁻²⁴ per element), which
  // reaches dx through the sums and the xHat term: a few float32 ulps of the largest terms.
  const scale = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const dxScale = scale(got.dx);
  for (let i = 0; i < n; i++) {
    assert.ok(
      Math.abs(got.dxFromInput[i] - got.dx[i]) <= 2 ** -20 * dxScale,
      `dx[${i}]: ${got.dxFromInput[i]} from x, ${got.dx[i]} from xHat`,
    );
  }
  for (let c = 0; c < channels; c++) {
    assert.equal(got.dbetaFromInput[c], got.dbeta[c], `dbeta[${c}]`);
    const bound = 2 ** -20 * (Math.abs(got.dgamma[c]) + Math.sqrt(outer * inner));
    assert.ok(Math.abs(got.dgammaFromInput[c] - got.dgamma[c]) <= bound, `dgamma[${c}]`);
  }
});

/** Shapes (outer, channels, inner) for the WebAssembly-vs-JavaScript comparisons. */
const WASM_SHAPES: [number, number, number][] = [
  [1, 1, 2],
  [3, 5, 3],
  [2, 3, 4],
  [5, 7, 5],
  [4, 3, 17],
  [3, 2, 196],
  [2, 3, 195],
  [7, 5, 49],
  [3, 4, 784],
  [2, 3, 16385],
  [5, 9, 1023],
];

/** Arrays of `n` values: random, then a constant run, then huge and tiny values. */
function awkwardArray(n: number, rng: Rng, offset: number): Float32Array {
  const a = randomArray(n, rng, false, offset);
  for (let i = 0; i < n; i++) {
    if (i % 97 === 5) a[i] = 3e30 * (i % 2 ? 1 : -1);
    if (i % 89 === 7) a[i] = 1e-40;
  }
  return a;
}

Deno.test("the WebAssembly block kernels match the JavaScript ones bit for bit", () => {
  const wasm = layerKernels();
  if (wasm === null) return; // no SIMD: the JavaScript loops are all there is
  const rng = new Rng(34);
  for (const [outer, channels, inner] of WASM_SHAPES) {
    const blocks = outer * channels, n = blocks * inner;
    const shape = `(${outer}, ${channels}, ${inner})`;
    const x = awkwardArray(n, rng, 2), dout = awkwardArray(n, rng, 0);
    const perChannel = (f: (c: number) => number) =>
      Float64Array.from({ length: channels }, (_, c) => f(c));
    const mean = perChannel(() => rng.normal()), invStd = perChannel(() => 0.5 + rng.uniform());
    const gamma = perChannel(() => rng.normal()), beta = perChannel(() => rng.normal());
    const coef = perChannel(() => rng.normal() / n);
    const sumDout = perChannel(() => rng.normal()), sumDoutXHat = perChannel(() => rng.normal());
    // Sub-ranges exercise a first block that is not channel 0.
    for (const [b0, b1] of [[0, blocks], [Math.min(1, blocks - 1), blocks]]) {
      const what = (name: string) => `${name} ${shape} blocks [${b0}, ${b1})`;
      const sums = [new Float64Array(blocks), new Float64Array(blocks)];
      const sumsWasm = [new Float64Array(blocks), new Float64Array(blocks)];
      blockMomentsRange(x, inner, b0, b1, sums[0], sums[1]);
      blockMomentsRangeWasm(wasm, x, inner, b0, b1, sumsWasm[0], sumsWasm[1]);
      assertBitwise(sumsWasm[0], sums[0], what("sums"));
      assertBitwise(sumsWasm[1], sums[1], what("m2"));

      for (const keep of [false, true]) {
        const xHat = keep ? new Float32Array(n) : null, out = new Float32Array(n);
        const xHatWasm = keep ? new Float32Array(n) : null, outWasm = new Float32Array(n);
        normalizeBlocksRange(x, channels, inner, b0, b1, mean, invStd, gamma, beta, xHat, out);
        normalizeBlocksRangeWasm(
          wasm,
          x,
          channels,
          inner,
          b0,
          b1,
          mean,
          invStd,
          gamma,
          beta,
          xHatWasm,
          outWasm,
        );
        assertBitwise(outWasm, out, what(`out (keep ${keep})`));
        if (keep) assertBitwise(xHatWasm!, xHat!, what("xHat"));
      }

      for (const fromInput of [false, true]) {
        const m = fromInput ? mean : null;
        const g = [new Float64Array(blocks), new Float64Array(blocks)];
        const gWasm = [new Float64Array(blocks), new Float64Array(blocks)];
        if (fromInput) {
          blockGradientSumsFromInputRange(
            dout,
            x,
            channels,
            inner,
            b0,
            b1,
            mean,
            invStd,
            g[0],
            g[1],
          );
        } else {
          blockGradientSumsRange(dout, x, inner, b0, b1, g[0], g[1]);
        }
        blockGradientSumsRangeWasm(
          wasm,
          dout,
          x,
          m,
          invStd,
          channels,
          inner,
          b0,
          b1,
          gWasm[0],
          gWasm[1],
        );
        assertBitwise(gWasm[0], g[0], what(`sumDout (from input ${fromInput})`));
        assertBitwise(gWasm[1], g[1], what(`sumDoutXHat (from input ${fromInput})`));

        const dx = new Float32Array(n), dxWasm = new Float32Array(n);
        if (fromInput) {
          normBackwardFromInputBlocksRange(
            dout,
            x,
            channels,
            inner,
            b0,
            b1,
            n,
            mean,
            invStd,
            coef,
            sumDout,
            sumDoutXHat,
            dx,
          );
        } else {
          normBackwardBlocksRange(
            dout,
            x,
            channels,
            inner,
            b0,
            b1,
            n,
            coef,
            sumDout,
            sumDoutXHat,
            dx,
          );
        }
        normBackwardBlocksRangeWasm(
          wasm,
          dout,
          x,
          m,
          invStd,
          channels,
          inner,
          b0,
          b1,
          n,
          coef,
          sumDout,
          sumDoutXHat,
          dxWasm,
        );
        assertBitwise(dxWasm, dx, what(`dx (from input ${fromInput})`));
      }
    }
  }
});

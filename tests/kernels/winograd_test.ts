// Winograd convolution: the reference transforms against direct matrix products and the
// algorithm's identities; the WebAssembly transforms against the reference, bit for bit;
// whole convolutions (forward, dx, dw, db) against a float64 direct convolution and against
// im2col with an error bound derived from the transform matrices; thread-count
// independence; and the algorithm switch of conv.ts.
//
// ## The error bound
//
// Every quantity Winograd computes is a straight-line program of sums and products. For
// such a program, if no path from an input to an output goes through more than N float32
// roundings, the computed value differs from the exact one by at most γ_N = N·u/(1 − N·u)
// (u = 2⁻²⁴) times the same program run on the absolute values of every input and every
// constant (Higham, "Accuracy and Stability of Numerical Algorithms", §3). For one output
// y[a][b] of an m×m tile that is
//
//   |ŷ − y| ≤ γ_N · ( Σ_c Σ_{r,s,k,l} K[a][r][k]·K[b][s][l] · |g_c[r][s]| · |d_c[k][l]| + |bias| )
//
// with the one-dimensional amplification K[a][r][k] = Σ_i |Aᵀ[a][i]|·|G[i][r]|·|Bᵀ[i][k]|
// (the 2-d transforms are products of 1-d ones, so K factorises), g_c the 3×3 filter of
// channel c and d_c the α×α input tile. In exact arithmetic only the terms with
// k = a + r, l = b + s survive (Σ K·|g||d| is then Σ|g||x|, the direct method's
// magnitude); the others cancel, and the size of those cancelling terms is exactly how
// much Winograd amplifies rounding errors. N counts the roundings along the longest path:
// the input transform (two passes of at most t_B terms, a product and the sums: 2·t_B),
// the filter transform (one rounding: it is computed in float64), the GEMM's sum over the
// C channels (C + 1), the output transform (2·t_A) and the bias (1), where t_B and t_A are
// the most nonzeros in a row of Bᵀ and Aᵀ. The weight gradient is the same program with
// the roles of g and the output-gradient tile swapped: its amplification is the same K
// (K[a][r][k] read as "tap r from dout row a and input row k"), and its sum runs over every
// tile of the batch instead of the channels.
//
// The tests compute this bound for every output (or a sample of them on the large shapes)
// and require |Winograd − float64| ≤ bound. Against im2col the allowance is that bound plus
// im2col's own, γ_{9C+2}·(Σ|w||x| + |bias|).

import assert from "node:assert/strict";
import {
  convAlgorithmFor,
  getConvAlgorithm,
  setConvAlgorithm,
  winogradPays,
} from "../../lib/kernels/conv.ts";
import {
  F2,
  F4,
  filterGradientTransform,
  filterTransform,
  inputTileTransform,
  outputGradientTileTransform,
  outputTileTransform,
  winogradApplies,
  winogradBackwardData,
  winogradBackwardFilter,
  winogradChunkSize,
  winogradFilters,
  winogradForward,
  type WinogradMatrices,
  winogradPlan,
  type WinogradVariant,
  winogradVariantFor,
} from "../../lib/kernels/winograd.ts";
import { layerKernels } from "../../lib/kernels/wasm/layer_kernels.ts";
import { PANEL_COLUMNS } from "../../lib/kernels/wasm/winograd_module.ts";
import { wasmFeatures } from "../../lib/kernels/wasm/features.ts";
import { convGeometry } from "../../lib/layers/conv.ts";
import {
  convBackwardFast,
  convForwardFast,
  convParamGradsFast,
} from "../../lib/layers/conv_fast.ts";
import { getPool, setNumThreads } from "../../lib/parallel/worker_pool.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

const ignore = !wasmFeatures().simd;
const sanitizers = { sanitizeOps: true, sanitizeResources: true };

// One thread unless a test asks for more (and then it starts and stops the workers itself,
// under the resource sanitizer).
await setNumThreads(1);
const VARIANTS: [WinogradVariant, WinogradMatrices][] = [["F2x2", F2], ["F4x4", F4]];
const U32 = 2 ** -24;

function gamma(n: number): number {
  return (n * U32) / (1 - n * U32);
}

function randoms(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Equal values, with +0 and −0 counted equal (a sum may start from either). */
function assertSameValues(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** Row-major product of an r×k and a k×c matrix, float64. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number) {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * c + j];
      out[i * c + j] = s;
    }
  }
  return out;
}

function transpose(a: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

const flat = (rows: readonly (readonly number[])[]) => rows.flat();
const abs = (rows: readonly (readonly number[])[]) => rows.map((r) => r.map(Math.abs));
const maxNonzeros = (rows: readonly (readonly number[])[]) =>
  Math.max(...rows.map((r) => r.filter((v) => v !== 0).length));

/** X · M · Xᵀ in float64 for X (p × q), M (q × q). */
function sandwich(X: readonly (readonly number[])[], M: ArrayLike<number>): Float64Array {
  const p = X.length, q = X[0].length;
  return matmul(matmul(flat(X), M, p, q, q), transpose(flat(X), p, q), p, q, p);
}

// ------------------------------------------------------------------ reference transforms

Deno.test("reference transforms equal the direct matrix products", () => {
  const rng = new Rng(1);
  for (const [name, T] of VARIANTS) {
    const { m, alpha, BT, G, AT } = T;
    const A = AT[0].map((_, i) => AT.map((row) => row[i]));
    const GT = G[0].map((_, i) => G.map((row) => row[i]));
    for (let trial = 0; trial < 20; trial++) {
      const g = randoms(9, rng), d = randoms(alpha * alpha, rng), M = randoms(alpha * alpha, rng);
      const e = randoms(m * m, rng), D = randoms(alpha * alpha, rng);
      // U = G g Gᵀ (float64 both ways: only the summation order may differ).
      const U = filterTransform(g, T), U64 = sandwich(G, g);
      U.forEach((v, i) => assert.ok(Math.abs(v - U64[i]) <= 1e-14, `${name} U[${i}]`));
      // The rotated filter: g[2 − r][2 − s].
      const rotated = filterTransform(g, T, true), U64r = sandwich(G, [...g].reverse());
      rotated.forEach((v, i) => assert.ok(Math.abs(v - U64r[i]) <= 1e-14, `${name} rot U`));
      // Float32 transforms: within γ_{2t}·(|X| |input| |X|ᵀ) of the float64 product.
      const check = (
        got: ArrayLike<number>,
        X: readonly (readonly number[])[],
        input: ArrayLike<number>,
        what: string,
      ) => {
        const exact = sandwich(X, input);
        const magnitude = sandwich(abs(X), Array.from(input, Math.abs));
        const bound = gamma(2 * maxNonzeros(X));
        for (let i = 0; i < exact.length; i++) {
          const err = Math.abs(got[i] - exact[i]);
          assert.ok(err <= bound * magnitude[i], `${name} ${what}[${i}]: error ${err}`);
        }
      };
      check(inputTileTransform(d, T), BT, d, "V = Bᵀ d B");
      // Aᵀ M A with the bias: one more rounding, within the same γ since t_A < α.
      check(outputTileTransform(M, T), AT, M, "Y = Aᵀ M A");
      const biased = outputTileTransform(M, T, 0.75), plain = sandwich(AT, M);
      biased.forEach((v, i) => {
        const bound = gamma(2 * maxNonzeros(AT) + 1) * (sandwich(abs(AT), M.map(Math.abs))[i] + 1);
        assert.ok(Math.abs(v - (plain[i] + 0.75)) <= bound, `${name} bias`);
      });
      check(outputGradientTileTransform(e, T), A, e, "E = A e Aᵀ");
      const dw = filterGradientTransform(D, T), dw64 = sandwich(GT, D);
      dw.forEach((v, i) => assert.ok(Math.abs(v - dw64[i]) <= 1e-13, `${name} dw[${i}]`));
    }
  }
});

/** Direct correlation of an α×α tile with a 3×3 filter: the m×m outputs, float64. */
function correlate(d: ArrayLike<number>, g: ArrayLike<number>, m: number): Float64Array {
  const alpha = m + 2, y = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      for (let r = 0; r < 3; r++) {
        for (let s = 0; s < 3; s++) y[a * m + b] += d[(a + r) * alpha + b + s] * g[r * 3 + s];
      }
    }
  }
  return y;
}

Deno.test("the matrices compute a correlation: Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A and its dual for dw", () => {
  const rng = new Rng(2);
  for (const [name, T] of VARIANTS) {
    const { m, alpha, BT, G, AT } = T;
    const A = AT[0].map((_, i) => AT.map((row) => row[i]));
    const GT = G[0].map((_, i) => G.map((row) => row[i]));
    for (let trial = 0; trial < 20; trial++) {
      const d = Array.from({ length: alpha * alpha }, () => rng.normal());
      const g = Array.from({ length: 9 }, () => rng.normal());
      const e = Array.from({ length: m * m }, () => rng.normal());
      const V = sandwich(BT, d), U = sandwich(G, g);
      const y = sandwich(AT, U.map((u, i) => u * V[i]));
      const direct = correlate(d, g, m);
      y.forEach((v, i) => assert.ok(Math.abs(v - direct[i]) < 1e-11, `${name} y[${i}]`));
      // dw[r][s] = Σ_ab e[a][b]·d[a + r][b + s] = Gᵀ[(A e Aᵀ) ⊙ (Bᵀ d B)]G.
      const E = sandwich(A, e);
      const dw = sandwich(GT, E.map((v, i) => v * V[i]));
      for (let r = 0; r < 3; r++) {
        for (let s = 0; s < 3; s++) {
          let want = 0;
          for (let a = 0; a < m; a++) {
            for (let b = 0; b < m; b++) want += e[a * m + b] * d[(a + r) * alpha + b + s];
          }
          assert.ok(Math.abs(dw[r * 3 + s] - want) < 1e-11, `${name} dw[${r}][${s}]`);
        }
      }
    }
  }
});

Deno.test("winogradFilters lays out filterTransform per position, rotated for dx", () => {
  const rng = new Rng(3);
  const [F, C] = [5, 3];
  const w = randoms(F * C * 9, rng);
  for (const [variant, T] of VARIANTS) {
    for (const rotate of [false, true]) {
      const U = winogradFilters(w, F, C, variant, rotate);
      for (let fc = 0; fc < F * C; fc++) {
        const want = filterTransform(w.subarray(fc * 9, fc * 9 + 9), T, rotate);
        want.forEach((v, xi) => assert.equal(U[xi * F * C + fc], Math.fround(v)));
      }
    }
  }
});

// ------------------------------------------------------------------ WebAssembly transforms

Deno.test({
  name: "WebAssembly tile transforms reproduce the reference bit for bit",
  ignore,
  fn() {
    const k = layerKernels()!;
    const rng = new Rng(4);
    const [examples, channels, th, tw] = [2, 3, 3, 5]; // tw = 5: a partial group of four
    const tiles = th * tw, P = examples * tiles, ld = Math.ceil((P + 3) / 4) * 4;
    const tw4 = Math.ceil(tw / 4) * 4;
    for (const [name, T] of VARIANTS) {
      const { m, alpha } = T;
      const mark = k.gemm.mark();
      try {
        // The input transform (tiles α wide, step m) and the output-gradient one (m wide).
        for (
          const [kind, size, Hp, Wp] of [
            ["input", alpha, th * m + 2, tw4 * m + 4],
            ["dout", m, th * m, tw4 * m],
          ] as const
        ) {
          const planes = randoms(examples * channels * Hp * Wp, rng);
          const src = k.copyIn(planes);
          const dst = k.alloc("float32", alpha * alpha * channels * ld);
          const fn = k.exports[`wino${m}_${kind}` as "wino2_input"];
          fn(src, dst, examples, channels, Hp, Wp, th, tw, ld * 4, channels * ld * 4);
          const V = k.view("float32", dst, alpha * alpha * channels * ld);
          for (let n = 0; n < examples; n++) {
            for (let c = 0; c < channels; c++) {
              for (let ti = 0; ti < th; ti++) {
                for (let tj = 0; tj < tw; tj++) {
                  const tile = new Float32Array(size * size);
                  const plane = (n * channels + c) * Hp * Wp;
                  for (let r = 0; r < size; r++) {
                    for (let s = 0; s < size; s++) {
                      tile[r * size + s] = planes[plane + (ti * m + r) * Wp + tj * m + s];
                    }
                  }
                  const want = kind === "input"
                    ? inputTileTransform(tile, T)
                    : outputGradientTileTransform(tile, T);
                  const p = n * tiles + ti * tw + tj;
                  const got = want.map((_, xi) => V[(xi * channels + c) * ld + p]);
                  assertSameValues(got, want, `${name} ${kind} n${n} c${c} tile (${ti}, ${tj})`);
                }
              }
            }
          }
        }
        // The output transform, bias included.
        const filters = 3, OW = tw4 * m;
        const M = randoms(alpha * alpha * filters * ld, rng), bias = randoms(filters, rng);
        const src = k.copyIn(M), biasAt = k.copyIn(bias);
        const dst = k.alloc("float32", examples * filters * th * m * OW);
        const fn = m === 2 ? k.exports.wino2_output : k.exports.wino4_output;
        fn(src, dst, biasAt, filters, examples, th, tw, ld * 4, filters * ld * 4);
        const Y = k.view("float32", dst, examples * filters * th * m * OW);
        for (let n = 0; n < examples; n++) {
          for (let f = 0; f < filters; f++) {
            for (let p = 0; p < tiles; p++) {
              const [ti, tj] = [Math.floor(p / tw), p % tw];
              const tile = Float32Array.from(
                { length: alpha * alpha },
                (_, xi) => M[(xi * filters + f) * ld + n * tiles + p],
              );
              const want = outputTileTransform(tile, T, bias[f]);
              const got = want.map((_, q) => {
                const [i, j] = [Math.floor(q / m), q % m];
                return Y[((n * filters + f) * th * m + ti * m + i) * OW + tj * m + j];
              });
              assertSameValues(got, want, `${name} output n${n} f${f} tile (${ti}, ${tj})`);
            }
          }
        }
      } finally {
        k.gemm.release(mark);
      }
    }
  },
});

Deno.test({
  name: "the input transform into GEMM panels writes GemmInstance.pack's layout of V, bit for bit",
  ignore,
  fn() {
    const k = layerKernels()!;
    const rng = new Rng(14);
    const NR = PANEL_COLUMNS;
    // tw = 5 and 7: partial groups of four, and groups starting at every p mod 8, so both
    // the whole-vector stores and the split ones (p mod 8 ≥ 5) run.
    for (const [examples, channels, th, tw] of [[3, 3, 3, 5], [2, 5, 7, 7], [1, 2, 2, 8]]) {
      const tiles = th * tw, P = examples * tiles, ld = Math.ceil((P + 3) / 4) * 4;
      const panels = Math.ceil((P + 3) / NR), panelBytes = NR * channels * 4;
      const tw4 = Math.ceil(tw / 4) * 4;
      for (const [name, T] of VARIANTS) {
        const { m, alpha } = T;
        const Hp = th * m + 2, Wp = tw4 * m + 4;
        const mark = k.gemm.mark();
        try {
          const planes = randoms(examples * channels * Hp * Wp, rng);
          const src = k.copyIn(planes);
          const rowsAt = k.alloc("float32", alpha * alpha * channels * ld);
          const panelsAt = k.alloc("float32", alpha * alpha * panels * NR * channels);
          const packedAt = k.alloc("float32", panels * NR * channels);
          const rowsFn = m === 2 ? k.exports.wino2_input : k.exports.wino4_input;
          const panelsFn = m === 2 ? k.exports.wino2_inputPanels : k.exports.wino4_inputPanels;
          rowsFn(src, rowsAt, examples, channels, Hp, Wp, th, tw, ld * 4, channels * ld * 4);
          const xiBytes = panels * panelBytes;
          panelsFn(src, panelsAt, examples, channels, Hp, Wp, th, tw, panelBytes, xiBytes);
          for (let xi = 0; xi < alpha * alpha; xi++) {
            k.gemm.pack(
              "float32",
              "B",
              false,
              P,
              channels,
              rowsAt + xi * channels * ld * 4,
              ld,
              packedAt,
            );
            const want = k.view("float32", packedAt, panels * NR * channels);
            const got = k.view("float32", panelsAt + xi * xiBytes, panels * NR * channels);
            for (let p = 0; p < P; p++) {
              for (let c = 0; c < channels; c++) {
                const at = Math.floor(p / NR) * NR * channels + c * NR + (p % NR);
                if (got[at] !== want[at]) {
                  assert.fail(
                    `${name} tw ${tw} ξ ${xi} tile ${p} channel ${c}: ${got[at]}, expected ${
                      want[at]
                    }`,
                  );
                }
              }
            }
          }
          // And the values are the reference's: one tile per example and channel.
          const V = k.view("float32", panelsAt, alpha * alpha * panels * NR * channels);
          for (let n = 0; n < examples; n++) {
            for (let c = 0; c < channels; c++) {
              const [ti, tj] = [th - 1, tw - 1], p = n * tiles + ti * tw + tj;
              const tile = new Float32Array(alpha * alpha);
              const plane = (n * channels + c) * Hp * Wp;
              for (let r = 0; r < alpha; r++) {
                for (let q = 0; q < alpha; q++) {
                  tile[r * alpha + q] = planes[plane + (ti * m + r) * Wp + tj * m + q];
                }
              }
              const want = inputTileTransform(tile, T);
              const at = Math.floor(p / NR) * NR * channels + c * NR + (p % NR);
              const got = want.map((_, xi) => V[xi * panels * NR * channels + at]);
              assertSameValues(got, want, `${name} panels n${n} c${c} last tile`);
            }
          }
        } finally {
          k.gemm.release(mark);
        }
      }
    }
  },
});

Deno.test({
  name: "copyPlanes copies rows between strided planes",
  ignore,
  fn() {
    const k = layerKernels()!;
    const mark = k.gemm.mark();
    try {
      const [planes, rows, cols, srcW, dstW, dstH] = [3, 5, 7, 9, 12, 8];
      const src = Float32Array.from({ length: planes * rows * srcW }, (_, i) => i);
      const srcAt = k.copyIn(src), dstAt = k.alloc("float32", planes * dstH * dstW);
      k.view("float32", dstAt, planes * dstH * dstW).fill(-1);
      k.exports.copyPlanes(
        srcAt,
        dstAt,
        planes,
        rows,
        cols * 4,
        srcW * 4,
        rows * srcW * 4,
        dstW * 4,
        dstH * dstW * 4,
      );
      const dst = k.view("float32", dstAt, planes * dstH * dstW);
      for (let p = 0; p < planes; p++) {
        for (let r = 0; r < dstH; r++) {
          for (let c = 0; c < dstW; c++) {
            const want = r < rows && c < cols ? src[(p * rows + r) * srcW + c] : -1;
            assert.equal(dst[(p * dstH + r) * dstW + c], want, `plane ${p} (${r}, ${c})`);
          }
        }
      }
    } finally {
      k.gemm.release(mark);
    }
  },
});

// ------------------------------------------------------------------ whole convolutions

interface Shape {
  N: number;
  C: number;
  H: number;
  W: number;
  F: number;
  pad: number;
}

/** Many shapes: odd and even sizes, sizes no tile divides, pads 0–3, 1 to 400 channels. */
const SHAPES: Shape[] = [
  { N: 1, C: 1, H: 3, W: 3, F: 1, pad: 0 },
  { N: 2, C: 1, H: 5, W: 7, F: 2, pad: 1 },
  { N: 3, C: 3, H: 6, W: 6, F: 4, pad: 1 },
  { N: 2, C: 5, H: 9, W: 4, F: 3, pad: 0 },
  { N: 2, C: 4, H: 8, W: 8, F: 5, pad: 2 },
  { N: 2, C: 4, H: 7, W: 9, F: 3, pad: 3 },
  { N: 4, C: 8, H: 14, W: 14, F: 16, pad: 1 },
  { N: 3, C: 16, H: 11, W: 13, F: 8, pad: 1 },
  { N: 2, C: 7, H: 17, W: 10, F: 9, pad: 2 },
  { N: 1, C: 64, H: 6, W: 6, F: 70, pad: 1 },
  { N: 2, C: 70, H: 5, W: 10, F: 64, pad: 0 },
  { N: 2, C: 32, H: 16, W: 16, F: 32, pad: 1 },
  // More examples than one chunk holds.
  { N: 45, C: 8, H: 12, W: 12, F: 8, pad: 1 },
  // Channels (forward) and filters (dx) deeper than one GEMM slice (KC = 384): the general
  // GEMM instead of the packed panels.
  { N: 2, C: 400, H: 4, W: 5, F: 3, pad: 1 },
  { N: 2, C: 3, H: 5, W: 4, F: 390, pad: 1 },
];

interface Problem {
  x: Tensor;
  w: Tensor;
  b: Tensor;
  dout: Tensor;
  param: { stride: number; pad: number };
}

function problem(s: Shape, seed: number): Problem {
  const rng = new Rng(seed);
  const x = Tensor.randn([s.N, s.C, s.H, s.W], rng, "float32");
  const w = Tensor.randn([s.F, s.C, 3, 3], rng, "float32");
  const b = Tensor.randn([s.F], rng, "float32");
  const [Ho, Wo] = [s.H + 2 * s.pad - 2, s.W + 2 * s.pad - 2];
  const dout = Tensor.randn([s.N, s.F, Ho, Wo], rng, "float32");
  return { x, w, b, dout, param: { stride: 1, pad: s.pad } };
}

/**
 * A stride-1 3×3 correlation in float64 of `input (N, Cin, H, W)` with filters given by
 * `tap(o, i, r, s)`, plus, for each output, the Winograd bound of the module notes and
 * im2col's. `sample` limits the outputs checked (every `sample`-th one).
 */
function reference(
  input: Float32Array,
  [N, Cin, H, W]: number[],
  Cout: number,
  tap: (o: number, i: number, r: number, s: number) => number,
  bias: Float32Array | null,
  pad: number,
  T: WinogradMatrices,
  sample: number,
) {
  const { m, alpha } = T;
  const Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2;
  const K1 = oneDimAmplification(T);
  const N_w = 2 * maxNonzeros(T.BT) + 1 + (Cin + 1) + 2 * maxNonzeros(T.AT) + 1;
  const at = (n: number, c: number, i: number, j: number) =>
    i < 0 || j < 0 || i >= H || j >= W ? 0 : input[((n * Cin + c) * H + i) * W + j];
  const outputs: { index: number; exact: number; winograd: number; im2col: number }[] = [];
  let count = 0;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++) {
          if (count++ % sample !== 0) continue;
          const bo = bias === null ? 0 : bias[o];
          // The tile holding this output, and the output's place in it.
          const [a, bb] = [oh % m, ow % m];
          const [top, left] = [oh - a - pad, ow - bb - pad];
          let exact = bo, direct = Math.abs(bo), amplified = Math.abs(bo);
          for (let c = 0; c < Cin; c++) {
            for (let r = 0; r < 3; r++) {
              for (let s = 0; s < 3; s++) {
                const g = tap(o, c, r, s);
                const v = at(n, c, oh - pad + r, ow - pad + s);
                exact += g * v;
                direct += Math.abs(g * v);
                for (let k = 0; k < alpha; k++) {
                  const kr = K1[(a * 3 + r) * alpha + k];
                  if (kr === 0) continue;
                  for (let l = 0; l < alpha; l++) {
                    amplified += kr * K1[(bb * 3 + s) * alpha + l] *
                      Math.abs(g * at(n, c, top + k, left + l));
                  }
                }
              }
            }
          }
          outputs.push({
            index: ((n * Cout + o) * Ho + oh) * Wo + ow,
            exact,
            winograd: gamma(N_w) * amplified,
            im2col: gamma(9 * Cin + 2) * direct,
          });
        }
      }
    }
  }
  return outputs;
}

/** K[a][r][k] = Σ_i |Aᵀ[a][i]|·|G[i][r]|·|Bᵀ[i][k]|, flattened as [(a·3 + r)·α + k]. */
function oneDimAmplification(T: WinogradMatrices): Float64Array {
  const { m, alpha, AT, G, BT } = T;
  const K = new Float64Array(m * 3 * alpha);
  for (let a = 0; a < m; a++) {
    for (let r = 0; r < 3; r++) {
      for (let k = 0; k < alpha; k++) {
        let sum = 0;
        for (let i = 0; i < alpha; i++) sum += Math.abs(AT[a][i] * G[i][r] * BT[i][k]);
        K[(a * 3 + r) * alpha + k] = sum;
      }
    }
  }
  return K;
}

/** Checks `winograd` and `im2col` against the float64 reference outputs; returns the worst error/bound. */
function checkAgainst(
  outputs: ReturnType<typeof reference>,
  winograd: ArrayLike<number>,
  im2col: ArrayLike<number>,
  what: string,
): number {
  let worst = 0;
  for (const { index, exact, winograd: bound, im2col: bound2 } of outputs) {
    const err = Math.abs(winograd[index] - exact);
    // The float64 reference has its own rounding, far below these bounds: 1e-12 covers it.
    const slack = 1e-12 * (1 + Math.abs(exact));
    assert.ok(err <= bound + slack, `${what}: output ${index} off by ${err}, bound ${bound}`);
    assert.ok(
      Math.abs(winograd[index] - im2col[index]) <= bound + bound2 + slack,
      `${what}: output ${index} differs from im2col by more than both bounds`,
    );
    worst = Math.max(worst, err / (bound + slack));
  }
  return worst;
}

function shapeName(s: Shape): string {
  return `x(${s.N},${s.C},${s.H},${s.W}) w(${s.F},${s.C},3,3) pad ${s.pad}`;
}

/** Forward and dx of one shape by one variant, against float64 and im2col. */
function checkForwardAndDx(s: Shape, seed: number, variant: WinogradVariant, T: WinogradMatrices) {
  const { x, w, b, dout, param } = problem(s, seed);
  const g = convGeometry("test", x, w, b, param);
  const sample = Math.max(1, Math.floor((s.N * s.F * g.outH * g.outW) / 3000));
  setConvAlgorithm("im2col");
  const [viaIm2col, cache] = convForwardFast(x, w, b, param);
  const out = new Float32Array(viaIm2col.size);
  winogradForward(x.data, w.data, b.data, g, out, variant);
  const tap = (f: number, c: number, r: number, q: number) =>
    w.data[((f * s.C + c) * 3 + r) * 3 + q];
  const fwd = reference(
    x.data as Float32Array,
    x.shape,
    s.F,
    tap,
    b.data as Float32Array,
    s.pad,
    T,
    sample,
  );
  checkAgainst(fwd, out, viaIm2col.data, `${variant} forward`);
  if (s.pad > 2) {
    assert.equal(winogradApplies(g, "float32", "backwardData"), false);
    return;
  }
  const [dxIm2col] = convBackwardFast(dout, cache);
  const dx = new Float32Array(x.size);
  winogradBackwardData(dout.data, w.data, g, dx, variant);
  // dx = correlation of dout (pad 2 − pad) with rotated, channel-swapped filters.
  const rotated = (c: number, f: number, r: number, q: number) => tap(f, c, 2 - r, 2 - q);
  const back = reference(
    dout.data as Float32Array,
    dout.shape,
    s.C,
    rotated,
    null,
    2 - s.pad,
    T,
    sample,
  );
  checkAgainst(back, dx, dxIm2col.data, `${variant} dx`);
}

/** dw and db of one shape by one variant, against float64 and im2col. */
function checkFilterGradient(
  s: Shape,
  seed: number,
  variant: WinogradVariant,
  T: WinogradMatrices,
) {
  const { x, w, b, dout, param } = problem(s, seed);
  const g = convGeometry("test", x, w, b, param);
  setConvAlgorithm("im2col");
  const [, cache] = convForwardFast(x, w, b, param);
  const [dwIm2col, dbIm2col] = convParamGradsFast(dout, cache);
  const dw = new Float32Array(w.size), db = new Float32Array(s.F);
  winogradBackwardFilter(dout.data, x.data, g, dw, db, variant);
  const { m, alpha } = T;
  const K1 = oneDimAmplification(T);
  const th = Math.ceil(g.outH / m), tw = Math.ceil(g.outW / m);
  // Longest rounding path: both tile transforms, the sum over every tile of the
  // batch (an upper bound on those of one slot), the float32 partial, the last
  // transform's rounding.
  const N_dw = 2 * maxNonzeros(T.BT) + 2 * maxNonzeros(T.AT) + s.N * th * tw + 2;
  const xAt = (n: number, c: number, i: number, j: number) =>
    i < 0 || j < 0 || i >= s.H || j >= s.W ? 0 : x.data[((n * s.C + c) * s.H + i) * s.W + j];
  const eAt = (n: number, f: number, i: number, j: number) =>
    i >= g.outH || j >= g.outW ? 0 : dout.data[((n * s.F + f) * g.outH + i) * g.outW + j];
  let worst = 0;
  const step = Math.max(1, Math.floor((s.F * s.C) / 40));
  for (let fc = 0; fc < s.F * s.C; fc += step) {
    const [f, c] = [Math.floor(fc / s.C), fc % s.C];
    for (let r = 0; r < 3; r++) {
      for (let q = 0; q < 3; q++) {
        let exact = 0, direct = 0, amplified = 0;
        for (let n = 0; n < s.N; n++) {
          for (let oh = 0; oh < g.outH; oh++) {
            for (let ow = 0; ow < g.outW; ow++) {
              const v = eAt(n, f, oh, ow) * xAt(n, c, oh - s.pad + r, ow - s.pad + q);
              exact += v;
              direct += Math.abs(v);
            }
          }
          for (let ti = 0; ti < th; ti++) {
            for (let tj = 0; tj < tw; tj++) {
              for (let a = 0; a < m; a++) {
                for (let bb = 0; bb < m; bb++) {
                  const e = Math.abs(eAt(n, f, ti * m + a, tj * m + bb));
                  if (e === 0) continue;
                  for (let k = 0; k < alpha; k++) {
                    const kr = K1[(a * 3 + r) * alpha + k];
                    if (kr === 0) continue;
                    for (let l = 0; l < alpha; l++) {
                      amplified += e * kr * K1[(bb * 3 + q) * alpha + l] *
                        Math.abs(xAt(n, c, ti * m + k - s.pad, tj * m + l - s.pad));
                    }
                  }
                }
              }
            }
          }
        }
        const index = fc * 9 + r * 3 + q;
        const bound = gamma(N_dw) * amplified + 1e-12 * (1 + Math.abs(exact));
        const err = Math.abs(dw[index] - exact);
        assert.ok(err <= bound, `${variant} dw[${index}] off by ${err}, bound ${bound}`);
        const bound2 = gamma(s.N * g.outH * g.outW + 2) * direct;
        assert.ok(Math.abs(dw[index] - dwIm2col.data[index]) <= bound + bound2);
        worst = Math.max(worst, err / bound);
      }
    }
  }
  // db sums the float32 tile sums E[1][1] (2·t_A roundings each) in float64.
  for (let f = 0; f < s.F; f++) {
    let exact = 0, magnitude = 0;
    for (let n = 0; n < s.N; n++) {
      for (let p = 0; p < g.outH * g.outW; p++) {
        const v = dout.data[(n * s.F + f) * g.outH * g.outW + p];
        exact += v;
        magnitude += Math.abs(v);
      }
    }
    const bound = gamma(2 * maxNonzeros(T.AT) + 1) * magnitude + 1e-12;
    assert.ok(Math.abs(db[f] - exact) <= bound, `${variant} db[${f}]`);
    assert.ok(Math.abs(db[f] - dbIm2col.data[f]) <= 2 * bound);
  }
  assert.ok(worst <= 1);
}

Deno.test({
  name: "Winograd forward and dx match float64 and im2col within the derived bound",
  ignore,
  fn: async (t) => {
    try {
      for (const [variant, T] of VARIANTS) {
        for (const [i, s] of SHAPES.entries()) {
          await t.step(
            `${variant} ${shapeName(s)}`,
            () => checkForwardAndDx(s, 10 + i, variant, T),
          );
        }
      }
    } finally {
      setConvAlgorithm("auto");
    }
  },
});

Deno.test({
  name: "Winograd dw and db match float64 and im2col within the derived bound",
  ignore,
  fn: async (t) => {
    try {
      for (const [variant, T] of VARIANTS) {
        for (const [i, s] of SHAPES.entries()) {
          await t.step(
            `${variant} ${shapeName(s)}`,
            () => checkFilterGradient(s, 30 + i, variant, T),
          );
        }
      }
    } finally {
      setConvAlgorithm("auto");
    }
  },
});

Deno.test({
  name: "random shapes: every pass within the derived bound",
  ignore,
  fn() {
    // Sizes drawn at random (pads 0–3, maps from 1 pixel, batches past a chunk), each with
    // a random variant: the kind of sweep that once found a stale-chunk bug in im2col.
    const rng = new Rng(70);
    const pick = (lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo + 1));
    try {
      for (let trial = 0; trial < 24; trial++) {
        const pad = pick(0, 3);
        const least = Math.max(1, 3 - 2 * pad);
        const s: Shape = {
          N: pick(1, 20),
          C: pick(1, 12),
          H: pick(least, 19),
          W: pick(least, 19),
          F: pick(1, 12),
          pad,
        };
        const [variant, T] = VARIANTS[trial % 2];
        checkForwardAndDx(s, 100 + trial, variant, T);
        checkFilterGradient(s, 200 + trial, variant, T);
      }
    } finally {
      setConvAlgorithm("auto");
    }
  },
});

// ------------------------------------------------------------------ threads and the switch

Deno.test({
  name: "Winograd through the layers is bitwise identical on 1 and 2 threads",
  ignore,
  ...sanitizers,
  fn: async () => {
    const s: Shape = { N: 50, C: 32, H: 14, W: 14, F: 32, pad: 1 };
    const { x, w, b, dout, param } = problem(s, 50);
    const g = convGeometry("test", x, w, b, param);
    for (const variant of ["F2x2", "F4x4"] as const) {
      const plan = winogradPlan(g, variant, false);
      assert.ok(s.N > 2 * winogradChunkSize(plan), "several chunks, so the pool splits them");
    }
    const run = () => {
      const [out, cache] = convForwardFast(x, w, b, param);
      const [dx, dw, db] = convBackwardFast(dout, cache);
      return [out, dx, dw, db].map((t) => t.data);
    };
    try {
      setConvAlgorithm("winograd");
      await setNumThreads(1);
      const single = run();
      await setNumThreads(2);
      assert.equal(getPool().activeThreads, 2);
      const multi = run();
      ["out", "dx", "dw", "db"].forEach((name, i) => {
        assert.ok(multi[i].every((v, j) => Object.is(v, single[i][j])), `${name} differs`);
      });
      // And Winograd really ran: im2col gives other roundings.
      setConvAlgorithm("im2col");
      const im2col = run();
      assert.ok(!im2col[0].every((v, j) => v === single[0][j]));
    } finally {
      setConvAlgorithm("auto");
      await setNumThreads(1);
    }
  },
});

Deno.test({
  name: "convBackwardFast's dx through Winograd matches im2col within the bound",
  ignore,
  fn() {
    const s: Shape = { N: 6, C: 16, H: 10, W: 10, F: 24, pad: 1 };
    const { x, w, b, dout, param } = problem(s, 60);
    try {
      setConvAlgorithm("im2col");
      const [, cache] = convForwardFast(x, w, b, param);
      const [dxIm2col] = convBackwardFast(dout, cache);
      setConvAlgorithm("winograd");
      const [dx] = convBackwardFast(dout, cache);
      const g = convGeometry("test", x, w, b, param);
      const T = winogradVariantFor(g) === "F2x2" ? F2 : F4;
      const tap = (f: number, c: number, r: number, q: number) =>
        w.data[((f * s.C + c) * 3 + r) * 3 + q];
      const rotated = (c: number, f: number, r: number, q: number) => tap(f, c, 2 - r, 2 - q);
      const outputs = reference(
        dout.data as Float32Array,
        dout.shape,
        s.C,
        rotated,
        null,
        2 - s.pad,
        T,
        1,
      );
      checkAgainst(outputs, dx.data, dxIm2col.data, "convBackwardFast dx");
      assert.ok(!dx.data.every((v, i) => v === dxIm2col.data[i]), "Winograd ran");
    } finally {
      setConvAlgorithm("auto");
    }
  },
});

Deno.test("convAlgorithmFor: Winograd where it applies and pays, im2col elsewhere", () => {
  const base = {
    batch: 64,
    channels: 32,
    height: 14,
    width: 14,
    filters: 64,
    groups: 1,
    kernelH: 3,
    kernelW: 3,
    stride: 1,
    pad: 1,
    dilation: 1,
    outH: 14,
    outW: 14,
  };
  try {
    setConvAlgorithm("auto");
    const simd = !ignore;
    const wino = simd ? "winograd" : "im2col";
    assert.equal(convAlgorithmFor(base, "float32"), wino);
    assert.equal(convAlgorithmFor(base, "float32", "backwardData"), wino);
    assert.equal(convAlgorithmFor(base, "float32", "backwardFilter"), wino);
    assert.equal(convAlgorithmFor(base, "float64"), "im2col");
    assert.equal(convAlgorithmFor({ ...base, stride: 2, outH: 7, outW: 7 }, "float32"), "im2col");
    assert.equal(
      convAlgorithmFor({ ...base, dilation: 2, outH: 12, outW: 12 }, "float32"),
      "im2col",
    );
    assert.equal(convAlgorithmFor({ ...base, groups: 2 }, "float32"), "im2col");
    const fiveByFive = { ...base, kernelH: 5, kernelW: 5, pad: 2 };
    assert.equal(convAlgorithmFor(fiveByFive, "float32"), "im2col");
    // Pad 3: the forward pass is Winograd, dx (a negative pad) stays on im2col.
    const pad3 = { ...base, pad: 3, outH: 18, outW: 18 };
    assert.equal(convAlgorithmFor(pad3, "float32"), wino);
    assert.equal(convAlgorithmFor(pad3, "float32", "backwardData"), "im2col");
    // Too few channels (measured slower), or tiles mostly outside a 1×1 map. (With 3
    // channels the reduction is short enough for the direct kernels, except for dx.)
    assert.equal(winogradPays({ ...base, channels: 3 }), false);
    assert.equal(convAlgorithmFor({ ...base, channels: 3 }, "float32"), simd ? "direct" : "im2col");
    assert.equal(convAlgorithmFor({ ...base, channels: 3 }, "float32", "backwardData"), "im2col");
    const tiny = { ...base, height: 1, width: 1, outH: 1, outW: 1 };
    assert.equal(convAlgorithmFor(tiny, "float32"), "im2col");
    // Forcing: "winograd" wherever it applies, "im2col" everywhere.
    setConvAlgorithm("winograd");
    assert.equal(getConvAlgorithm(), "winograd");
    assert.equal(convAlgorithmFor({ ...base, channels: 3 }, "float32"), wino);
    assert.equal(convAlgorithmFor(base, "float64"), "im2col");
    setConvAlgorithm("im2col");
    assert.equal(convAlgorithmFor(base, "float32"), "im2col");
    // The variant: F(4×4) when its tiles fit the map closely enough, else F(2×2).
    assert.equal(winogradVariantFor(base), "F4x4"); // 14×14: 16×16 computed, 1.31×
    assert.equal(winogradVariantFor({ ...base, outH: 7, outW: 7 }), "F4x4"); // 8×8
    assert.equal(winogradVariantFor({ ...base, outH: 32, outW: 32 }), "F4x4");
    assert.equal(winogradVariantFor({ ...base, outH: 10, outW: 10 }), "F2x2"); // 12×12: 1.44×
    assert.equal(winogradVariantFor({ ...base, outH: 6, outW: 6 }), "F2x2"); // 8×8: 1.78×
    assert.equal(winogradVariantFor({ ...base, outH: 14, outW: 10 }), "F2x2"); // 1.37×
  } finally {
    setConvAlgorithm("auto");
  }
});

Deno.test("setConvAlgorithm rejects unknown algorithms, naming the argument and the value", () => {
  for (const bad of ["fft", "", "Winograd", 3, null, undefined]) {
    assert.throws(
      () => setConvAlgorithm(bad as never),
      (e: Error) =>
        e.message.startsWith("setConvAlgorithm: algorithm must be ") &&
        e.message.includes(`"auto", "im2col", "winograd" or "direct"`) &&
        e.message.endsWith(`got ${typeof bad === "string" ? JSON.stringify(bad) : String(bad)}`),
    );
  }
  assert.equal(getConvAlgorithm(), "auto");
});

Deno.test({
  name: "winogradForward refuses geometries it cannot compute",
  ignore,
  fn() {
    const g = {
      batch: 1,
      channels: 1,
      height: 5,
      width: 5,
      filters: 1,
      groups: 1,
      kernelH: 3,
      kernelW: 3,
      stride: 2,
      pad: 1,
      dilation: 1,
      outH: 3,
      outW: 3,
    };
    assert.throws(
      () =>
        winogradForward(new Float32Array(25), new Float32Array(9), null, g, new Float32Array(9)),
      /winogradForward: Winograd needs float32, a 3×3 filter, stride 1.*got float32, 3×3, stride 2/,
    );
    const pad3 = { ...g, stride: 1, pad: 3, outH: 9, outW: 9 };
    assert.throws(
      () =>
        winogradBackwardData(new Float32Array(81), new Float32Array(9), pad3, new Float32Array(25)),
      /winogradBackwardData: .*pad ≤ 2.*pad 3/,
    );
  },
});

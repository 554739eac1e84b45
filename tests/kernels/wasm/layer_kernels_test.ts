// The WebAssembly kernels besides GEMM, each against the JavaScript kernel it replaces:
// im2col/col2im, 2×2 max pooling, ReLU and its mask, Adam, and the block swap.
import assert from "node:assert/strict";
import { STREAM_CHUNK } from "../../../lib/kernels/_stream.ts";
import { col2im, im2col, type WindowGeometry } from "../../../lib/kernels/im2col.ts";
import { relu, reluJs, reluMask, reluMaskJs } from "../../../lib/kernels/elementwise.ts";
import { adamKernel } from "../../../lib/kernels/optim_kernels.ts";
import {
  maxPoolIm2colRange,
  maxPoolScatterRange,
  maxPoolTiledRange,
} from "../../../lib/kernels/pooling.ts";
import { layerKernels } from "../../../lib/kernels/wasm/layer_kernels.ts";
import { wasmFeatures } from "../../../lib/kernels/wasm/features.ts";
import { im2colBounds } from "../../../lib/kernels/wasm/im2col_module.ts";
import { Rng } from "../../../lib/rng.ts";
import type { DType, FloatArray } from "../../../lib/storage.ts";

const ignore = !wasmFeatures().simd;
const DTYPES = ["float32", "float64"] as const;

function randomArray(dtype: DType, n: number, rng: Rng): FloatArray {
  const a = dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Bitwise equality, NaN payloads aside (engines may canonicalise them). */
function assertSameValues(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const same = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!same) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

function geometry(
  C: number,
  H: number,
  W: number,
  K: [number, number],
  stride: number,
  pad: number,
  dilation: number,
): WindowGeometry {
  const out = (size: number, k: number) =>
    Math.floor((size + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
  return {
    channels: C,
    height: H,
    width: W,
    kernelH: K[0],
    kernelW: K[1],
    stride,
    pad,
    dilation,
    outH: out(H, K[0]),
    outW: out(W, K[1]),
  };
}

Deno.test({
  name: "WebAssembly im2col equals the JavaScript one; col2im agrees to rounding",
  ignore,
  fn: async (t) => {
    const k = layerKernels()!;
    const rng = new Rng(1);
    // Strides 1–3, padding wider than the kernel reach, dilation, rectangular kernels,
    // 1×1 kernels, widths that leave vector remainders, a channel sub-range (groups).
    const cases: [string, number, WindowGeometry][] = [
      ["3×3 s1 p1", 2, geometry(3, 7, 9, [3, 3], 1, 1, 1)],
      ["3×2 s2 p1", 3, geometry(2, 8, 8, [3, 2], 2, 1, 1)],
      ["3×3 s1 p2 d2", 2, geometry(2, 9, 10, [3, 3], 1, 2, 2)],
      ["7×7 s1 p3 (the CNN)", 1, geometry(1, 28, 28, [7, 7], 1, 3, 1)],
      ["1×1", 2, geometry(4, 5, 5, [1, 1], 1, 0, 1)],
      ["3×3 s3 p2", 1, geometry(2, 5, 6, [3, 3], 3, 2, 1)],
    ];
    for (const dtype of DTYPES) {
      for (const [name, N, g] of cases) {
        await t.step(`${name} ${dtype}`, () => {
          const x = randomArray(dtype, N * g.channels * g.height * g.width, rng);
          for (const [c0, c1] of [[0, g.channels], [g.channels > 1 ? 1 : 0, g.channels]]) {
            const rows = (c1 - c0) * g.kernelH * g.kernelW, cols = N * g.outH * g.outW;
            const expected = dtype === "float32"
              ? new Float32Array(rows * cols)
              : new Float64Array(rows * cols);
            im2col(x, g, 0, N, c0, c1, expected);
            const mark = k.gemm.mark();
            try {
              const xAt = k.copyIn(x);
              const colsAt = k.alloc(dtype, rows * cols);
              const table = im2colBounds(g);
              const boundsAt = k.alloc("float32", table.length);
              new Int32Array(k.gemm.memory.buffer, boundsAt, table.length).set(table);
              k.view(dtype, colsAt, rows * cols).fill(NaN); // every entry must be written
              const ex = k.exports;
              const [walk, back] = dtype === "float32"
                ? [ex.f32_im2col, ex.f32_col2im]
                : [ex.f64_im2col, ex.f64_col2im];
              const args = [g.height, g.width, g.kernelH, g.kernelW, g.stride, g.outH, g.outW];
              walk(
                xAt,
                colsAt,
                boundsAt,
                N,
                g.channels,
                c0,
                c1,
                ...args as [
                  number,
                  number,
                  number,
                  number,
                  number,
                  number,
                  number,
                ],
              );
              assertSameValues(k.view(dtype, colsAt, rows * cols), expected, "im2col");

              const dcols = randomArray(dtype, rows * cols, rng);
              const dxExpected = dtype === "float32"
                ? new Float32Array(x.length)
                : new Float64Array(x.length);
              col2im(dcols, g, 0, N, c0, c1, dxExpected);
              k.view(dtype, colsAt, rows * cols).set(dcols);
              k.view(dtype, xAt, x.length).fill(0);
              back(
                xAt,
                colsAt,
                boundsAt,
                N,
                g.channels,
                c0,
                c1,
                ...args as [
                  number,
                  number,
                  number,
                  number,
                  number,
                  number,
                  number,
                ],
              );
              const dx = k.view(dtype, xAt, x.length);
              // Sums of at most KH·KW terms in another order: a few roundings apart.
              const tol = dtype === "float32" ? 1e-5 : 1e-13;
              for (let i = 0; i < dx.length; i++) {
                const scale = 1 + Math.abs(dxExpected[i]);
                assert.ok(Math.abs(dx[i] - dxExpected[i]) <= tol * scale, `dx[${i}]`);
              }
            } finally {
              k.gemm.release(mark);
            }
          }
        });
      }
    }
  },
});

Deno.test({
  name: "2×2 max pooling in WebAssembly equals the JavaScript kernels, NaN and ties included",
  ignore,
  fn: async (t) => {
    const rng = new Rng(2);
    // Output widths below, at and above a vector (4 float32 / 2 float64 lanes), and ones
    // that leave a remainder (the overlapping last vector step).
    const shapes: [number, number, number][] = [
      [3, 4, 5],
      [2, 14, 14],
      [1, 1, 1],
      [2, 3, 2],
      [4, 2, 9],
      [1, 3, 3],
    ];
    for (const dtype of DTYPES) {
      for (const [planes, outH, outW] of shapes) {
        await t.step(`${planes}×${2 * outH}×${2 * outW} ${dtype}`, () => {
          const H = 2 * outH, W = 2 * outW, n = planes * H * W, m = planes * outH * outW;
          const x = randomArray(dtype, n, rng);
          // Many ties (values on a coarse grid), a NaN, an all-NaN window, −∞, −0.
          for (let i = 0; i < n; i++) x[i] = Math.round(x[i] * 2) / 2;
          x[3 % n] = NaN;
          x[n - 1] = -Infinity;
          if (n > 12) x.set([NaN, NaN, NaN, NaN], 8);
          x[0] = -0;
          const g = geometry(1, H, W, [2, 2], 2, 0, 1);
          // The reference: the im2col strategy, which never takes the WebAssembly path.
          const out = dtype === "float32" ? new Float32Array(m) : new Float64Array(m);
          const argmax = new Uint16Array(m);
          maxPoolIm2colRange(x, g, 0, planes, out, argmax);
          const out2 = out.slice().fill(7), argmax2 = new Uint16Array(m).fill(9);
          maxPoolTiledRange(x, g, 0, planes, out2, argmax2);
          assertSameValues(out2, out, "out");
          assert.deepEqual(argmax2, argmax);

          const dout = randomArray(dtype, m, rng);
          dout[0] = -0;
          // The reference: dx = 0, then dout added at each window's argmax tap.
          const dx = x.slice().fill(0);
          for (let p = 0, o = 0; p < planes; p++) {
            for (let i = 0; i < outH; i++) {
              for (let j = 0; j < outW; j++, o++) {
                const tap = argmax[o];
                dx[p * H * W + (2 * i + (tap >> 1)) * W + 2 * j + (tap & 1)] += dout[o];
              }
            }
          }
          const dx2 = x.slice().fill(NaN);
          maxPoolScatterRange(dout, argmax, g, 0, planes, dx2);
          assertSameValues(dx2, dx, "dx");
        });
      }
    }
  },
});

Deno.test("maxPoolScatterRange rejects an argmax that names no tap of the window", () => {
  const g = geometry(1, 2, 4, [2, 2], 2, 0, 1);
  assert.throws(
    () =>
      maxPoolScatterRange(
        new Float32Array(2),
        new Uint16Array([1, 4]),
        g,
        0,
        1,
        new Float32Array(8),
      ),
    /maxPoolScatterRange: argmax\[1\] = 4 is not a tap of a 2×2 window/,
  );
});

Deno.test("relu and reluMask (WebAssembly for long arrays) equal the JavaScript loops", () => {
  const rng = new Rng(3);
  const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45, 5e-324];
  for (const dtype of DTYPES) {
    // Below and above the WebAssembly threshold, with chunk and vector remainders.
    for (const n of [7, 300, STREAM_CHUNK * 2 + 3]) {
      const x = randomArray(dtype, n, rng);
      const dout = randomArray(dtype, n, rng);
      // At the start (vector steps) and at the end (scalar remainder) of the array.
      x.set(specials.slice(0, Math.min(n, 8)));
      dout.set([...specials].reverse().slice(0, Math.min(n, 8)));
      if (n >= 16) {
        x.set(specials, n - 8);
        dout.set(specials, n - 8);
      }
      const want = x.slice(), got = x.slice().fill(7);
      reluJs(x, want);
      relu(x, got);
      assertSameValues(got, want, `relu ${dtype} n=${n}`);
      const maskWant = x.slice(), maskGot = x.slice().fill(7);
      reluMaskJs(dout, x, maskWant);
      reluMask(dout, x, maskGot);
      assertSameValues(maskGot, maskWant, `reluMask ${dtype} n=${n}`);
    }
  }
});

Deno.test("adamKernel computes mixed storage (float32 weights, float64 gradient) in float64", () => {
  const rng = new Rng(10);
  const n = 600;
  const w = randomArray("float32", n, rng), dw = randomArray("float64", n, rng);
  const m = randomArray("float32", n, rng), v = randomArray("float32", n, rng).map(Math.abs);
  const outs = [w, m, v].map((a) => a.slice().fill(NaN));
  adamKernel(w, dw, m, v, 1e-3, 0.9, 0.999, 1e-8, 3, outs[0], outs[1], outs[2]);
  const [inv1, inv2] = [1 / (1 - 0.9 ** 3), 1 / (1 - 0.999 ** 3)];
  for (let i = 0; i < n; i++) {
    const g = dw[i];
    const mi = 0.9 * m[i] + (1 - 0.9) * g, vi = 0.999 * v[i] + (1 - 0.999) * (g * g);
    const wi = w[i] - (1e-3 * (mi * inv1)) / (Math.sqrt(vi * inv2) + 1e-8);
    const want = [wi, mi, vi].map(Math.fround);
    assert.deepEqual([outs[0][i], outs[1][i], outs[2][i]], want, `element ${i}`);
  }
});

Deno.test("relu keeps a NaN's sign and payload in WebAssembly as in JavaScript, vectors and tail", () => {
  for (const dtype of DTYPES) {
    // Whole vectors and a scalar tail of 3 (float32) or 1 (float64) elements.
    const n = 263;
    const x = dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (i % 5) - 2;
    // NaNs of both signs with payloads, in the vector body and in the tail, and a −0.
    const nan = (negative: boolean, payload: number) => {
      if (dtype === "float32") {
        return new Float32Array(
          new Uint32Array([(negative ? 0xffc00000 : 0x7fc00000) | payload]).buffer,
        )[0];
      }
      const bits = new BigUint64Array([
        (negative ? 0xfff8000000000000n : 0x7ff8000000000000n) | BigInt(payload),
      ]);
      return new Float64Array(bits.buffer)[0];
    };
    for (
      const [at, value] of [[3, nan(true, 5)], [n - 1, nan(false, 1)], [n - 2, nan(true, 2)], [
        n - 3,
        -0,
      ]] as const
    ) {
      x[at] = value;
    }
    const wasm = x.slice().fill(7), js = x.slice().fill(7);
    relu(x, wasm);
    reluJs(x, js);
    const bits = (a: Float32Array | Float64Array) =>
      a instanceof Float32Array ? new Uint32Array(a.buffer) : new BigUint64Array(a.buffer);
    assert.deepEqual(bits(wasm), bits(js), dtype);
    assert.ok(Number.isNaN(wasm[n - 2]) && Object.is(wasm[n - 3], 0), dtype);
  }
});

Deno.test("adamKernel gives bitwise the same update in WebAssembly and JavaScript", () => {
  const rng = new Rng(4);
  for (const dtype of DTYPES) {
    const n = STREAM_CHUNK * 2 + 1; // odd, and more than two chunks of the streaming loop
    const w = randomArray(dtype, n, rng), dw = randomArray(dtype, n, rng);
    const m = randomArray(dtype, n, rng), v = randomArray(dtype, n, rng).map(Math.abs);
    const run = (len: number) => {
      const outs = [w, m, v].map((a) => a.slice(0, len).fill(NaN));
      adamKernel(
        w.subarray(0, len),
        dw.subarray(0, len),
        m.subarray(0, len),
        v.subarray(0, len),
        1e-3,
        0.9,
        0.999,
        1e-8,
        7,
        outs[0],
        outs[1],
        outs[2],
      );
      return outs;
    };
    const wasm = run(n);
    // Below the WebAssembly threshold the JavaScript loop runs: compare element by element
    // over windows of the same data.
    for (let start = 0; start < n; start += 97) {
      const len = Math.min(97, n - start);
      const js = (() => {
        const outs = [w, m, v].map((a) => a.slice(start, start + len).fill(NaN));
        adamKernel(
          w.subarray(start, start + len),
          dw.subarray(start, start + len),
          m.subarray(start, start + len),
          v.subarray(start, start + len),
          1e-3,
          0.9,
          0.999,
          1e-8,
          7,
          outs[0],
          outs[1],
          outs[2],
        );
        return outs;
      })();
      for (let k = 0; k < 3; k++) {
        assertSameValues(wasm[k].subarray(start, start + len), js[k], `${dtype} output ${k}`);
      }
    }
  }
});

Deno.test("adamKernel computes float32 arrays in float32 arithmetic, operation by operation", () => {
  const rng = new Rng(9);
  // 1,003 elements take the WebAssembly loop (four lanes and a remainder), 37 the JavaScript one.
  for (const n of [1003, 37]) {
    const w = randomArray("float32", n, rng), dw = randomArray("float32", n, rng);
    const m = randomArray("float32", n, rng), v = randomArray("float32", n, rng).map(Math.abs);
    const [lr, beta1, beta2, eps, t] = [3e-3, 0.85, 0.995, 1e-7, 4];
    const outs = [w, m, v].map((a) => a.slice().fill(NaN));
    adamKernel(w, dw, m, v, lr, beta1, beta2, eps, t, outs[0], outs[1], outs[2]);
    // The reference: each operation rounded to float32, constants rounded first.
    const f = Math.fround;
    const [fLr, fB1, fB2, fEps] = [f(lr), f(beta1), f(beta2), f(eps)];
    const [fOne1, fOne2] = [f(1 - beta1), f(1 - beta2)];
    const [fInv1, fInv2] = [f(1 / (1 - beta1 ** t)), f(1 / (1 - beta2 ** t))];
    let differsFromDouble = 0;
    for (let i = 0; i < n; i++) {
      const g = dw[i];
      const mi = f(f(fB1 * m[i]) + f(fOne1 * g));
      const vi = f(f(fB2 * v[i]) + f(fOne2 * f(g * g)));
      const wi = f(w[i] - f(f(fLr * f(mi * fInv1)) / f(f(Math.sqrt(f(vi * fInv2))) + fEps)));
      assert.ok(Object.is(outs[1][i], mi) && Object.is(outs[2][i], vi), `n=${n} m, v [${i}]`);
      assert.ok(Object.is(outs[0][i], wi), `n=${n} w[${i}]: got ${outs[0][i]}, want ${wi}`);
      // The same formula in double precision, rounded once, differs somewhere: the test
      // tells the two apart.
      const mD = beta1 * m[i] + (1 - beta1) * g, vD = beta2 * v[i] + (1 - beta2) * g * g;
      const wD = w[i] - (lr * (mD / (1 - beta1 ** t))) / (Math.sqrt(vD / (1 - beta2 ** t)) + eps);
      if (f(wD) !== wi || f(mD) !== mi || f(vD) !== vi) differsFromDouble++;
    }
    assert.ok(differsFromDouble > 0, `n=${n}: no element tells float32 from float64 arithmetic`);
  }
});

Deno.test({
  name: "swapBlocks transposes a grid of blocks",
  ignore,
  fn: () => {
    const k = layerKernels()!;
    const mark = k.gemm.mark();
    try {
      // A 2×3 grid of 2-element blocks: block (i, j) holds [10i + j, −(10i + j)].
      const src = new Float32Array(12);
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) src.set([10 * i + j, -(10 * i + j)], (i * 3 + j) * 2);
      }
      const at = k.copyIn(src), to = k.alloc("float32", 12);
      k.exports.swapBlocks(at, to, 2, 3, 8);
      assert.deepEqual(
        [...k.view("float32", to, 12)],
        [0, -0, 10, -10, 1, -1, 11, -11, 2, -2, 12, -12],
      );
    } finally {
      k.gemm.release(mark);
    }
  },
});

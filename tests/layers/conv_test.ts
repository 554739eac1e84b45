import assert from "node:assert/strict";
import { evalNumericalGradientArray, relError } from "../../lib/gradient_check.ts";
import { convChunkCount, convChunkSize } from "../../lib/kernels/conv.ts";
import {
  convBackwardNaive,
  convForwardNaive,
  convGeometry,
  type ConvParam,
} from "../../lib/layers/conv.ts";
import {
  convBackwardFast,
  convForwardFast,
  convParamGradsFast,
} from "../../lib/layers/conv_fast.ts";
import {
  convTransposeBackward,
  convTransposeForward,
  type ConvTransposeParam,
} from "../../lib/layers/conv_transpose.ts";
import {
  convBnReluBackward,
  convBnReluForward,
  convReluBackward,
  convReluForward,
  convReluPoolBackward,
  convReluPoolForward,
} from "../../lib/layers/conv_sandwich.ts";
import {
  maxPoolBackwardNaive,
  maxPoolForwardFast,
  maxPoolForwardNaive,
} from "../../lib/layers/pool.ts";
import { reluBackward, reluForward } from "../../lib/layers/relu.ts";
import { Rng } from "../../lib/rng.ts";
import { type DType, Tensor } from "../../lib/tensor.ts";

function randn(shape: number[], rng: Rng, dtype: DType = "float64"): Tensor {
  return Tensor.randn(shape, rng, dtype);
}

/** Gradient errors of a layer, checked against centered differences of `Σ f(·) ⊙ dout`. */
function assertGradients(
  label: string,
  f: (...args: Tensor[]) => Tensor,
  args: Tensor[],
  dout: Tensor,
  analytic: Tensor[],
  tol: number,
): void {
  args.forEach((arg, i) => {
    const numeric = evalNumericalGradientArray(() => f(...args), arg, dout);
    const err = relError(numeric, analytic[i]);
    assert.ok(err < tol, `${label}: gradient ${i} relative error ${err}`);
  });
}

/**
 * `max |a − b| / max |b|`: float32 rounding is relative to the magnitude of the whole sum,
 * so entries that cancel to near zero would make an elementwise relative error meaningless.
 */
function scaledError(a: Tensor, b: Tensor): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.size; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return diff / scale;
}

Deno.test("convForwardNaive reproduces the notebook's check on linspace data", () => {
  // cs231n: x (2,3,4,4) = linspace(-0.1, 0.5), w (3,3,4,4) = linspace(-0.2, 0.3),
  // b = linspace(-0.1, 0.2, 3), stride 2, pad 1.
  const xShape = [2, 3, 4, 4], wShape = [3, 3, 4, 4];
  const x = Tensor.linspace(-0.1, 0.5, 96).reshape(xShape);
  const w = Tensor.linspace(-0.2, 0.3, 144).reshape(wShape);
  const b = Tensor.linspace(-0.1, 0.2, 3);
  const [out] = convForwardNaive(x, w, b, { stride: 2, pad: 1 });

  // An independent evaluation: values from the linspace formula, an explicitly zero-padded
  // 6×6 copy of each channel, and the 4×4 windows read from it at rows/columns 0 and 2.
  const lin = (start: number, stop: number, num: number, i: number) =>
    i === num - 1 ? stop : start + i * ((stop - start) / (num - 1));
  const xs = (n: number, c: number, h: number, v: number) =>
    lin(-0.1, 0.5, 96, n * 48 + c * 16 + h * 4 + v);
  const ws = (f: number, c: number, h: number, v: number) =>
    lin(-0.2, 0.3, 144, f * 48 + c * 16 + h * 4 + v);
  const padded = (n: number, c: number, h: number, v: number) =>
    h >= 1 && h <= 4 && v >= 1 && v <= 4 ? xs(n, c, h - 1, v - 1) : 0;
  for (let n = 0; n < 2; n++) {
    for (let f = 0; f < 3; f++) {
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 2; j++) {
          let expected = lin(-0.1, 0.2, 3, f);
          for (let c = 0; c < 3; c++) {
            for (let kh = 0; kh < 4; kh++) {
              for (let kw = 0; kw < 4; kw++) {
                expected += padded(n, c, 2 * i + kh, 2 * j + kw) * ws(f, c, kh, kw);
              }
            }
          }
          const got = out.get(n, f, i, j);
          assert.ok(
            Math.abs(got - expected) < 1e-13,
            `out[${n},${f},${i},${j}] ${got} vs ${expected}`,
          );
        }
      }
    }
  }
  // The notebook's printed answer (8 decimals); relative error ~2e-8 there.
  const correctOut = [
    [
      [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
      [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
      [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
    ],
    [
      [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
      [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
      [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
    ],
  ];
  assert.ok(relError(out, Tensor.fromArray(correctOut)) < 1e-7);
});

Deno.test("convForwardNaive: dilation and groups follow from their definitions", () => {
  const rng = new Rng(3);
  const x = randn([2, 4, 9, 9], rng);
  const b = randn([6], rng);
  {
    // A kernel dilated by 2 equals the dense kernel with zeros inserted between its taps.
    const w = randn([6, 4, 3, 2], rng);
    const dense = Tensor.zeros([6, 4, 5, 3]);
    for (let f = 0; f < 6; f++) {
      for (let c = 0; c < 4; c++) {
        for (let kh = 0; kh < 3; kh++) {
          for (let kw = 0; kw < 2; kw++) dense.set(w.get(f, c, kh, kw), f, c, 2 * kh, 2 * kw);
        }
      }
    }
    const [dilated] = convForwardNaive(x, w, b, { stride: 2, pad: 2, dilation: 2 });
    const [zeroFilled] = convForwardNaive(x, dense, b, { stride: 2, pad: 2 });
    assert.deepEqual(dilated.shape, zeroFilled.shape);
    assert.ok(relError(dilated, zeroFilled) < 1e-14);
  }
  // Two groups equal two separate convolutions on the two halves of the channels.
  const w = randn([6, 2, 3, 3], rng);
  const [grouped] = convForwardNaive(x, w, b, { stride: 1, pad: 1, groups: 2 });
  for (let grp = 0; grp < 2; grp++) {
    const xHalf = Tensor.zeros([2, 2, 9, 9]);
    for (let n = 0; n < 2; n++) {
      xHalf.data.set(x.data.subarray((n * 4 + 2 * grp) * 81, (n * 4 + 2 * grp + 2) * 81), n * 162);
    }
    const wHalf = new Tensor(w.data.slice(grp * 54, (grp + 1) * 54), [3, 2, 3, 3]);
    const bHalf = new Tensor(b.data.slice(grp * 3, grp * 3 + 3), [3]);
    const [part] = convForwardNaive(xHalf, wHalf, bHalf, { stride: 1, pad: 1 });
    for (let n = 0; n < 2; n++) {
      for (let f = 0; f < 3; f++) {
        for (let p = 0; p < 81; p++) {
          assert.equal(
            grouped.data[(n * 6 + grp * 3 + f) * 81 + p],
            part.data[(n * 3 + f) * 81 + p],
          );
        }
      }
    }
  }
});

Deno.test("convBackwardNaive matches centered differences (notebook: x(4,3,5,5), w(2,3,3,3))", () => {
  const rng = new Rng(231);
  const x = randn([4, 3, 5, 5], rng), w = randn([2, 3, 3, 3], rng), b = randn([2], rng);
  const dout = randn([4, 2, 5, 5], rng);
  const param = { stride: 1, pad: 1 };
  const [, cache] = convForwardNaive(x, w, b, param);
  const grads = convBackwardNaive(dout, cache);
  // The notebook reports errors around 1e-9 for dx, dw and db.
  assertGradients(
    "naive",
    (xx, ww, bb) => convForwardNaive(xx, ww, bb, param)[0],
    [x, w, b],
    dout,
    grads,
    1e-8,
  );
});

/** The configurations every fast kernel is compared with the naive reference on. */
const CONFIGS: { name: string; x: number[]; w: number[]; param: ConvParam }[] = [
  { name: "3×3 s1 p1", x: [2, 3, 7, 7], w: [4, 3, 3, 3], param: { stride: 1, pad: 1 } },
  { name: "3×3 s2 p1", x: [3, 3, 9, 9], w: [5, 3, 3, 3], param: { stride: 2, pad: 1 } },
  { name: "3×3 s2 p0", x: [2, 2, 7, 9], w: [3, 2, 3, 3], param: { stride: 2, pad: 0 } },
  { name: "5×5 s1 p2", x: [2, 3, 6, 5], w: [2, 3, 5, 5], param: { stride: 1, pad: 2 } },
  { name: "1×1 s1 p0", x: [3, 5, 4, 6], w: [7, 5, 1, 1], param: { stride: 1, pad: 0 } },
  {
    name: "rect 3×2 kernel, rect input",
    x: [2, 3, 8, 5],
    w: [4, 3, 3, 2],
    param: { stride: 1, pad: 1 },
  },
  {
    name: "rect 2×4 kernel s2 p2",
    x: [2, 2, 6, 10],
    w: [3, 2, 2, 4],
    param: { stride: 2, pad: 2 },
  },
  {
    name: "dilation 2",
    x: [2, 3, 9, 9],
    w: [4, 3, 3, 3],
    param: { stride: 1, pad: 2, dilation: 2 },
  },
  {
    name: "dilation 2 s2 p1 rect",
    x: [2, 2, 9, 11],
    w: [3, 2, 3, 2],
    param: { stride: 2, pad: 1, dilation: 2 },
  },
  { name: "groups 2", x: [2, 4, 6, 6], w: [6, 2, 3, 3], param: { stride: 1, pad: 1, groups: 2 } },
  {
    name: "groups 4 (depthwise)",
    x: [2, 4, 7, 7],
    w: [4, 1, 3, 3],
    param: { stride: 2, pad: 1, groups: 4 },
  },
  {
    name: "groups 4, 2 filters each, dilation 2",
    x: [2, 8, 8, 8],
    w: [8, 2, 3, 3],
    param: { stride: 1, pad: 2, dilation: 2, groups: 4 },
  },
  {
    name: "kernel covers the padded input",
    x: [2, 2, 3, 3],
    w: [2, 2, 5, 5],
    param: { stride: 1, pad: 1 },
  },
  // Many small examples: several examples per chunk, and several chunks.
  {
    name: "multi-chunk (many examples per chunk)",
    x: [70, 3, 30, 30],
    w: [4, 3, 3, 3],
    param: { stride: 1, pad: 1 },
  },
  // One example's columns exceed the chunk budget: chunks of one example.
  {
    name: "one example per chunk",
    x: [3, 16, 48, 48],
    w: [4, 16, 3, 3],
    param: { stride: 1, pad: 1 },
  },
];

Deno.test("convForwardFast / convBackwardFast match the naive loops (float64, rel. error < 1e-9)", async (t) => {
  const rng = new Rng(7);
  for (const { name, x: xShape, w: wShape, param } of CONFIGS) {
    await t.step(name, () => {
      const x = randn(xShape, rng), w = randn(wShape, rng), b = randn([wShape[0]], rng);
      const [naive, cache] = convForwardNaive(x, w, b, param);
      const [fast, fastCache] = convForwardFast(x, w, b, param);
      assert.deepEqual(fast.shape, naive.shape);
      assert.ok(relError(fast, naive) < 1e-9, `out ${relError(fast, naive)}`);
      const dout = randn(naive.shape, rng);
      const expected = convBackwardNaive(dout, cache);
      const got = convBackwardFast(dout, fastCache);
      ["dx", "dw", "db"].forEach((label, i) => {
        assert.deepEqual(got[i].shape, expected[i].shape);
        const err = relError(got[i], expected[i]);
        assert.ok(err < 1e-9, `${label} relative error ${err}`);
      });
      const [dw, db] = convParamGradsFast(dout, fastCache);
      assert.deepEqual([dw.data, db.data], [got[1].data, got[2].data]);
    });
  }
  await t.step("the chunk sizes exercised above", () => {
    const geometryOf = (i: number) => {
      const { x, w, param } = CONFIGS[i];
      return convGeometry("test", Tensor.zeros(x), Tensor.zeros(w), Tensor.zeros([w[0]]), param);
    };
    const multi = geometryOf(CONFIGS.length - 2), single = geometryOf(CONFIGS.length - 1);
    assert.ok(convChunkSize(multi) > 1 && convChunkCount(multi) > 1);
    assert.equal(convChunkSize(single), 1);
  });
});

Deno.test("convForwardFast in float32 keeps the dtype and agrees with float64", () => {
  const rng = new Rng(8);
  const x = randn([3, 4, 8, 8], rng), w = randn([6, 2, 3, 3], rng), b = randn([6], rng);
  const param = { stride: 1, pad: 1, groups: 2 };
  const [out64, cache64] = convForwardFast(x, w, b, param);
  const [out32, cache32] = convForwardFast(
    x.astype("float32"),
    w.astype("float32"),
    b.astype("float32"),
    param,
  );
  assert.equal(out32.dtype, "float32");
  assert.ok(scaledError(out32, out64) < 1e-6, `out ${scaledError(out32, out64)}`);
  const dout = randn(out64.shape, rng);
  const g64 = convBackwardFast(dout, cache64);
  const g32 = convBackwardFast(dout.astype("float32"), cache32);
  g32.forEach((g, i) => {
    assert.equal(g.dtype, "float32");
    assert.ok(scaledError(g, g64[i]) < 1e-6, `gradient ${i}: ${scaledError(g, g64[i])}`);
  });
});

Deno.test("convBackwardFast matches centered differences with dilation and groups", () => {
  const rng = new Rng(11);
  const x = randn([2, 4, 7, 7], rng), w = randn([6, 2, 3, 2], rng), b = randn([6], rng);
  const param = { stride: 2, pad: 2, dilation: 2, groups: 2 };
  const [out, cache] = convForwardFast(x, w, b, param);
  const dout = randn(out.shape, rng);
  const grads = convBackwardFast(dout, cache);
  assertGradients(
    "fast",
    (xx, ww, bb) => convForwardFast(xx, ww, bb, param)[0],
    [x, w, b],
    dout,
    grads,
    1e-8,
  );
});

/** The transposed convolution straight from its definition: every input pixel stamps the
 * kernel, scaled by its value, onto the output. */
function convTransposeDirect(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  p: Required<ConvTransposeParam>,
): Tensor {
  const [N, Cin, H, W] = x.shape;
  const [, CoutG, KH, KW] = w.shape;
  const Cout = CoutG * p.groups, CinG = Cin / p.groups;
  const Ho = (H - 1) * p.stride - 2 * p.pad + p.dilation * (KH - 1) + p.outputPadding + 1;
  const Wo = (W - 1) * p.stride - 2 * p.pad + p.dilation * (KW - 1) + p.outputPadding + 1;
  const out = Tensor.zeros([N, Cout, Ho, Wo]);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) out.set(b.get(co), n, co, i, j);
    }
    for (let ci = 0; ci < Cin; ci++) {
      const grp = Math.floor(ci / CinG);
      for (let h = 0; h < H; h++) {
        for (let v = 0; v < W; v++) {
          for (let c = 0; c < CoutG; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const i = h * p.stride - p.pad + kh * p.dilation;
                const j = v * p.stride - p.pad + kw * p.dilation;
                if (i < 0 || i >= Ho || j < 0 || j >= Wo) continue;
                const co = grp * CoutG + c;
                out.set(
                  out.get(n, co, i, j) + x.get(n, ci, h, v) * w.get(ci, c, kh, kw),
                  n,
                  co,
                  i,
                  j,
                );
              }
            }
          }
        }
      }
    }
  }
  return out;
}

Deno.test("convTransposeForward / Backward (PyTorch ConvTranspose2d semantics)", async (t) => {
  const rng = new Rng(17);
  const configs: { x: number[]; w: number[]; p: Required<ConvTransposeParam> }[] = [
    {
      x: [2, 3, 4, 4],
      w: [3, 2, 3, 3],
      p: { stride: 1, pad: 1, outputPadding: 0, dilation: 1, groups: 1 },
    },
    {
      x: [2, 3, 3, 4],
      w: [3, 2, 3, 3],
      p: { stride: 2, pad: 1, outputPadding: 1, dilation: 1, groups: 1 },
    },
    {
      x: [1, 4, 3, 3],
      w: [4, 1, 2, 3],
      p: { stride: 3, pad: 0, outputPadding: 2, dilation: 1, groups: 2 },
    },
    {
      x: [2, 4, 4, 3],
      w: [4, 3, 3, 2],
      p: { stride: 1, pad: 2, outputPadding: 1, dilation: 2, groups: 4 },
    },
  ];
  for (const { x: xShape, w: wShape, p } of configs) {
    await t.step(`x [${xShape}] w [${wShape}] ${JSON.stringify(p)}`, () => {
      const x = randn(xShape, rng), w = randn(wShape, rng), b = randn([wShape[1] * p.groups], rng);
      const [out, cache] = convTransposeForward(x, w, b, p);
      const expected = convTransposeDirect(x, w, b, p);
      assert.deepEqual(out.shape, expected.shape);
      assert.ok(relError(out, expected) < 1e-12, `forward ${relError(out, expected)}`);
      const dout = randn(out.shape, rng);
      const grads = convTransposeBackward(dout, cache);
      assertGradients(
        "transpose",
        (xx, ww, bb) => convTransposeForward(xx, ww, bb, p)[0],
        [x, w, b],
        dout,
        grads,
        1e-8,
      );
    });
  }
  await t.step("conv's dx equals the transposed convolution of dout with the same weights", () => {
    const cases: [number[], ConvParam][] = [
      [[2, 6, 11, 7], { stride: 2, pad: 1 }],
      [[2, 6, 11, 7], { stride: 1, pad: 2, dilation: 2, groups: 2 }],
      [[2, 6, 12, 10], { stride: 3, pad: 0, groups: 3 }],
    ];
    for (const [xShape, param] of cases) {
      const x = randn(xShape, rng), w = randn([6, 6 / (param.groups ?? 1), 3, 1], rng);
      const [out, cache] = convForwardFast(x, w, randn([6], rng), param);
      const dout = randn(out.shape, rng);
      const [dx] = convBackwardFast(dout, cache);
      const [viaTranspose] = convTransposeForward(dout, w, Tensor.zeros([6]), param);
      assert.deepEqual(viaTranspose.shape, dx.shape);
      assert.ok(relError(viaTranspose, dx) < 1e-14, JSON.stringify(param));
    }
  });
  await t.step("errors name the parameter and the shapes", () => {
    const x = Tensor.zeros([1, 4, 3, 3]), w = Tensor.zeros([4, 2, 3, 3]);
    assert.throws(
      () => convTransposeForward(x, w, Tensor.zeros([2]), { stride: 2, pad: 0, outputPadding: 2 }),
      /convTransposeForward: param.outputPadding 2 must be smaller than stride 2 or dilation 1/,
    );
    assert.throws(
      () =>
        convTransposeForward(x, Tensor.zeros([3, 2, 3, 3]), Tensor.zeros([2]), {
          stride: 1,
          pad: 0,
        }),
      /convTransposeForward: x has 4 channels but w expects 3 \(x shape \[1,4,3,3\], w shape \[3,2,3,3\]/,
    );
    assert.throws(
      () => convTransposeForward(x, w, Tensor.zeros([2]), { stride: 1, pad: 0, groups: 2 }),
      /b must have shape \[4\]/,
    );
    assert.throws(
      () => convTransposeForward(x, w, Tensor.zeros([2]), { stride: 1, pad: 3 }),
      /output size .* = -1×-1 is empty/,
    );
  });
});

/**
 * The sandwiches' gradients pass through ReLU (and pooling) gates that zero some paths, so
 * some dx entries are sums of few, partly cancelling terms: small entries whose centered
 * differences carry relatively more rounding noise (we see up to ~2e-8 here, against
 * ~1e-10 for the plain convolution). 1e-6 is the course's "correct" threshold.
 */
const SANDWICH_TOL = 1e-6;

Deno.test("conv sandwiches match their layers and centered differences", async (t) => {
  const rng = new Rng(19);
  const x = randn([2, 3, 8, 8], rng), w = randn([4, 3, 3, 3], rng), b = randn([4], rng);
  const convParam = { stride: 1, pad: 1 };
  const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
  await t.step("convRelu", () => {
    const [out, cache] = convReluForward(x, w, b, convParam);
    const [a] = convForwardNaive(x, w, b, convParam);
    assert.ok(relError(out, a.maximum(0)) < 1e-12);
    const dout = randn(out.shape, rng);
    const grads = convReluBackward(dout, cache);
    assertGradients(
      "convRelu",
      (xx, ww, bb) => convReluForward(xx, ww, bb, convParam)[0],
      [x, w, b],
      dout,
      grads,
      SANDWICH_TOL,
    );
  });
  await t.step("convReluPool", () => {
    const [out, cache] = convReluPoolForward(x, w, b, convParam, poolParam);
    assert.deepEqual(out.shape, [2, 4, 4, 4]);
    const dout = randn(out.shape, rng);
    const grads = convReluPoolBackward(dout, cache);
    assertGradients(
      "convReluPool",
      (xx, ww, bb) => convReluPoolForward(xx, ww, bb, convParam, poolParam)[0],
      [x, w, b],
      dout,
      grads,
      SANDWICH_TOL,
    );
  });
  await t.step("convReluPoolBackward rejects a pool cache made without the ReLU", () => {
    const [a, convCache] = convForwardFast(x, w, b, convParam);
    const [pooled, plainPool] = maxPoolForwardFast(a, poolParam);
    assert.throws(
      () => convReluPoolBackward(pooled, [convCache, plainPool]),
      /convReluPoolBackward: cache\[1\] must be the pool cache of convReluPoolForward/,
    );
  });
  await t.step("convReluPool equals relu-then-pool exactly (it pools first)", () => {
    // A negative bias leaves many windows without a positive value: after a ReLU those are
    // all-zero ties, the case where the two orders could have differed.
    const bNeg = b.sub(2);
    const [out, cache] = convReluPoolForward(x, w, bNeg, convParam, poolParam);
    // The same convolution, then the textbook order: ReLU, then the naive max pool.
    const [a, convCache] = convForwardFast(x, w, bNeg, convParam);
    const [r, reluCache] = reluForward(a);
    const [expected, poolCache] = maxPoolForwardNaive(r, poolParam);
    assert.ok(expected.data.some((v) => v === 0) && expected.data.some((v) => v > 0));
    assert.deepEqual(out.data, expected.data);
    const dout = randn(out.shape, rng);
    const got = convReluPoolBackward(dout, cache);
    const da = reluBackward(maxPoolBackwardNaive(dout, poolCache), reluCache);
    const want = convBackwardFast(da, convCache);
    got.forEach((g, i) => assert.deepEqual(g.data, want[i].data));
  });
  await t.step("convBnRelu", () => {
    const gamma = randn([4], rng), beta = randn([4], rng);
    const forward = (xx: Tensor, ww: Tensor, bb: Tensor, gg: Tensor, be: Tensor) =>
      convBnReluForward(xx, ww, bb, gg, be, convParam, { mode: "train" })[0];
    const [out, cache] = convBnReluForward(x, w, b, gamma, beta, convParam, { mode: "train" });
    const dout = randn(out.shape, rng);
    const [dx, dw, db, dgamma, dbeta] = convBnReluBackward(dout, cache);
    // db is analytically zero (batchnorm removes a per-channel shift), so its numeric
    // estimate is pure rounding noise: compare it absolutely instead.
    assert.ok(db.data.every((v) => Math.abs(v) < 1e-12), `db ${db.data}`);
    assertGradients(
      "convBnRelu",
      (xx, ww, gg, be) => forward(xx, ww, b, gg, be),
      [x, w, gamma, beta],
      dout,
      [dx, dw, dgamma, dbeta],
      SANDWICH_TOL,
    );
  });
});

Deno.test("convolution shape and argument errors name the layer, parameter and shapes", () => {
  const x = Tensor.zeros([2, 3, 8, 8]), w = Tensor.zeros([4, 3, 3, 3]), b = Tensor.zeros([4]);
  for (
    const [name, fn] of [["convForwardNaive", convForwardNaive], [
      "convForwardFast",
      convForwardFast,
    ]] as const
  ) {
    assert.throws(
      () => fn(x, w, b, { stride: 2, pad: 0 }),
      new RegExp(
        `^Error: ${name}: output height \\(H \\+ 2\\*pad - dilation\\*\\(HH-1\\) - 1\\) / stride \\+ 1 = ` +
          `\\(8 \\+ 2\\*0 - 1\\*\\(3-1\\) - 1\\) / 2 \\+ 1 = 3.5 is not a whole number ` +
          `\\(x shape \\[2,3,8,8\\], w shape \\[4,3,3,3\\], stride 2, pad 0, dilation 1\\)`,
      ),
    );
    assert.throws(
      () => fn(x, Tensor.zeros([4, 2, 3, 3]), b, { stride: 1, pad: 1 }),
      new RegExp(`${name}: x has 3 channels but w expects 2 per group × 1 groups = 2`),
    );
    assert.throws(
      () => fn(x, w, b, { stride: 1, pad: 1, groups: 2 }),
      new RegExp(`${name}: groups 2 must divide both the 3 input channels and the 4 filters`),
    );
    assert.throws(
      () => fn(x, w, Tensor.zeros([3]), { stride: 1, pad: 1 }),
      /b must have shape \[4\]/,
    );
    assert.throws(
      () => fn(x.astype("float32"), w, b, { stride: 1, pad: 1 }),
      new RegExp(`${name}: x, w and b must share a dtype, got x float32, w float64, b float64`),
    );
    assert.throws(
      () => fn(x, w, b, { stride: 0, pad: 1 }),
      /convParam.stride must be an integer ≥ 1, got 0/,
    );
    assert.throws(
      () => fn(x, w, b, { stride: 1, pad: -1 }),
      /convParam.pad must be an integer ≥ 0, got -1/,
    );
    assert.throws(
      () => fn(x, w, b, { stride: 1, pad: 0, dilation: 5 }),
      /the kernel \(3 taps, dilation 5\) is larger than the padded input height 8/,
    );
    assert.throws(() => fn(Tensor.zeros([3, 8, 8]), w, b, { stride: 1, pad: 1 }), /x must be 4-d/);
  }
  const [, cache] = convForwardFast(x, w, b, { stride: 1, pad: 1 });
  assert.throws(
    () => convBackwardFast(Tensor.zeros([2, 4, 8, 7]), cache),
    /convBackwardFast: dout has shape \[2,4,8,7\] but the forward output had shape \[2,4,8,8\]/,
  );
  assert.throws(
    () => convBackwardNaive(Tensor.zeros([2, 4, 8, 8], "float32"), cache),
    /convBackwardNaive: dout is float32 but the forward pass ran in float64/,
  );
});

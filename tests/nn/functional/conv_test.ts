import assert from "node:assert/strict";
import { setConvAlgorithm } from "../../../lib/kernels/conv.ts";
import { Rng } from "../../../lib/rng.ts";
import { Tensor } from "../../../lib/tensor.ts";
import { conv2d, convTranspose2d } from "../../../lib/nn/functional/conv.ts";
import { pad } from "../../../lib/nn/functional/pad.ts";
import { Conv2d, type PaddingMode } from "../../../lib/nn/conv.ts";
import { checkGradients, leaf } from "../_grad_check.ts";

/** Where a padded coordinate reads from, written out case by case (the reference). */
function source(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case "zeros":
      return -1;
    case "reflect":
      return i < 0 ? -i : 2 * (n - 1) - i;
    case "replicate":
      return i < 0 ? 0 : n - 1;
    case "circular":
      return i < 0 ? i + n : i - n;
  }
}

/** A direct 7-loop convolution with any padding mode, dilation and groups. */
function naiveConv(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  o: { stride: number; pads: [number, number, number, number]; dilation: number; groups: number },
  mode: PaddingMode,
): Tensor {
  const [N, , H, W] = x.shape;
  const [F, Cg, KH, KW] = w.shape;
  const [left, right, top, bottom] = o.pads;
  const Ho = Math.floor((H + top + bottom - o.dilation * (KH - 1) - 1) / o.stride) + 1;
  const Wo = Math.floor((W + left + right - o.dilation * (KW - 1) - 1) / o.stride) + 1;
  const out = Tensor.zeros([N, F, Ho, Wo]);
  const Fg = F / o.groups;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const g = Math.floor(f / Fg);
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          let acc = b ? b.data[f] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const si = source(i * o.stride + kh * o.dilation - top, H, mode);
                const sj = source(j * o.stride + kw * o.dilation - left, W, mode);
                if (si < 0 || sj < 0) continue;
                acc += x.get(n, g * Cg + c, si, sj) * w.get(f, c, kh, kw);
              }
            }
          }
          out.set(acc, n, f, i, j);
        }
      }
    }
  }
  return out;
}

function close(a: Tensor, b: Tensor, tol = 1e-12): void {
  assert.deepEqual(a.shape, b.shape);
  let err = 0;
  for (let i = 0; i < a.size; i++) err = Math.max(err, Math.abs(a.data[i] - b.data[i]));
  assert.ok(err < tol, `max difference ${err}`);
}

Deno.test("Conv2d: every padding mode, dilation and groups against the naive reference", () => {
  const rng = new Rng(3);
  const cases: {
    mode: PaddingMode;
    padding: number | "same" | [number, number];
    stride?: number;
    dilation?: number;
    groups?: number;
    k?: number | [number, number];
  }[] = [
    { mode: "zeros", padding: 1 },
    { mode: "zeros", padding: [2, 0], stride: 2 },
    { mode: "zeros", padding: "same", k: 4 },
    { mode: "reflect", padding: 2, dilation: 2 },
    { mode: "replicate", padding: "same", k: [3, 2] },
    { mode: "circular", padding: 1, groups: 2 },
    { mode: "reflect", padding: 1, groups: 4, stride: 2 },
    { mode: "circular", padding: "same", dilation: 2 },
  ];
  for (const c of cases) {
    const conv = new Conv2d(4, 4, c.k ?? 3, {
      padding: c.padding,
      paddingMode: c.mode,
      stride: c.stride,
      dilation: c.dilation,
      groups: c.groups,
      dtype: "float64",
      rng,
    });
    const x = leaf([2, 4, 6, 7], rng);
    const [kh, kw] = conv.kernelSize;
    const d = c.dilation ?? 1;
    const pads: [number, number, number, number] = c.padding === "same"
      ? [
        Math.floor(d * (kw - 1) / 2),
        Math.ceil(d * (kw - 1) / 2),
        Math.floor(d * (kh - 1) / 2),
        Math.ceil(d * (kh - 1) / 2),
      ]
      : typeof c.padding === "number"
      ? [c.padding, c.padding, c.padding, c.padding]
      : [c.padding[1], c.padding[1], c.padding[0], c.padding[0]];
    const expected = naiveConv(x, conv.weight, conv.bias, {
      stride: c.stride ?? 1,
      pads,
      dilation: d,
      groups: c.groups ?? 1,
    }, c.mode);
    const label = JSON.stringify(c);
    close(conv.forward(x), expected);
    if (c.padding === "same") assert.deepEqual(expected.shape.slice(2), [6, 7], label);
    checkGradients(() => conv.forward(x), [x, conv.weight, conv.bias!]);
  }
});

Deno.test("F.conv2d: without bias, 'valid', and only parameter gradients when x needs none", () => {
  const rng = new Rng(4);
  const x = Tensor.randn([2, 3, 5, 5], rng);
  const w = leaf([2, 3, 3, 3], rng);
  const y = conv2d(x, w, null, { padding: "valid" });
  close(
    y,
    naiveConv(x, w, null, { stride: 1, pads: [0, 0, 0, 0], dilation: 1, groups: 1 }, "zeros"),
  );
  checkGradients(() => conv2d(x, w, null, { padding: 2, stride: 2 }), [w]);
  assert.equal(x.grad, null);
  assert.throws(
    () => conv2d(x, w, null, { padding: "same", stride: 2 }),
    /not supported for strided/,
  );
  assert.throws(() => conv2d(x, w, null, { stride: [1, 2] }), /same in both directions/);
});

Deno.test("Conv2d: an unknown padding mode is a clear error", () => {
  assert.throws(
    () => new Conv2d(1, 1, 3, { paddingMode: "mirror" as PaddingMode }),
    /Conv2d: unknown paddingMode "mirror"; expected one of "zeros", "reflect", "replicate", "circular"/,
  );
  assert.throws(
    () => pad(Tensor.zeros([1, 4]), [1, 1], "wrap" as "reflect"),
    /unknown padding mode "wrap"/,
  );
  assert.throws(() => pad(Tensor.zeros([1, 2]), [2, 0], "reflect"), /smaller than the size/);
});

Deno.test("F.pad: crops with negative pads; gradients of every mode", () => {
  const rng = new Rng(5);
  const x = leaf([2, 3, 4], rng);
  assert.deepEqual(pad(x, [-1, 0, 0, -2], "constant").shape, [2, 1, 3]);
  for (const mode of ["constant", "reflect", "replicate", "circular"] as const) {
    checkGradients(() => pad(x, [2, 1, 2, 0], mode), [x]);
  }
});

Deno.test("F.convTranspose2d: gradients against numeric ones", () => {
  const rng = new Rng(6);
  const x = leaf([2, 4, 3, 3], rng), w = leaf([4, 3, 3, 3], rng), b = leaf([6], rng);
  checkGradients(
    () => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
    [x, w, b],
  );
});

Deno.test("F.conv2d runs on the batch entry points: float32 3×3 goes through Winograd", () => {
  // The switch of kernels/conv.ts changes F.conv2d's float32 results (other roundings) in the
  // forward pass and in both gradients, and both algorithms agree closely.
  const rng = new Rng(5);
  const x0 = Tensor.randn([4, 16, 10, 10], rng, "float32");
  const w0 = Tensor.randn([16, 16, 3, 3], rng, "float32");
  const run = (algorithm: "im2col" | "winograd") => {
    setConvAlgorithm(algorithm);
    const x = Tensor.fromArray(x0.data, x0.shape, { dtype: "float32", requiresGrad: true });
    const w = Tensor.fromArray(w0.data, w0.shape, { dtype: "float32", requiresGrad: true });
    const y = conv2d(x, w, null, { padding: 1 });
    y.square().sum().backward();
    return [y.data, x.grad!.data, w.grad!.data];
  };
  try {
    const im2col = run("im2col"), winograd = run("winograd");
    for (let k = 0; k < 3; k++) {
      assert.ok(im2col[k].some((v, i) => v !== winograd[k][i]), `result ${k}: Winograd ran`);
      let scale = 0, diff = 0;
      im2col[k].forEach((v, i) => {
        scale = Math.max(scale, Math.abs(v));
        diff = Math.max(diff, Math.abs(v - winograd[k][i]));
      });
      assert.ok(diff <= 1e-5 * scale, `result ${k}: differs by ${diff} (scale ${scale})`);
    }
  } finally {
    setConvAlgorithm("auto");
  }
});

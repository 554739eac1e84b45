import assert from "node:assert/strict";
import { col2im, im2col, type WindowGeometry } from "../../lib/kernels/im2col.ts";
import { Rng } from "../../lib/rng.ts";
import { type DType, Tensor } from "../../lib/tensor.ts";

function randn(shape: number[], rng: Rng, dtype: DType = "float64"): Tensor {
  return Tensor.randn(shape, rng, dtype);
}

Deno.test("im2col and col2im are adjoint: <im2col(x), c> = <x, col2im(c)>", () => {
  const rng = new Rng(13);
  const geometries: WindowGeometry[] = [
    {
      channels: 3,
      height: 5,
      width: 7,
      kernelH: 3,
      kernelW: 2,
      stride: 2,
      pad: 1,
      dilation: 1,
      outH: 3,
      outW: 4,
    },
    {
      channels: 2,
      height: 9,
      width: 6,
      kernelH: 3,
      kernelW: 3,
      stride: 1,
      pad: 2,
      dilation: 2,
      outH: 9,
      outW: 6,
    },
    // A tap offset beyond the image on the left for every column (pad > kernel span).
    {
      channels: 1,
      height: 2,
      width: 2,
      kernelH: 1,
      kernelW: 1,
      stride: 1,
      pad: 3,
      dilation: 1,
      outH: 8,
      outW: 8,
    },
  ];
  for (const g of geometries) {
    const N = 3, c0 = g.channels > 1 ? 1 : 0, c1 = g.channels;
    const x = randn([N, g.channels, g.height, g.width], rng);
    const rows = (c1 - c0) * g.kernelH * g.kernelW, cols = (N - 1) * g.outH * g.outW;
    const c = randn([rows * cols], rng);
    const xCols = new Float64Array(rows * cols);
    im2col(x.data, g, 1, N, c0, c1, xCols);
    const back = new Float64Array(x.size);
    col2im(c.data, g, 1, N, c0, c1, back);
    let lhs = 0, rhs = 0;
    for (let i = 0; i < xCols.length; i++) lhs += xCols[i] * c.data[i];
    for (let i = 0; i < x.size; i++) rhs += x.data[i] * back[i];
    assert.ok(Math.abs(lhs - rhs) < 1e-12 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
    // col2im leaves the examples and channels outside its ranges untouched.
    for (let i = 0; i < g.channels * g.height * g.width; i++) assert.equal(back[i], 0);
  }
});

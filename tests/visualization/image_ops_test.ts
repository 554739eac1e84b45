import assert from "node:assert/strict";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { blurImage, gaussianKernel, jitter } from "../../lib/visualization/image_ops.ts";

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

Deno.test("jitter is an exact circular roll along W by ox and along H by oy", () => {
  const [N, C, H, W] = [2, 3, 5, 7];
  const x = Tensor.randn([N, C, H, W], new Rng(0), "float32");
  for (const [ox, oy] of [[0, 0], [1, 0], [0, 2], [3, -2], [-8, 11], [7, 5], [-1, -1]]) {
    const out = jitter(x, ox, oy);
    assert.equal(out.dtype, "float32");
    assert.deepEqual(out.shape, x.shape);
    const mod = (a: number, m: number) => ((a % m) + m) % m;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            assert.equal(
              out.get(n, c, i, j),
              x.get(n, c, mod(i - oy, H), mod(j - ox, W)),
              `ox ${ox}, oy ${oy} at (${n},${c},${i},${j})`,
            );
          }
        }
      }
    }
    // Rolling back restores every value bit for bit.
    assert.deepEqual(jitter(out, -ox, -oy).data, x.data);
  }
});

Deno.test("jitter rejects non-4-d input and non-integer offsets, naming them", () => {
  assert.throws(
    () => jitter(Tensor.zeros([3, 3]), 1, 1),
    /jitter: x must be .*\(N, C, H, W\).*\[3,3\]/,
  );
  assert.throws(
    () => jitter(Tensor.zeros([1, 1, 3, 3]), 0.5, 1),
    /jitter: ox and oy must be integers/,
  );
});

Deno.test("gaussianKernel: scipy's radius floor(4σ + 0.5), normalised Gaussian weights", () => {
  const w = gaussianKernel(0.5);
  assert.equal(w.length, 5);
  const raw = [-2, -1, 0, 1, 2].map((k) => Math.exp(-2 * k * k));
  const total = raw.reduce((a, b) => a + b, 0);
  raw.forEach((v, i) => assert.ok(Math.abs(w[i] - v / total) < 1e-16));
  assert.equal(gaussianKernel(1).length, 9);
  assert.throws(() => gaussianKernel(0), /sigma must be/);
});

Deno.test("blurImage matches the separable filter with reflected borders, computed by hand", () => {
  // One row of 4 values: blurring along H (height 1) leaves it, then along W with radius 2
  // and scipy's reflect padding: [b a | a b c d | d c].
  const x = Tensor.fromArray([1, 5, 2, 8], [1, 1, 1, 4]);
  const w = gaussianKernel(0.5);
  const padded = [5, 1, 1, 5, 2, 8, 8, 2];
  const expected = [0, 1, 2, 3].map((j) => w.reduce((acc, wk, k) => acc + wk * padded[j + k], 0));
  const out = blurImage(x, 0.5);
  assert.equal(out, x); // in place, as cs231n's blur_image
  out.data.forEach((v, j) =>
    assert.ok(Math.abs(v - expected[j]) < 1e-14, `${v} vs ${expected[j]}`)
  );
});

Deno.test("blurImage preserves the mean of images with a constant border, and constants", () => {
  const rng = new Rng(7);
  const [H, W, band] = [12, 10, 2]; // σ = 0.5: radius 2
  const x = Tensor.zeros([2, 3, H, W]);
  for (let p = 0; p < 6; p++) {
    for (let i = band; i < H - band; i++) {
      for (let j = band; j < W - band; j++) x.data[(p * H + i) * W + j] = rng.normal();
    }
  }
  const before = Array.from(
    { length: 6 },
    (_, p) => sum(x.data.subarray(p * H * W, (p + 1) * H * W)) / (H * W),
  );
  const changed = x.clone();
  blurImage(x, 0.5);
  assert.ok(x.data.some((v, i) => Math.abs(v - changed.data[i]) > 1e-3), "the blur changes pixels");
  for (let p = 0; p < 6; p++) {
    const after = sum(x.data.subarray(p * H * W, (p + 1) * H * W)) / (H * W);
    assert.ok(Math.abs(after - before[p]) < 1e-14, `plane ${p}: mean ${after} vs ${before[p]}`);
  }
  const constant = blurImage(Tensor.full([1, 1, 5, 6], 0.25), 1.3);
  assert.ok(constant.data.every((v) => Math.abs(v - 0.25) < 1e-15));
});

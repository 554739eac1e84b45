/**
 * The two image helpers of class visualization (cs231n `net_visualization_pytorch.py`):
 * `jitter`, a circular roll that moves the image a few pixels between gradient steps, and
 * `blurImage`, a Gaussian blur that damps the high frequencies gradient ascent produces.
 *
 * @module
 */

import { Tensor } from "../tensor.ts";

function check4d(fn: string, x: Tensor): [number, number, number, number] {
  if (!(x instanceof Tensor) || x.ndim !== 4) {
    throw new Error(
      `${fn}: x must be a Tensor of shape (N, C, H, W), got ${
        x instanceof Tensor ? `shape [${x.shape}]` : String(x)
      }`,
    );
  }
  return x.shape as [number, number, number, number];
}

/**
 * Rolls images `(N, C, H, W)` circularly by `ox` pixels to the right and `oy` pixels down
 * (negative values roll left and up): `out[n, c, i, j] = x[n, c, (i − oy) mod H, (j − ox) mod
 * W]`, i.e. `torch.roll(x, (oy, ox), dims=(2, 3))`. `jitter(jitter(x, ox, oy), -ox, -oy)`
 * gives `x` back exactly. Returns a new tensor outside any graph.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { jitter } from "./image_ops.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4], [1, 1, 1, 4]);
 * assert.deepEqual(Array.from(jitter(x, 1, 0).data), [4, 1, 2, 3]);
 * assert.deepEqual(Array.from(jitter(x, -1, 0).data), [2, 3, 4, 1]);
 * ```
 */
export function jitter(x: Tensor, ox: number, oy: number): Tensor {
  const [N, C, H, W] = check4d("jitter", x);
  if (!Number.isInteger(ox) || !Number.isInteger(oy)) {
    throw new Error(`jitter: ox and oy must be integers, got ox ${ox}, oy ${oy}`);
  }
  const out = Tensor.zeros(x.shape, x.dtype);
  const src = x.data, dst = out.data;
  const sx = ((ox % W) + W) % W, sy = ((oy % H) + H) % H;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (let i = 0; i < H; i++) {
      const from = base + ((i - sy + H) % H) * W, to = base + i * W;
      // Row i of the output: the source row's last sx values, then its first W − sx.
      dst.set(src.subarray(from + W - sx, from + W), to);
      dst.set(src.subarray(from, from + W - sx), to + sx);
    }
  }
  return out;
}

/**
 * The normalised Gaussian weights scipy's `gaussian_filter1d` uses: radius
 * `floor(4·sigma + 0.5)`, `w[k] ∝ exp(−k² / (2·sigma²))` for `k = −radius..radius`.
 */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new Error(`gaussianKernel: sigma must be a finite number > 0, got ${sigma}`);
  }
  const radius = Math.floor(4 * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    w[k + radius] = Math.exp((-0.5 * k * k) / (sigma * sigma));
    total += w[k + radius];
  }
  for (let k = 0; k < w.length; k++) w[k] /= total;
  return w;
}

/** scipy's `mode="reflect"` (half-sample symmetric: `d c b a | a b c d | d c b a`). */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

/**
 * Blurs images `(N, C, H, W)` **in place** with a Gaussian of standard deviation `sigma`
 * pixels along H, then along W, and returns `x`: scipy's `gaussian_filter1d(x, sigma,
 * axis=2)` then `axis=3` (truncated at 4σ, borders reflected), as cs231n's `blur_image`.
 * A constant image stays constant, and an image with a constant border band at least as
 * wide as the kernel's radius keeps its mean.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { blurImage } from "./image_ops.ts";
 * const x = Tensor.zeros([1, 1, 7, 7]);
 * x.set(49, 0, 0, 3, 3);
 * blurImage(x, 0.5);
 * assert.ok(x.get(0, 0, 3, 3) < 49 && x.get(0, 0, 3, 4) > 0);
 * assert.ok(Math.abs(x.mean().item() - 1) < 1e-12); // the total is kept
 * ```
 */
export function blurImage(x: Tensor, sigma: number): Tensor {
  const [N, C, H, W] = check4d("blurImage", x);
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new Error(`blurImage: sigma must be a finite number > 0, got ${sigma}`);
  }
  const w = gaussianKernel(sigma);
  const radius = (w.length - 1) / 2;
  const data = x.data;
  const line = new Float64Array(Math.max(H, W));
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    // Along H (axis 2): one column at a time.
    for (let j = 0; j < W; j++) {
      for (let i = 0; i < H; i++) line[i] = data[base + i * W + j];
      for (let i = 0; i < H; i++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) acc += w[k + radius] * line[reflectIndex(i + k, H)];
        data[base + i * W + j] = acc;
      }
    }
    // Along W (axis 3): one row at a time.
    for (let i = 0; i < H; i++) {
      const row = base + i * W;
      for (let j = 0; j < W; j++) line[j] = data[row + j];
      for (let j = 0; j < W; j++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) acc += w[k + radius] * line[reflectIndex(j + k, W)];
        data[row + j] = acc;
      }
    }
  }
  return x;
}

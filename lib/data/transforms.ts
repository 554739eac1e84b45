/**
 * Data-augmentation transforms for image examples `(C, H, W)`, applied per example by
 * `DataLoader` (torchvision's `RandomCrop`, `RandomHorizontalFlip`, `Compose`).
 *
 * @module
 */

import type { Rng } from "../rng.ts";
import { Tensor } from "../tensor.ts";

/** A per-example transform: takes one example and the loader's generator. */
export type Transform = (x: Tensor, rng: Rng) => Tensor;

function checkImage(fn: string, x: Tensor): [number, number, number] {
  if (!(x instanceof Tensor) || x.ndim !== 3) {
    throw new Error(
      `${fn}: expects one image of shape (C, H, W), got ${
        x instanceof Tensor ? `shape [${x.shape}]` : x
      }`,
    );
  }
  return [x.shape[0], x.shape[1], x.shape[2]];
}

/**
 * A random `size × size` crop (or `[h, w]`), after zero-padding every side by `padding`
 * (default 0): the usual augmentation for small images (`randomCrop(28, { padding: 2 })`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { randomCrop } from "./transforms.ts";
 * const crop = randomCrop(4, { padding: 1 });
 * const out = crop(Tensor.ones([1, 4, 4]), new Rng(0));
 * assert.deepEqual(out.shape, [1, 4, 4]);
 * assert.ok(out.data.every((v) => v === 0 || v === 1));
 * ```
 */
export function randomCrop(
  size: number | readonly [number, number],
  options: { padding?: number } = {},
): Transform {
  const [h, w] = typeof size === "number" ? [size, size] : size;
  const padding = options.padding ?? 0;
  if (![h, w, padding].every((v) => Number.isInteger(v) && v >= 0) || h < 1 || w < 1) {
    throw new Error(
      `randomCrop: size and padding must be integers (size ≥ 1), got ${size}, ${padding}`,
    );
  }
  return (x: Tensor, rng: Rng): Tensor => {
    const [C, H, W] = checkImage("randomCrop", x);
    const PH = H + 2 * padding, PW = W + 2 * padding;
    if (h > PH || w > PW) {
      throw new Error(`randomCrop: crop ${h}×${w} is larger than the padded image ${PH}×${PW}`);
    }
    const top = rng.randint(0, PH - h + 1), left = rng.randint(0, PW - w + 1);
    const out = Tensor.zeros([C, h, w], x.dtype);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < h; i++) {
        const si = top + i - padding;
        if (si < 0 || si >= H) continue;
        for (let j = 0; j < w; j++) {
          const sj = left + j - padding;
          if (sj >= 0 && sj < W) out.data[(c * h + i) * w + j] = x.data[(c * H + si) * W + sj];
        }
      }
    }
    return out;
  };
}

/**
 * Mirrors the image left–right with probability `p` (default 0.5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { randomHorizontalFlip } from "./transforms.ts";
 * const x = Tensor.fromArray([1, 2, 3], [1, 1, 3]);
 * assert.deepEqual(randomHorizontalFlip(1)(x, new Rng(0)).toNested(), [[[3, 2, 1]]]);
 * assert.equal(randomHorizontalFlip(0)(x, new Rng(0)), x);
 * ```
 */
export function randomHorizontalFlip(p = 0.5): Transform {
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new Error(`randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  }
  return (x: Tensor, rng: Rng): Tensor => {
    const [C, H, W] = checkImage("randomHorizontalFlip", x);
    if (!(rng.random() < p)) return x;
    const out = Tensor.zeros(x.shape, x.dtype);
    for (let r = 0; r < C * H; r++) {
      for (let j = 0; j < W; j++) out.data[r * W + j] = x.data[r * W + W - 1 - j];
    }
    return out;
  };
}

/** The transforms applied in order. */
export function compose(...transforms: Transform[]): Transform {
  return (x: Tensor, rng: Rng): Tensor => transforms.reduce((acc, t) => t(acc, rng), x);
}

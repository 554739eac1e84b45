/**
 * Turning tensors into pictures: a grid of images (cs231n `vis_utils.visualize_grid`), a single
 * image, and nearest-neighbour upscaling so that 28x28 or 32x32 tiles are visible.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import type { RasterImage } from "./png.ts";

/** Options of {@link visualizeGrid}. */
export interface VisualizeGridOptions {
  /** Each image is scaled to `[0, ubound]`; at most 255 since pixels are bytes. Default 255. */
  ubound?: number;
  /** Background pixels between neighbouring images. Default 1. */
  padding?: number;
  /**
   * Axis order of a 4-D input: `"NCHW"` (default: our layers' layout, e.g. conv weights
   * `(F, C, HH, WW)`) or `"NHWC"` (the layout cs231n's `visualize_grid` takes).
   */
  layout?: "NCHW" | "NHWC";
}

/**
 * Lays out `N` images in a `ceil(sqrt(N))` by `ceil(sqrt(N))` grid, row by row, with `padding`
 * zero pixels between them, each image min-max normalized on its own to `[0, ubound]`.
 *
 * Accepts `(N, C, H, W)` (or `(N, H, W, C)` with `layout: "NHWC"`) with `C` 1 or 3, and
 * `(N, H, W)` as gray. Pixel values are truncated to integers, as the course's
 * `grid.astype('uint8')` does. An image whose pixels are all equal (where the reference
 * divides 0 by 0) comes out black.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { visualizeGrid } from "./grid.ts";
 * // Five 2x3 gray images: a 3x3 grid of 2x3 cells with 1-pixel gaps.
 * const x = Tensor.arange(30).reshape([5, 1, 2, 3]);
 * const grid = visualizeGrid(x);
 * assert.ok(grid.width === 3 * 3 + 2 && grid.height === 3 * 2 + 2 && grid.channels === 1);
 * assert.ok(grid.data[0] === 0 && grid.data[2] === 102 && grid.data[3] === 0); // gap
 * ```
 */
export function visualizeGrid(x: Tensor, options: VisualizeGridOptions = {}): RasterImage {
  const { ubound = 255, padding = 1, layout = "NCHW" } = options;
  if (layout !== "NCHW" && layout !== "NHWC") {
    throw new Error(
      `visualizeGrid: layout must be "NCHW" or "NHWC", got ${JSON.stringify(layout)}`,
    );
  }
  if (!(ubound > 0 && ubound <= 255)) {
    throw new Error(`visualizeGrid: ubound must be in (0, 255], got ${ubound}`);
  }
  if (!Number.isInteger(padding) || padding < 0) {
    throw new Error(`visualizeGrid: padding must be a non-negative integer, got ${padding}`);
  }
  const shape = x.shape;
  let n: number, c: number, h: number, w: number;
  if (shape.length === 3) [n, h, w, c] = [...shape, 1];
  else if (shape.length === 4 && layout === "NCHW") [n, c, h, w] = shape;
  else if (shape.length === 4) [n, h, w, c] = shape;
  else {
    throw new Error(
      `visualizeGrid: x must be (N, C, H, W), (N, H, W, C) or (N, H, W), got shape [${shape}]`,
    );
  }
  if (c !== 1 && c !== 3) {
    throw new Error(
      `visualizeGrid: images must have 1 or 3 channels, got ${c} (x shape [${shape}], ` +
        `layout ${layout})`,
    );
  }
  if (n < 1 || h < 1 || w < 1) {
    throw new Error(`visualizeGrid: x has no pixels to show (shape [${shape}])`);
  }

  const gridSize = Math.ceil(Math.sqrt(n));
  const width = w * gridSize + padding * (gridSize - 1);
  const height = h * gridSize + padding * (gridSize - 1);
  const out = new Uint8Array(width * height * c);
  const src = x.data;
  const imageSize = c * h * w;
  // Element (channel k, row i, column j) of one image, relative to the image's start.
  const offset = layout === "NCHW" || shape.length === 3
    ? (k: number, i: number, j: number) => (k * h + i) * w + j
    : (k: number, i: number, j: number) => (i * w + j) * c + k;

  for (let img = 0; img < n; img++) {
    const start = img * imageSize;
    let low = Infinity;
    let high = -Infinity;
    for (let p = start; p < start + imageSize; p++) {
      const v = src[p];
      if (!Number.isFinite(v)) {
        throw new Error(`visualizeGrid: image ${img} holds a non-finite value (${v})`);
      }
      if (v < low) low = v;
      if (v > high) high = v;
    }
    const range = high - low;
    const top = Math.floor(img / gridSize) * (h + padding);
    const left = (img % gridSize) * (w + padding);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const dst = ((top + i) * width + left + j) * c;
        for (let k = 0; k < c; k++) {
          const v = src[start + offset(k, i, j)];
          // Same operation order as the reference, so truncation lands on the same integer.
          out[dst + k] = range > 0 ? Math.floor(ubound * (v - low) / range) : 0;
        }
      }
    }
  }
  return { width, height, channels: c as 1 | 3, data: out };
}

/**
 * One image, `(H, W)` gray or `(C, H, W)` with `C` 1 or 3, min-max normalized to `0..255`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { toImage } from "./grid.ts";
 * const image = toImage(Tensor.fromArray([[-1, 0], [1, 3]]));
 * assert.ok(image.data.join() === "0,63,127,255");
 * ```
 */
export function toImage(x: Tensor): RasterImage {
  if (x.shape.length !== 2 && x.shape.length !== 3) {
    throw new Error(`toImage: x must be (H, W) or (C, H, W), got shape [${x.shape}]`);
  }
  return visualizeGrid(x.reshape([1, ...x.shape]), { padding: 0 });
}

/**
 * Enlarges `image` by an integer `factor`, each pixel becoming a `factor` x `factor` block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { upscale } from "./grid.ts";
 * const big = upscale({ width: 2, height: 1, channels: 1, data: new Uint8Array([7, 9]) }, 2);
 * assert.ok(big.width === 4 && big.height === 2 && big.data.join() === "7,7,9,9,7,7,9,9");
 * ```
 */
export function upscale(image: RasterImage, factor: number): RasterImage {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`upscale: factor must be a positive integer, got ${factor}`);
  }
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) {
    throw new Error(
      `upscale: image data has ${data.length} bytes, expected ${width * height * channels} ` +
        `(${width}x${height}x${channels})`,
    );
  }
  const outWidth = width * factor;
  const out = new Uint8Array(outWidth * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const srcRow = Math.floor(y / factor) * width;
    for (let x = 0; x < outWidth; x++) {
      const s = (srcRow + Math.floor(x / factor)) * channels;
      out.set(data.subarray(s, s + channels), (y * outWidth + x) * channels);
    }
  }
  return { width: outWidth, height: height * factor, channels, data: out };
}

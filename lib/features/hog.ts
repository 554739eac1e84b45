/**
 * Histogram of oriented gradients, exactly as cs231n's `features.py` computes it
 * (`hog_feature`), plus a cell-size option.
 *
 * The course's recipe, which this follows step by step (including its quirks, so that the
 * numbers match the notebook's):
 * - an RGB image becomes gray with `rgb2gray` (weights 0.299, 0.587, 0.144 — the course's
 *   values; the usual third weight is 0.114);
 * - gradients are forward differences (`np.diff`), 0 in the last column (x) and last row (y);
 * - orientation `atan2(gy, gx + 1e-15)` in degrees, plus 90: it lies in [−90°, 270°], and
 *   only orientations in (0°, 180°) are counted, in 9 bins of 20°; so a gradient pointing
 *   left (270°) or straight up or down (0° or 180°, up to rounding) is dropped;
 * - each bin's magnitudes are averaged over a `cellSize × cellSize` window
 *   (`scipy.ndimage.uniform_filter`, reflecting at the border) and sampled every
 *   `cellSize` pixels from `round(cellSize / 2)` (Python's round, half to even): for even
 *   sizes the window is exactly the cell;
 * - the result is laid out (column cell, row cell, bin), from the course's transpose.
 *
 * @module
 */

import { Tensor } from "../tensor.ts";
import { checkInt, checkOptionKeys } from "../checks.ts";
import { checkImage } from "./_check.ts";

/** Options of {@link hogFeature}. */
export interface HogOptions {
  /**
   * Pixels per cell side (default 8, the course's). A 28×28 image has only 3×3 cells of
   * 8 pixels; 4 gives 7×7.
   */
  cellSize?: number;
}

/** Number of orientation bins over 0–180°. */
const ORIENTATIONS = 9;

/**
 * cs231n's `rgb2gray`: `0.299·R + 0.587·G + 0.144·B` of an `(H, W, 3)` image, as a
 * Float64Array of `H·W` values. (0.144 is the course's weight, kept so that features match
 * its numbers; the ITU-R 601 weight is 0.114.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { rgb2gray } from "./hog.ts";
 * const gray = rgb2gray(Tensor.fromArray([[[100, 100, 100]]]));
 * assert.ok(Math.abs(gray[0] - 103) < 1e-12); // the weights add up to 1.03
 * ```
 */
export function rgb2gray(im: Tensor): Float64Array {
  const [H, W] = checkImage("rgb2gray", im, [3]);
  const out = new Float64Array(H * W);
  const d = im.data;
  for (let p = 0; p < H * W; p++) {
    out[p] = d[3 * p] * 0.299 + d[3 * p + 1] * 0.587 + d[3 * p + 2] * 0.144;
  }
  return out;
}

/**
 * The HOG feature of one image, `(H, W)` gray or `(H, W, 3)` RGB with values 0–255, as a
 * float64 Tensor of `floor(W / cellSize) · floor(H / cellSize) · 9` values (the course's
 * `hog_feature`; see the module notes for every step). Gray values are taken as floats.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { hogFeature } from "./hog.ts";
 * // A horizontal ramp: gradient (2, 0) everywhere but the last column, orientation 90°,
 * // so bin 4 (80°–100°) holds 56 pixels of magnitude 2 averaged over the 64 of the cell.
 * const ramp = Tensor.zeros([8, 8]).map((_, i) => 2 * (i % 8));
 * const feature = hogFeature(ramp);
 * assert.deepEqual([...feature.data], [0, 0, 0, 0, 1.75, 0, 0, 0, 0]);
 * ```
 */
export function hogFeature(im: Tensor, options: HogOptions = {}): Tensor {
  const fn = "hogFeature";
  checkOptionKeys(fn, options, ["cellSize"]);
  const [H, W, C] = checkImage(fn, im, [1, 3]);
  const cell = checkInt(fn, "cellSize", options.cellSize ?? 8, 1);
  const rowCells = Math.floor(H / cell), colCells = Math.floor(W / cell);
  if (rowCells === 0 || colCells === 0) {
    throw new Error(
      `${fn}: a ${H}×${W} image has no whole cell of ${cell}×${cell} pixels (cellSize ${cell})`,
    );
  }
  const gray = C === 3 ? rgb2gray(im) : Float64Array.from(im.data);

  // Per pixel: the gradient magnitude and its orientation bin (-1: not counted).
  const magnitude = new Float64Array(H * W);
  const bin = new Int8Array(H * W);
  const binWidth = 180 / ORIENTATIONS;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const p = r * W + c;
      const gx = c < W - 1 ? gray[p + 1] - gray[p] : 0;
      const gy = r < H - 1 ? gray[p + W] - gray[p] : 0;
      magnitude[p] = Math.sqrt(gx ** 2 + gy ** 2);
      const orientation = Math.atan2(gy, gx + 1e-15) * (180 / Math.PI) + 90;
      bin[p] = orientationBin(orientation, binWidth);
    }
  }

  // uniform_filter's window at sample s covers [s − floor(cell/2), s − floor(cell/2) + cell).
  const first = pythonRoundHalf(cell) - Math.floor(cell / 2);
  const out = Tensor.zeros([colCells * rowCells * ORIENTATIONS]);
  const o = out.data;
  const hist = new Float64Array(ORIENTATIONS);
  const area = cell * cell;
  for (let cr = 0; cr < rowCells; cr++) {
    for (let cc = 0; cc < colCells; cc++) {
      hist.fill(0);
      for (let i = 0; i < cell; i++) {
        const r = reflect(first + cr * cell + i, H);
        for (let j = 0; j < cell; j++) {
          const p = r * W + reflect(first + cc * cell + j, W);
          if (bin[p] >= 0) hist[bin[p]] += magnitude[p];
        }
      }
      const base = (cc * rowCells + cr) * ORIENTATIONS;
      for (let b = 0; b < ORIENTATIONS; b++) o[base + b] = hist[b] / area;
    }
  }
  return out;
}

/**
 * The bin `i` with `binWidth·i ≤ orientation < binWidth·(i + 1)` and `orientation > 0`,
 * else −1; the edges are computed as the course computes them (`180 / 9 * (i + 1)`).
 */
function orientationBin(orientation: number, binWidth: number): number {
  if (!(orientation > 0 && orientation < binWidth * ORIENTATIONS)) return -1;
  let i = Math.min(ORIENTATIONS - 1, Math.floor(orientation / binWidth));
  // The division may round across an edge; the comparisons decide, as in the course.
  if (orientation < binWidth * i) i--;
  else if (orientation >= binWidth * (i + 1)) i++;
  return i >= 0 && i < ORIENTATIONS ? i : -1;
}

/** Python's `round(cell / 2)`: halves go to the even neighbour. */
function pythonRoundHalf(cell: number): number {
  const half = Math.floor(cell / 2);
  if (cell % 2 === 0) return half;
  return half % 2 === 0 ? half : half + 1;
}

/** scipy's "reflect" border mode (d c b a | a b c d | d c b a) for one reflection. */
function reflect(i: number, n: number): number {
  if (i < 0) return Math.min(-i - 1, n - 1);
  if (i >= n) return Math.max(2 * n - i - 1, 0);
  return i;
}

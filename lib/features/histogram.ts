/**
 * Histogram features: cs231n's `color_histogram_hsv` (a histogram of hue) for RGB images,
 * and the same histogram of pixel intensity for one-channel images (Fashion-MNIST has no
 * colour, so its hue is 0 everywhere).
 *
 * Both follow `np.histogram` with `nbin` equal bins between `xmin` and `xmax` (the last
 * bin includes `xmax`, values outside are ignored), then multiply by the bin widths as the
 * course does: with `normalized` (numpy's `density`) the result is the fraction of pixels
 * in each bin; without it, each count times the bin width (the course's formula, kept).
 *
 * @module
 */

import { Tensor } from "../tensor.ts";
import { checkInt, checkOptionKeys } from "../checks.ts";
import { checkImage } from "./_check.ts";

/** Options of {@link colorHistogramHsv} and {@link intensityHistogram}. */
export interface HistogramOptions {
  /** Number of bins (default 10). */
  nbin?: number;
  /** Lower edge of the first bin (default 0). */
  xmin?: number;
  /** Upper edge of the last bin, and the pixels' full scale (default 255). */
  xmax?: number;
  /** Divide by the number of pixels (numpy's `density`, default true). */
  normalized?: boolean;
}

const HISTOGRAM_OPTIONS = ["nbin", "xmin", "xmax", "normalized"] as const;

/**
 * The histogram of hue of an `(H, W, 3)` RGB image with values 0–`xmax` (cs231n's
 * `color_histogram_hsv`): hue as matplotlib's `rgb_to_hsv` computes it (in [0, 1), scaled
 * by `xmax`; gray pixels have hue 0), binned as described in the module notes. Returns a
 * float64 Tensor of `nbin` values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { colorHistogramHsv } from "./histogram.ts";
 * // Pure red (hue 0) and pure green (hue 1/3 → 85 of 255, bin 3 of 10).
 * const im = Tensor.fromArray([[[255, 0, 0], [0, 255, 0]]]);
 * assert.deepEqual([...colorHistogramHsv(im).data], [0.5, 0, 0, 0.5, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function colorHistogramHsv(im: Tensor, options: HistogramOptions = {}): Tensor {
  const fn = "colorHistogramHsv";
  checkOptionKeys(fn, options, HISTOGRAM_OPTIONS);
  const [H, W] = checkImage(fn, im, [3]);
  const { nbin, xmin, xmax, normalized } = histogramOptions(fn, options);
  const hue = new Float64Array(H * W);
  const d = im.data;
  for (let p = 0; p < H * W; p++) {
    hue[p] = hueOf(d[3 * p] / xmax, d[3 * p + 1] / xmax, d[3 * p + 2] / xmax) * xmax;
  }
  return histogram(hue, nbin, xmin, xmax, normalized);
}

/**
 * The histogram of the pixel values of a one-channel image, `(H, W)` or `(H, W, 1)`, with
 * the same bins and scaling as {@link colorHistogramHsv}. Returns a float64 Tensor of
 * `nbin` values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { intensityHistogram } from "./histogram.ts";
 * // 0 falls in the first bin, 255 in the last (closed) one, 128 in bin 5 (127.5–153).
 * const im = Tensor.fromArray([[0, 255], [128, 0]]);
 * assert.deepEqual([...intensityHistogram(im).data], [0.5, 0, 0, 0, 0, 0.25, 0, 0, 0, 0.25]);
 * ```
 */
export function intensityHistogram(im: Tensor, options: HistogramOptions = {}): Tensor {
  const fn = "intensityHistogram";
  checkOptionKeys(fn, options, HISTOGRAM_OPTIONS);
  checkImage(fn, im, [1]);
  const { nbin, xmin, xmax, normalized } = histogramOptions(fn, options);
  return histogram(im.data, nbin, xmin, xmax, normalized);
}

function histogramOptions(fn: string, options: HistogramOptions) {
  const nbin = checkInt(fn, "nbin", options.nbin ?? 10, 1);
  const xmin = options.xmin ?? 0, xmax = options.xmax ?? 255;
  if (!Number.isFinite(xmin) || !Number.isFinite(xmax) || !(xmin < xmax)) {
    throw new Error(`${fn}: need finite xmin < xmax, got xmin=${xmin}, xmax=${xmax}`);
  }
  return { nbin, xmin, xmax, normalized: options.normalized ?? true };
}

/**
 * matplotlib's `rgb_to_hsv` hue of one pixel with channels in [0, 1]: where several
 * channels tie for the maximum, blue wins over green over red (the order matplotlib
 * assigns them); the result is `(h / 6) mod 1` with Python's modulo.
 */
function hueOf(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  const delta = max - Math.min(r, g, b);
  if (!(delta > 0)) return 0;
  let h: number;
  if (b === max) h = 4 + (r - g) / delta;
  else if (g === max) h = 2 + (b - r) / delta;
  else h = (g - b) / delta;
  let m = (h / 6) % 1;
  if (m < 0) m += 1; // Python's float modulo takes the sign of the divisor (may give 1.0)
  return m;
}

/**
 * `np.histogram(values, bins=linspace(xmin, xmax, nbin + 1), density=normalized)` times
 * the bin widths, as a float64 Tensor.
 */
function histogram(
  values: ArrayLike<number>,
  nbin: number,
  xmin: number,
  xmax: number,
  normalized: boolean,
): Tensor {
  const edges = Tensor.linspace(xmin, xmax, nbin + 1).data;
  const counts = new Float64Array(nbin);
  const scale = nbin / (xmax - xmin);
  let total = 0;
  for (let p = 0; p < values.length; p++) {
    const v = values[p];
    if (!(v >= xmin && v <= xmax)) continue;
    let i = Math.min(nbin - 1, Math.floor((v - xmin) * scale));
    // The scaled index may round across an edge; the edges decide, as in numpy.
    if (v < edges[i]) i--;
    else if (v >= edges[i + 1] && i < nbin - 1) i++;
    counts[i]++;
    total++;
  }
  const out = Tensor.zeros([nbin]);
  for (let i = 0; i < nbin; i++) {
    const width = edges[i + 1] - edges[i];
    out.data[i] = (normalized ? counts[i] / width / total : counts[i]) * width;
  }
  return out;
}

/**
 * Pictures the experiment scripts share: training curves of one or several Solvers in one
 * figure (loss per iteration, train and validation accuracy per epoch, as the notebooks
 * plot them) and a captioned grid of first-layer weights.
 *
 * @module
 */

import { join } from "node:path";
import type { Solver } from "../lib/solver.ts";
import type { Tensor } from "../lib/tensor.ts";
import { upscale, visualizeGrid } from "../lib/vis/grid.ts";
import { type RasterImage, writePng } from "../lib/vis/png.ts";
import { figure, type LinePlotOptions, writeSvg } from "../lib/vis/plot.ts";

/** The histories a training-curve figure needs (a Solver has them). */
export type TrainingHistory = Pick<Solver, "lossHistory" | "trainAccHistory" | "valAccHistory">;

/**
 * The panels of a training-curve figure. One run: its loss, then its train and validation
 * accuracy in one panel (series "train" and "val"), as the notebooks plot a single model.
 * Several runs: loss, train accuracy and validation accuracy, one curve per run named by the
 * record's keys. Epoch axes have whole-number ticks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainingCurvePanels } from "./_plots.ts";
 * const run = { lossHistory: [2.3, 1.2], trainAccHistory: [0.1, 0.6], valAccHistory: [0.1, 0.5] };
 * const [loss, accuracy] = trainingCurvePanels({ cnn: run });
 * assert.deepEqual(accuracy.series.map((s) => s.name), ["train", "val"]);
 * assert.equal(trainingCurvePanels({ a: run, b: run }).length, 3);
 * ```
 */
export function trainingCurvePanels(runs: Record<string, TrainingHistory>): LinePlotOptions[] {
  const entries = Object.entries(runs);
  const loss: LinePlotOptions = {
    title: "Training loss",
    xLabel: "Iteration",
    yLabel: "Loss",
    series: entries.map(([label, s]) => ({ name: label, y: s.lossHistory, style: "points" })),
  };
  if (entries.length === 1) {
    const [, s] = entries[0];
    return [loss, {
      title: "Accuracy",
      xLabel: "Epoch",
      yLabel: "Accuracy",
      integerX: true,
      series: [
        { name: "train", y: s.trainAccHistory, style: "both" },
        { name: "val", y: s.valAccHistory, style: "both" },
      ],
    }];
  }
  const accuracy = (title: string, key: "trainAccHistory" | "valAccHistory"): LinePlotOptions => ({
    title,
    xLabel: "Epoch",
    yLabel: "Accuracy",
    integerX: true,
    series: entries.map(([label, s]) => ({ name: label, y: s[key], style: "both" })),
  });
  return [
    loss,
    accuracy("Training accuracy", "trainAccHistory"),
    accuracy("Validation accuracy", "valAccHistory"),
  ];
}

/**
 * Writes `<dir>/<name>.svg`: the training curves of {@link trainingCurvePanels}.
 */
export async function writeTrainingCurves(
  dir: string,
  name: string,
  title: string,
  solvers: Record<string, TrainingHistory>,
): Promise<string> {
  const svg = figure(trainingCurvePanels(solvers), { columns: 1, title });
  const path = join(dir, `${name}.svg`);
  await writeSvg(path, svg);
  console.log(`Wrote ${path}`);
  return path;
}

/**
 * Writes the first-layer weights `W1` of shape `(C·H·W, hidden)` as a PNG grid of
 * `(C, H, W)` images, one per hidden unit (at most `limit`), upscaled to be visible, with a
 * caption saying how many of the units it shows.
 */
export async function writeFirstLayerWeights(
  path: string,
  W1: Tensor,
  imageShape: readonly number[],
  limit = 100,
): Promise<void> {
  const count = Math.min(limit, W1.shape[1]);
  // Columns of W1 are the units' templates: transpose to (hidden, C·H·W), keep `count`.
  const templates = W1.transpose().sliceRows(0, count).reshape([count, ...imageShape]);
  const caption = count < W1.shape[1]
    ? `first-layer weights: ${count} of ${W1.shape[1]} hidden units`
    : `first-layer weights: all ${count} hidden units`;
  await writePng(path, withCaption(upscale(visualizeGrid(templates), 2), caption));
  console.log(`Wrote ${path} (${caption})`);
}

/**
 * Writes conv filters `w (F, C, HH, WW)` as a PNG grid, upscaled by `factor`, with a caption
 * saying how many filters it shows and their size.
 */
export async function writeFilterGrid(path: string, w: Tensor, factor: number): Promise<void> {
  const [count, channels, height, width] = w.shape;
  const caption = `first-layer filters: all ${count}, ${channels}x${height}x${width}`;
  await writePng(path, withCaption(upscale(visualizeGrid(w), factor), caption));
  console.log(`Wrote ${path} (${caption})`);
}

// A 3×5 pixel font (upper case, digits, a little punctuation): enough for captions without
// shipping a font. Each glyph is five rows of three pixels, "#" lit.
const GLYPHS: Record<string, string> = {
  "A": ".#. #.# ### #.# #.#",
  "B": "##. #.# ##. #.# ##.",
  "C": ".## #.. #.. #.. .##",
  "D": "##. #.# #.# #.# ##.",
  "E": "### #.. ##. #.. ###",
  "F": "### #.. ##. #.. #..",
  "G": ".## #.. #.# #.# .##",
  "H": "#.# #.# ### #.# #.#",
  "I": "### .#. .#. .#. ###",
  "J": "..# ..# ..# #.# .#.",
  "K": "#.# #.# ##. #.# #.#",
  "L": "#.. #.. #.. #.. ###",
  "M": "#.# ### ### #.# #.#",
  "N": "##. #.# #.# #.# #.#",
  "O": ".#. #.# #.# #.# .#.",
  "P": "##. #.# ##. #.. #..",
  "Q": ".#. #.# #.# ##. .##",
  "R": "##. #.# ##. #.# #.#",
  "S": ".## #.. .#. ..# ##.",
  "T": "### .#. .#. .#. .#.",
  "U": "#.# #.# #.# #.# ###",
  "V": "#.# #.# #.# #.# .#.",
  "W": "#.# #.# ### ### #.#",
  "X": "#.# #.# .#. #.# #.#",
  "Y": "#.# #.# .#. .#. .#.",
  "Z": "### ..# .#. #.. ###",
  "0": "### #.# #.# #.# ###",
  "1": ".#. ##. .#. .#. ###",
  "2": "##. ..# .#. #.. ###",
  "3": "##. ..# .#. ..# ##.",
  "4": "#.# #.# ### ..# ..#",
  "5": "### #.. ##. ..# ##.",
  "6": ".## #.. ### #.# ###",
  "7": "### ..# .#. .#. .#.",
  "8": "### #.# ### #.# ###",
  "9": "### #.# ### ..# ##.",
  " ": "... ... ... ... ...",
  ":": "... .#. ... .#. ...",
  "-": "... ... ### ... ...",
  ",": "... ... ... .#. #..",
  ".": "... ... ... ... .#.",
  "(": "..# .#. .#. .#. ..#",
  ")": "#.. .#. .#. .#. #..",
};

/**
 * `image` with `caption` written above it in white on black (a 3×5 pixel font enlarged
 * `scale` times; letters are shown in upper case, characters without a glyph as blanks). The
 * canvas widens when the caption is wider than the image.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withCaption } from "./_plots.ts";
 * const image = { width: 10, height: 4, channels: 1 as const, data: new Uint8Array(40).fill(9) };
 * const out = withCaption(image, "12 units", 1);
 * assert.equal(out.width, 2 + 8 * 4 - 1 + 2); // the caption is wider than the image
 * assert.equal(out.height, 2 + 5 + 2 + 4); // margin, 5 rows of text, margin, the image
 * assert.ok(out.data.includes(255) && out.data.includes(9));
 * ```
 */
export function withCaption(image: RasterImage, caption: string, scale = 2): RasterImage {
  const text = caption.toUpperCase();
  const margin = 2 * scale;
  const textWidth = (text.length * 4 - 1) * scale;
  const stripHeight = 5 * scale + 2 * margin;
  const width = Math.max(image.width, textWidth + 2 * margin);
  const height = stripHeight + image.height;
  const { channels } = image;
  const data = new Uint8Array(width * height * channels);
  // Alpha channels (2 and 4) are made opaque everywhere outside the pasted image.
  if (channels === 2 || channels === 4) {
    for (let p = 0; p < width * height; p++) data[p * channels + channels - 1] = 255;
  }
  const setWhite = (x: number, y: number) => {
    const base = (y * width + x) * channels;
    for (let c = 0; c < channels; c++) data[base + c] = 255;
  };
  for (const [i, ch] of [...text].entries()) {
    const rows = (GLYPHS[ch] ?? GLYPHS[" "]).split(" ");
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 3; c++) {
        if (rows[r][c] !== "#") continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            setWhite(margin + (i * 4 + c) * scale + dx, margin + r * scale + dy);
          }
        }
      }
    }
  }
  const rowBytes = image.width * channels;
  for (let y = 0; y < image.height; y++) {
    data.set(
      image.data.subarray(y * rowBytes, (y + 1) * rowBytes),
      ((stripHeight + y) * width) * channels,
    );
  }
  return { width, height, channels, data };
}

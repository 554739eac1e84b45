/**
 * Pictures the experiment scripts share: training curves of one or several Solvers in one
 * figure (loss per iteration, train and validation accuracy per epoch, as the notebooks
 * plot them) and a grid of first-layer weights.
 *
 * @module
 */

import { join } from "node:path";
import type { Solver } from "../lib/solver.ts";
import type { Tensor } from "../lib/tensor.ts";
import { upscale, visualizeGrid } from "../lib/vis/grid.ts";
import { writePng } from "../lib/vis/png.ts";
import { figure, writeSvg } from "../lib/vis/plot.ts";

/**
 * Writes `<dir>/<name>.svg`: the training loss of every solver by iteration, then train
 * and validation accuracy by epoch, one curve per solver, named by the record's keys.
 */
export async function writeTrainingCurves(
  dir: string,
  name: string,
  title: string,
  solvers: Record<string, Solver>,
): Promise<string> {
  const entries = Object.entries(solvers);
  const svg = figure([
    {
      title: "Training loss",
      xLabel: "Iteration",
      yLabel: "Loss",
      series: entries.map(([label, s]) => ({ name: label, y: s.lossHistory, style: "points" })),
    },
    {
      title: "Training accuracy",
      xLabel: "Epoch",
      yLabel: "Accuracy",
      series: entries.map(([label, s]) => ({ name: label, y: s.trainAccHistory, style: "both" })),
    },
    {
      title: "Validation accuracy",
      xLabel: "Epoch",
      yLabel: "Accuracy",
      series: entries.map(([label, s]) => ({ name: label, y: s.valAccHistory, style: "both" })),
    },
  ], { columns: 1, title });
  const path = join(dir, `${name}.svg`);
  await writeSvg(path, svg);
  console.log(`Wrote ${path}`);
  return path;
}

/**
 * Writes the first-layer weights `W1` of shape `(C·H·W, hidden)` as a PNG grid of
 * `(C, H, W)` images, one per hidden unit (at most `limit`), upscaled to be visible.
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
  await writePng(path, upscale(visualizeGrid(templates), 2));
  console.log(`Wrote ${path}`);
}

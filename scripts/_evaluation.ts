/**
 * Evaluating a classifier on a data split: predictions in batches without recording, the
 * confusion matrix, per-class accuracy, and the confusion matrix as an SVG picture.
 *
 * @module
 */

import { noGrad } from "../lib/autograd/grad_mode.ts";
import type { Module } from "../lib/nn/module.ts";
import type { Tensor } from "../lib/tensor.ts";
import { formatTable } from "./_cli.ts";

/** The model's predicted class for every example of `X`, in eval mode, `batchSize` at a time. */
export function predict(model: Module, X: Tensor, batchSize = 500): Int32Array {
  const wasTraining = model.training;
  model.eval();
  const out = new Int32Array(X.shape[0]);
  noGrad(() => {
    for (let start = 0; start < X.shape[0]; start += batchSize) {
      const end = Math.min(start + batchSize, X.shape[0]);
      out.set(model.forward(X.sliceRows(start, end)).argmax(1), start);
    }
  });
  model.train(wasTraining);
  return out;
}

/** `counts[trueClass][predictedClass]`. */
export function confusionMatrix(
  y: ArrayLike<number>,
  pred: ArrayLike<number>,
  numClasses: number,
): number[][] {
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < y.length; i++) counts[y[i]][pred[i]]++;
  return counts;
}

/** The summary of a confusion matrix. */
export interface Accuracies {
  accuracy: number;
  perClass: number[];
}

/** Overall accuracy and the accuracy of each true class (NaN for a class with no examples). */
export function accuracies(counts: number[][]): Accuracies {
  let correct = 0, total = 0;
  const perClass = counts.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    correct += row[c];
    total += n;
    return n === 0 ? NaN : row[c] / n;
  });
  return { accuracy: correct / total, perClass };
}

/** The confusion matrix as a text table with per-class accuracy. */
export function formatConfusion(counts: number[][], classes: readonly string[]): string {
  const { perClass } = accuracies(counts);
  const short = classes.map((c) => c.slice(0, 7));
  return formatTable(
    ["true \\ predicted", ...short, "accuracy"],
    counts.map((row, c) => [classes[c], ...row, perClass[c].toFixed(3)]),
  );
}

/** The confusion matrix as an SVG heat map (row-normalised shading, counts written in). */
export function confusionSvg(
  counts: number[][],
  classes: readonly string[],
  title: string,
): string {
  const n = classes.length, cell = 44, left = 120, top = 60, bottom = 110;
  const width = left + n * cell + 20, height = top + n * cell + bottom;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${left + (n * cell) / 2}" y="${height - 10}" text-anchor="middle">predicted</text>`,
    `<text x="14" y="${top + (n * cell) / 2}" text-anchor="middle" ` +
    `transform="rotate(-90 14 ${top + (n * cell) / 2})">true</text>`,
  ];
  for (let r = 0; r < n; r++) {
    const total = counts[r].reduce((a, b) => a + b, 0) || 1;
    parts.push(
      `<text x="${left - 6}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end">` +
        `${esc(classes[r])}</text>`,
    );
    for (let c = 0; c < n; c++) {
      const f = counts[r][c] / total;
      // White to dark blue; text turns white on dark cells.
      const shade = (a: number, b: number) => Math.round(a + (b - a) * Math.sqrt(f));
      const fill = `rgb(${shade(255, 8)},${shade(255, 48)},${shade(255, 107)})`;
      const x = left + c * cell, y = top + r * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${
          f > 0.3 ? "white" : "black"
        }">${counts[r][c]}</text>`,
      );
    }
  }
  for (let c = 0; c < n; c++) {
    const x = left + c * cell + cell / 2, y = top + n * cell + 8;
    parts.push(
      `<text x="${x}" y="${y}" text-anchor="end" transform="rotate(-45 ${x} ${y})">` +
        `${esc(classes[c])}</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

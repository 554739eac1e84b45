/**
 * Line plots as SVG text: enough of matplotlib's `plt.plot` / `plt.semilogx` / `plt.subplot` to
 * draw the course's loss curves, accuracy histories and weight-scale sweeps.
 *
 * @module
 */

import { writeFileCreatingDir } from "../io/files.ts";

/** One curve of a {@link linePlot}. */
export interface PlotSeries {
  /** Shown in the legend. */
  name: string;
  /** Abscissae; default `0, 1, ..., y.length - 1`, as for `plt.plot(y)`. */
  x?: ArrayLike<number>;
  /**
   * Ordinates. Points where `x` or `y` is NaN or infinite (or not positive on a log axis) are
   * skipped, leaving a gap in the line.
   */
  y: ArrayLike<number>;
  /** Connected line (default), markers only, or both (matplotlib's `'-o'`). */
  style?: "line" | "points" | "both";
  /** Any SVG colour; default the next of matplotlib's ten default colours. */
  color?: string;
}

/** Options of {@link linePlot}: one set of axes. */
export interface LinePlotOptions {
  /** The curves. */
  series: PlotSeries[];
  /** Text above the axes. */
  title?: string;
  /** Label under the x axis. */
  xLabel?: string;
  /** Label beside the y axis. */
  yLabel?: string;
  /** Width in pixels; default 640. */
  width?: number;
  /** Height in pixels; default 400. */
  height?: number;
  /** Logarithmic x axis (like `plt.semilogx`). */
  logX?: boolean;
  /** Logarithmic y axis (like `plt.semilogy`). */
  logY?: boolean;
  /** Fixed x-axis limits; default: the data range widened to whole ticks. */
  xRange?: [number, number];
  /** Fixed y-axis limits; default: the data range widened to whole ticks. */
  yRange?: [number, number];
  /** Whether to draw the legend; default: when there are two series or more. */
  legend?: boolean;
  /**
   * Ticks on the x axis only at whole numbers (epochs, counts); default false. The step is
   * then at least 1, so a two-epoch history is labelled 0, 1, 2, not 0, 0.5, 1, ...
   */
  integerX?: boolean;
}

/** Options of {@link figure}. */
export interface FigureOptions {
  /** Panels per row; default 1 (a vertical stack, like `plt.subplot(3, 1, i)`). */
  columns?: number;
  /** Text above all panels. */
  title?: string;
}

/** matplotlib's default colour cycle ("tab10"), so plots look familiar to course readers. */
const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
const MARGIN = { left: 68, right: 16, top: 12, bottom: 48, title: 24 };

/**
 * Draws `options.series` on one set of axes and returns a standalone SVG document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linePlot } from "./plot.ts";
 * const svg = linePlot({
 *   title: "Training loss",
 *   xLabel: "Iteration",
 *   series: [{ name: "loss", y: [2.3, 1.9, NaN, 1.2, 0.9] }],
 * });
 * assert.ok(svg.startsWith("<svg") && svg.includes("Training loss"));
 * ```
 */
export function linePlot(options: LinePlotOptions): string {
  const { width, height, body } = renderPanel("linePlot", options, "p0");
  return document(width, height, body);
}

/**
 * Puts several plots into one SVG, in a grid of `columns` panels per row, each cell as large
 * as the largest panel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { figure } from "./plot.ts";
 * const svg = figure([
 *   { title: "Training loss", series: [{ name: "baseline", y: [2.3, 1.5, 1.1] }] },
 *   { title: "Validation accuracy", series: [{ name: "baseline", y: [0.2, 0.4, 0.5] }] },
 * ], { title: "Batch normalization" });
 * assert.ok(svg.split("<path").length - 1 === 2);
 * ```
 */
export function figure(panels: LinePlotOptions[], options: FigureOptions = {}): string {
  const { columns = 1, title } = options;
  if (!Array.isArray(panels) || panels.length === 0) {
    throw new Error(`figure: panels must be a non-empty array, got ${String(panels)}`);
  }
  if (!Number.isInteger(columns) || columns < 1) {
    throw new Error(`figure: columns must be a positive integer, got ${columns}`);
  }
  const rendered = panels.map((p, i) => renderPanel(`figure (panel ${i})`, p, `p${i}`));
  const cellWidth = Math.max(...rendered.map((r) => r.width));
  const cellHeight = Math.max(...rendered.map((r) => r.height));
  const titleHeight = title ? 32 : 0;
  const cols = Math.min(columns, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const parts = rendered.map((r, i) =>
    `<g transform="translate(${(i % cols) * cellWidth},${
      titleHeight + Math.floor(i / cols) * cellHeight
    })">\n${r.body}</g>\n`
  );
  if (title) parts.unshift(text(cols * cellWidth / 2, 22, title, 'font-size="16"'));
  return document(cols * cellWidth, titleHeight + rows * cellHeight, parts.join(""));
}

/** Writes `svg` to `path`, creating the parent directory if needed. */
export async function writeSvg(path: string | URL, svg: string): Promise<void> {
  await writeFileCreatingDir(path, new TextEncoder().encode(svg));
}

// ------------------------------------------------------------------------------------ panel

/** The SVG elements of one set of axes; `id` keeps clip-path ids unique within a figure. */
function renderPanel(
  fn: string,
  options: LinePlotOptions,
  id: string,
): { width: number; height: number; body: string } {
  if (options === null || typeof options !== "object") {
    throw new Error(`${fn}: options must be an object, got ${String(options)}`);
  }
  const { series, title, xLabel, yLabel, logX = false, logY = false } = options;
  const legend = options.legend ?? (Array.isArray(series) && series.length > 1);
  const { width = 640, height = 400 } = options;
  if (!Array.isArray(series)) {
    throw new Error(`${fn}: options.series must be an array, got ${String(series)}`);
  }
  for (const [name, size] of [["width", width], ["height", height]] as const) {
    if (!(Number.isFinite(size) && size >= 160)) {
      throw new Error(`${fn}: options.${name} must be a number >= 160, got ${size}`);
    }
  }
  const points = series.map((s, i) => seriesPoints(fn, s, i, logX, logY));

  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top + (title ? MARGIN.title : 0);
  const bottom = height - MARGIN.bottom;
  const xAxis = makeAxis(
    fn,
    "x",
    points.flat().map((p) => p[0]),
    logX,
    options.xRange,
    options.integerX ?? false,
  );
  const yAxis = makeAxis(fn, "y", points.flat().map((p) => p[1]), logY, options.yRange, false);
  const px = (v: number) => left + xAxis.fraction(v) * (right - left);
  const py = (v: number) => bottom - yAxis.fraction(v) * (bottom - top);

  const out: string[] = [];
  out.push(
    `<clipPath id="${id}-area"><rect x="${left}" y="${top}" width="${right - left}" ` +
      `height="${bottom - top}"/></clipPath>\n`,
  );
  for (const t of xAxis.ticks) {
    const x = num(px(t.value));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom + 5}" stroke="#ddd"/>\n`);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#000"/>\n`);
    out.push(text(px(t.value), bottom + 18, t.label, 'class="tick-x"'));
  }
  for (const t of yAxis.ticks) {
    const y = num(py(t.value));
    out.push(`<line x1="${left - 5}" y1="${y}" x2="${right}" y2="${y}" stroke="#ddd"/>\n`);
    out.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#000"/>\n`);
    out.push(text(left - 8, py(t.value) + 4, t.label, 'class="tick-y" text-anchor="end"'));
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="#000"/>\n`,
  );
  if (title) out.push(text(width / 2, MARGIN.top + 14, title, 'class="title" font-size="14"'));
  if (xLabel) out.push(text((left + right) / 2, height - 10, xLabel, 'class="x-label"'));
  if (yLabel) {
    const [x, y] = [16, (top + bottom) / 2];
    out.push(text(x, y, yLabel, `class="y-label" transform="rotate(-90 ${x} ${y})"`));
  }

  const pixels = points.map((list) => list.map(([x, y]) => [clampPixel(px(x)), clampPixel(py(y))]));
  out.push(`<g clip-path="url(#${id}-area)">\n`);
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const style = s.style ?? "line";
    const xy = pixels[i];
    if (style !== "points") {
      // One path per series; a skipped point starts a new sub-path ("M") so gaps stay gaps.
      const d = xy.map(([x, y], k) => `${points[i][k][2] ? "L" : "M"}${num(x)},${num(y)}`);
      out.push(
        `<path class="series-line" d="${d.join(" ")}" fill="none" stroke="${
          escapeXml(color)
        }" stroke-width="1.5"/>\n`,
      );
    }
    if (style !== "line") {
      for (const [x, y] of xy) {
        out.push(`<circle cx="${num(x)}" cy="${num(y)}" r="2.5" fill="${escapeXml(color)}"/>\n`);
      }
    }
  });
  out.push("</g>\n");
  if (legend && series.length > 0) {
    out.push(renderLegend(series, { left, right, top, bottom }, pixels.flat()));
  }
  return { width, height, body: out.join("") };
}

/**
 * The legend, in whichever corner of the plot area covers the fewest data points (top right
 * on a tie), a simple form of matplotlib's `loc="best"`.
 */
function renderLegend(
  series: PlotSeries[],
  area: { left: number; right: number; top: number; bottom: number },
  pixels: number[][],
): string {
  const rowHeight = 18;
  // A rough text width (7.5 px per character at 12 px sans-serif, generous for underscores
  // and wide letters) is enough to size the box.
  const boxWidth = 40 + Math.max(...series.map((s) => s.name.length)) * 7.5;
  const boxHeight = series.length * rowHeight + 6;
  const corners = [
    [area.right - 8 - boxWidth, area.top + 8],
    [area.left + 8, area.top + 8],
    [area.right - 8 - boxWidth, area.bottom - 8 - boxHeight],
    [area.left + 8, area.bottom - 8 - boxHeight],
  ];
  const covered = corners.map(([x, y]) =>
    pixels.filter(([px, py]) => px >= x && px <= x + boxWidth && py >= y && py <= y + boxHeight)
      .length
  );
  const [left, top] = corners[covered.indexOf(Math.min(...covered))];
  const out = [
    `<g class="legend"><rect x="${num(left)}" y="${top}" width="${num(boxWidth)}" height="${
      series.length * rowHeight + 6
    }" fill="#fff" fill-opacity="0.85" stroke="#bbb"/>\n`,
  ];
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? COLORS[i % COLORS.length]);
    const y = top + 3 + rowHeight * (i + 0.5);
    if ((s.style ?? "line") !== "points") {
      out.push(
        `<line x1="${num(left + 6)}" y1="${y}" x2="${num(left + 26)}" y2="${y}" ` +
          `stroke="${color}" stroke-width="1.5"/>\n`,
      );
    }
    if ((s.style ?? "line") !== "line") {
      out.push(`<circle cx="${num(left + 16)}" cy="${y}" r="2.5" fill="${color}"/>\n`);
    }
    out.push(text(left + 32, y + 4, s.name, 'text-anchor="start"'));
  });
  out.push("</g>\n");
  return out.join("");
}

/**
 * The drawable points of a series as `[x, y, continues]`, where `continues` says that the
 * previous point was drawable too (so a line joins them).
 */
function seriesPoints(
  fn: string,
  s: PlotSeries,
  index: number,
  logX: boolean,
  logY: boolean,
): [number, number, boolean][] {
  if (typeof s?.name !== "string" || s.y === undefined || typeof s.y.length !== "number") {
    throw new Error(`${fn}: series ${index} needs a string name and an array y`);
  }
  if (s.x !== undefined && s.x.length !== s.y.length) {
    throw new Error(
      `${fn}: series "${s.name}" has ${s.x.length} x values but ${s.y.length} y values`,
    );
  }
  if (s.style !== undefined && !["line", "points", "both"].includes(s.style)) {
    throw new Error(`${fn}: series "${s.name}" style must be line, points or both, got ${s.style}`);
  }
  const out: [number, number, boolean][] = [];
  let previousDrawn = false;
  for (let i = 0; i < s.y.length; i++) {
    const x = s.x === undefined ? i : s.x[i];
    const y = s.y[i];
    const drawable = Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) &&
      (!logY || y > 0);
    if (drawable) out.push([x, y, previousDrawn]);
    previousDrawn = drawable;
  }
  return out;
}

// ------------------------------------------------------------------------------------- axes

interface Axis {
  /** Position of `v` from 0 (low end) to 1 (high end). */
  fraction(v: number): number;
  ticks: { value: number; label: string }[];
}

function makeAxis(
  fn: string,
  name: "x" | "y",
  values: number[],
  log: boolean,
  range: [number, number] | undefined,
  integer: boolean,
): Axis {
  if (range !== undefined) {
    const [lo, hi] = range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi && (!log || lo > 0))) {
      throw new Error(
        `${fn}: options.${name}Range must be two finite numbers low < high` +
          `${log ? " (both > 0 on a log axis)" : ""}, got [${range}]`,
      );
    }
  }
  return log ? logAxis(values, range) : linearAxis(values, range, integer);
}

function linearAxis(values: number[], range: [number, number] | undefined, integer: boolean): Axis {
  const [lo, hi] = range ?? withMargins(values.length ? extent(values) : [0, 1]);
  const raw = niceStep((hi - lo) / 8); // 4 to 8 ticks
  // Whole-number axes: 1, 2, 5, 10 ... are integers, anything below 1 is not.
  const step = integer ? Math.max(1, raw) : raw;
  const ticks = [];
  // Ticks are integer multiples of the step, so 0 is a tick whenever it is in range.
  for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) {
    ticks.push({ value: k * step, label: formatTick(k * step, step) });
  }
  return { fraction: (v) => (v - lo) / (hi - lo), ticks };
}

/** Log axis; all the range arithmetic happens on log10 of the values. */
function logAxis(values: number[], range: [number, number] | undefined): Axis {
  const logs = values.map(Math.log10);
  const [lo, hi] = range
    ? [Math.log10(range[0]), Math.log10(range[1])]
    : withMargins(logs.length ? extent(logs) : [0, 1]);
  // Powers of ten when at least two fit in; otherwise 1, 2, 5 times powers of ten.
  const mantissas = Math.floor(hi + 1e-9) - Math.ceil(lo - 1e-9) >= 1 ? [1] : [1, 2, 5];
  const candidates = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of mantissas) {
      // Parsing "2e-3" gives the double nearest 0.002; 2 * 10 ** -3 need not.
      const value = Number(`${m}e${k}`);
      const label = Math.abs(k) <= 3 ? String(value) : `${m}e${k}`;
      const position = Math.log10(value);
      if (position >= lo - 1e-9 && position <= hi + 1e-9) candidates.push({ value, label });
    }
  }
  const every = Math.ceil(candidates.length / 9); // a label per decade would crowd 20 decades
  const ticks = candidates.filter((_, i) => i % every === 0);
  return { fraction: (v) => (Math.log10(v) - lo) / (hi - lo), ticks };
}

/**
 * The data range widened by 5% on each side, like matplotlib, so that markers at the extremes
 * are not cut in half by the frame; a single value gets a range around it.
 */
function withMargins([lo, hi]: [number, number]): [number, number] {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  const margin = 0.05 * (hi - lo);
  return [lo - margin, hi + margin];
}

/** Smallest and largest value (a loop: spreading a long history into Math.min overflows). */
function extent(values: number[]): [number, number] {
  let [min, max] = [Infinity, -Infinity];
  for (const v of values) [min, max] = [Math.min(min, v), Math.max(max, v)];
  return [min, max];
}

/** The 1, 2 or 5 times a power of ten nearest above `raw`. */
function niceStep(raw: number): number {
  const exponent = Math.floor(Math.log10(raw));
  const mantissa = raw / 10 ** exponent;
  const nice = mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10;
  return nice * 10 ** exponent;
}

/** A tick label with just the decimals the step needs (0.1 + 0.2 prints as "0.3"). */
function formatTick(value: number, step: number): string {
  if (Math.abs(value) < step / 2) return "0";
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (decimals > 4 || Math.abs(value) >= 1e6) return Number(value.toPrecision(6)).toExponential();
  return value.toFixed(decimals);
}

// ---------------------------------------------------------------------------------- helpers

function document(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${body}</svg>\n`;
}

function text(x: number, y: number, content: string, attributes = ""): string {
  const anchor = attributes.includes("text-anchor") ? "" : ' text-anchor="middle"';
  return `<text x="${num(x)}" y="${num(y)}"${anchor} ${attributes}>${escapeXml(content)}</text>\n`;
}

/** A coordinate with two decimals at most, so files stay small. */
function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/**
 * Keeps far-off points (a diverging loss under a fixed `yRange`) at a distance SVG renderers
 * handle; they lie outside the clip area either way.
 */
function clampPixel(v: number): number {
  return Math.max(-1e5, Math.min(1e5, v));
}

/** Escapes the five XML special characters. */
function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

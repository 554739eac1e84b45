/**
 * Training progress output, shared by the Solver and the scripts.
 *
 * On a terminal, one status line is redrawn in place (`\r` + clear line), so a long run
 * does not scroll thousands of lines; epoch summaries stay above it as ordinary lines.
 * Anywhere else (a pipe, a log file, a test's `log` sink) plain lines are printed every
 * `printEvery` iterations, in the style of cs231n's Solver:
 *
 * ```text
 * (Iteration 11 / 400) loss: 2.2931 | 1234 img/s | ETA 12s
 * (Epoch 2 / 10) train acc: 0.410; val_acc: 0.380
 * ```
 *
 * @module
 */

/** The state of training after one iteration, as shown by {@link ProgressPrinter}. */
export interface IterationStatus {
  /** Iterations done so far (1-based: 1 after the first step). */
  iteration: number;
  /** Total number of iterations of the run. */
  numIterations: number;
  /** The epoch in progress (1-based). */
  epoch: number;
  /** Total number of epochs. */
  numEpochs: number;
  /** Loss of the latest minibatch. */
  loss: number;
  /** Training throughput, if known. */
  imagesPerSecond?: number;
  /** Estimated seconds until the end of the run, if known. */
  etaSeconds?: number;
}

/** Options of {@link ProgressPrinter}. */
export interface ProgressOptions {
  /** Plain mode prints iterations 1, 1 + printEvery, 1 + 2·printEvery, ... Default 10. */
  printEvery?: number;
  /** Receives every plain line instead of `console.log`; giving it turns terminal mode off. */
  log?: (line: string) => void;
  /** Redraw one status line in place. Default: whether stdout is a terminal (and no `log`). */
  tty?: boolean;
  /** Terminal mode redraws at most this often, in milliseconds. Default 100. */
  minIntervalMs?: number;
}

/**
 * `"12s"`, `"3m05s"` or `"2h07m"`; `"--"` when the duration is unknown (not finite).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration } from "./progress.ts";
 * assert.equal(formatDuration(185), "3m05s");
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
}

/**
 * The plain iteration line, e.g. `"(Iteration 11 / 400) loss: 2.2931 | 1234 img/s | ETA 12s"`
 * (throughput and ETA are left out when unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIterationLine } from "./progress.ts";
 * const line = formatIterationLine({
 *   iteration: 11, numIterations: 400, epoch: 1, numEpochs: 10, loss: 2.29312,
 *   imagesPerSecond: 1234.4, etaSeconds: 12.2,
 * });
 * assert.equal(line, "(Iteration 11 / 400) loss: 2.2931 | 1234 img/s | ETA 12s");
 * ```
 */
export function formatIterationLine(status: IterationStatus): string {
  const head = `(Iteration ${status.iteration} / ${status.numIterations}) loss: ` +
    status.loss.toFixed(4);
  return [head, ...rateParts(status)].join(" | ");
}

/**
 * The in-place terminal status line, e.g.
 * `"Iteration 11 / 400 | epoch 1 / 10 | loss 2.2931 | 1234 img/s | ETA 12s"`.
 */
export function formatStatusLine(status: IterationStatus): string {
  return [
    `Iteration ${status.iteration} / ${status.numIterations}`,
    `epoch ${status.epoch} / ${status.numEpochs}`,
    `loss ${status.loss.toFixed(4)}`,
    ...rateParts(status),
  ].join(" | ");
}

/**
 * The epoch summary line, e.g. `"(Epoch 2 / 10) train acc: 0.410; val_acc: 0.380"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEpochLine } from "./progress.ts";
 * assert.equal(formatEpochLine(2, 10, 0.41, 0.38), "(Epoch 2 / 10) train acc: 0.410; val_acc: 0.380");
 * ```
 */
export function formatEpochLine(
  epoch: number,
  numEpochs: number,
  trainAcc: number,
  valAcc: number,
): string {
  return `(Epoch ${epoch} / ${numEpochs}) train acc: ${trainAcc.toFixed(3)}; ` +
    `val_acc: ${valAcc.toFixed(3)}`;
}

/**
 * Prints training progress: an in-place status line on a terminal, plain lines elsewhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressPrinter } from "./progress.ts";
 * const lines: string[] = [];
 * const progress = new ProgressPrinter({ printEvery: 2, log: (l) => lines.push(l) });
 * for (let it = 1; it <= 3; it++) {
 *   progress.iteration({ iteration: it, numIterations: 3, epoch: 1, numEpochs: 1, loss: 1 / it });
 * }
 * progress.line("done");
 * progress.end();
 * assert.equal(lines.join("\n"),
 *   "(Iteration 1 / 3) loss: 1.0000\n(Iteration 3 / 3) loss: 0.3333\ndone");
 * ```
 */
export class ProgressPrinter {
  /** Whether the status line is redrawn in place. */
  readonly tty: boolean;
  readonly #printEvery: number;
  readonly #minIntervalMs: number;
  readonly #log: (line: string) => void;
  #lastDraw = -Infinity;
  #statusShown = false;

  /** Creates a printer; see {@link ProgressOptions}. */
  constructor(options: ProgressOptions = {}) {
    const printEvery = options.printEvery ?? 10;
    if (!Number.isInteger(printEvery) || printEvery < 1) {
      throw new Error(`ProgressPrinter: printEvery must be a positive integer, got ${printEvery}`);
    }
    this.#printEvery = printEvery;
    this.#minIntervalMs = options.minIntervalMs ?? 100;
    this.#log = options.log ?? ((line) => console.log(line));
    this.tty = options.tty ?? (options.log === undefined && Deno.stdout.isTerminal());
  }

  /** Reports the state after an iteration (printed or drawn as the mode decides). */
  iteration(status: IterationStatus): void {
    if (!this.tty) {
      if ((status.iteration - 1) % this.#printEvery === 0) this.#log(formatIterationLine(status));
      return;
    }
    const now = performance.now();
    const last = status.iteration === status.numIterations;
    if (!last && status.iteration !== 1 && now - this.#lastDraw < this.#minIntervalMs) return;
    this.#lastDraw = now;
    writeStdout(`\r\x1b[2K${formatStatusLine(status)}`);
    this.#statusShown = true;
  }

  /** Prints a permanent line (an epoch summary, a message), above the status line. */
  line(text: string): void {
    if (!this.tty) {
      this.#log(text);
      return;
    }
    // Replace the status line; the next iteration draws it again below.
    writeStdout(`\r\x1b[2K${text}\n`);
    this.#statusShown = false;
  }

  /** Ends the run: moves past the status line so later output starts on a fresh line. */
  end(): void {
    if (this.tty && this.#statusShown) writeStdout("\n");
    this.#statusShown = false;
  }
}

function rateParts(status: IterationStatus): string[] {
  const parts: string[] = [];
  if (status.imagesPerSecond !== undefined && Number.isFinite(status.imagesPerSecond)) {
    parts.push(`${Math.round(status.imagesPerSecond)} img/s`);
  }
  if (status.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(status.etaSeconds)}`);
  return parts;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  // writeSync may write fewer bytes than asked; loop until everything is out.
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

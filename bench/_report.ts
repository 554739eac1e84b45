/**
 * A small companion to `deno bench`: benches record their own wall times here, and when
 * the bench module unloads, a table of derived figures (GFLOP/s, seconds per epoch,
 * ratios measured in this same run) is printed after Deno's own table.
 */

interface Timing {
  unit: string;
  /** Work per call, in units of `unit` (e.g. GFLOP per call for GFLOP/s). */
  workPerCall: number;
  totalMs: number;
  calls: number;
}

const records = new Map<string, Timing>();
const notes: string[] = [];

/** Times `fn` once and adds it to the named record. */
export function timed(name: string, unit: string, workPerCall: number, fn: () => void): void {
  const t0 = performance.now();
  fn();
  const dt = performance.now() - t0;
  const r = records.get(name) ?? { unit, workPerCall, totalMs: 0, calls: 0 };
  r.totalMs += dt;
  r.calls++;
  records.set(name, r);
}

/** Mean milliseconds per call of a record (NaN when it never ran). */
export function meanMs(name: string): number {
  const r = records.get(name);
  return r ? r.totalMs / r.calls : NaN;
}

/** Adds a free-form line printed under the table (e.g. which kernel ran). */
export function note(line: string): void {
  notes.push(line);
}

/** Registers a ratio `a / b` of two records' rates to print at the end. */
const ratios: [string, string, string][] = [];
export function ratio(label: string, faster: string, slower: string): void {
  ratios.push([label, faster, slower]);
}

/** Per-variant wall times of one {@link pairedRounds} call, in milliseconds. */
export type RoundTimes = Record<string, number[]>;

/**
 * Runs each variant once per round, in turn, for `rounds` rounds (after `warmup` untimed
 * rounds), and returns every variant's times. Why interleave: on a shared virtual machine
 * the speed of a core drifts by tens of percent from second to second, so two variants
 * timed one after the other can see different machines; timed in alternation, each
 * round's variants see the same one, and the median of per-round ratios is stable where
 * the ratio of two separately taken means is not.
 */
export async function pairedRounds(
  variants: Record<string, () => void | Promise<void>>,
  rounds: number,
  warmup = 3,
): Promise<RoundTimes> {
  const times: RoundTimes = {};
  for (const name of Object.keys(variants)) times[name] = [];
  for (let r = -warmup; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = performance.now();
      await fn();
      if (r >= 0) times[name].push(performance.now() - t0);
    }
  }
  return times;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `q`-quantile (0…1) of `values`, by linear interpolation. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
}

interface RoundsReport {
  times: RoundTimes;
  unit: string;
  workPerCall: number;
  comparisons: [string, string, string][];
}

const roundReports = new Map<string, RoundsReport>();

/**
 * Records rounds under `title` for the end-of-run report (rounds of repeated calls with
 * the same title are pooled): each variant's median time and rate, and for each [label,
 * faster, slower] the median of the per-round ratios slower ÷ faster with its
 * interquartile range.
 */
export function reportRounds(
  title: string,
  times: RoundTimes,
  unit: string,
  workPerCall: number,
  comparisons: [string, string, string][],
): void {
  const report = roundReports.get(title);
  if (!report) {
    roundReports.set(title, { times, unit, workPerCall, comparisons });
    return;
  }
  for (const [name, t] of Object.entries(times)) report.times[name].push(...t);
}

function formatRounds(title: string, r: RoundsReport): string[] {
  const lines = [`${title} (${Object.values(r.times)[0].length} interleaved rounds):`];
  for (const [name, t] of Object.entries(r.times)) {
    const ms = median(t);
    lines.push(
      `  ${name.padEnd(42)} ${ms.toFixed(3).padStart(10)} ms (median)  ${
        (r.workPerCall / (ms / 1000)).toFixed(2).padStart(8)
      } ${r.unit}`,
    );
  }
  for (const [label, faster, slower] of r.comparisons) {
    const x = r.times[slower].map((t, i) => t / r.times[faster][i]);
    lines.push(
      `  ${label}: ${median(x).toFixed(2)}× (median of rounds; middle half ${
        quantile(x, 0.25).toFixed(2)
      }–${quantile(x, 0.75).toFixed(2)})`,
    );
  }
  return lines;
}

globalThis.addEventListener("unload", () => {
  for (const [title, r] of roundReports) console.log(`\n${formatRounds(title, r).join("\n")}`);
  if (records.size === 0) return;
  const rows = [...records].map(([name, r]) => {
    const ms = r.totalMs / r.calls;
    const rate = r.unit === "s/epoch" ? r.workPerCall * ms / 1000 : r.workPerCall / (ms / 1000);
    return `  ${name.padEnd(44)} ${ms.toFixed(3).padStart(10)} ms   ${
      rate.toFixed(2).padStart(8)
    } ${r.unit}`;
  });
  console.log("\nDerived figures (this run):");
  console.log(rows.join("\n"));
  for (const [label, a, b] of ratios) {
    const x = meanMs(b) / meanMs(a);
    if (Number.isFinite(x)) console.log(`  ${label}: ${x.toFixed(2)}×`);
  }
  for (const n of notes) console.log(`  ${n}`);
});

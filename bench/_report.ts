/**
 * A small companion to `deno bench`: benches record their own wall times here, and when
 * the bench module unloads, a table of derived figures (GFLOP/s, seconds per epoch,
 * ratios measured in this same run) is printed after Deno's own table.
 */

interface Record {
  unit: string;
  /** Work per call, in units of `unit` (e.g. GFLOP per call for GFLOP/s). */
  workPerCall: number;
  totalMs: number;
  calls: number;
}

const records = new Map<string, Record>();
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

globalThis.addEventListener("unload", () => {
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

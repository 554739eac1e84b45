/**
 * What scripts write and print: `results.json` and `results.md` (merged across `--only`
 * runs, each section naming the run that produced it), plain-text tables and headings.
 *
 * @module
 */

import type { ScriptContext } from "./_context.ts";
import { join } from "node:path";
import type { DataSplits } from "../lib/data/preprocess.ts";
import { type Flags, quote } from "./_flags.ts";
import { granted } from "./_access.ts";

/** One run recorded in `results.json`: when, how, and which sections it produced. */
export interface RunRecord {
  /** When the run started (ISO date), or "unknown" for a file written before runs were kept. */
  startedAt: string;
  /** The command-line flags of the run. */
  args: string[];
  /** The keys of `results.json` this run produced (and still owns). */
  sections: string[];
  /** What the script records about the run: mode, seed, dataset, threads, seconds... */
  [key: string]: unknown;
}

/** The contents of `results.json`: the script, its runs, then one entry per section. */
export interface ResultsFile {
  /** The script that wrote the file. */
  script: string;
  /** The runs whose sections the file holds, oldest first. */
  runs: RunRecord[];
  /** The results of each section, by name. */
  [section: string]: unknown;
}

/**
 * Merges this run's `sections` into `previous` (the folder's existing results): a section
 * this run produced replaces the old one, the others stay, and `runs` lists which run
 * produced which sections (runs left with none are dropped). A previous file of another
 * script, or in the old layout without `runs`, is treated as one earlier run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeResults } from "./_cli.ts";
 * const first = mergeResults(null, "s", { startedAt: "t1", args: [] }, { a: 1, b: 2 });
 * const second = mergeResults(first, "s", { startedAt: "t2", args: ["--only", "b"] }, { b: 3 });
 * assert.equal(second.a, 1);
 * assert.equal(second.b, 3);
 * assert.deepEqual(second.runs.map((r) => r.sections), [["a"], ["b"]]);
 * ```
 */
export function mergeResults(
  previous: unknown,
  script: string,
  run: { startedAt: string; args: string[]; [key: string]: unknown },
  sections: Record<string, unknown>,
): ResultsFile {
  const merged: ResultsFile = { script, runs: [] };
  const keys = Object.keys(sections);
  if (
    previous !== null && typeof previous === "object" && !Array.isArray(previous) &&
    (previous as { script?: unknown }).script === script
  ) {
    const old = previous as Record<string, unknown>;
    let oldRuns: RunRecord[];
    if (Array.isArray(old.runs)) {
      oldRuns = old.runs as RunRecord[];
    } else {
      // The layout before runs were recorded: run details at the top, then the sections.
      const meta = ["script", "mode", "dataset", "seed", "totalSeconds", "threads"];
      const legacy: RunRecord = { startedAt: "unknown", args: [], sections: [] };
      for (const [k, v] of Object.entries(old)) {
        if (k === "script") continue;
        if (meta.includes(k) || k === "hardwareConcurrency") legacy[k] = v;
        else legacy.sections.push(k);
      }
      oldRuns = [legacy];
    }
    for (const r of oldRuns) {
      const kept = (r.sections ?? []).filter((k) => !keys.includes(k) && k in old);
      if (kept.length === 0) continue;
      merged.runs.push({ ...r, sections: kept });
      for (const k of kept) merged[k] = old[k];
    }
  }
  merged.runs.push({ ...run, sections: keys });
  Object.assign(merged, sections);
  return merged;
}

/**
 * Writes `results.json` into the script's folder, merged with what an earlier run (say, a
 * full run before this `--only` run) left there, and says where it went. `run` holds the
 * details of this run (mode, seed, dataset...); `sections` the results by section.
 * Returns the merged contents.
 */
export async function writeResults(
  ctx: ScriptContext<string>,
  run: Record<string, unknown>,
  sections: Record<string, unknown>,
): Promise<ResultsFile> {
  const path = join(ctx.dir, "results.json");
  let previous: unknown = null;
  try {
    if (granted("read", path)) previous = JSON.parse(await Deno.readTextFile(path));
    else console.warn(`${ctx.script}: no read permission for ${path}; not merging with it`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      console.warn(
        `${ctx.script}: replacing ${path}, which could not be read: ${(e as Error).message}`,
      );
    }
  }
  const merged = mergeResults(previous, ctx.script, {
    startedAt: ctx.startedAt,
    args: [...Deno.args],
    ...run,
    totalSeconds: ctx.elapsedSeconds(),
  }, sections);
  await Deno.writeTextFile(path, JSON.stringify(merged, null, 2) + "\n");
  const kept = merged.runs.length > 1
    ? ` (kept ${merged.runs.slice(0, -1).flatMap((r) => r.sections).join(", ")} from earlier runs)`
    : "";
  console.log(`Wrote ${path}${kept}`);
  return merged;
}

/** A fixed-width text table: a header row, a rule, then the rows. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c])).join("  ").trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)]
    .join("\n");
}

/**
 * Prints a section heading so long output stays readable. Drawn with "─" rather than "=":
 * a line framed by "=" is how pytest closes its run, and CI log readers that look for a
 * test runner's summary would take a heading for one.
 */
export function section(title: string): void {
  console.log(`\n── ${title} ${"─".repeat(Math.max(0, 70 - title.length))}`);
}

/**
 * The sections chosen with `--only a,b` (all of `sections` when absent); throws naming an
 * unknown one and listing the valid ones.
 */
export function sectionsFrom<S extends string>(flags: Flags, sections: readonly S[]): Set<S> {
  if (flags.only === undefined) return new Set(sections);
  const chosen = (flags.only as string).split(",").map((s) => s.trim()).filter(Boolean);
  if (chosen.length === 0) {
    throw new Error(`--only must name sections (${sections.join(", ")}), got ${quote(flags.only)}`);
  }
  for (const s of chosen) {
    if (!(sections as readonly string[]).includes(s)) {
      throw new Error(`--only: unknown section ${quote(s)}; choose from ${sections.join(", ")}`);
    }
  }
  return new Set(chosen as S[]);
}

/** `x` rounded to `digits` decimals, for results.json. */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The last element of a history. */
export function last<T>(a: readonly T[]): T {
  return a[a.length - 1];
}

/**
 * Tables printed as they are made and collected as Markdown for the script's results.md,
 * grouped by the results.json section they belong to, so that an `--only` run replaces its
 * own sections of results.md and keeps the others.
 */
export class MarkdownReport {
  readonly #sections = new Map<string, string[]>();
  #current = "";

  /** Starts the group of `key` (a results.json section): what follows belongs to it. */
  begin(key: string): void {
    this.#current = key;
    if (!this.#sections.has(key)) this.#sections.set(key, []);
  }

  /** Prints a table and adds it, as Markdown, under `title` (with an optional note). */
  table(title: string, header: string[], rows: (string | number)[][], note = ""): void {
    console.log("\n" + formatTable(header, rows));
    const md = [
      `| ${header.join(" | ")} |`,
      `|${header.map(() => "---").join("|")}|`,
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ];
    this.add(`## ${title}\n\n${note ? note + "\n\n" : ""}${md.join("\n")}\n`);
  }

  /** Adds a free-form Markdown section. */
  add(markdown: string): void {
    this.begin(this.#current);
    this.#sections.get(this.#current)!.push(markdown);
  }

  /**
   * Writes `<dir>/results.md`: a `# heading`, one line per run of `results` (what produced
   * each section), then the sections in `order`: this run's, and those an earlier run left
   * in the file.
   */
  async write(dir: string, heading: string, results: ResultsFile, order: string[]): Promise<void> {
    const path = join(dir, "results.md");
    const blocks = new Map<string, string>();
    try {
      const old = granted("read", path) ? await Deno.readTextFile(path) : "";
      for (const m of old.matchAll(/<!-- section: ([\w-]+) -->\n([\s\S]*?)(?=<!-- section: |$)/g)) {
        blocks.set(m[1], m[2]);
      }
    } catch { /* no earlier results.md */ }
    for (const [key, parts] of this.#sections) blocks.set(key, parts.join("\n"));
    const owned = new Set(results.runs.flatMap((r) => r.sections));
    const runLines = results.runs.map((r, i) =>
      `- Run ${i + 1} (${r.startedAt}${r.args.length ? `, flags \`${r.args.join(" ")}\`` : ""}` +
      `${typeof r.about === "string" ? `; ${r.about}` : ""}): ${r.sections.join(", ")}`
    );
    const body = order.filter((k) => blocks.has(k) && (owned.has(k) || this.#sections.has(k)))
      .map((k) => `<!-- section: ${k} -->\n${blocks.get(k)!.trimEnd()}\n\n`);
    await Deno.writeTextFile(path, `# ${heading}\n\n${runLines.join("\n")}\n\n${body.join("")}`);
    console.log(`Wrote ${path}`);
  }
}

/**
 * What results.json records about the data: where it came from, split sizes (`trainUsed`
 * when a script trains on a prefix of the training split), image shape, preprocessing.
 */
export function datasetSummary(data: DataSplits, trainUsed?: number): Record<string, unknown> {
  return {
    name: data.dataset,
    dir: data.dir,
    isMini: data.isMini,
    train: data.XTrain.shape[0],
    ...(trainUsed === undefined ? {} : { trainUsed: Math.min(trainUsed, data.XTrain.shape[0]) }),
    val: data.XVal.shape[0],
    test: data.XTest.shape[0],
    imageShape: data.XTrain.shape.slice(1),
    preprocessing: "mean image subtracted, pixel values 0..255 otherwise unscaled (cs231n)",
  };
}

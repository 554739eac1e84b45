/**
 * What every experiment script shares: the common flags, loading the data set they name,
 * the output folder with its `results.json`, and a plain-text results table.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { type DatasetName, type DataSplits, getData } from "../lib/data/preprocess.ts";
import type { DType } from "../lib/storage.ts";

/** A flag of a script: its name, value kind, default and one line of help. */
export interface FlagSpec {
  type: "boolean" | "string";
  default?: string | boolean;
  help: string;
  /** Placeholder shown in `--help` for string flags, e.g. "DIR". */
  value?: string;
}

/** Flags every script accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { type: "boolean", default: false, help: "print this help and exit" },
  quick: {
    type: "boolean",
    default: false,
    help: "tiny data and few epochs: a smoke run that finishes in well under a minute",
  },
  dataset: {
    type: "string",
    default: "fashion-mnist",
    value: "NAME",
    help: "fashion-mnist or cifar10",
  },
  data: {
    type: "string",
    value: "DIR",
    help: "directory holding the data set's files (default: searched, see data/README.md)",
  },
  seed: { type: "string", default: "0", value: "N", help: "seed of every random draw" },
  out: { type: "string", value: "DIR", help: "output directory (default out/<script>)" },
};

/** Parsed flags: strings and booleans by name. */
export type Flags = Record<string, string | boolean | undefined>;

/**
 * Parses `Deno.args` against the common flags plus `extra`; prints the help text and exits
 * on `--help`; an unknown flag or a stray argument ends the script with a clear message.
 */
export function parseFlags(
  script: string,
  description: string,
  extra: Record<string, FlagSpec> = {},
): Flags {
  const specs = { ...COMMON_FLAGS, ...extra };
  const options: Record<string, { type: "boolean" | "string"; default?: string | boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type,
      ...(spec.default !== undefined ? { default: spec.default } : {}),
    };
  }
  let values: Flags;
  try {
    const parsed = parseArgs({ args: Deno.args, options, allowPositionals: false, strict: true });
    values = parsed.values as Flags;
  } catch (e) {
    console.error(`${script}: ${(e as Error).message}\nRun with --help to see the flags.`);
    Deno.exit(2);
  }
  if (values.help) {
    const lines = Object.entries(specs).map(([name, spec]) => {
      const left = `  --${name}${spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""}`;
      const def = spec.default !== undefined && spec.type === "string"
        ? ` (default ${spec.default})`
        : "";
      return `${left.padEnd(24)} ${spec.help}${def}`;
    });
    console.log(
      `${description}\n\nUsage: deno task ${script} [flags]\n\nFlags:\n${lines.join("\n")}`,
    );
    Deno.exit(0);
  }
  return values;
}

/** An integer flag, with a message naming the flag when it is not one. */
export function intFlag(flags: Flags, name: string, min = 0): number {
  const raw = flags[name];
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    Deno.exit(2);
  }
  return v;
}

/** A number flag, with a message naming the flag when it is not one. */
export function numberFlag(flags: Flags, name: string): number {
  const raw = flags[name];
  const v = Number(raw);
  if (raw === undefined || raw === "" || !Number.isFinite(v)) {
    console.error(`--${name} must be a number, got ${JSON.stringify(raw)}`);
    Deno.exit(2);
  }
  return v;
}

/** Loads the data set the flags name (`--dataset`, `--data`) and prints what was loaded. */
export async function loadData(
  flags: Flags,
  options: { numTraining?: number; numValidation?: number; numTest?: number; dtype?: DType } = {},
): Promise<DataSplits> {
  const dataset = flags.dataset as string;
  if (dataset !== "fashion-mnist" && dataset !== "cifar10") {
    console.error(`--dataset must be fashion-mnist or cifar10, got ${JSON.stringify(dataset)}`);
    Deno.exit(2);
  }
  const t0 = performance.now();
  const data = await getData({
    dataset: dataset as DatasetName,
    dataDir: flags.data as string | undefined,
    ...options,
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `Loaded ${data.dataset}${
      data.isMini ? " (committed mini subset)" : ""
    } from ${data.dir} in ${secs}s: ` +
      `train ${data.XTrain.shape[0]}, val ${data.XVal.shape[0]}, test ${data.XTest.shape[0]}, ` +
      `image shape [${data.XTrain.shape.slice(1)}]`,
  );
  return data;
}

/** The script's output folder (created): `--out` or `out/<script>`. */
export async function outputDir(flags: Flags, script: string): Promise<string> {
  const dir = (flags.out as string | undefined) ?? join("out", script);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    // Most often a permission error: the tasks grant writing to out/ only.
    console.error(`${script}: cannot create the output directory ${dir}: ${(e as Error).message}`);
    Deno.exit(2);
  }
  return dir;
}

/** What {@link startScript} hands a script: its parsed flags and the shared settings. */
export interface ScriptContext<S extends string> {
  flags: Flags;
  /** `--quick`: tiny data and few epochs. */
  quick: boolean;
  /** `--seed`. */
  seed: number;
  /** The sections chosen with `--only` (all when the script has none to choose). */
  only: Set<S>;
  /** The output folder, created: `--out`, else `out/<script>` (`/quick` for quick runs). */
  dir: string;
  /** Seconds since the script started, rounded to 0.1 s. */
  elapsedSeconds(): number;
}

/**
 * The preamble every notebook script shares: parses the common flags plus `extra` (and
 * `--only` when `sections` are given), reads `--seed`, and creates the output folder
 * (`out/<script>`, or `out/<script>/<subfolder>`; `quick` runs go to `out/<script>/quick`).
 *
 * @example
 * ```ts ignore
 * const { flags, quick, seed, only, dir } = await startScript({
 *   script: "knn",
 *   description: "k-nearest neighbours on Fashion-MNIST",
 *   sections: ["distances", "cross-validation"] as const,
 * });
 * ```
 */
export async function startScript<S extends string = never>(options: {
  script: string;
  description: string;
  extra?: Record<string, FlagSpec>;
  sections?: readonly S[];
  /** A subfolder of `out/<script>` for this run (default: "quick" for quick runs, else none). */
  subfolder?: (flags: Flags) => string | undefined;
}): Promise<ScriptContext<S>> {
  const started = performance.now();
  const { script, description, sections } = options;
  const extra: Record<string, FlagSpec> = { ...options.extra };
  if (sections !== undefined && sections.length > 0) {
    extra.only = {
      type: "string",
      value: "LIST",
      help: `comma-separated sections to run: ${sections.join(",")} (default all)`,
    };
  }
  const flags = parseFlags(script, description, extra);
  const quick = flags.quick as boolean;
  const seed = intFlag(flags, "seed");
  const only = parseSections(flags, sections ?? []);
  const sub = options.subfolder?.(flags) ?? (quick ? "quick" : undefined);
  const dir = await outputDir(flags, sub === undefined ? script : `${script}/${sub}`);
  return {
    flags,
    quick,
    seed,
    only,
    dir,
    elapsedSeconds: () => round((performance.now() - started) / 1000, 1),
  };
}

/** Writes `results.json` into `dir` and says where it went. */
export async function writeResults(dir: string, results: unknown): Promise<void> {
  const path = join(dir, "results.json");
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2) + "\n");
  console.log(`Wrote ${path}`);
}

/** A fixed-width text table: a header row, a rule, then the rows. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c])).join("  ").trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)]
    .join("\n");
}

/** Prints a section heading so long output stays readable. */
export function section(title: string): void {
  console.log(`\n=== ${title} ${"=".repeat(Math.max(0, 70 - title.length))}`);
}

/**
 * The sections chosen with `--only a,b` (all of `sections` when absent); an unknown name
 * ends the script with a message listing the valid ones.
 */
export function parseSections<S extends string>(flags: Flags, sections: readonly S[]): Set<S> {
  if (flags.only === undefined) return new Set(sections);
  const chosen = (flags.only as string).split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of chosen) {
    if (!(sections as readonly string[]).includes(s)) {
      console.error(
        `--only: unknown section ${JSON.stringify(s)}; choose from ${sections.join(", ")}`,
      );
      Deno.exit(2);
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
 * Tables printed as they are made and collected as Markdown for the script's results.md.
 */
export class MarkdownReport {
  readonly #sections: string[] = [];

  /** Prints a table and adds it, as Markdown, under `title` (with an optional note). */
  table(title: string, header: string[], rows: (string | number)[][], note = ""): void {
    console.log("\n" + formatTable(header, rows));
    const md = [
      `| ${header.join(" | ")} |`,
      `|${header.map(() => "---").join("|")}|`,
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ];
    this.#sections.push(`## ${title}\n\n${note ? note + "\n\n" : ""}${md.join("\n")}\n`);
  }

  /** Adds a free-form Markdown section. */
  add(markdown: string): void {
    this.#sections.push(markdown);
  }

  /** Writes `<dir>/results.md`: a `# heading`, an intro paragraph, then the sections. */
  async write(dir: string, heading: string, intro: string): Promise<void> {
    const path = join(dir, "results.md");
    await Deno.writeTextFile(
      path,
      `# ${heading}\n\n${intro ? intro + "\n\n" : ""}${this.#sections.join("\n")}`,
    );
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

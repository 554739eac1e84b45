/**
 * What every experiment script shares: the common flags and their checks, the permission
 * checks for `--data` and `--out`, loading the data set they name (sizes shrunk to the data
 * that is there), the output folder with its `results.json` (merged across `--only` runs),
 * and a plain-text results table.
 *
 * Everything a user can get wrong on the command line is reported before any work starts,
 * as one line `<script>: <what is wrong>`, with exit code 2; a data set that cannot be loaded
 * is reported the same way with exit code 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type DatasetName, type DataSplits, getData } from "../lib/data/preprocess.ts";
import { FASHION_MNIST_FILES, findFashionMnist } from "../lib/data/fashion_mnist.ts";
import { readIdxFile } from "../lib/data/idx.ts";
import type { DType } from "../lib/storage.ts";

/**
 * Checks a string flag's value. Returns what was expected (completing "--name must be …")
 * when the value is wrong, or null when it is fine.
 */
export type FlagCheck = (raw: string) => string | null;

/** A flag of a script: its name, value kind, default and one line of help. */
export interface FlagSpec {
  /** A switch (`--quick`) or a flag with a value (`--lr 1e-3`). */
  type: "boolean" | "string";
  /** The value when the flag is not given. */
  default?: string | boolean;
  /** One line for `--help`. */
  help: string;
  /** Placeholder shown in `--help` for string flags, e.g. "DIR". */
  value?: string;
  /** Checked with every other flag before the script does anything else. */
  check?: FlagCheck;
}

/** A check that accepts integers from `min` to `max`. */
export function isInteger(min = 0, max = Number.MAX_SAFE_INTEGER): FlagCheck {
  const expected = max < Number.MAX_SAFE_INTEGER
    ? `an integer from ${min} to ${max}`
    : `an integer ≥ ${min}`;
  return (raw) => {
    const v = Number(raw);
    return raw.trim() !== "" && Number.isSafeInteger(v) && v >= min && v <= max ? null : expected;
  };
}

/**
 * A check that accepts finite numbers, optionally within bounds (`above` is exclusive,
 * `atLeast` and `atMost` inclusive).
 */
export function isNumber(
  bounds: { above?: number; atLeast?: number; atMost?: number } = {},
): FlagCheck {
  const { above, atLeast, atMost } = bounds;
  const parts = [
    above !== undefined ? `> ${above}` : null,
    atLeast !== undefined ? `≥ ${atLeast}` : null,
    atMost !== undefined ? `≤ ${atMost}` : null,
  ].filter((p) => p !== null);
  const expected = parts.length ? `a number ${parts.join(" and ")}` : "a number";
  return (raw) => {
    const v = Number(raw);
    const ok = raw.trim() !== "" && Number.isFinite(v) &&
      (above === undefined || v > above) &&
      (atLeast === undefined || v >= atLeast) &&
      (atMost === undefined || v <= atMost);
    return ok ? null : expected;
  };
}

/** A check that accepts one of `choices`. */
export function isOneOf(choices: readonly string[]): FlagCheck {
  const expected = choices.length > 1
    ? `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`
    : choices[0];
  return (raw) => (choices.includes(raw) ? null : expected);
}

/** A check that accepts a non-empty comma-separated list whose every item passes `item`. */
export function isListOf(item: FlagCheck): FlagCheck {
  return (raw) => {
    const items = raw.split(",").map((s) => s.trim());
    const bad = items.length === 0 || items.some((s) => item(s) !== null);
    return bad ? `a comma-separated list, each item ${item("")}` : null;
  };
}

/** The items of a comma-separated list flag, as numbers (the flag was checked already). */
export function listFlag(flags: Flags, name: string): number[] {
  return (flags[name] as string).split(",").map((s) => Number(s.trim()));
}

/** Flags every script accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { type: "boolean", default: false, help: "print this help and exit" },
  quick: {
    type: "boolean",
    default: false,
    help: "tiny data and few epochs: a smoke run that finishes in well under a minute " +
      "(flags you give still win)",
  },
  dataset: {
    type: "string",
    default: "fashion-mnist",
    value: "NAME",
    help: "fashion-mnist or cifar10",
    check: isOneOf(["fashion-mnist", "cifar10"]),
  },
  data: {
    type: "string",
    value: "DIR",
    help: "directory holding the data set's files (default: searched, see data/README.md)",
  },
  seed: {
    type: "string",
    default: "0",
    value: "N",
    help: "seed of every random draw",
    check: isInteger(0),
  },
  out: { type: "string", value: "DIR", help: "output directory (default out/<script>)" },
};

/** Parsed flags: strings and booleans by name. */
export type Flags = Record<string, string | boolean | undefined>;

/** The result of {@link parseFlagValues}: the values, and the flags given on the command line. */
export interface ParsedFlags {
  /** Every flag's value, defaults filled in. */
  values: Flags;
  /** The names of the flags given on the command line (not defaults). */
  given: Set<string>;
}

/** JSON quoting for a value in a message: strings quoted, so `got "1"` differs from `got 1`. */
export function quote(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * Parses `args` against `specs` and checks every flag; throws an Error whose message is the
 * one line to print (naming the flag, quoting the value, saying what was expected).
 * `--help` is returned as a value, not handled here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMON_FLAGS, parseFlagValues } from "./_cli.ts";
 * const { values, given } = parseFlagValues(COMMON_FLAGS, ["--seed", "3"]);
 * assert.equal(values.seed, "3");
 * assert.ok(given.has("seed") && !given.has("dataset"));
 * assert.throws(() => parseFlagValues(COMMON_FLAGS, ["--seed", "x"]), /got "x"/);
 * ```
 */
export function parseFlagValues(specs: Record<string, FlagSpec>, args: string[]): ParsedFlags {
  const options: Record<string, { type: "boolean" | "string" }> = {};
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type };
  let parsed: Flags;
  try {
    parsed = parseArgs({ args, options, allowPositionals: false, strict: true }).values as Flags;
  } catch (e) {
    throw new Error(rephraseParseError(e as Error, args));
  }
  const given = new Set(Object.keys(parsed));
  const values: Flags = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = parsed[name] ?? spec.default;
  }
  if (values.help) return { values, given };
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (spec.check === undefined || typeof raw !== "string") continue;
    const expected = spec.check(raw);
    if (expected !== null) throw new Error(`--${name} must be ${expected}, got ${quote(raw)}`);
  }
  return { values, given };
}

/** node:util's parse errors in our words, with the offending argument in double quotes. */
function rephraseParseError(e: Error, args: string[]): string {
  const message = e.message;
  const unknown = message.match(/^Unknown option '([^']*)'/);
  if (unknown) return `unknown flag ${quote(unknown[1])}`;
  const positional = message.match(/^Unexpected argument '([^']*)'/);
  if (positional) return `unexpected argument ${quote(positional[1])} (every flag starts with --)`;
  const missing = message.match(/^Option '(--[\w-]+)[^']*' argument missing/);
  if (missing) return `${missing[1]} needs a value`;
  const ambiguous = message.match(/^Option '(--[\w-]+)' argument is ambiguous/);
  if (ambiguous) {
    const i = args.indexOf(ambiguous[1]);
    const next = i >= 0 ? args[i + 1] : undefined;
    return `${ambiguous[1]} needs a value; for one that starts with "-", write ` +
      `${ambiguous[1]}=${next ?? "-VALUE"}${next !== undefined ? ` (got ${quote(next)})` : ""}`;
  }
  const noValue = message.match(/^Option '(--[\w-]+)' does not take an argument/);
  if (noValue) {
    const arg = args.find((a) => a.startsWith(`${noValue[1]}=`));
    return `${noValue[1]} takes no value${arg ? `, got ${quote(arg)}` : ""}`;
  }
  return message;
}

/** The help text of a script. */
function helpText(script: string, description: string, specs: Record<string, FlagSpec>): string {
  const lines = Object.entries(specs).map(([name, spec]) => {
    const left = `  --${name}${spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""}`;
    if (spec.default === undefined || spec.type !== "string") {
      return `${left.padEnd(24)} ${spec.help}`;
    }
    // "epochs (demo: 5)" becomes "epochs (default 15; demo: 5)".
    const help = /\)$/.test(spec.help)
      ? spec.help.replace(/\(([^()]*)\)$/, `(default ${spec.default}; $1)`)
      : `${spec.help} (default ${spec.default})`;
    return `${left.padEnd(24)} ${help}`;
  });
  return `${description}\n\nUsage: deno task ${script} [flags]\n\nFlags:\n${lines.join("\n")}`;
}

/** Prints `<script>: <message>` on stderr and exits with `code`. */
function fail(script: string, message: string, code = 2): never {
  console.error(`${script}: ${message}`);
  Deno.exit(code);
}

function parseScriptFlags(
  script: string,
  description: string,
  extra: Record<string, FlagSpec>,
): ParsedFlags {
  const specs = { ...COMMON_FLAGS, ...extra };
  let parsed: ParsedFlags;
  try {
    parsed = parseFlagValues(specs, Deno.args);
  } catch (e) {
    fail(script, `${(e as Error).message}; run with --help to see the flags`);
  }
  if (parsed.values.help) {
    console.log(helpText(script, description, specs));
    Deno.exit(0);
  }
  return parsed;
}

// ------------------------------------------------------------------------------ permissions

/** The read grant of the `deno task` commands in deno.json. */
export const TASK_READ: readonly string[] = [".", "/usr/share/datasets"];
/** The write grant of the `deno task` commands in deno.json. */
export const TASK_WRITE: readonly string[] = ["out"];

/** What {@link checkAccess} looks at: the folders a run will read and write. */
export interface AccessRequest {
  /** The data directory named by `--data`, if any. */
  dataFlag?: string;
  /** The data directory named by the `FASHION_MNIST_DIR` environment variable, if any. */
  dataEnv?: string;
  /** The output folder (`--out`, or the default under `out/`). */
  outDir: string;
  /** Whether the output folder was named with `--out`. */
  outFlag: boolean;
}

/**
 * Checks, without ever prompting (`Deno.permissions.querySync`), that this run may read the
 * data directory it was pointed at and write its output folder, and that a named data
 * directory exists. Returns the one line to print when something is wrong (with the exact
 * `deno run` command that grants what is missing), or null.
 */
export function checkAccess(request: AccessRequest): string | null {
  const { dataFlag, dataEnv, outDir, outFlag } = request;
  const dataDir = dataFlag ?? dataEnv;
  const dataWhat = dataFlag !== undefined ? "--data" : "FASHION_MNIST_DIR";
  const readOk = dataDir === undefined || granted("read", dataDir);
  const writeOk = granted("write", outDir);
  if (!readOk || !writeOk) {
    const missing = [
      readOk ? null : `read ${dataWhat} ${quote(dataDir)}`,
      writeOk ? null : `write ${outFlag ? "--out" : "the output folder"} ${quote(outDir)}`,
    ].filter((m) => m !== null).join(" or ");
    const reads = [...TASK_READ];
    if (!readOk) reads.push(dataDir!);
    // The output folder is read too: results.json and results.md merge with earlier runs.
    if (!writeOk && !granted("read", outDir)) reads.push(outDir);
    const writes = writeOk ? [...TASK_WRITE] : outFlag ? [outDir] : [...TASK_WRITE];
    const env = dataFlag === undefined && dataEnv !== undefined
      ? `FASHION_MNIST_DIR=${shellQuote(dataEnv)} `
      : "";
    const command = `${env}deno run --allow-read=${reads.map(shellQuote).join(",")} ` +
      `--allow-write=${writes.map(shellQuote).join(",")} --allow-env=FASHION_MNIST_DIR ` +
      [scriptPath(), ...Deno.args].map(shellQuote).join(" ");
    return `this run may not ${missing} (deno task grants reading only ` +
      `${TASK_READ.join(" and ")} and writing only ${TASK_WRITE.join("/")}/); run instead: ` +
      command;
  }
  if (dataDir !== undefined) {
    try {
      if (!Deno.statSync(dataDir).isDirectory) {
        return `${dataWhat} ${quote(dataDir)} is not a directory`;
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        return `${dataWhat} ${quote(dataDir)} does not exist`;
      }
      return `${dataWhat} ${quote(dataDir)} cannot be read: ${(e as Error).message}`;
    }
  }
  return null;
}

function granted(name: "read" | "write", path: string): boolean {
  return Deno.permissions.querySync({ name, path }).state === "granted";
}

/** An environment variable, read only when the permission is already granted (no prompt). */
function envIfGranted(variable: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return undefined;
  return Deno.env.get(variable) || undefined;
}

/** The running script as a path relative to the working directory when it lies below it. */
function scriptPath(): string {
  const path = fileURLToPath(Deno.mainModule);
  if (!granted("read", ".")) return path; // Deno.cwd() needs it (and must not prompt)
  try {
    const rel = relative(Deno.cwd(), path);
    return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
  } catch {
    return path; // Deno.cwd() needs read permission on the working directory
  }
}

/** `s` as one shell word: unchanged when it is plain, else in single quotes. */
export function shellQuote(s: string): string {
  return /^[\w./,=:@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

// ------------------------------------------------------------------------------ data

/** Split sizes a script asks for; a size left out means the data set's default. */
export interface SplitSizes {
  /** Training examples (the first of the training file). */
  numTraining?: number;
  /** Validation examples (the ones after the training examples). */
  numValidation?: number;
  /** Test examples (the first of the test file). */
  numTest?: number;
}

/**
 * Sizes that fit in `available` examples: a training + validation request larger than the
 * training file shrinks both in proportion (at least one training example), a test request
 * larger than the test file shrinks to it. Sizes left out stay out. Returns the sizes and
 * whether anything changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitSizes } from "./_cli.ts";
 * const { sizes, shrunk } = fitSizes(
 *   { numTraining: 2000, numValidation: 500, numTest: 1000 },
 *   { train: 2000, test: 500 },
 * );
 * assert.deepEqual(sizes, { numTraining: 1600, numValidation: 400, numTest: 500 });
 * assert.ok(shrunk);
 * ```
 */
export function fitSizes(
  requested: SplitSizes,
  available: { train: number; test: number },
): { sizes: SplitSizes; shrunk: boolean } {
  const sizes = { ...requested };
  let shrunk = false;
  const { numTraining, numValidation, numTest } = requested;
  if (numTraining !== undefined || numValidation !== undefined) {
    const train = numTraining ?? 0, val = numValidation ?? 0;
    if (train + val > available.train) {
      shrunk = true;
      const keptVal = Math.min(
        Math.floor((available.train * val) / (train + val)),
        available.train - 1,
      );
      if (numValidation !== undefined) sizes.numValidation = keptVal;
      if (numTraining !== undefined) {
        sizes.numTraining = Math.max(
          1,
          available.train - (numValidation !== undefined ? keptVal : 0),
        );
      }
    }
  }
  if (numTest !== undefined && numTest > available.test) {
    shrunk = true;
    sizes.numTest = available.test;
  }
  return { sizes, shrunk };
}

/**
 * How many training and test examples the data set the flags name holds, read cheaply (the
 * label files' headers; CIFAR-10 batch file sizes). Null when that cannot be told: loading
 * the data then reports the problem.
 */
async function countExamples(
  dataset: DatasetName,
  dataDir: string | undefined,
): Promise<{ train: number; test: number } | null> {
  try {
    if (dataset === "fashion-mnist") {
      const { dir } = findFashionMnist(dataDir === undefined ? {} : { dataDir });
      const labels = async (gzName: string) => {
        for (const name of [gzName, gzName.slice(0, -3)]) {
          try {
            return (await readIdxFile(join(dir, name))).dims[0];
          } catch { /* try the other name */ }
        }
        throw new Error(`no ${gzName}`);
      };
      return {
        train: await labels(FASHION_MNIST_FILES.trainLabels),
        test: await labels(FASHION_MNIST_FILES.testLabels),
      };
    }
    const base = dataDir ?? "data";
    for (const dir of [base, join(base, "cifar-10-batches-bin")]) {
      const size = (name: string) => Deno.statSync(join(dir, name)).size / 3073;
      try {
        const train = [1, 2, 3, 4, 5].reduce((s, i) => s + size(`data_batch_${i}.bin`), 0);
        return { train: Math.floor(train), test: Math.floor(size("test_batch.bin")) };
      } catch { /* try the nested folder */ }
    }
    return null;
  } catch {
    return null;
  }
}

/**
 * Loads the data set the flags name (`--dataset`, `--data`) and prints what was loaded.
 * Sizes the script asks for shrink to the data that is there (one line says so); a data set
 * that cannot be loaded ends the script with one line `<script>: <message>` and exit code 1.
 */
export async function loadData(
  ctx: ScriptContext<string>,
  options: SplitSizes & { dtype?: DType } = {},
): Promise<DataSplits> {
  const { flags, script } = ctx;
  const dataset = flags.dataset as DatasetName;
  const dataDir = flags.data as string | undefined;
  const t0 = performance.now();
  let data: DataSplits;
  try {
    const { dtype, ...requested } = options;
    const available = await countExamples(dataset, dataDir);
    let sizes: SplitSizes = requested;
    if (available !== null) {
      const fitted = fitSizes(requested, available);
      sizes = fitted.sizes;
      if (fitted.shrunk) {
        const show = (s: SplitSizes) =>
          `${s.numTraining ?? "default"} train / ${s.numValidation ?? "default"} val / ` +
          `${s.numTest ?? "default"} test`;
        console.log(
          `${script}: the data set holds ${available.train} training and ${available.test} ` +
            `test images, fewer than asked for (${show(requested)}); using ${show(sizes)}`,
        );
      }
    }
    data = await getData({ dataset, dataDir, ...sizes, ...(dtype ? { dtype } : {}) });
  } catch (e) {
    fail(script, (e as Error).message, 1);
  }
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

/**
 * The first `count` training examples of `data` (validation and test splits unchanged), for
 * a section that trains on a subset; when the training split is smaller, all of it, and one
 * line says so.
 */
export function trainingSubset(
  ctx: ScriptContext<string>,
  data: DataSplits,
  count: number,
  what: string,
): DataSplits {
  const available = data.XTrain.shape[0];
  if (count > available) {
    console.log(
      `${ctx.script}: ${what} asks for ${count} training images, the training split holds ` +
        `${available}; using ${available}`,
    );
  }
  const n = Math.min(count, available);
  return { ...data, XTrain: data.XTrain.sliceRows(0, n), yTrain: data.yTrain.subarray(0, n) };
}

// ------------------------------------------------------------------------------ the preamble

/** The script's output folder (created): `--out` or `out/<script>`. */
async function outputDir(flags: Flags, script: string): Promise<string> {
  const dir = (flags.out as string | undefined) ?? join("out", script);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    fail(script, `cannot create the output folder ${quote(dir)}: ${(e as Error).message}`);
  }
  return dir;
}

/** What {@link startScript} hands a script: its parsed flags and the shared settings. */
export interface ScriptContext<S extends string> {
  /** The script's name, as in `deno task <script>`. */
  script: string;
  /** Every flag's value, defaults filled in, all checked. */
  flags: Flags;
  /** The flags given on the command line (the others hold their defaults). */
  given: ReadonlySet<string>;
  /** `--quick`: tiny data and few epochs. */
  quick: boolean;
  /** `--seed`. */
  seed: number;
  /** The sections chosen with `--only` (all when the script has none to choose). */
  only: Set<S>;
  /** The output folder, created: `--out`, else `out/<script>` (`/quick` for quick runs). */
  dir: string;
  /** When the script started, as an ISO date. */
  startedAt: string;
  /** Seconds since the script started, rounded to 0.1 s. */
  elapsedSeconds(): number;
  /**
   * The value of an integer flag, or `quickValue` in a `--quick` run unless the flag was
   * given (a flag you give is never ignored).
   */
  int(name: string, quickValue?: number): number;
  /** The value of a number flag, or `quickValue` in a `--quick` run unless it was given. */
  number(name: string, quickValue?: number): number;
}

/**
 * The preamble every notebook script shares: parses and checks the common flags plus `extra`
 * (and `--only` when `sections` are given), checks that the data and output folders may be
 * read and written, and creates the output folder (`out/<script>`, or
 * `out/<script>/<subfolder>`; `quick` runs go to `out/<script>/quick`). Nothing is loaded
 * before every flag has passed its check.
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
  /** Checks across flags, run after each flag's own check; returns a message or null. */
  checkFlags?: (flags: Flags, given: ReadonlySet<string>) => string | null;
}): Promise<ScriptContext<S>> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const { script, description, sections } = options;
  const extra: Record<string, FlagSpec> = { ...options.extra };
  if (sections !== undefined && sections.length > 0) {
    extra.only = {
      type: "string",
      value: "LIST",
      help: `comma-separated sections to run: ${sections.join(",")} (default all)`,
    };
  }
  const { values: flags, given } = parseScriptFlags(script, description, extra);
  const quick = flags.quick as boolean;
  const seed = Number(flags.seed);
  let only: Set<S>;
  try {
    only = sectionsFrom(flags, sections ?? []);
  } catch (e) {
    fail(script, (e as Error).message);
  }
  const problem = options.checkFlags?.(flags, given);
  if (problem) fail(script, problem);

  const sub = options.subfolder?.(flags) ?? (quick ? "quick" : undefined);
  const dir = (flags.out as string | undefined) ??
    join("out", sub === undefined ? script : `${script}/${sub}`);
  const access = checkAccess({
    dataFlag: flags.data as string | undefined,
    dataEnv: flags.dataset === "fashion-mnist" ? envIfGranted("FASHION_MNIST_DIR") : undefined,
    outDir: dir,
    outFlag: flags.out !== undefined,
  });
  if (access !== null) fail(script, access);
  await outputDir({ ...flags, out: dir }, script);

  const pick = (name: string, quickValue: number | undefined, check: FlagCheck) => {
    if (quick && quickValue !== undefined && !given.has(name)) return quickValue;
    const raw = flags[name];
    if (typeof raw !== "string" || check(raw) !== null) {
      fail(script, `--${name} must be ${check(String(raw))}, got ${quote(raw)}`);
    }
    return Number(raw);
  };
  return {
    script,
    flags,
    given,
    quick,
    seed,
    only,
    dir,
    startedAt,
    elapsedSeconds: () => round((performance.now() - started) / 1000, 1),
    int: (name, quickValue) => pick(name, quickValue, isInteger(0)),
    number: (name, quickValue) => pick(name, quickValue, isNumber()),
  };
}

// ------------------------------------------------------------------------------ results

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

/** Prints a section heading so long output stays readable. */
export function section(title: string): void {
  console.log(`\n=== ${title} ${"=".repeat(Math.max(0, 70 - title.length))}`);
}

/**
 * The sections chosen with `--only a,b` (all of `sections` when absent); throws naming an
 * unknown one and listing the valid ones.
 */
function sectionsFrom<S extends string>(flags: Flags, sections: readonly S[]): Set<S> {
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

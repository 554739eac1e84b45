/**
 * What every experiment script shares, in one import: the preamble `startScript` (flags,
 * permissions, seed, sections, output folder, timer) defined here, and re-exported from
 * their own files the flags and their checks (`_flags.ts`), the permission checks for
 * `--data` and `--out` (`_access.ts`), loading the data set with sizes shrunk to the data
 * that is there (`_data.ts`), and `results.json` / `results.md` and tables (`_results.ts`).
 *
 * Everything a user can get wrong on the command line is reported before any work starts,
 * as one line `<script>: <what is wrong>`, with exit code 2; a data set that cannot be loaded
 * is reported the same way with exit code 1.
 *
 * @module
 */

import type { ScriptContext } from "./_context.ts";
import { join } from "node:path";
import {
  fail,
  type FlagCheck,
  type Flags,
  type FlagSpec,
  isInteger,
  isNumber,
  parseScriptFlags,
  quote,
} from "./_flags.ts";
import { checkAccess, envIfGranted } from "./_access.ts";
import { round, sectionsFrom } from "./_results.ts";

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

export * from "./_access.ts";
export * from "./_data.ts";
export * from "./_flags.ts";
export * from "./_results.ts";
export type { ScriptContext } from "./_context.ts";

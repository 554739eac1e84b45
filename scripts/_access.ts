/**
 * Permission checks for the folders a script is pointed at (`--data`, `FASHION_MNIST_DIR`,
 * `--out`): asked with `Deno.permissions.querySync`, which never prompts, and answered with
 * the exact `deno run` line that grants what is missing.
 *
 * @module
 */

import { isAbsolute, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { quote } from "./_flags.ts";

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

export function granted(name: "read" | "write", path: string): boolean {
  return Deno.permissions.querySync({ name, path }).state === "granted";
}

/** An environment variable, read only when the permission is already granted (no prompt). */
export function envIfGranted(variable: string): string | undefined {
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

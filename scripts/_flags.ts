/**
 * The scripts' command-line flags: each declares its check, all are checked before any work
 * starts, and a wrong one ends the script with one line `<script>: <what is wrong>` (exit
 * code 2).
 *
 * @module
 */

import { parseArgs } from "node:util";

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
export function fail(script: string, message: string, code = 2): never {
  console.error(`${script}: ${message}`);
  Deno.exit(code);
}

export function parseScriptFlags(
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

/**
 * Checks of plain argument values that every floor shares. Above all the keys of an options
 * object: a misspelt or notebook-style (`snake_case`) option would otherwise be ignored
 * without a word and the default used instead.
 *
 * @module
 */

/**
 * Throws when `options` has a key that is not in `valid`, naming the function, each unknown
 * key, a likely intended name (the camelCase form of a `snake_case` key, a name that
 * contains it, or one a letter or two away) and the valid names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOptionKeys } from "./checks.ts";
 * const valid = ["hiddenDim", "numClasses", "weightScale"];
 * checkOptionKeys("TwoLayerNet", { hiddenDim: 10 }, valid); // fine
 * assert.throws(
 *   () => checkOptionKeys("TwoLayerNet", { hidden_dim: 10 }, valid),
 *   /TwoLayerNet: unknown option "hidden_dim" \(did you mean "hiddenDim"\?\); valid options: hiddenDim, numClasses, weightScale/,
 * );
 * ```
 */
export function checkOptionKeys(fn: string, options: unknown, valid: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new Error(`${fn}: options must be an object, got ${JSON.stringify(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => !valid.includes(k));
  if (unknown.length === 0) return;
  const described = unknown.map((key) => {
    const guess = suggestion(key, valid);
    return `"${key}"${guess === null ? "" : ` (did you mean "${guess}"?)`}`;
  });
  throw new Error(
    `${fn}: unknown option${unknown.length > 1 ? "s" : ""} ${described.join(", ")}; ` +
      `valid options: ${valid.join(", ")}`,
  );
}

/**
 * Throws unless `value` is an integer ≥ `min`, naming the function and the argument (a
 * string is quoted, so `"3"` is not mistaken for 3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkInt } from "./checks.ts";
 * assert.equal(checkInt("predict", "k", 3, 1), 3);
 * assert.throws(() => checkInt("predict", "k", "3", 1), /predict: k must be an integer ≥ 1, got "3"/);
 * ```
 */
export function checkInt(fn: string, name: string, value: unknown, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min) {
    const got = typeof value === "string" ? JSON.stringify(value) : String(value);
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min}, got ${got}`);
  }
  return value as number;
}

/**
 * Throws unless `value` is `true` or `false`, naming the function and the argument (a
 * string is quoted, so `"false"` is not mistaken for false).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBoolean } from "./checks.ts";
 * assert.equal(checkBoolean("pool", "options.relu", true), true);
 * assert.throws(
 *   () => checkBoolean("pool", "options.relu", "false"),
 *   /pool: options.relu must be true or false, got "false"/,
 * );
 * ```
 */
export function checkBoolean(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    const got = typeof value === "string" || (typeof value === "object" && value !== null)
      ? JSON.stringify(value)
      : String(value);
    throw new Error(`${fn}: ${name} must be true or false, got ${got}`);
  }
  return value;
}

/** The valid name `key` most likely stands for, or null. */
function suggestion(key: string, valid: readonly string[]): string | null {
  const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  if (valid.includes(camel)) return camel;
  const lower = camel.toLowerCase();
  const containing = valid.filter((v) => v.toLowerCase().includes(lower));
  if (containing.length === 1) return containing[0];
  let best: string | null = null;
  let bestDistance = 3;
  for (const v of valid) {
    const d = editDistance(lower, v.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [v, d];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

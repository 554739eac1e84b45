/**
 * Checking the keys of an options object: a misspelt or notebook-style (`snake_case`)
 * option would otherwise be ignored without a word and the default used instead.
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
 * import { checkOptionKeys } from "./options.ts";
 * const valid = ["hiddenDim", "numClasses", "weightScale"];
 * checkOptionKeys("TwoLayerNet", { hiddenDim: 10 }, valid); // fine
 * assert.throws(
 *   () => checkOptionKeys("TwoLayerNet", { hidden_dim: 10 }, valid),
 *   /TwoLayerNet: unknown option "hidden_dim" \(did you mean "hiddenDim"\?\); valid options: hiddenDim, numClasses, weightScale/,
 * );
 * ```
 */
export function checkOptionKeys(fn: string, options: object, valid: readonly string[]): void {
  if (options === null || typeof options !== "object") return;
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

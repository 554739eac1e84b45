/**
 * Argument checks shared by the image features (private to `lib/features/`).
 *
 * @module
 */

import { checkOptionKeys as checkKeys } from "../options.ts";
import { Tensor } from "../tensor.ts";

/**
 * Throws unless `options` is a plain object whose keys are all in `allowed` (the library's
 * `checkOptionKeys`, which also suggests the intended name of a misspelt key).
 */
export function checkOptionKeys(
  fn: string,
  options: unknown,
  allowed: readonly string[],
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new Error(`${fn}: options must be an object, got ${String(options)}`);
  }
  checkKeys(fn, options, allowed);
}

/**
 * Checks one image, `(H, W)` or `(H, W, C)` with `C` in `channels`, and returns
 * `[H, W, C]` (`C` = 1 for a 2-d image).
 */
export function checkImage(
  fn: string,
  im: unknown,
  channels: readonly number[],
): [number, number, number] {
  if (!(im instanceof Tensor)) throw new Error(`${fn}: im must be a Tensor, got ${im}`);
  const expected = channels.map((c) => (c === 1 ? "(H, W)" : `(H, W, ${c})`)).join(" or ");
  if (im.ndim === 2 && channels.includes(1)) return [im.shape[0], im.shape[1], 1];
  if (im.ndim === 3 && channels.includes(im.shape[2])) {
    return [im.shape[0], im.shape[1], im.shape[2]];
  }
  const what = im.ndim === 3 ? `${im.shape[2]} channels` : `${im.ndim} dimensions`;
  throw new Error(`${fn}: im must be ${expected}, got shape [${im.shape}] (${what})`);
}

/** Throws unless `value` is an integer ≥ `min`, naming the argument. */
export function checkInt(fn: string, name: string, value: unknown, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value as number;
}

/**
 * Argument checks shared by the image features (private to `lib/features/`).
 *
 * @module
 */

import { checkTensor } from "../tensor_checks.ts";

/**
 * Checks one image, `(H, W)` or `(H, W, C)` with `C` in `channels`, and returns
 * `[H, W, C]` (`C` = 1 for a 2-d image).
 */
export function checkImage(
  fn: string,
  im: unknown,
  channels: readonly number[],
): [number, number, number] {
  checkTensor(fn, "im", im);
  const expected = channels.map((c) => (c === 1 ? "(H, W)" : `(H, W, ${c})`)).join(" or ");
  if (im.ndim === 2 && channels.includes(1)) return [im.shape[0], im.shape[1], 1];
  if (im.ndim === 3 && channels.includes(im.shape[2])) {
    return [im.shape[0], im.shape[1], im.shape[2]];
  }
  const what = im.ndim === 3 ? `${im.shape[2]} channels` : `${im.ndim} dimensions`;
  throw new Error(`${fn}: im must be ${expected}, got shape [${im.shape}] (${what})`);
}

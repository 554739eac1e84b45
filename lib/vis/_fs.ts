/**
 * File writing shared by the PNG and SVG writers.
 *
 * @module
 */

import { dirname } from "node:path";

/** Writes `bytes` to `path`, first creating the parent directory (and its parents). */
export async function writeFileCreatingDir(
  path: string | URL,
  bytes: Uint8Array,
): Promise<void> {
  const parent = typeof path === "string" ? dirname(path) : new URL(".", path);
  await Deno.mkdir(parent, { recursive: true });
  await Deno.writeFile(path, bytes);
}

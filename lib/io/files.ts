/**
 * Writing a file whose folder may not exist yet: what every writer of the library (PNG,
 * SVG, safetensors checkpoints) does, in one place.
 *
 * @module
 */

import { dirname } from "node:path";

/** The parent folder of `path`, or null for the current directory (nothing to create). */
function parentOf(path: string | URL): string | URL | null {
  if (typeof path !== "string") return new URL(".", path);
  const parent = dirname(path);
  // Skipping the current directory avoids needing write permission on "." itself.
  return parent === "." || parent === "" ? null : parent;
}

/**
 * Writes `bytes` to `path`, first creating the parent folder (and its parents).
 *
 * @example
 * ```ts ignore
 * import { writeFileCreatingDir } from "./files.ts";
 * await writeFileCreatingDir("out/demo/hello.txt", new TextEncoder().encode("hello\n"));
 * ```
 */
export async function writeFileCreatingDir(path: string | URL, bytes: Uint8Array): Promise<void> {
  const parent = parentOf(path);
  if (parent !== null) await Deno.mkdir(parent, { recursive: true });
  await Deno.writeFile(path, bytes);
}

/** The synchronous form of {@link writeFileCreatingDir}. */
export function writeFileCreatingDirSync(path: string | URL, bytes: Uint8Array): void {
  const parent = parentOf(path);
  if (parent !== null) Deno.mkdirSync(parent, { recursive: true });
  Deno.writeFileSync(path, bytes);
}

/**
 * Inflating gzip and zlib (deflate) data without trusting it: the output is read chunk by
 * chunk and inflating stops as soon as it passes the size the caller expects. A 1 MB file
 * can inflate to gigabytes (a "decompression bomb"); read whole, such a file took 11 s and
 * 2.1 GB of memory before its size was checked.
 *
 * @module
 */

/**
 * The most bytes the data may inflate to, decided from its first bytes (`head`, at least
 * `headBytes` of them unless the data is shorter): a file format's header usually says how
 * large the rest is. Return 0 to stop at once and keep what was inflated (for a header that
 * is already wrong, which the caller reports better).
 */
export type InflateLimit = number | { headBytes: number; limit: (head: Uint8Array) => number };

/**
 * Inflates `bytes` (`"gzip"` or `"deflate"`, i.e. zlib) with the Web `DecompressionStream`,
 * stopping with an error naming `what` once the output passes `maxBytes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inflate } from "./inflate.ts";
 * const packed = new Uint8Array(await new Response(
 *   new Blob([new Uint8Array(1 << 20)]).stream().pipeThrough(new CompressionStream("gzip")),
 * ).arrayBuffer());
 * assert.equal((await inflate(packed, "gzip", 1 << 20, "zeros.gz")).length, 1 << 20);
 * await assert.rejects(() => inflate(packed, "gzip", 1000, "zeros.gz"), /more than 1000 bytes/);
 * ```
 */
export async function inflate(
  bytes: Uint8Array,
  format: "gzip" | "deflate",
  maxBytes: InflateLimit,
  what: string,
): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream(format)).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let limit = typeof maxBytes === "number" ? maxBytes : null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
      if (limit === null && typeof maxBytes !== "number" && total >= maxBytes.headBytes) {
        limit = maxBytes.limit(concat(chunks, total));
        if (limit === 0) break;
      }
      if (limit !== null && total > limit) {
        throw new Error(
          `${what} inflates to more than ${limit} bytes, the most it may hold (stopped there: ` +
            "the file is corrupt, or a decompression bomb)",
        );
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

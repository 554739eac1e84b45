/**
 * Reading and writing IDX files, the format of MNIST and Fashion-MNIST.
 *
 * An IDX file is a 4-byte magic number (two zero bytes, a type byte, the number of
 * dimensions), one big-endian uint32 per dimension, then the values in row-major order.
 * The data sets ship gzipped, so the readers inflate transparently when the bytes start
 * with the gzip magic `1f 8b` (an IDX file always starts with `00 00`, so the two can
 * never be confused).
 *
 * Only type `0x08` (unsigned byte) is supported: it is the only one the image data sets use.
 *
 * @module
 */

import { inflate } from "../io/inflate.ts";

/** The contents of an IDX file of unsigned bytes. */
export interface IdxArray {
  /** The dimensions from the header, e.g. `[60000, 28, 28]` for the training images. */
  dims: number[];
  /** The values in row-major order; `data.length` is the product of `dims`. */
  data: Uint8Array;
}

/** The IDX type byte for unsigned bytes, the only type the image data sets use. */
const UBYTE = 0x08;

/** Names of the other IDX types, so an error can say what the file holds instead. */
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

/** Whether `bytes` start with the gzip magic number `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflates gzip data with the Web `DecompressionStream`, stopping as soon as the output is
 * longer than the IDX header at its start declares (so a corrupt file or a decompression
 * bomb is rejected after reading only what a valid file would hold).
 *
 * @param bytes the gzip-compressed bytes
 * @param fileName used only in the error message when the data is not valid gzip
 * @throws Error naming the file when the stream is corrupt or truncated, or inflates to more
 *   than its header declares
 */
export async function gunzip(bytes: Uint8Array, fileName: string): Promise<Uint8Array> {
  try {
    return await inflate(bytes, "gzip", { headBytes: 4 + 4 * 4, limit: idxFileSize }, fileName);
  } catch (e) {
    const message = (e as Error).message;
    if (message.startsWith(fileName)) throw new Error(`gunzip: ${message}`);
    throw new Error(
      `gunzip: ${fileName} starts with the gzip magic 1f 8b but is not a valid gzip stream ` +
        `(${message}); the download is probably truncated or corrupt`,
    );
  }
}

/** Bytes past the declared size that inflating still reads (then parsing reports them). */
const TRAILING_SLACK = 1 << 16;

/**
 * The size an IDX file declares in its header (`head`: its first bytes), or 0 when the
 * header is not valid IDX (parsing then reports what is wrong).
 */
function idxFileSize(head: Uint8Array): number {
  const valid = head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] === UBYTE;
  if (!valid || head[3] < 1 || head[3] > 4) return 0;
  const ndim = head[3];
  if (head.length < 4 + 4 * ndim) return 0;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let size = 1;
  for (let d = 0; d < ndim; d++) size *= view.getUint32(4 + 4 * d, false);
  // Some slack, so that a file with a few stray bytes gets parseIdx's precise message.
  return 4 + 4 * ndim + size + TRAILING_SLACK;
}

/** Compresses `bytes` to the gzip format with the Web `CompressionStream`. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Parses an IDX file of unsigned bytes, inflating it first if it is gzipped.
 *
 * The returned `data` is a view into the (inflated) bytes, not a copy.
 *
 * @param bytes the file contents, raw IDX or gzipped IDX
 * @param fileName used in error messages, so the user knows which file is broken
 * @throws Error naming the file and what is wrong (expected vs actual) when the magic
 *   number, type byte or number of dimensions is wrong, when the file is shorter or longer
 *   than its dimensions say, or when the gzip stream is corrupt
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIdx, parseIdx } from "./idx.ts";
 * const bytes = encodeIdx([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6));
 * const { dims, data } = await parseIdx(bytes, "example.idx");
 * assert.deepEqual(dims, [2, 3]);
 * assert.equal(data[5], 6);
 * ```
 */
export async function parseIdx(bytes: Uint8Array, fileName: string): Promise<IdxArray> {
  if (isGzip(bytes)) bytes = await gunzip(bytes, fileName);
  const fail = (problem: string): never => {
    throw new Error(`parseIdx: ${fileName} is not a valid IDX file: ${problem}`);
  };
  if (bytes.length < 4) {
    fail(`it is ${bytes.length} bytes long, shorter than the 4-byte magic number`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`the magic number must start with bytes 00 00, got ${hex(bytes[0])} ${hex(bytes[1])}`);
  }
  const type = bytes[2];
  if (type !== UBYTE) {
    const name = IDX_TYPE_NAMES[type] ?? "unknown type";
    fail(`data type must be 0x08 (unsigned byte), got ${hex(type)} (${name})`);
  }
  const ndim = bytes[3];
  if (ndim < 1 || ndim > 4) fail(`number of dimensions must be 1 to 4, got ${ndim}`);

  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    fail(
      `the header of a ${ndim}-d file is ${headerBytes} bytes, ` +
        `but the file is only ${bytes.length} bytes long (truncated)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));

  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  if (actual < expected) {
    fail(
      `dims [${dims}] need ${expected} data bytes after the ${headerBytes}-byte header, ` +
        `but only ${actual} are present (truncated)`,
    );
  }
  if (actual > expected) {
    fail(
      `dims [${dims}] need ${expected} data bytes after the ${headerBytes}-byte header, ` +
        `but ${actual} are present (${actual - expected} trailing bytes)`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * Reads and parses an IDX file (gzipped or not) of unsigned bytes.
 *
 * @throws Error naming the path when the file cannot be read or is not valid IDX
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readIdxFile } from "./idx.ts";
 * const labels = await readIdxFile("data/fashion-mnist-mini/t10k-labels-idx1-ubyte.gz");
 * assert.deepEqual(labels.dims, [500]);
 * ```
 */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`readIdxFile: cannot read ${path}: ${(e as Error).message}`);
  }
  return await parseIdx(bytes, path);
}

/**
 * Encodes unsigned bytes as an (uncompressed) IDX file; pass the result to {@link gzip}
 * for the `.gz` form the data sets ship in.
 *
 * @throws Error when `dims` has not 1 to 4 entries, is not made of non-negative integers
 *   below 2^32, or does not match `data.length`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIdx } from "./idx.ts";
 * const bytes = encodeIdx([3], Uint8Array.of(7, 8, 9));
 * // magic 00 00 08 01 (ubyte, 1-d), the size 3 as big-endian uint32, then the values
 * assert.deepEqual([...bytes], [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]);
 * ```
 */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > 4) {
    throw new Error(`encodeIdx: dims must have 1 to 4 entries, got [${dims}]`);
  }
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new Error(`encodeIdx: dims must be integers in [0, 2^32), got [${dims}]`);
    }
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new Error(
      `encodeIdx: dims [${dims}] need ${size} values but data has ${data.length}`,
    );
  }
  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + size);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, headerBytes);
  return out;
}

function hex(byte: number): string {
  return "0x" + byte.toString(16).padStart(2, "0");
}

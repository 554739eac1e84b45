/**
 * Reading and writing tensors in the safetensors format, so that checkpoints written here
 * can be opened by other tools (the Python `safetensors` package, PyTorch, numpy) and
 * vice versa.
 *
 * Layout of a file:
 *
 * ```text
 * [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
 * [N bytes]  JSON header: {"__metadata__": {"key": "value"},
 *                          "W1": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}, ...}
 *            padded with spaces so that the data starts at a multiple of 8 bytes
 * [rest]     the tensors' elements, little-endian, row-major, back to back with no gaps;
 *            data_offsets are [begin, end) byte positions relative to the start of this part
 * ```
 *
 * `F32` and `F64` are read and written (our tensors' dtypes); `I64` too, for integer
 * tensors made with `Tensor.int64` (PyTorch's `num_batches_tracked`); `F16` and `BF16`
 * (half precision, as PyTorch may save) are read into float32. The file API is
 * synchronous ({@link saveParams}, {@link loadParams}) so the Solver can checkpoint from
 * inside its synchronous training loop.
 *
 * @module
 */

import { writeFileCreatingDirSync } from "./files.ts";
import { Tensor } from "../tensor.ts";
import type { DType } from "../storage.ts";

/** What {@link decodeSafetensors} returns. */
export interface SafetensorsContents {
  /** The tensors, in the order of the file's header. */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` entries (an empty object when the file has none). */
  metadata: Record<string, string>;
}

/** What {@link loadParams} returns. */
export interface LoadedParams {
  /** The tensors, keyed by name. */
  params: Record<string, Tensor>;
  /** The `__metadata__` entries (an empty object when the file has none). */
  metadata: Record<string, string>;
}

const METADATA_KEY = "__metadata__";
const DTYPE_CODES: Record<DType, string> = { float32: "F32", float64: "F64" };
/** What each readable code becomes, and its bytes per element in the file. */
const CODES: Record<string, { dtype: DType; size: number }> = {
  F32: { dtype: "float32", size: 4 },
  F64: { dtype: "float64", size: 8 },
  I64: { dtype: "float64", size: 8 },
  F16: { dtype: "float32", size: 2 },
  BF16: { dtype: "float32", size: 2 },
};
/** Typed arrays share the host's byte order; every mainstream platform is little-endian. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Serialises tensors (and optional string metadata) into safetensors bytes. Tensors are
 * laid out in the key order of `tensors`; `__metadata__` is written only when `metadata`
 * is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = encodeSafetensors({ w: Tensor.fromArray([1, 2, 3], [3], "float32") }, {
 *   epoch: "2",
 * });
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * assert.deepEqual(Array.from(tensors.w.data), [1, 2, 3]);
 * assert.equal(metadata.epoch, "2");
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const fn = "encodeSafetensors";
  if (tensors === null || typeof tensors !== "object") {
    throw new Error(`${fn}: tensors must be an object of Tensors, got ${tensors}`);
  }
  const entries: string[] = [];
  if (metadata !== undefined) {
    checkMetadata(fn, metadata);
    entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  const names = Object.keys(tensors);
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === METADATA_KEY) {
      throw new Error(`${fn}: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    }
    if (!(t instanceof Tensor)) {
      throw new Error(`${fn}: tensors["${name}"] must be a Tensor, got ${typeof t}`);
    }
    const end = offset + t.data.byteLength;
    entries.push(
      `${JSON.stringify(name)}:{"dtype":"${t.isInt64 ? "I64" : DTYPE_CODES[t.dtype]}",` +
        `"shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces: still valid JSON
  let position = 8 + headerLength;
  for (const name of names) {
    const t = tensors[name];
    writeElements(t, out, position);
    position += t.data.byteLength;
  }
  return out;
}

/**
 * Parses safetensors bytes. Rejects, with an Error naming the problem: a header length
 * beyond the end of the file, a header that is not a JSON object, a dtype other than
 * F32/F64, data offsets that do not match shape × item size, and offsets that overlap,
 * leave gaps or run past the end of the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = encodeSafetensors({ b: Tensor.zeros([2]) });
 * assert.equal(decodeSafetensors(bytes).tensors.b.dtype, "float64");
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents {
  const fn = "decodeSafetensors";
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`${fn}: expected a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length < 8) {
    throw new Error(`${fn}: file has ${bytes.length} bytes, fewer than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8)) {
    throw new Error(
      `${fn}: header length ${declared} runs past the end of the file ` +
        `(${bytes.length - 8} bytes after the length field)`,
    );
  }
  const headerLength = Number(declared);
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    );
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fn}: header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error(`${fn}: header must be a JSON object, got ${JSON.stringify(header)}`);
  }
  // JSON.parse keeps the last of two equal keys, which would surface as a puzzling gap in
  // the data: name the duplicate instead.
  const repeated = repeatedTopLevelKey(bytes.subarray(8, 8 + headerLength));
  if (repeated !== null) {
    throw new Error(`${fn}: the header names ${JSON.stringify(repeated)} twice`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const specs: { name: string; code: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      checkMetadata(fn, entry);
      for (const [key, value] of Object.entries(entry)) defineEntry(metadata, key, value);
      continue;
    }
    specs.push({ name, ...parseEntry(fn, name, entry, dataLength) });
  }

  // The tensors must tile the data region exactly, as the reference implementation demands.
  const byBegin = [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of byBegin) {
    if (s.begin < covered) {
      throw new Error(
        `${fn}: tensor "${s.name}" data_offsets [${s.begin}, ${s.end}] overlap the previous ` +
          `tensor (which ends at byte ${covered})`,
      );
    }
    if (s.begin > covered) {
      throw new Error(
        `${fn}: gap in the data: bytes [${covered}, ${s.begin}) belong to no tensor ` +
          `(next is "${s.name}")`,
      );
    }
    covered = s.end;
  }
  if (covered !== dataLength) {
    throw new Error(
      `${fn}: tensors cover ${covered} bytes of data but the file holds ${dataLength}`,
    );
  }

  const tensors: Record<string, Tensor> = {};
  for (const s of specs) {
    const t = s.code === "I64"
      ? readInt64(fn, s.name, bytes, dataStart + s.begin, s.shape)
      : Tensor.zeros(s.shape, CODES[s.code].dtype);
    if (s.code === "F16" || s.code === "BF16") {
      readHalf(bytes, dataStart + s.begin, t, s.code);
    } else if (s.code !== "I64") readElements(bytes, dataStart + s.begin, t);
    defineEntry(tensors, s.name, t);
  }
  return { tensors, metadata };
}

/**
 * Writes `params` (and optional string metadata) to a safetensors file, creating the parent
 * directory if needed. Synchronous; needs `--allow-write` for the path.
 *
 * @example
 * ```ts ignore
 * import { loadParams, saveParams } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * saveParams("out/model.safetensors", { W1: Tensor.zeros([3, 4]) }, { note: "init" });
 * const { params, metadata } = loadParams("out/model.safetensors");
 * ```
 */
export function saveParams(
  path: string,
  params: Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  writeFileCreatingDirSync(path, encodeSafetensors(params, metadata));
}

/**
 * Reads a safetensors file written by {@link saveParams} (or any F32/F64/I64/F16/BF16
 * safetensors file, such as PyTorch's).
 * Synchronous; needs `--allow-read` for the path.
 */
export function loadParams(path: string): LoadedParams {
  const { tensors, metadata } = decodeSafetensors(Deno.readFileSync(path));
  return { params: tensors, metadata };
}

// ------------------------------------------------------------------ helpers

/** Adds an own property even for names like "__proto__", which plain assignment would not. */
function defineEntry<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function checkMetadata(fn: string, metadata: unknown): asserts metadata is Record<string, string> {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new Error(`${fn}: ${METADATA_KEY} must be an object of strings, got ${metadata}`);
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new Error(
        `${fn}: ${METADATA_KEY} values must be strings, but "${key}" is ${typeof value} ` +
          `(${JSON.stringify(value)})`,
      );
    }
  }
}

function parseEntry(
  fn: string,
  name: string,
  entry: unknown,
  dataLength: number,
): { code: string; shape: number[]; begin: number; end: number } {
  const where = `${fn}: tensor "${name}"`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw new Error(`${where} must be described by an object, got ${JSON.stringify(entry)}`);
  }
  const { dtype: code, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof code !== "string" || !Object.hasOwn(CODES, code)) {
    throw new Error(
      `${where} has dtype ${JSON.stringify(code)}; only F32, F64, I64, F16 and BF16 can be read`,
    );
  }
  const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new Error(`${where} has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new Error(`${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataLength) {
    throw new Error(
      `${where} data_offsets [${begin}, ${end}] lie outside the ${dataLength} data bytes`,
    );
  }
  const expected = shape.reduce((n: number, d: number) => n * d, 1) * CODES[code].size;
  if (end - begin !== expected) {
    throw new Error(
      `${where} of shape [${shape}] and dtype ${code} needs ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { code, shape: shape as number[], begin, end };
}

function writeElements(t: Tensor, out: Uint8Array, position: number): void {
  if (t.isInt64) {
    const view = new DataView(out.buffer, out.byteOffset);
    for (let i = 0; i < t.size; i++) view.setBigInt64(position + 8 * i, BigInt(t.data[i]), true);
    return;
  }
  if (HOST_IS_LITTLE_ENDIAN) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), position);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset);
  const size = t.data.BYTES_PER_ELEMENT;
  for (let i = 0; i < t.size; i++) {
    if (size === 4) view.setFloat32(position + 4 * i, t.data[i], true);
    else view.setFloat64(position + 8 * i, t.data[i], true);
  }
}

function readElements(bytes: Uint8Array, position: number, t: Tensor): void {
  if (HOST_IS_LITTLE_ENDIAN) {
    // A byte copy, because the source may not be aligned for a Float64Array view.
    new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(
      bytes.subarray(position, position + t.data.byteLength),
    );
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const size = t.data.BYTES_PER_ELEMENT;
  for (let i = 0; i < t.size; i++) {
    t.data[i] = size === 4
      ? view.getFloat32(position + 4 * i, true)
      : view.getFloat64(position + 8 * i, true);
  }
}

/**
 * The first key that the top-level JSON object in `header` (already known to be valid
 * JSON) has twice, or null. A small scan: strings are skipped whole, depth counts braces
 * and brackets, and a string at depth 1 followed by a colon is a key.
 */
function repeatedTopLevelKey(header: Uint8Array): string | null {
  const text = new TextDecoder().decode(header);
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(end + 1, end + 20))) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = end;
    }
  }
  return null;
}

/** An `I64` tensor as `Tensor.int64` (exact within ±2^53; larger values are an error). */
function readInt64(
  fn: string,
  name: string,
  bytes: Uint8Array,
  position: number,
  shape: number[],
): Tensor {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = view.getBigInt64(position + 8 * i, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`${fn}: tensor "${name}" holds the int64 ${v}, beyond ±2^53`);
    }
    values[i] = Number(v);
  }
  return Tensor.int64(values, shape);
}

/** Half-precision elements (IEEE `F16` or bfloat16 `BF16`) into a float32 tensor. */
function readHalf(bytes: Uint8Array, position: number, t: Tensor, code: "F16" | "BF16"): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  for (let i = 0; i < t.size; i++) {
    const h = view.getUint16(position + 2 * i, true);
    if (code === "BF16") {
      // bfloat16 is the top half of a float32.
      bits[0] = h << 16;
      t.data[i] = asFloat[0];
      continue;
    }
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    t.data[i] = exponent === 0
      ? sign * 2 ** -14 * (mantissa / 1024)
      : exponent === 31
      ? (mantissa === 0 ? sign * Infinity : NaN)
      : sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
}

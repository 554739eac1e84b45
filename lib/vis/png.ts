/**
 * A small PNG encoder and decoder for 8-bit images, so that scripts can save weight grids and
 * sample images without any dependency.
 *
 * The format in brief: an 8-byte signature, then chunks (`length`, 4-byte `type`, `data`,
 * CRC-32 of type + data). `IHDR` describes the image, `PLTE` holds a palette, the `IDAT`
 * chunks together hold one zlib stream, and `IEND` closes the file. Each row of the
 * uncompressed stream starts with a filter-type byte; filters predict a byte from its
 * neighbours (left `a`, above `b`, upper-left `c`) so that the residuals compress better.
 *
 * @module
 */

import { writeFileCreatingDir } from "../io/files.ts";
import { inflate } from "../io/inflate.ts";

/** An 8-bit raster image: `data` holds `height` rows of `width` pixels of `channels` bytes. */
export interface RasterImage {
  /** Pixels per row. */
  width: number;
  /** Number of rows. */
  height: number;
  /** 1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** Row-major, interleaved channel bytes (`width * height * channels` of them). */
  data: Uint8Array;
}

/** PNG row filter types: 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth. */
export type PngFilter = 0 | 1 | 2 | 3 | 4;

/** Options of {@link encodePng}. */
export interface EncodePngOptions {
  /**
   * Row filter: one type for every row, a list cycled over the rows (row `y` uses
   * `filter[y % filter.length]`), or `"adaptive"` (default): per row, the filter whose output
   * has the smallest sum of absolute values as signed bytes — the heuristic the PNG
   * specification recommends, and cheap.
   */
  filter?: PngFilter | readonly PngFilter[] | "adaptive";
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** IHDR colour type for each channel count (gray, gray+alpha, RGB, RGBA). */
const COLOR_TYPE_OF_CHANNELS = [-1, 0, 4, 2, 6];
/** Bytes per pixel stored in the stream, per IHDR colour type (3 = palette index). */
const STORED_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

// ------------------------------------------------------------------------------------ CRC-32

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 (IEEE 802.3 polynomial, reflected, as PNG and zlib's `crc32` use) of `bytes`.
 * Pass a previous result as `crc` to continue a running checksum over several pieces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./png.ts";
 * const digits = new TextEncoder().encode("123456789");
 * assert.ok(crc32(digits) === 0xcbf43926);
 * assert.ok(crc32(digits.subarray(4), crc32(digits.subarray(0, 4))) === 0xcbf43926);
 * ```
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (crcTable === undefined) {
    // One table entry per byte value: the CRC of that byte alone, so the main loop
    // processes 8 bits per lookup instead of one bit per shift.
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------- filters

/** Paeth predictor: whichever of left, above, upper-left is closest to `a + b - c`. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** The byte predicted for position `i` of a row by `filter` (all neighbours 0 off the image). */
function predict(
  filter: number,
  row: Uint8Array,
  prior: Uint8Array | null,
  i: number,
  bpp: number,
): number {
  const a = i >= bpp ? row[i - bpp] : 0;
  const b = prior ? prior[i] : 0;
  switch (filter) {
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >>> 1;
    case 4:
      return paeth(a, b, i >= bpp && prior ? prior[i - bpp] : 0);
    default:
      return 0;
  }
}

/** Writes `row` filtered with `filter` into `out` (same length), returning a size estimate. */
function filterRow(
  filter: number,
  row: Uint8Array,
  prior: Uint8Array | null,
  bpp: number,
  out: Uint8Array,
): number {
  let cost = 0;
  for (let i = 0; i < row.length; i++) {
    const v = (row[i] - predict(filter, row, prior, i, bpp)) & 0xff;
    out[i] = v;
    cost += v < 128 ? v : 256 - v;
  }
  return cost;
}

// ---------------------------------------------------------------------------------- encoder

/**
 * Encodes an 8-bit gray, gray+alpha, RGB or RGBA image as a PNG file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePng, encodePng } from "./png.ts";
 * import type { RasterImage } from "./png.ts";
 * const redBlue = new Uint8Array([255, 0, 0, 0, 0, 255]);
 * const image: RasterImage = { width: 2, height: 1, channels: 3, data: redBlue };
 * const png = await encodePng(image);
 * assert.ok(png[1] === 0x50); // "P" of the signature
 * const back = await decodePng(png);
 * assert.ok(back.width === 2 && back.channels === 3 && back.data[5] === 255);
 * ```
 */
export async function encodePng(
  image: RasterImage,
  options: EncodePngOptions = {},
): Promise<Uint8Array> {
  checkImage("encodePng", image);
  const { width, height, channels, data } = image;
  const filters = options.filter ?? "adaptive";
  const list: readonly (PngFilter | "adaptive")[] = typeof filters === "object"
    ? filters
    : [filters];
  if (list.length === 0 || !list.every((f) => f === "adaptive" || [0, 1, 2, 3, 4].includes(f))) {
    throw new Error(
      `encodePng: options.filter must be 0..4, a non-empty list of them or "adaptive", ` +
        `got ${JSON.stringify(filters)}`,
    );
  }

  const rowBytes = width * channels;
  const raw = new Uint8Array(height * (rowBytes + 1));
  const candidate = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prior = y > 0 ? data.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    const out = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const wanted = list[y % list.length];
    let chosen = wanted === "adaptive" ? 0 : wanted;
    if (wanted === "adaptive") {
      let best = Infinity;
      for (let f = 0; f <= 4; f++) {
        const cost = filterRow(f, row, prior, channels, candidate);
        if (cost < best) [best, chosen] = [cost, f as PngFilter];
      }
    }
    raw[y * (rowBytes + 1)] = chosen;
    filterRow(chosen, row, prior, channels, out);
  }

  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = COLOR_TYPE_OF_CHANNELS[channels];
  // Bytes 10-12 stay 0: deflate compression, adaptive filtering, no interlace.

  const idat = await transform(raw, new CompressionStream("deflate"));
  return concat([
    new Uint8Array(SIGNATURE),
    chunk("IHDR", header),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** Encodes `image` as PNG and writes it to `path`, creating the parent directory if needed. */
export async function writePng(
  path: string | URL,
  image: RasterImage,
  options: EncodePngOptions = {},
): Promise<void> {
  await writeFileCreatingDir(path, await encodePng(image, options));
}

/** Length, type, data and CRC of one chunk. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Pipes `bytes` through a (de)compression stream and collects the output. */
async function transform(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const piped = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(piped).arrayBuffer());
}

function checkImage(fn: string, image: RasterImage): void {
  const { width, height, channels, data } = image ?? {};
  const shape = `width ${width}, height ${height}, channels ${channels}`;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${fn}: width and height must be positive integers, got ${shape}`);
  }
  if (![1, 2, 3, 4].includes(channels)) {
    throw new Error(`${fn}: channels must be 1, 2, 3 or 4, got ${channels}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * channels) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : String(data);
    throw new Error(
      `${fn}: data must be a Uint8Array of ${width * height * channels} bytes (${shape}), ` +
        `got ${got}`,
    );
  }
}

// ---------------------------------------------------------------------------------- decoder

/**
 * Decodes a non-interlaced 8-bit PNG (gray, gray+alpha, RGB, RGBA or palette). Palette images
 * come back as RGB, or RGBA when a `tRNS` chunk gives the palette transparency; other
 * ancillary chunks (gamma, text, a gray/RGB `tRNS` colour key) are ignored.
 *
 * Throws an Error naming `decodePng` on a bad signature, a CRC mismatch, a truncated file,
 * a bit depth other than 8, an interlaced image or corrupt compressed data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePng, encodePng } from "./png.ts";
 * const data = new Uint8Array([0, 50, 100, 150, 200, 250]);
 * const png = await encodePng({ width: 3, height: 2, channels: 1, data }, { filter: 4 });
 * const back = await decodePng(png);
 * assert.ok(back.data.join() === "0,50,100,150,200,250");
 * ```
 */
export async function decodePng(bytes: Uint8Array): Promise<RasterImage> {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`decodePng: bytes must be a Uint8Array, got ${String(bytes)}`);
  }
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error(
      `decodePng: not a PNG file (bad signature: first bytes are [${bytes.subarray(0, 8)}])`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Uint8Array | undefined;
  let palette: Uint8Array | undefined;
  let paletteAlpha: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;

  for (let pos = 8; pos < bytes.length && !ended;) {
    if (pos + 8 > bytes.length) {
      throw new Error(`decodePng: truncated chunk header at byte ${pos} of ${bytes.length}`);
    }
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + length > bytes.length) {
      throw new Error(
        `decodePng: truncated ${type} chunk at byte ${pos}: needs ${12 + length} bytes, ` +
          `${bytes.length - pos} left`,
      );
    }
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    const stored = view.getUint32(pos + 8 + length);
    const actual = crc32(bytes.subarray(pos + 4, pos + 8 + length));
    if (stored !== actual) {
      throw new Error(
        `decodePng: CRC mismatch in ${type} chunk at byte ${pos} (stored ${hex(stored)}, ` +
          `computed ${hex(actual)})`,
      );
    }
    if (header === undefined && type !== "IHDR") {
      throw new Error(`decodePng: first chunk must be IHDR, got ${type}`);
    }
    if (type === "IHDR") header = data;
    else if (type === "PLTE") palette = data;
    else if (type === "tRNS") paletteAlpha = data;
    else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") ended = true;
    else if (type.charCodeAt(0) < 97) {
      // Upper-case first letter marks a critical chunk: the spec forbids skipping it.
      throw new Error(`decodePng: unknown critical chunk ${type}`);
    }
    pos += 12 + length;
  }
  if (!ended) throw new Error("decodePng: truncated file (no IEND chunk)");
  if (header === undefined || header.length !== 13) {
    throw new Error(`decodePng: IHDR must hold 13 bytes, got ${header?.length}`);
  }

  const hv = new DataView(header.buffer, header.byteOffset, 13);
  const width = hv.getUint32(0);
  const height = hv.getUint32(4);
  const [bitDepth, colorType, compression, filterMethod, interlace] = header.subarray(8);
  if (width < 1 || height < 1) {
    throw new Error(`decodePng: image size must be positive, got ${width}x${height}`);
  }
  if (!(colorType in STORED_CHANNELS)) {
    throw new Error(`decodePng: invalid colour type ${colorType} (expected 0, 2, 3, 4 or 6)`);
  }
  if (bitDepth !== 8) {
    throw new Error(`decodePng: unsupported bit depth ${bitDepth} (only 8-bit images)`);
  }
  if (interlace !== 0) {
    throw new Error(
      `decodePng: interlaced (Adam7) PNGs are not supported (interlace ${interlace})`,
    );
  }
  if (compression !== 0 || filterMethod !== 0) {
    throw new Error(
      `decodePng: unknown compression method ${compression} or filter method ${filterMethod}`,
    );
  }
  if (idat.length === 0) throw new Error("decodePng: no IDAT chunk");

  const bpp = STORED_CHANNELS[colorType];
  const rowBytes = width * bpp;
  if (height * (rowBytes + 1) > 2 ** 31) {
    throw new Error(`decodePng: image too large (${width}x${height})`);
  }
  let raw: Uint8Array;
  try {
    raw = await inflate(concat(idat), "deflate", height * (rowBytes + 1), "the IDAT data");
  } catch (e) {
    throw new Error(`decodePng: corrupt IDAT data (${(e as Error).message})`);
  }
  if (raw.length !== height * (rowBytes + 1)) {
    throw new Error(
      `decodePng: IDAT inflates to ${raw.length} bytes, expected ${height * (rowBytes + 1)} ` +
        `for ${width}x${height} with ${bpp} bytes per pixel`,
    );
  }

  const pixels = new Uint8Array(height * rowBytes);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)];
    if (filter > 4) throw new Error(`decodePng: invalid filter type ${filter} in row ${y}`);
    const src = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prior = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    // Left to right, so each prediction reads bytes of `row` that are already unfiltered.
    for (let i = 0; i < rowBytes; i++) {
      row[i] = (src[i] + predict(filter, row, prior, i, bpp)) & 0xff;
    }
  }

  if (colorType !== 3) return { width, height, channels: bpp as 1 | 2 | 3 | 4, data: pixels };
  return expandPalette(width, height, pixels, palette, paletteAlpha);
}

/** Reads and decodes the PNG file at `path`. */
export async function readPng(path: string | URL): Promise<RasterImage> {
  return await decodePng(await Deno.readFile(path));
}

function expandPalette(
  width: number,
  height: number,
  indices: Uint8Array,
  palette: Uint8Array | undefined,
  alpha: Uint8Array | undefined,
): RasterImage {
  if (palette === undefined || palette.length === 0 || palette.length % 3 !== 0) {
    throw new Error(
      `decodePng: palette image needs a PLTE chunk of 3*n bytes, got ${palette?.length ?? "none"}`,
    );
  }
  const entries = palette.length / 3;
  const channels = alpha ? 4 : 3;
  const data = new Uint8Array(indices.length * channels);
  for (let p = 0; p < indices.length; p++) {
    const k = indices[p];
    if (k >= entries) {
      throw new Error(
        `decodePng: palette index ${k} at pixel ${p} but PLTE has ${entries} entries`,
      );
    }
    data.set(palette.subarray(3 * k, 3 * k + 3), p * channels);
    // tRNS may be shorter than the palette: missing entries are opaque.
    if (alpha) data[p * channels + 3] = k < alpha.length ? alpha[k] : 255;
  }
  return { width, height, channels, data };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function hex(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

import assert from "node:assert/strict";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { toImage, upscale, visualizeGrid } from "../../lib/vis/grid.ts";
import {
  crc32,
  decodePng,
  encodePng,
  type PngFilter,
  type RasterImage,
  readPng,
  writePng,
} from "../../lib/vis/png.ts";
import { figure, linePlot, writeSvg } from "../../lib/vis/plot.ts";

// ---------------------------------------------------------------------- PNG building blocks

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

/** One chunk with a correct CRC (crc32 itself is checked against known values below). */
function chunk(type: string, data: ArrayLike<number>): number[] {
  const typeAndData = new Uint8Array([...bytes(type), ...Array.from(data)]);
  return [...u32(data.length), ...typeAndData, ...u32(crc32(typeAndData))];
}

function ihdr(width: number, height: number, colorType: number, bitDepth = 8, interlace = 0) {
  return chunk("IHDR", [...u32(width), ...u32(height), bitDepth, colorType, 0, 0, interlace]);
}

async function zlib(data: ArrayLike<number>): Promise<Uint8Array> {
  const stream = new Blob([new Uint8Array(Array.from(data))]).stream()
    .pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A PNG file from chunks given as byte arrays. */
function png(...chunks: number[][]): Uint8Array {
  return new Uint8Array([...SIGNATURE, ...chunks.flat()]);
}

const IEND = chunk("IEND", []);

/** The chunks of a PNG file as [type, data]. */
function chunksOf(file: Uint8Array): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let pos = 8; pos < file.length;) {
    const length = view.getUint32(pos);
    out.push([
      new TextDecoder().decode(file.subarray(pos + 4, pos + 8)),
      file.subarray(pos + 8, pos + 8 + length),
    ]);
    pos += 12 + length;
  }
  return out;
}

function randomImage(rng: Rng, width: number, height: number, channels: 1 | 2 | 3 | 4) {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.randint(256);
  return { width, height, channels, data };
}

// ----------------------------------------------------------------------------------- CRC-32

Deno.test("crc32 matches the published check values", () => {
  assert.equal(crc32(bytes("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  // Every PNG ends with this: the CRC of the bare type "IEND".
  assert.equal(crc32(bytes("IEND")), 0xae426082);
  const digits = bytes("123456789");
  assert.equal(crc32(digits.subarray(3), crc32(digits.subarray(0, 3))), 0xcbf43926);
});

// ---------------------------------------------------------------------------------- encoder

Deno.test("encodePng writes signature, IHDR, IDAT, IEND with the right header fields", async () => {
  const rng = new Rng(1);
  for (const [channels, colorType] of [[1, 0], [2, 4], [3, 2], [4, 6]] as const) {
    const image = randomImage(rng, 5, 3, channels);
    const file = await encodePng(image, { filter: 0 });
    assert.deepEqual([...file.subarray(0, 8)], SIGNATURE);
    const chunks = chunksOf(file);
    assert.deepEqual(chunks.map(([type]) => type), ["IHDR", "IDAT", "IEND"]);
    assert.deepEqual([...chunks[0][1]], [0, 0, 0, 5, 0, 0, 0, 3, 8, colorType, 0, 0, 0]);
    // With filter None the stream is each row prefixed by a 0 byte.
    const raw = await inflate(chunks[1][1]);
    const expected = [];
    for (let y = 0; y < 3; y++) {
      expected.push(0, ...image.data.subarray(y * 5 * channels, (y + 1) * 5 * channels));
    }
    assert.deepEqual([...raw], expected);
  }
});

Deno.test("encodePng applies the requested filter per row", async () => {
  const image = randomImage(new Rng(2), 4, 7, 3);
  const file = await encodePng(image, { filter: [0, 1, 2, 3, 4] });
  const raw = await inflate(chunksOf(file)[1][1]);
  const filterBytes = Array.from({ length: 7 }, (_, y) => raw[y * (4 * 3 + 1)]);
  assert.deepEqual(filterBytes, [0, 1, 2, 3, 4, 0, 1]);
  // Sub on row 1: each byte minus the byte one pixel (3 bytes) to the left, modulo 256.
  const row1 = image.data.subarray(12, 24);
  const sub = Array.from(row1, (v, i) => (v - (i >= 3 ? row1[i - 3] : 0)) & 255);
  assert.deepEqual([...raw.subarray(14, 26)], sub);
});

Deno.test("encodePng rejects bad images and options", async () => {
  const data = new Uint8Array(12);
  await assert.rejects(
    encodePng({ width: 2, height: 2, channels: 4, data }),
    /encodePng: data must be a Uint8Array of 16 bytes.*got 12 bytes/,
  );
  await assert.rejects(
    encodePng({ width: 2, height: 2, channels: 5 as 4, data }),
    /encodePng: channels must be 1, 2, 3 or 4, got 5/,
  );
  await assert.rejects(
    encodePng({ width: 0, height: 2, channels: 1, data: new Uint8Array(0) }),
    /encodePng: width and height must be positive integers/,
  );
  await assert.rejects(
    encodePng({ width: 3, height: 4, channels: 1, data }, { filter: 7 as PngFilter }),
    /encodePng: options.filter must be 0..4/,
  );
});

// ------------------------------------------------------------------------------- round trip

Deno.test("PNG round trips for every channel count, size and filter", async (t) => {
  const rng = new Rng(3);
  const filters: (PngFilter | "adaptive")[] = [0, 1, 2, 3, 4, "adaptive"];
  for (const channels of [1, 2, 3, 4] as const) {
    for (const [width, height] of [[1, 1], [3, 5], [100, 37]]) {
      await t.step(`${channels} channels, ${width}x${height}`, async () => {
        const image = randomImage(rng, width, height, channels);
        for (const filter of filters) {
          const back = await decodePng(await encodePng(image, { filter }));
          assert.deepEqual(back, image, `filter ${filter}`);
        }
      });
    }
  }
});

Deno.test("adaptive filtering compresses a smooth image better than no filtering", async () => {
  const data = new Uint8Array(64 * 64);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) data[y * 64 + x] = (x * 3 + y * 5) & 255;
  }
  const image: RasterImage = { width: 64, height: 64, channels: 1, data };
  const plain = await encodePng(image, { filter: 0 });
  const adaptive = await encodePng(image);
  assert.ok(adaptive.length < plain.length, `${adaptive.length} vs ${plain.length}`);
});

// ---------------------------------------------------------------------------------- decoder

Deno.test("decodePng undoes all five filters (hand-filtered gray image)", async () => {
  // 3x5 gray image, rows filtered None, Sub, Up, Average, Paeth; the filtered bytes were
  // worked out by hand (Average rounds down the 9-bit sum; Paeth picks left, up or up-left).
  const filtered = [
    [0, 10, 20, 30],
    [1, 15, 15, 10],
    [2, 5, 105, 160],
    [3, 240, 48, 46],
    [4, 206, 61, 75],
  ].flat();
  const file = png(ihdr(3, 5, 0), chunk("IDAT", await zlib(filtered)), IEND);
  const image = await decodePng(file);
  assert.deepEqual(image, {
    width: 3,
    height: 5,
    channels: 1,
    data: new Uint8Array([10, 20, 30, 15, 30, 40, 20, 135, 200, 250, 240, 10, 200, 5, 80]),
  });
});

Deno.test("decodePng breaks Paeth ties in the order left, up, upper-left", async () => {
  // 2x2 gray, row 1 Paeth. Its second pixel has left a, up b, upper-left c with
  // p = a + b - c; the first image ties |p - b| = |p - c| (b wins), the second ties
  // |p - a| = |p - c| (a wins).
  for (
    const [filtered, expected] of [
      [[0, 10, 0, 4, 5, 50], [10, 0, 15, 50]], // a 15, b 0, c 10: p 5, predict b = 0
      [[0, 100, 110, 4, 236, 236], [100, 110, 80, 60]], // a 80, b 110, c 100: p 90, predict a
    ]
  ) {
    const file = png(ihdr(2, 2, 0), chunk("IDAT", await zlib(filtered)), IEND);
    assert.deepEqual([...(await decodePng(file)).data], expected);
  }
});

Deno.test("decodePng uses whole pixels as the left neighbour (RGB, Sub and Paeth)", async () => {
  // 2x2 RGB. Row 0 Sub: pixel 1 minus pixel 0 per channel.
  // Row 1 Paeth: pixel 0 has only "up" (a = c = 0, so the predictor is up); pixel 1 of
  // (100,100,100) over (11,22,33) with up-left (1,2,3): p = a + b - c, closest is up.
  const filtered = [1, 1, 2, 3, 10, 20, 30, 4, 4, 3, 2, 89, 78, 67];
  const file = png(ihdr(2, 2, 2), chunk("IDAT", await zlib(filtered)), IEND);
  const image = await decodePng(file);
  assert.equal(image.channels, 3);
  assert.deepEqual([...image.data], [1, 2, 3, 11, 22, 33, 5, 5, 5, 100, 100, 100]);
});

Deno.test("decodePng reads a PNG made by another encoder", async () => {
  // A widely used 1x1 RGBA PNG (zlib level 9, filter Sub): pixel (0, 0, 255, 127).
  const base64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6" +
    "kgAAAABJRU5ErkJggg==";
  const file = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  assert.deepEqual(await decodePng(file), {
    width: 1,
    height: 1,
    channels: 4,
    data: new Uint8Array([0, 0, 255, 127]),
  });
});

Deno.test("decodePng concatenates several IDAT chunks and skips ancillary chunks", async () => {
  const image = randomImage(new Rng(4), 9, 4, 2);
  const stream = chunksOf(await encodePng(image))[1][1];
  const file = png(
    ihdr(9, 4, 4),
    chunk("tEXt", bytes("Comment\0split stream")),
    chunk("IDAT", stream.subarray(0, 5)),
    chunk("IDAT", []),
    chunk("IDAT", stream.subarray(5, 20)),
    chunk("IDAT", stream.subarray(20)),
    IEND,
  );
  assert.deepEqual(await decodePng(file), image);
});

Deno.test("decodePng expands palette images to RGB, or RGBA with tRNS", async () => {
  const palette = [255, 0, 0, 0, 255, 0, 0, 0, 255]; // red, green, blue
  const rows = [0, 0, 1, 2, 0, 2, 2, 1]; // 3x2, each row: filter 0 then indices
  const idat = chunk("IDAT", await zlib(rows));
  const rgb = await decodePng(png(ihdr(3, 2, 3), chunk("PLTE", palette), idat, IEND));
  assert.equal(rgb.channels, 3);
  assert.deepEqual([...rgb.data], [
    255,
    0,
    0,
    0,
    255,
    0,
    0,
    0,
    255,
    0,
    0,
    255,
    0,
    0,
    255,
    0,
    255,
    0,
  ]);

  // tRNS shorter than the palette: the blue entry has no alpha and is opaque.
  const trns = chunk("tRNS", [0, 128]);
  const rgba = await decodePng(png(ihdr(3, 2, 3), chunk("PLTE", palette), trns, idat, IEND));
  assert.equal(rgba.channels, 4);
  assert.deepEqual(
    [...rgba.data],
    [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 255, 0, 128],
  );

  await assert.rejects(
    decodePng(png(ihdr(3, 2, 3), chunk("PLTE", palette.slice(0, 6)), idat, IEND)),
    /decodePng: palette index 2 at pixel 2 but PLTE has 2 entries/,
  );
  await assert.rejects(
    decodePng(png(ihdr(3, 2, 3), idat, IEND)),
    /decodePng: palette image needs a PLTE chunk/,
  );
});

Deno.test("decodePng rejects corrupt or unsupported files", async (t) => {
  const good = await encodePng(randomImage(new Rng(5), 4, 4, 3));
  const idatRows = chunk("IDAT", await zlib(new Uint8Array(4 * 13)));

  const cases: [string, Uint8Array, RegExp][] = [
    [
      "bad signature",
      good.map((b, i) => (i === 1 ? 0x51 : b)),
      /decodePng: not a PNG file \(bad signature/,
    ],
    ["empty input", new Uint8Array(0), /decodePng: not a PNG file/],
    [
      "CRC mismatch",
      good.map((b, i) => (i === 45 ? b ^ 1 : b)),
      /decodePng: CRC mismatch in IDAT chunk/,
    ],
    ["truncated chunk", good.subarray(0, 50), /decodePng: truncated IDAT chunk at byte 33/],
    ["truncated header", good.subarray(0, 12), /decodePng: truncated chunk header at byte 8/],
    ["no IEND", good.subarray(0, good.length - 12), /decodePng: truncated file \(no IEND chunk\)/],
    ["IHDR not first", png(idatRows, IEND), /decodePng: first chunk must be IHDR, got IDAT/],
    ["16-bit", png(ihdr(4, 4, 2, 16), idatRows, IEND), /decodePng: unsupported bit depth 16/],
    ["1-bit", png(ihdr(4, 4, 0, 1), idatRows, IEND), /decodePng: unsupported bit depth 1/],
    ["interlaced", png(ihdr(4, 4, 2, 8, 1), idatRows, IEND), /decodePng: interlaced \(Adam7\)/],
    ["colour type", png(ihdr(4, 4, 5), idatRows, IEND), /decodePng: invalid colour type 5/],
    ["no IDAT", png(ihdr(4, 4, 2), IEND), /decodePng: no IDAT chunk/],
    [
      "not zlib",
      png(ihdr(4, 4, 2), chunk("IDAT", [1, 2, 3, 4]), IEND),
      /decodePng: corrupt IDAT data/,
    ],
    [
      "short data",
      png(ihdr(5, 4, 2), idatRows, IEND),
      /decodePng: IDAT inflates to 52 bytes, expected 64/,
    ],
    [
      "critical chunk",
      png(ihdr(4, 4, 2), chunk("ABCD", []), idatRows, IEND),
      /decodePng: unknown critical chunk ABCD/,
    ],
  ];
  for (const [name, file, error] of cases) {
    await t.step(name, () => assert.rejects(decodePng(file), error));
  }
  await t.step("filter type 5", async () => {
    const file = png(ihdr(1, 1, 0), chunk("IDAT", await zlib([5, 0])), IEND);
    await assert.rejects(decodePng(file), /decodePng: invalid filter type 5 in row 0/);
  });
});

Deno.test("writePng creates the directory; readPng reads the file back", async () => {
  const dir = `out/_vis_test_${crypto.randomUUID()}`;
  try {
    const image = randomImage(new Rng(6), 6, 2, 4);
    await writePng(`${dir}/nested/image.png`, image);
    assert.deepEqual(await readPng(`${dir}/nested/image.png`), image);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

// ------------------------------------------------------------------------------------- grid

Deno.test("visualizeGrid normalizes each image and pads with zeros (exact pixels)", () => {
  // Three 1x3 gray images in a 2x2 grid with 2 pixels of padding: 8 wide, 4 tall.
  const x = Tensor.fromArray([0, 1, 4, 2, 2, 2, -3, 0, 1], [3, 1, 1, 3]);
  const grid = visualizeGrid(x, { padding: 2 });
  assert.equal(grid.width, 8);
  assert.equal(grid.height, 4);
  assert.equal(grid.channels, 1);
  assert.deepEqual(
    [...grid.data],
    [
      [0, 63, 255, 0, 0, 0, 0, 0], // 255 * 1/4 = 63.75 truncates; image 1 is constant → black
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 191, 255, 0, 0, 0, 0, 0], // 255 * 3/4 = 191.25
    ].flat(),
  );
});

Deno.test("visualizeGrid: default padding 1, ubound, grid size ceil(sqrt(N))", () => {
  const x = Tensor.arange(5 * 2 * 3).reshape([5, 2, 3]); // (N, H, W) gray
  const grid = visualizeGrid(x, { ubound: 100 });
  assert.equal(grid.width, 3 * 3 + 2);
  assert.equal(grid.height, 3 * 2 + 2);
  // Image 4 sits in row 1, column 1: top-left pixel at (3, 4); each image spans 0..5 → 0..100.
  const at = (row: number, col: number) => grid.data[row * grid.width + col];
  assert.deepEqual([at(3, 4), at(3, 5), at(3, 6), at(4, 4), at(4, 6)], [0, 20, 40, 60, 100]);
  assert.equal(at(2, 4), 0); // padding row
  assert.equal(at(6, 0), 0); // empty cell of the last row
  assert.equal(Math.max(...grid.data), 100);
});

Deno.test("visualizeGrid reads NCHW and NHWC colour images alike", () => {
  // One 1x2 RGB image: R = [0, 10], G = [5, 0], B = [10, 10], normalized over all channels.
  const nchw = Tensor.fromArray([0, 10, 5, 0, 10, 10], [1, 3, 1, 2]);
  const expected = [0, 127, 255, 255, 0, 255];
  const a = visualizeGrid(nchw);
  assert.equal(a.channels, 3);
  assert.deepEqual([...a.data], expected);
  const nhwc = nchw.transpose([0, 2, 3, 1]);
  assert.deepEqual([...visualizeGrid(nhwc, { layout: "NHWC" }).data], expected);
});

Deno.test("visualizeGrid rejects bad input", () => {
  assert.throws(
    () => visualizeGrid(Tensor.zeros([2, 2, 4, 4])),
    /visualizeGrid: images must have 1 or 3 channels, got 2/,
  );
  assert.throws(
    () => visualizeGrid(Tensor.zeros([2, 4])),
    /visualizeGrid: x must be \(N, C, H, W\).*got shape \[2,4\]/,
  );
  assert.throws(
    () => visualizeGrid(Tensor.zeros([1, 1, 2, 2]), { ubound: 300 }),
    /ubound must be in \(0, 255\], got 300/,
  );
  assert.throws(
    () => visualizeGrid(Tensor.zeros([1, 1, 2, 2]), { padding: -1 }),
    /padding must be a non-negative integer/,
  );
  const x = Tensor.fromArray([0, 1, NaN, 2], [1, 1, 2, 2]);
  assert.throws(() => visualizeGrid(x), /visualizeGrid: image 0 holds a non-finite value \(NaN\)/);
});

Deno.test("toImage normalizes one image; upscale repeats pixels", async () => {
  assert.deepEqual(toImage(Tensor.fromArray([[2, 4], [6, 10]])), {
    width: 2,
    height: 2,
    channels: 1,
    data: new Uint8Array([0, 63, 127, 255]),
  });
  const rgb = toImage(Tensor.fromArray([1, 2, 3, 4, 5, 6], [3, 1, 2]));
  assert.equal(rgb.channels, 3);
  assert.deepEqual([...rgb.data], [0, 102, 204, 51, 153, 255]);
  assert.throws(
    () => toImage(Tensor.zeros([1, 1, 2, 2])),
    /toImage: x must be \(H, W\) or \(C, H, W\)/,
  );

  const big = upscale(rgb, 2);
  assert.equal(big.width, 4);
  assert.equal(big.height, 2);
  const row = [0, 102, 204, 0, 102, 204, 51, 153, 255, 51, 153, 255];
  assert.deepEqual([...big.data], [...row, ...row]);
  assert.throws(() => upscale(rgb, 1.5), /upscale: factor must be a positive integer, got 1.5/);

  // The grid is a valid image for the encoder.
  assert.deepEqual(await decodePng(await encodePng(big)), big);
});

// -------------------------------------------------------------------------------------- SVG

function tickLabels(svg: string, axis: "x" | "y"): string[] {
  const re = new RegExp(`<text[^>]*class="tick-${axis}"[^>]*>([^<]*)</text>`, "g");
  return [...svg.matchAll(re)].map((m) => m[1]);
}

function count(svg: string, needle: string): number {
  return svg.split(needle).length - 1;
}

Deno.test("linePlot draws title, labels, legend and one path per line series", () => {
  const svg = linePlot({
    title: "Loss & accuracy <test>",
    xLabel: "Iteration",
    yLabel: "Loss",
    series: [
      { name: "train", y: [3, 2, 1.5, 1.2] },
      { name: "val", y: [3.1, 2.5, 2, 1.9], style: "both" },
      { name: "points only", y: [1, 2], style: "points" },
    ],
  });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.endsWith("</svg>\n"));
  assert.ok(svg.includes(">Loss &#38; accuracy &#60;test&#62;</text>"));
  for (const label of [">Iteration<", ">Loss<", ">train<", ">val<", ">points only<"]) {
    assert.ok(svg.includes(label), label);
  }
  assert.equal(count(svg, '<path class="series-line"'), 2);
  // 4 + 2 data markers, plus one legend marker each for "val" and "points only".
  assert.equal(count(svg, "<circle"), 8);
  assert.equal(count(svg, "<text"), count(svg, "</text>"));
  // Distinct default colours.
  const colors = [...svg.matchAll(/class="series-line"[^>]*stroke="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(colors).size, 2);
});

Deno.test("linePlot skips NaN and infinite points, breaking the line", () => {
  const svg = linePlot({
    series: [{ name: "loss", y: [1, 2, NaN, 3, Infinity, -Infinity, 4, 5] }],
  });
  assert.ok(!/NaN|Infinity/.test(svg));
  const d = svg.match(/class="series-line" d="([^"]*)"/)![1];
  // Three runs: [1, 2], [3], [4, 5].
  assert.equal(count(d, "M"), 3);
  assert.equal(count(d, "L"), 2);
  const none = linePlot({ series: [{ name: "empty", y: [NaN, NaN] }] });
  assert.ok(!/NaN|Infinity/.test(none));
});

Deno.test("linePlot maps data to pixels exactly with fixed ranges", () => {
  // Plot area without a title: x 68..624, y 12..352.
  const svg = linePlot({
    series: [{ name: "p", x: [5, 0], y: [5, 10], style: "points" }],
    xRange: [0, 10],
    yRange: [0, 10],
  });
  assert.ok(svg.includes('<circle cx="346" cy="182"'));
  assert.ok(svg.includes('<circle cx="68" cy="12"'));
  assert.deepEqual(tickLabels(svg, "y"), ["0", "2", "4", "6", "8", "10"]);
});

Deno.test("linePlot picks 1/2/5 ticks and prints them without float noise", () => {
  const svg = linePlot({ series: [{ name: "acc", y: [0, 0.3, 0.95] }] });
  assert.deepEqual(tickLabels(svg, "y"), ["0", "0.2", "0.4", "0.6", "0.8"]);
  assert.deepEqual(tickLabels(svg, "x"), ["0", "0.5", "1.0", "1.5", "2.0"]);
  const big = linePlot({ series: [{ name: "n", x: [0, 1000], y: [-300, 700] }] });
  assert.deepEqual(tickLabels(big, "x"), ["0", "200", "400", "600", "800", "1000"]);
  assert.deepEqual(tickLabels(big, "y"), ["-200", "0", "200", "400", "600"]);
});

Deno.test("linePlot log axes put ticks at powers of ten", () => {
  const scales = Array.from({ length: 20 }, (_, i) => 10 ** (-4 + (4 * i) / 19));
  const svg = linePlot({
    logX: true,
    series: [{ name: "acc", x: scales, y: scales.map((s) => 0.1 + s / 10) }],
  });
  assert.deepEqual(tickLabels(svg, "x"), ["1e-4", "0.001", "0.01", "0.1", "1"]);
  const logY = linePlot({ logY: true, series: [{ name: "loss", y: [100, 10, 1, 0, -1, 0.01] }] });
  assert.deepEqual(tickLabels(logY, "y"), ["0.01", "0.1", "1", "10", "100"]);
  // Non-positive values cannot be placed on a log axis: skipped like NaN.
  const d = logY.match(/class="series-line" d="([^"]*)"/)![1];
  assert.equal(count(d, "M") + count(d, "L"), 4);
  // Within one decade, 2 and 5 fill in.
  const narrow = linePlot({ logY: true, series: [{ name: "a", y: [0.15, 0.6] }] });
  assert.deepEqual(tickLabels(narrow, "y"), ["0.2", "0.5"]);
});

Deno.test("linePlot places the legend away from the data", () => {
  const rising = linePlot({
    legend: true,
    series: [{ name: "up", y: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }],
  });
  assert.match(rising, /<g class="legend"><rect x="76"/); // top-left corner
  const falling = linePlot({
    legend: true,
    series: [{ name: "down", y: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0] }],
  });
  assert.doesNotMatch(falling, /<g class="legend"><rect x="76"/);
});

Deno.test("linePlot draws a legend only for two series or more, unless told", () => {
  const one = linePlot({ series: [{ name: "loss", y: [3, 2, 1] }] });
  assert.equal(count(one, 'class="legend"'), 0);
  const two = linePlot({ series: [{ name: "a", y: [3, 2, 1] }, { name: "b", y: [1, 2, 3] }] });
  assert.equal(count(two, 'class="legend"'), 1);
  assert.equal(
    count(
      linePlot({ legend: false, series: [{ name: "a", y: [1] }, { name: "b", y: [2] }] }),
      'class="legend"',
    ),
    0,
  );
  assert.equal(
    count(linePlot({ legend: true, series: [{ name: "a", y: [1] }] }), 'class="legend"'),
    1,
  );
});

Deno.test("linePlot puts x ticks at whole numbers only with integerX", () => {
  // Two epochs of accuracy: indices 0, 1, 2.
  const series = [{ name: "val", y: [0.1, 0.6, 0.7] }];
  assert.deepEqual(tickLabels(linePlot({ series }), "x"), ["0", "0.5", "1.0", "1.5", "2.0"]);
  assert.deepEqual(tickLabels(linePlot({ series, integerX: true }), "x"), ["0", "1", "2"]);
  // One epoch, and many epochs: still whole numbers, 4 to 8 of them when there is room.
  const oneEpoch = linePlot({ series: [{ name: "v", y: [0.1, 0.6] }], integerX: true });
  assert.deepEqual(tickLabels(oneEpoch, "x"), ["0", "1"]);
  const long = tickLabels(
    linePlot({
      series: [{ name: "v", y: Array.from({ length: 31 }, (_, i) => i / 30) }],
      integerX: true,
    }),
    "x",
  );
  assert.ok(long.every((t) => /^\d+$/.test(t)), long.join());
  assert.ok(long.length >= 4 && long.length <= 8, long.join());
});

Deno.test("linePlot keeps diverging points at sane coordinates", () => {
  const svg = linePlot({ yRange: [0, 3], series: [{ name: "loss", y: [2, 1e300, 1] }] });
  const coords = [...svg.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => Math.abs(Number(m[2])));
  assert.equal(coords.length, 3);
  assert.ok(Math.max(...coords) <= 1e5);
});

Deno.test("linePlot rejects bad options", () => {
  assert.throws(
    () => linePlot({ series: [{ name: "a", x: [1, 2], y: [1, 2, 3] }] }),
    /linePlot: series "a" has 2 x values but 3 y values/,
  );
  assert.throws(
    () => linePlot({ yRange: [1, 1], series: [] }),
    /linePlot: options.yRange must be two finite numbers low < high, got \[1,1\]/,
  );
  assert.throws(
    () => linePlot({ logY: true, yRange: [0, 1], series: [] }),
    /\(both > 0 on a log axis\)/,
  );
  assert.throws(() => linePlot({ width: NaN, series: [] }), /linePlot: options.width must be/);
  assert.throws(
    () => linePlot({ series: [{ name: "a", y: [1], style: "dashed" as "line" }] }),
    /style must be line, points or both, got dashed/,
  );
});

Deno.test("figure stacks panels with a shared title and distinct clip paths", () => {
  const panel = (title: string) => ({ title, series: [{ name: "baseline", y: [1, 2, 3] }] });
  const svg = figure([panel("Training loss"), panel("Training accuracy"), panel("Val accuracy")], {
    title: "Batchnorm",
  });
  assert.match(svg, /^<svg [^>]*width="640" height="1232"/);
  assert.equal(count(svg, '<path class="series-line"'), 3);
  assert.ok(svg.includes('<g transform="translate(0,432)">'));
  const ids = [...svg.matchAll(/<clipPath id="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, 3);
  for (const title of ["Batchnorm", "Training loss", "Training accuracy", "Val accuracy"]) {
    assert.ok(svg.includes(`>${title}</text>`), title);
  }
  const wide = figure([panel("a"), panel("b"), panel("c")], { columns: 2 });
  assert.match(wide, /^<svg [^>]*width="1280" height="800"/);
  assert.throws(() => figure([]), /figure: panels must be a non-empty array/);
  assert.throws(
    () => figure([panel("a")], { columns: 0 }),
    /figure: columns must be a positive integer, got 0/,
  );
});

Deno.test("writeSvg creates the directory", async () => {
  const dir = `out/_vis_test_${crypto.randomUUID()}`;
  try {
    const svg = linePlot({ series: [{ name: "a", y: [1, 2] }] });
    await writeSvg(`${dir}/a/b/plot.svg`, svg);
    assert.equal(await Deno.readTextFile(`${dir}/a/b/plot.svg`), svg);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("decodePng stops inflating IDAT data at the size the header implies", async () => {
  // A 1×1 gray image whose IDAT inflates to 64 MiB of zeros: a decompression bomb.
  const zeros = new Blob([new Uint8Array(64 << 20)]).stream()
    .pipeThrough(new CompressionStream("deflate"));
  const idat = new Uint8Array(await new Response(zeros).arrayBuffer());
  const file = png(ihdr(1, 1, 0), chunk("IDAT", idat), IEND);
  assert.ok(file.length < 1 << 20);
  await assert.rejects(
    () => decodePng(file),
    /decodePng: corrupt IDAT data \(the IDAT data inflates to more than 2 bytes/,
  );
});

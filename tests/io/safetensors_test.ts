import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadParams,
  saveParams,
} from "../../lib/io/safetensors.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

function assertSameTensor(actual: Tensor, expected: Tensor, label: string): void {
  assert.equal(actual.dtype, expected.dtype, `${label} dtype`);
  assert.deepEqual(actual.shape, expected.shape, `${label} shape`);
  assert.deepEqual(Array.from(actual.data), Array.from(expected.data), `${label} data`);
}

/** A file from a header given as text and raw data bytes, with the length field filled in. */
function fileFrom(header: string, data: number[] = []): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

// The hand-built file of the byte-level tests: metadata {k: "v"}, a = float32 [1.5, -2],
// b = float64 scalar 0.25.
const HEADER = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
  '"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]}}';
const HAND_BUILT = [
  // Header length 136 = 0x88: the 132-byte JSON padded with 4 spaces to a multiple of 8.
  ...[0x88, 0, 0, 0, 0, 0, 0, 0],
  ...new TextEncoder().encode(HEADER + "    "),
  // 1.5f = 0x3fc00000 and -2f = 0xc0000000, little-endian.
  ...[0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0],
  // 0.25 = 0x3fd0000000000000, little-endian.
  ...[0, 0, 0, 0, 0, 0, 0xd0, 0x3f],
];

Deno.test("encodeSafetensors: exact bytes of a tiny file built by hand", () => {
  assert.equal(HEADER.length, 132);
  const bytes = encodeSafetensors(
    { a: Tensor.fromArray([1.5, -2], [2], "float32"), b: Tensor.full([], 0.25) },
    { k: "v" },
  );
  assert.deepEqual(Array.from(bytes), HAND_BUILT);
  assert.equal(bytes.length, 160);
});

Deno.test("decodeSafetensors: reads the hand-built file", () => {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(HAND_BUILT));
  assert.deepEqual(Object.keys(tensors), ["a", "b"]);
  assertSameTensor(tensors.a, Tensor.fromArray([1.5, -2], [2], "float32"), "a");
  assertSameTensor(tensors.b, Tensor.full([], 0.25), "b");
  assert.deepEqual(metadata, { k: "v" });
});

Deno.test("round trip: float32/float64, 0-d and empty tensors, metadata, key order", () => {
  const rng = new Rng(3);
  const tensors: Record<string, Tensor> = {
    W1: Tensor.randn([3, 4], rng, "float32"),
    b1: Tensor.randn([4], rng),
    scalar: Tensor.full([], -7.125, "float32"),
    empty: Tensor.zeros([0, 5]),
    alsoEmpty: Tensor.zeros([0], "float32"),
    conv: Tensor.randn([2, 3, 3, 3], rng),
    "name with spaces/ünïcode": Tensor.fromArray([Number.MAX_VALUE, -0, 5e-324]),
  };
  const metadata = { epoch: "3", history: JSON.stringify([2.3, 1.9]) };
  const bytes = encodeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, "data starts on an 8-byte boundary");

  const decoded = decodeSafetensors(bytes);
  assert.deepEqual(Object.keys(decoded.tensors), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) assertSameTensor(decoded.tensors[name], t, name);
  assert.ok(Object.is(decoded.tensors["name with spaces/ünïcode"].data[1], -0));
  assert.deepEqual(decoded.metadata, metadata);
  // Decoded tensors own their storage.
  decoded.tensors.b1.data[0] += 1;
  assert.notEqual(decoded.tensors.b1.data[0], tensors.b1.data[0]);
});

Deno.test("round trip: no metadata → no __metadata__ entry and an empty object back", () => {
  const bytes = encodeSafetensors({ x: Tensor.ones([2]) });
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + bytes[0]));
  assert.ok(!text.includes("__metadata__"));
  assert.deepEqual(decodeSafetensors(bytes).metadata, {});
  assert.deepEqual(decodeSafetensors(encodeSafetensors({})).tensors, {});
});

Deno.test("decodeSafetensors: header order may differ from data order; metadata may come last", () => {
  const bytes = fileFrom(
    '{"second":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
      '"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"x":"1"}}  ',
    [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], // 1f, 2f
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.equal(tensors.first.data[0], 1);
  assert.equal(tensors.second.data[0], 2);
  assert.deepEqual(metadata, { x: "1" });
});

Deno.test("decodeSafetensors: a tensor named __proto__ stays an own entry", () => {
  const bytes = fileFrom('{"__proto__":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}', [
    ...new Uint8Array(Float64Array.of(4).buffer),
  ]);
  const { tensors } = decodeSafetensors(bytes);
  assert.ok(Object.hasOwn(tensors, "__proto__"));
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(tensors, "__proto__")!.value.data[0], 4);
});

Deno.test("decodeSafetensors: corrupt inputs are rejected with a named problem", async (t) => {
  const f32 = (shape: number[], offsets: number[]) =>
    `{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than the length field", new Uint8Array(5), /5 bytes, fewer than the 8-byte/],
    [
      "header length beyond the file",
      (() => {
        const b = fileFrom("{}");
        b[0] = 200;
        return b;
      })(),
      /header length 200 runs past the end of the file \(2 bytes/,
    ],
    [
      "huge header length",
      new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0xff, 0x7b, 0x7d]),
      /runs past the end of the file/,
    ],
    ["bad JSON", fileFrom('{"a": '), /header is not valid UTF-8 JSON/],
    ["invalid UTF-8", fileFrom("{}").map((b, i) => (i === 8 ? 0xff : b)), /not valid UTF-8/],
    ["header not an object", fileFrom("[1, 2]"), /header must be a JSON object, got \[1,2\]/],
    [
      "unsupported dtype",
      fileFrom('{"h":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', [0, 0]),
      /tensor "h" has dtype "F8_E4M3"; only F32, F64, I64, F16 and BF16 can be read/,
    ],
    [
      "integer dtype other than I64",
      fileFrom('{"i":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}', Array(4).fill(0)),
      /dtype "I32"/,
    ],
    [
      "offsets not matching shape × itemsize",
      fileFrom(`{"a":${f32([3], [0, 8])}}`, Array(8).fill(0)),
      /tensor "a" of shape \[3\] and dtype F32 needs 12 bytes, but data_offsets \[0, 8\] span 8/,
    ],
    [
      "offsets past the data",
      fileFrom(`{"a":${f32([2], [0, 8])}}`, Array(4).fill(0)),
      /tensor "a" data_offsets \[0, 8\] lie outside the 4 data bytes/,
    ],
    [
      "reversed offsets",
      fileFrom(`{"a":${f32([0], [4, 0])}}`, Array(4).fill(0)),
      /data_offsets \[4, 0\] lie outside/,
    ],
    [
      "overlapping tensors",
      fileFrom(`{"a":${f32([2], [0, 8])},"b":${f32([2], [4, 12])}}`, Array(12).fill(0)),
      /tensor "b" data_offsets \[4, 12\] overlap the previous tensor \(which ends at byte 8\)/,
    ],
    [
      "gap between tensors",
      fileFrom(`{"a":${f32([1], [0, 4])},"b":${f32([1], [8, 12])}}`, Array(12).fill(0)),
      /gap in the data: bytes \[4, 8\) belong to no tensor/,
    ],
    [
      "trailing bytes",
      fileFrom(`{"a":${f32([1], [0, 4])}}`, Array(6).fill(0)),
      /tensors cover 4 bytes of data but the file holds 6/,
    ],
    [
      "a tensor named twice",
      fileFrom(`{"a":${f32([1], [0, 4])}, "b" : ${f32([1], [4, 8])},"a":${f32([1], [8, 12])}}`, [
        ...Array(12).fill(0),
      ]),
      /decodeSafetensors: the header names "a" twice/,
    ],
    [
      "a nested key repeated is no duplicate, an escaped quote no end of string",
      fileFrom(
        `{"__metadata__":{"k":"x\\"a\\":"},"a":${f32([1], [0, 4])},"a\\"":${f32([1], [4, 8])},"c":${
          f32([1], [8, 12])
        },"c":${f32([1], [0, 4])}}`,
        Array(12).fill(0),
      ),
      /the header names "c" twice/,
    ],
    [
      "bad shape",
      fileFrom(`{"a":${f32([-1], [0, 0])}}`),
      /tensor "a" has an invalid shape \[-1\]/,
    ],
    [
      "missing offsets",
      fileFrom('{"a":{"dtype":"F32","shape":[]}}'),
      /tensor "a" has invalid data_offsets undefined/,
    ],
    [
      "non-string metadata value",
      fileFrom('{"__metadata__":{"epoch":3}}'),
      /__metadata__ values must be strings, but "epoch" is number \(3\)/,
    ],
  ];
  for (const [name, bytes, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => decodeSafetensors(bytes), (e: Error) => {
        assert.match(e.message, /^decodeSafetensors: /);
        assert.match(e.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("encodeSafetensors: rejects non-string metadata, non-tensors and the reserved name", () => {
  const x = Tensor.zeros([1]);
  assert.throws(
    () => encodeSafetensors({ x }, { epoch: 3 } as unknown as Record<string, string>),
    /encodeSafetensors: __metadata__ values must be strings, but "epoch" is number/,
  );
  assert.throws(
    () => encodeSafetensors({ x: [1, 2] } as unknown as Record<string, Tensor>),
    /encodeSafetensors: tensors\["x"\] must be a Tensor/,
  );
  assert.throws(
    () => encodeSafetensors({ __metadata__: x }),
    /"__metadata__" is reserved and cannot name a tensor/,
  );
});

Deno.test("saveParams / loadParams: write a file (creating its directory) and read it back", () => {
  // Under out/: the test task may write there and read it back (read access is ".").
  Deno.mkdirSync("out", { recursive: true });
  const dir = Deno.makeTempDirSync({ dir: "out", prefix: "safetensors_test_" });
  try {
    const path = `${dir}/nested/deeper/params.safetensors`;
    const params = {
      W1: Tensor.randn([4, 3], new Rng(1), "float32"),
      b1: Tensor.fromArray([0.5, -1.5, 2]),
    };
    saveParams(path, params, { note: "test" });
    assert.deepEqual(Deno.readFileSync(path), encodeSafetensors(params, { note: "test" }));
    const loaded = loadParams(path);
    assertSameTensor(loaded.params.W1, params.W1, "W1");
    assertSameTensor(loaded.params.b1, params.b1, "b1");
    assert.deepEqual(loaded.metadata, { note: "test" });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

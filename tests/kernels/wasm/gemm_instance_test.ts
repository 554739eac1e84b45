import assert from "node:assert/strict";
import {
  control,
  f32,
  f32x4,
  f64,
  f64x2,
  forLoop,
  i32,
  local,
  memory,
  ModuleBuilder,
  sleb,
  uleb,
  v128,
} from "../../../lib/kernels/wasm/builder.ts";
import { wasmFeatures } from "../../../lib/kernels/wasm/features.ts";
import { buildGemmModule } from "../../../lib/kernels/wasm/gemm_module.ts";
import {
  createGemmInstance,
  defaultGemmInstance,
} from "../../../lib/kernels/wasm/gemm_instance.ts";
import { gemmReference } from "../../../lib/kernels/gemm.ts";

const { simd, relaxedSimd } = wasmFeatures();

// deno-lint-ignore no-explicit-any
type Fn = (...args: number[]) => any;

/** Validates, compiles and instantiates a module, returning its exports. */
function instantiate(mod: ModuleBuilder, imports?: WebAssembly.Imports): Record<string, unknown> {
  const bytes = mod.toBytes();
  assert.ok(WebAssembly.validate(bytes), "the emitted module validates");
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports;
}

Deno.test("LEB128 encodings match the specification's examples", () => {
  assert.deepEqual(uleb(0), [0x00]);
  assert.deepEqual(uleb(127), [0x7f]);
  assert.deepEqual(uleb(128), [0x80, 0x01]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(uleb(0xffffffff), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.deepEqual(sleb(0), [0x00]);
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]); // bit 6 set would read as negative
  assert.deepEqual(sleb(-64), [0x40]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assert.throws(() => uleb(-1), /uleb: value must be an integer in \[0, 2\^32\), got -1/);
  assert.throws(() => sleb(2 ** 31), /sleb: value must be a 32-bit signed integer/);
});

Deno.test("an empty module and a scalar function validate and run", () => {
  const empty = new ModuleBuilder();
  assert.deepEqual([...empty.toBytes().subarray(0, 8)], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  instantiate(empty);

  const mod = new ModuleBuilder();
  // Two functions of the same signature share one type entry; a third differs.
  const mulAdd = mod.func("mulAdd", { x: "i32", y: "i32" }, ["i32"], true);
  mulAdd.emit(
    local.get(mulAdd.params.x),
    local.get(mulAdd.params.y),
    i32.mul,
    i32.const(-7),
    i32.add,
  );
  const twice = mod.func("twice", { x: "i32", y: "i32" }, ["i32"], true);
  twice.emit(
    local.get(twice.params.x),
    local.get(twice.params.y),
    control.call(mulAdd.index),
    i32.const(2),
    i32.mul,
  );
  const hyp = mod.func("scaled", { x: "f64" }, ["f64"], true);
  hyp.emit(
    local.get(hyp.params.x),
    f64.const(0.1),
    f64.mul,
    f32.const(1.5),
    f64.promote_f32,
    f64.add,
  );
  const e = instantiate(mod);
  assert.equal((e.mulAdd as Fn)(6, 7), 35);
  assert.equal((e.twice as Fn)(-3, 4), -38);
  assert.equal((e.scaled as Fn)(10), 2.5);
});

Deno.test("forLoop and if/else run as structured loops", () => {
  const mod = new ModuleBuilder();
  // sumOdd(n) = Σ of the odd i in [0, n), i.e. a loop with a branch inside.
  const f = mod.func("sumOdd", { n: "i32" }, ["i32"], true);
  const i = f.local("i32");
  const sum = f.local("i32");
  f.emit(
    forLoop(i, i32.const(0), local.get(f.params.n), i32.const(1), [
      local.get(i),
      i32.const(1),
      i32.and,
      control.if([local.get(sum), local.get(i), i32.add, local.set(sum)], control.nop),
    ]),
    local.get(sum),
  );
  const e = instantiate(mod);
  assert.equal((e.sumOdd as Fn)(10), 1 + 3 + 5 + 7 + 9);
  assert.equal((e.sumOdd as Fn)(0), 0);
});

Deno.test("emitting invalid code is caught by WebAssembly.validate", () => {
  const mod = new ModuleBuilder();
  mod.func("bad", {}, ["i32"]).emit(i32.add); // add with an empty stack
  assert.equal(WebAssembly.validate(mod.toBytes()), false);
  assert.throws(() => v128.const([1, 2]), /v128.const: needs 16 bytes, got 2/);
  const twoMemories = new ModuleBuilder();
  twoMemories.defineMemory({ initial: 1 });
  assert.throws(() => twoMemories.importMemory("env", "m", { initial: 1 }), /already has a memory/);
  const shared = new ModuleBuilder();
  shared.defineMemory({ initial: 1, shared: true });
  assert.throws(() => shared.toBytes(), /a shared memory needs a maximum size/);
});

Deno.test("a private exported memory grows and is read and written by loads and stores", () => {
  const mod = new ModuleBuilder();
  mod.defineMemory({ initial: 1 }, "memory");
  const copy = mod.func("scaleCopy", { src: "i32", dst: "i32", n: "i32" }, [], true);
  const k = copy.local("i32");
  const { src, dst, n } = copy.params;
  copy.emit(forLoop(k, i32.const(0), local.get(n), i32.const(1), [
    [local.get(dst), local.get(k), i32.const(8), i32.mul, i32.add],
    [
      local.get(src),
      local.get(k),
      i32.const(8),
      i32.mul,
      i32.add,
      f64.load(),
      f64.const(-2),
      f64.mul,
    ],
    f64.store(),
  ]));
  mod.func("grow", { pages: "i32" }, ["i32"], true).emit(local.get(0), memory.grow);
  mod.func("size", {}, ["i32"], true).emit(memory.size);
  const e = instantiate(mod);
  const mem = e.memory as WebAssembly.Memory;
  new Float64Array(mem.buffer).set([1, 2.5, -3], 0);
  (e.scaleCopy as Fn)(0, 64, 3);
  assert.deepEqual([...new Float64Array(mem.buffer, 64, 3)], [-2, -5, 6]);
  assert.equal((e.grow as Fn)(2), 1); // returns the previous size in pages
  assert.equal((e.size as Fn)(), 3);
  assert.equal(mem.buffer.byteLength, 3 * 65536);
});

Deno.test({
  name: "SIMD: f32x4 and f64x2 arithmetic, splats and lane extraction",
  ignore: !simd,
  fn: () => {
    const mod = new ModuleBuilder();
    mod.importMemory("env", "memory", { initial: 1 });
    // out[0..4) = (x[0..4) + y[0..4)) * broadcast(s) - x, as f32x4
    const f = mod.func("f32ops", { x: "i32", y: "i32", s: "i32", out: "i32" }, [], true);
    const { x, y, s, out } = f.params;
    f.emit(
      local.get(out),
      local.get(x),
      v128.load(),
      local.get(y),
      v128.load(),
      f32x4.add,
      local.get(s),
      v128.load32_splat(),
      f32x4.mul,
      local.get(x),
      v128.load(),
      f32x4.sub,
      v128.store(),
    );
    const g = mod.func("f64lane", { a: "f64", b: "f64" }, ["f64"], true);
    // lane 1 of splat(a) * splat(b) + splat(b) through the memarg offset of load64_splat
    g.emit(
      local.get(g.params.a),
      f64x2.splat,
      local.get(g.params.b),
      f64x2.splat,
      f64x2.mul,
      local.get(g.params.b),
      f64x2.splat,
      f64x2.add,
      f64x2.extract_lane(1),
    );
    const h = mod.func("f32lane", { p: "i32" }, ["f32"], true);
    h.emit(local.get(h.params.p), v128.load(), f32x4.extract_lane(2));
    const memory = new WebAssembly.Memory({ initial: 1 });
    const e = instantiate(mod, { env: { memory } });
    const view = new Float32Array(memory.buffer);
    view.set([1, 2, 3, 4], 0); // x at byte 0
    view.set([10, 20, 30, 40], 4); // y at byte 16
    view[8] = 0.5; // s at byte 32
    (e.f32ops as Fn)(0, 16, 32, 48);
    assert.deepEqual([...view.subarray(12, 16)], [4.5, 9, 13.5, 18]);
    assert.equal((e.f64lane as Fn)(3, 4), 16);
    assert.equal((e.f32lane as Fn)(16), 30);
  },
});

Deno.test({
  name: "relaxed SIMD: relaxed_madd computes a·b + c",
  ignore: !relaxedSimd,
  fn: () => {
    const mod = new ModuleBuilder();
    mod.importMemory("env", "memory", { initial: 1 });
    const f = mod.func("madd", { a: "f32", b: "f32", c: "f32" }, ["f32"], true);
    f.emit(
      local.get(0),
      f32x4.splat,
      local.get(1),
      f32x4.splat,
      local.get(2),
      f32x4.splat,
      f32x4.relaxed_madd,
      f32x4.extract_lane(3),
    );
    const g = mod.func("madd64", { a: "f64", b: "f64", c: "f64" }, ["f64"], true);
    g.emit(
      local.get(0),
      f64x2.splat,
      local.get(1),
      f64x2.splat,
      local.get(2),
      f64x2.splat,
      f64x2.relaxed_madd,
      f64x2.extract_lane(0),
    );
    const e = instantiate(mod, { env: { memory: new WebAssembly.Memory({ initial: 1 }) } });
    assert.equal((e.madd as Fn)(2, 3, 4), 10);
    assert.equal((e.madd64 as Fn)(-2, 3, 0.5), -5.5);
    // (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴: the last term is lost if the product is rounded to
    // float32 before the add. The relaxed semantics allow either result, nothing else.
    const x = 1 + 2 ** -12;
    const got = (e.madd as Fn)(x, x, -(1 + 2 ** -11));
    assert.ok(got === 2 ** -24 || got === 0, `fused 2^-24 or unfused 0, got ${got}`);
  },
});

Deno.test({
  name: "an imported shared memory is visible through its SharedArrayBuffer",
  ignore: !simd,
  fn: () => {
    const mod = new ModuleBuilder();
    mod.importMemory("env", "memory", { initial: 1, maximum: 4, shared: true });
    const f = mod.func("store", { addr: "i32", v: "i32" }, [], true);
    f.emit(local.get(0), local.get(1), i32.store(4)); // the memarg offset adds 4 bytes
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const e = instantiate(mod, { env: { memory } });
    (e.store as Fn)(8, 1234);
    assert.ok(memory.buffer instanceof SharedArrayBuffer);
    assert.equal(new Int32Array(memory.buffer)[3], 1234);
  },
});

Deno.test("feature detection is consistent", () => {
  const features = wasmFeatures();
  assert.equal(typeof features.wasm, "boolean");
  assert.ok(features.wasm || !features.simd, "SIMD implies WebAssembly");
  assert.ok(features.simd || !features.relaxedSimd, "relaxed SIMD implies SIMD");
  assert.equal(wasmFeatures(), features, "cached");
});

Deno.test({
  name: "the GEMM module validates in all four variants",
  ignore: !simd,
  fn: () => {
    for (const relaxed of relaxedSimd ? [false, true] : [false]) {
      for (const sharedMemory of [false, true]) {
        const bytes = buildGemmModule({ relaxed, sharedMemory });
        assert.ok(WebAssembly.validate(bytes), `relaxed=${relaxed} shared=${sharedMemory}`);
        const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) =>
          e.name
        );
        for (const name of ["f32_packA", "f32_packB", "f32_macro", "f64_packA", "f64_macro"]) {
          assert.ok(exports.includes(name), `exports ${name}`);
        }
      }
    }
  },
});

Deno.test({
  name: "GemmInstance: alloc aligns and grows memory, release reuses it",
  ignore: !simd,
  fn: () => {
    const inst = createGemmInstance();
    const before = inst.memory.buffer.byteLength;
    const mark = inst.mark();
    const a = inst.alloc("float32", 3);
    const b = inst.alloc("float64", 1);
    assert.equal(a % 16, 0);
    assert.equal(b, a + 16, "3 floats round up to one 16-byte slot");
    const big = inst.alloc("float64", 1 << 20); // 8 MiB: forces growth
    assert.ok(inst.memory.buffer.byteLength >= big + 8 * (1 << 20));
    assert.ok(inst.memory.buffer.byteLength > before);
    const view = inst.view("float64", big, 1 << 20);
    view[(1 << 20) - 1] = 42;
    assert.equal(inst.view("float64", big, 1 << 20)[(1 << 20) - 1], 42);
    inst.release(mark);
    assert.equal(inst.alloc("float32", 1), a, "released space is handed out again");
    assert.throws(() => inst.release(1), /GemmInstance.release: mark must come from mark\(\)/);
    assert.throws(() => inst.alloc("float32", -1), /count must be a non-negative integer/);
    assert.equal(defaultGemmInstance(), defaultGemmInstance(), "one default per thread");
  },
});

Deno.test({
  name: "GemmInstance.gemmInPlace on operands in a shared memory, with padding",
  ignore: !simd,
  fn: () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024, shared: true });
    const inst = createGemmInstance({ memory });
    const M = 9, N = 11, K = 7, lda = 10, ldb = 12, ldc = 13;
    const a = inst.alloc("float64", K * lda), b = inst.alloc("float64", N * ldb);
    const c = inst.alloc("float64", M * ldc);
    // A is stored transposed (K×M, lda) and B transposed (N×K, ldb).
    const A = inst.view("float64", a, K * lda).map((_, i) => Math.sin(i));
    const B = inst.view("float64", b, N * ldb).map((_, i) => Math.cos(i));
    const C = inst.view("float64", c, M * ldc).map((_, i) => i % 5);
    inst.view("float64", a, K * lda).set(A);
    inst.view("float64", b, N * ldb).set(B);
    inst.view("float64", c, M * ldc).set(C);
    inst.gemmInPlace("float64", true, true, M, N, K, 1.5, a, lda, b, ldb, 2, c, ldc);
    gemmReference(true, true, M, N, K, 1.5, A, lda, B, ldb, 2, C, ldc);
    // Read back through the SharedArrayBuffer, as another thread would.
    assert.ok(memory.buffer instanceof SharedArrayBuffer);
    const got = new Float64Array(memory.buffer, c, M * ldc);
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i] - C[i]) <= 1e-13 * (1 + Math.abs(C[i])), `element ${i}`);
    }
  },
});

Deno.test({
  name: "GemmInstance rejects operands outside its memory, misaligned or of mixed dtype",
  ignore: !simd,
  fn: () => {
    const inst = createGemmInstance();
    const size = inst.memory.buffer.byteLength;
    assert.throws(
      () => inst.gemmInPlace("float32", false, false, 2, 2, 2, 1, size - 8, 2, 0, 2, 0, 0, 2),
      new RegExp(`a spans bytes \\[${size - 8}, ${size + 8}\\) but the memory has ${size}`),
    );
    assert.throws(
      () => inst.gemmInPlace("float64", false, false, 2, 2, 2, 1, 4, 2, 0, 2, 0, 0, 2),
      /aOffset must be a non-negative multiple of 8, got 4/,
    );
    assert.throws(
      () => inst.gemmInPlace("float16" as "float32", false, false, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1),
      /dtype must be "float32" or "float64", got "float16"/,
    );
    assert.throws(
      () => inst.gemmInPlace("float32", false, false, 2, 2, 3, 1, 0, 2, 0, 2, 0, 0, 2),
      /GemmInstance.gemmInPlace: lda must be an integer ≥ 3, got 2/,
    );
    const f32 = new Float32Array(4), f64 = new Float64Array(4);
    assert.throws(
      () => inst.gemm(false, false, 2, 2, 2, 1, f32, 2, f64, 2, 0, f32, 2),
      /GemmInstance.gemm: A, B and C must share one dtype, got float32, float64, float32/,
    );
  },
});

Deno.test({
  name: "GemmInstance.pack + gemmPacked equal gemmReference, any transposition, both dtypes",
  ignore: !simd,
  fn: () => {
    const inst = createGemmInstance();
    // Shapes cut by the micro-tiles (6×8 float32, 6×4 float64) or not, K up to KC, with
    // a K % 4 remainder, and leading dimensions with gaps.
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [6, 8, 4],
      [7, 9, 5],
      [13, 17, 33],
      [64, 294, 32],
      [32, 40, 64],
      [12, 16, 256],
      [5, 3, 384],
      [9, 10, 500], // deeper than one slice of either dtype
    ];
    for (const dtype of ["float32", "float64"] as const) {
      const u = dtype === "float32" ? 2 ** -24 : 2 ** -53;
      for (const [M, N, K] of shapes) {
        for (
          const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]
        ) {
          for (const [alpha, beta] of [[1, 0], [-0.5, 2]]) {
            const mark = inst.mark();
            try {
              const lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 1, ldc = N + 2;
              const aRows = transA ? K : M, bRows = transB ? N : K;
              const a = inst.alloc(dtype, aRows * lda), b = inst.alloc(dtype, bRows * ldb);
              const c = inst.alloc(dtype, M * ldc);
              const A = inst.view(dtype, a, aRows * lda).map((_, i) => Math.sin(i + M));
              const B = inst.view(dtype, b, bRows * ldb).map((_, i) => Math.cos(i * 0.7 + N));
              const C = inst.view(dtype, c, M * ldc).map((_, i) => (i % 7) - 3);
              inst.view(dtype, a, aRows * lda).set(A);
              inst.view(dtype, b, bRows * ldb).set(B);
              inst.view(dtype, c, M * ldc).set(C);
              const bytes = dtype === "float32" ? 4 : 8;
              const pa = inst.alloc(dtype, inst.packedBytes(dtype, "A", M, K) / bytes);
              const pb = inst.alloc(dtype, inst.packedBytes(dtype, "B", N, K) / bytes);
              inst.pack(dtype, "A", transA, M, K, a, lda, pa);
              inst.pack(dtype, "B", transB, N, K, b, ldb, pb);
              inst.gemmPacked(dtype, M, N, K, alpha, pa, pb, beta, c, ldc);
              const want = Float64Array.from(C);
              gemmReference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc);
              // |error| ≤ γ_{K+2}·(|alpha|·Σ|a||b| + |beta·c|), bounded with |a|, |b| ≤ 1.
              const got = inst.view(dtype, c, M * ldc);
              const tol = ((K + 2) * u) / (1 - (K + 2) * u);
              for (let i = 0; i < M; i++) {
                for (let j = 0; j < ldc; j++) {
                  const at = i * ldc + j;
                  if (j >= N) {
                    assert.equal(got[at], C[at], `${dtype} column ${j} past N is untouched`);
                    continue;
                  }
                  const bound = tol * (Math.abs(alpha) * K + Math.abs(beta * C[at])) + 1e-300;
                  assert.ok(
                    Math.abs(got[at] - want[at]) <= bound,
                    `${dtype} ${M}×${N}×${K} trans ${transA}/${transB}: C[${i}][${j}] = ` +
                      `${got[at]}, expected ${want[at]}`,
                  );
                }
              }
            } finally {
              inst.release(mark);
            }
          }
        }
      }
    }
  },
});

Deno.test({
  name: "GemmInstance.gemmPacked gives gemmInPlace's bits, and whole tiles past M and N",
  ignore: !simd,
  fn: () => {
    const inst = createGemmInstance();
    const M = 13, N = 19, K = 37, M6 = 18, N8 = 24, ld = 24;
    const a = inst.alloc("float32", M * K), b = inst.alloc("float32", K * ld);
    const c1 = inst.alloc("float32", M6 * ld), c2 = inst.alloc("float32", M6 * ld);
    inst.view("float32", a, M * K).set(Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)));
    inst.view("float32", b, K * ld).set(
      Float32Array.from({ length: K * ld }, (_, i) => Math.cos(i)),
    );
    inst.gemmInPlace("float32", false, false, M, N, K, 1, a, K, b, ld, 0, c1, ld);
    const pa = inst.alloc("float32", inst.packedBytes("float32", "A", M, K) / 4);
    const pb = inst.alloc("float32", inst.packedBytes("float32", "B", N8, K) / 4);
    inst.pack("float32", "A", false, M, K, a, K, pa);
    inst.pack("float32", "B", false, N8, K, b, ld, pb);
    // Rounded up to whole 6×8 tiles: the extra rows and columns are written, the rest is
    // bit for bit the general GEMM's.
    inst.gemmPacked("float32", M6, N8, K, 1, pa, pb, 0, c2, ld);
    const want = inst.view("float32", c1, M * ld), got = inst.view("float32", c2, M * ld);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) assert.equal(got[i * ld + j], want[i * ld + j], `C[${i}][${j}]`);
    }
    assert.throws(
      () => inst.pack("float32", "B", false, 4, 2, b, 3, pb),
      /GemmInstance.pack: ld must be an integer ≥ 4, got 3/,
    );
    assert.throws(
      () => inst.gemmPacked("float32", 2, 2, 2, 1, pa, inst.memory.buffer.byteLength, 0, c2, 2),
      /packedB spans bytes/,
    );
  },
});

/**
 * A minimal WebAssembly module builder: just enough of the binary format to emit the
 * library's SIMD kernels from TypeScript at load time, so there is no build step, no
 * binary blob in the repository and nothing to fetch when `mod.ts` is imported by URL.
 *
 * Instructions are plain byte arrays, written with named opcodes that mirror the text
 * format (`i32.add`, `local.get(x)`, `f32x4.mul`, ...). A function body is a nested list
 * of them ({@link Code}); nesting is flattened when the module is serialised, so kernel
 * generators can build code with ordinary TypeScript loops and helper functions.
 *
 * Binary format reference: the WebAssembly core specification, chapter 5 ("Binary
 * Format"), plus the fixed-width SIMD and relaxed-SIMD proposals (opcodes behind the
 * 0xFD prefix).
 *
 * @module
 */

/** The value types a local, parameter or result can have. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const VALTYPE_BYTE: Record<ValType, number> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

/** Code: bytes of instructions, nested freely; {@link flatten} turns it into bytes. */
export type Code = number | readonly Code[];

/** Flattens nested {@link Code} into a byte array. */
export function flatten(code: Code): number[] {
  const out: number[] = [];
  const walk = (c: Code): void => {
    if (typeof c === "number") out.push(c);
    else for (const x of c) walk(x);
  };
  walk(code);
  return out;
}

// ---------------------------------------------------------------------------------------
// Integer and float encodings used by the binary format
// ---------------------------------------------------------------------------------------

/** Unsigned LEB128: 7 bits per byte, high bit set on every byte but the last. */
export function uleb(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`uleb: value must be an integer in [0, 2^32), got ${value}`);
  }
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128 (two's complement), as used by `i32.const`. */
export function sleb(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new Error(`sleb: value must be a 32-bit signed integer, got ${value}`);
  }
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7; // arithmetic shift keeps the sign
    const signBitClear = (byte & 0x40) === 0;
    if ((value === 0 && signBitClear) || (value === -1 && !signBitClear)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function floatBytes(value: number, bytes: 4 | 8): number[] {
  const buf = new DataView(new ArrayBuffer(bytes));
  if (bytes === 4) buf.setFloat32(0, value, true);
  else buf.setFloat64(0, value, true);
  return [...new Uint8Array(buf.buffer)];
}

/** A name as the binary format stores it: byte length, then UTF-8 bytes. */
function encodeName(name: string): number[] {
  const bytes = new TextEncoder().encode(name);
  return [...uleb(bytes.length), ...bytes];
}

/** A vector: element count, then the elements. */
function vec(items: readonly number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

// ---------------------------------------------------------------------------------------
// Instructions
// ---------------------------------------------------------------------------------------

/**
 * Memory immediate: alignment hint (log2 of bytes) and a constant byte offset added to
 * the address on the stack. The offset is free at run time, so kernels use it for the
 * fixed parts of addresses (lane, row within a tile, unrolled step).
 */
function memarg(alignLog2: number, offset: number): number[] {
  return [...uleb(alignLog2), ...uleb(offset)];
}

/** Block type "no result" for `block`, `loop` and `if`. */
const EMPTY_BLOCK = 0x40;

/** Structured control flow. Branch targets are depths: 0 is the innermost enclosing block. */
export const control = {
  unreachable: [0x00],
  nop: [0x01],
  /** `block ... end`: `br` to it jumps forward, past its end. */
  block: (body: Code): Code => [0x02, EMPTY_BLOCK, body, 0x0b],
  /** `loop ... end`: `br` to it jumps back to its start. */
  loop: (body: Code): Code => [0x03, EMPTY_BLOCK, body, 0x0b],
  /** `if ... else ... end`, popping an i32 condition. */
  if: (then: Code, otherwise?: Code): Code =>
    otherwise === undefined
      ? [0x04, EMPTY_BLOCK, then, 0x0b]
      : [0x04, EMPTY_BLOCK, then, 0x05, otherwise, 0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  br_if: (depth: number): Code => [0x0d, ...uleb(depth)],
  return: [0x0f],
  call: (funcIndex: number): Code => [0x10, ...uleb(funcIndex)],
  drop: [0x1a],
  /** Pops c, b, a; pushes a if c ≠ 0, else b (both are evaluated). */
  select: [0x1b],
} as const;

/** Locals (parameters come first in the index space). */
export const local = {
  get: (index: number): Code => [0x20, ...uleb(index)],
  set: (index: number): Code => [0x21, ...uleb(index)],
  /** Sets the local and leaves the value on the stack. */
  tee: (index: number): Code => [0x22, ...uleb(index)],
} as const;

/** Linear memory size and growth, in 64 KiB pages (memory index 0). */
export const memory = {
  size: [0x3f, 0x00],
  grow: [0x40, 0x00],
} as const;

/** 32-bit integer instructions (addresses are i32). */
export const i32 = {
  const: (v: number): Code => [0x41, ...sleb(v)],
  load: (offset = 0): Code => [0x28, ...memarg(2, offset)],
  store: (offset = 0): Code => [0x36, ...memarg(2, offset)],
  eqz: [0x45],
  eq: [0x46],
  ne: [0x47],
  lt_s: [0x48],
  lt_u: [0x49],
  gt_s: [0x4a],
  gt_u: [0x4b],
  le_s: [0x4c],
  le_u: [0x4d],
  ge_s: [0x4e],
  ge_u: [0x4f],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  div_s: [0x6d],
  div_u: [0x6e],
  and: [0x71],
  or: [0x72],
  shl: [0x74],
  shr_s: [0x75],
  shr_u: [0x76],
  /** Loads 16 bits and zero-extends them (e.g. an entry of a Uint16Array). */
  load16_u: (offset = 0): Code => [0x2f, ...memarg(1, offset)],
  /** Stores the low 16 bits. */
  store16: (offset = 0): Code => [0x3b, ...memarg(1, offset)],
} as const;

/**
 * Bulk memory operations (memory index 0), both taking byte addresses and a byte count:
 * `memory.copy` pops (dst, src, n) and behaves like `memmove`; `memory.fill` pops
 * (dst, byte value, n) like `memset`.
 */
export const bulk = {
  copy: [0xfc, ...uleb(10), 0x00, 0x00],
  fill: [0xfc, ...uleb(11), 0x00],
} as const;

/** 32-bit float instructions. */
export const f32 = {
  const: (v: number): Code => [0x43, ...floatBytes(v, 4)],
  load: (offset = 0): Code => [0x2a, ...memarg(2, offset)],
  store: (offset = 0): Code => [0x38, ...memarg(2, offset)],
  eq: [0x5b],
  ne: [0x5c],
  lt: [0x5d],
  gt: [0x5e],
  le: [0x5f],
  ge: [0x60],
  sqrt: [0x91],
  add: [0x92],
  sub: [0x93],
  mul: [0x94],
  div: [0x95],
  /** IEEE maximum: NaN if either operand is NaN, and max(−0, +0) = +0. */
  max: [0x97],
  demote_f64: [0xb6],
} as const;

/** 64-bit float instructions. */
export const f64 = {
  const: (v: number): Code => [0x44, ...floatBytes(v, 8)],
  load: (offset = 0): Code => [0x2b, ...memarg(3, offset)],
  store: (offset = 0): Code => [0x39, ...memarg(3, offset)],
  eq: [0x61],
  ne: [0x62],
  lt: [0x63],
  gt: [0x64],
  le: [0x65],
  ge: [0x66],
  sqrt: [0x9f],
  add: [0xa0],
  sub: [0xa1],
  mul: [0xa2],
  div: [0xa3],
  /** IEEE maximum, see {@link f32.max}. */
  max: [0xa5],
  /** Converts a signed i32 to float64 (exactly). */
  convert_i32_s: [0xb7],
  promote_f32: [0xbb],
} as const;

/** SIMD instructions are the prefix byte 0xFD followed by the opcode in unsigned LEB128. */
function simd(opcode: number, ...immediates: number[]): number[] {
  return [0xfd, ...uleb(opcode), ...immediates];
}

/** 128-bit vector instructions that do not depend on the lane type. */
export const v128 = {
  /** Loads 16 bytes (alignment hint 16 bytes; unaligned addresses still work). */
  load: (offset = 0): Code => simd(0x00, ...memarg(4, offset)),
  /** Loads one 32-bit value and copies it into all four lanes (a broadcast). */
  load32_splat: (offset = 0): Code => simd(0x09, ...memarg(2, offset)),
  /** Loads one 64-bit value and copies it into both lanes. */
  load64_splat: (offset = 0): Code => simd(0x0a, ...memarg(3, offset)),
  store: (offset = 0): Code => simd(0x0b, ...memarg(4, offset)),
  /** A 16-byte constant, given as its bytes. */
  const: (bytes: readonly number[]): Code => {
    if (bytes.length !== 16) throw new Error(`v128.const: needs 16 bytes, got ${bytes.length}`);
    return simd(0x0c, ...bytes);
  },
  /** All-zero vector (every lane 0 or +0.0). */
  zero: (): Code => simd(0x0c, ...new Array(16).fill(0)),
  /** Loads four 16-bit values and zero-extends each into a 32-bit lane. */
  load16x4_u: (offset = 0): Code => simd(0x04, ...memarg(3, offset)),
  /** Loads 32 bits into lane 0 and zeroes the other lanes. */
  load32_zero: (offset = 0): Code => simd(0x5c, ...memarg(2, offset)),
  /** Loads 64 bits into the low half and zeroes the high half. */
  load64_zero: (offset = 0): Code => simd(0x5d, ...memarg(3, offset)),
  /** Stores 32-bit lane `lane` of the vector. */
  store32_lane: (lane: number, offset = 0): Code => simd(0x5a, ...memarg(2, offset), lane),
  /** Stores 64-bit lane `lane` of the vector. */
  store64_lane: (lane: number, offset = 0): Code => simd(0x5b, ...memarg(3, offset), lane),
  /**
   * `i8x16.shuffle`: pops b, a; byte i of the result is byte `lanes[i]` of the 32-byte
   * concatenation a‖b (0–15 from a, 16–31 from b).
   */
  shuffle: (lanes: readonly number[]): Code => {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
      throw new Error(`v128.shuffle: needs 16 byte indices in [0, 32), got [${lanes}]`);
    }
    return simd(0x0d, ...lanes);
  },
  not: simd(0x4d),
  and: simd(0x4e),
  /** Pops b, a; pushes a & ~b. */
  andnot: simd(0x4f),
  or: simd(0x50),
  xor: simd(0x51),
  /** Pops c, b, a; pushes (a & c) | (b & ~c): a where the mask c is set, else b. */
  bitselect: simd(0x52),
} as const;

/**
 * A shuffle pattern for {@link v128.shuffle} in units of `laneBytes`-byte lanes: lane i of
 * the result is lane `lanes[i]` of a‖b. E.g. `lanePattern(4, [0, 2, 4, 6])` takes the even
 * float32 lanes of two vectors.
 */
export function lanePattern(laneBytes: number, lanes: readonly number[]): number[] {
  if (lanes.length * laneBytes !== 16) {
    throw new Error(
      `lanePattern: ${lanes.length} lanes of ${laneBytes} bytes do not make 16 bytes`,
    );
  }
  return lanes.flatMap((l) => Array.from({ length: laneBytes }, (_, b) => l * laneBytes + b));
}

/** Four 32-bit integer lanes. */
export const i32x4 = {
  splat: simd(0x11),
  extract_lane: (lane: number): Code => simd(0x1b, lane),
  eq: simd(0x37),
  add: simd(0xae),
} as const;

/** Two 64-bit integer lanes. */
export const i64x2 = {
  eq: simd(0xd6),
} as const;

/** Four float32 lanes. */
export const f32x4 = {
  splat: simd(0x13),
  extract_lane: (lane: number): Code => simd(0x1f, lane),
  eq: simd(0x41),
  ne: simd(0x42),
  lt: simd(0x43),
  gt: simd(0x44),
  le: simd(0x45),
  ge: simd(0x46),
  /** Lane-wise negation (flips the sign bit: exact). */
  neg: simd(0xe1),
  sqrt: simd(0xe3),
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
  div: simd(0xe7),
  /** Lane-wise IEEE maximum: NaN if either lane is NaN, and max(−0, +0) = +0. */
  max: simd(0xe9),
  /**
   * Pseudo-maximum: pops b, a; lane-wise `a < b ? b : a` (one `maxps` on x64, where the IEEE
   * `max` takes several instructions for its NaN and signed-zero rules).
   */
  pmax: simd(0xeb),
  /** Rounds the two f64x2 lanes to float32 lanes 0 and 1; lanes 2 and 3 become 0. */
  demote_f64x2_zero: simd(0x5e),
  /**
   * Relaxed SIMD: pops c, b, a and pushes a·b + c, fused or not at the engine's choice
   * (V8 on x64 with FMA fuses it into one instruction: twice the multiply-add rate).
   */
  relaxed_madd: simd(0x105),
} as const;

/** Two float64 lanes. */
export const f64x2 = {
  splat: simd(0x14),
  extract_lane: (lane: number): Code => simd(0x21, lane),
  eq: simd(0x47),
  ne: simd(0x48),
  lt: simd(0x49),
  gt: simd(0x4a),
  le: simd(0x4b),
  ge: simd(0x4c),
  sqrt: simd(0xef),
  add: simd(0xf0),
  sub: simd(0xf1),
  mul: simd(0xf2),
  div: simd(0xf3),
  /** Lane-wise IEEE maximum, see {@link f32x4.max}. */
  max: simd(0xf5),
  /** Pseudo-maximum `a < b ? b : a`, see {@link f32x4.pmax}. */
  pmax: simd(0xf7),
  /** Widens float32 lanes 0 and 1 of an f32x4 to two float64 lanes (exactly). */
  promote_low_f32x4: simd(0x5f),
  /** Relaxed SIMD: a·b + c, see {@link f32x4.relaxed_madd}. */
  relaxed_madd: simd(0x107),
} as const;

// ---------------------------------------------------------------------------------------
// Functions and modules
// ---------------------------------------------------------------------------------------

/**
 * One function under construction: its signature, its locals and its body.
 * Parameters are addressed by name through {@link FunctionBuilder.params}.
 */
export class FunctionBuilder<P extends string = string> {
  /** Local index of each parameter, by name. */
  readonly params: Readonly<Record<P, number>>;
  /** Index of this function in the module's function index space (for `call`). */
  readonly index: number;
  /** Export name, or undefined for an internal function. */
  readonly exportName: string | undefined;
  /** Parameter types, in order. */
  readonly paramTypes: readonly ValType[];
  /** Result types, in order. */
  readonly resultTypes: readonly ValType[];
  private readonly localTypes: ValType[] = [];
  private readonly body: Code[] = [];

  /** Use {@link ModuleBuilder.func}, which assigns the index. */
  constructor(
    index: number,
    params: Readonly<Record<P, ValType>>,
    results: readonly ValType[],
    exportName?: string,
  ) {
    this.index = index;
    this.exportName = exportName;
    const names = Object.keys(params) as P[];
    this.paramTypes = names.map((n) => params[n]);
    this.resultTypes = [...results];
    this.params = Object.fromEntries(names.map((n, i) => [n, i])) as Record<P, number>;
  }

  /** Declares a new local of `type` and returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.paramTypes.length + this.localTypes.length - 1;
  }

  /** Appends instructions to the body. */
  emit(...code: Code[]): this {
    this.body.push(...code);
    return this;
  }

  /** The function body in binary form: locals grouped by runs of equal type, code, `end`. */
  encodeBody(): number[] {
    const groups: number[][] = [];
    for (let i = 0; i < this.localTypes.length;) {
      let j = i;
      while (j < this.localTypes.length && this.localTypes[j] === this.localTypes[i]) j++;
      groups.push([...uleb(j - i), VALTYPE_BYTE[this.localTypes[i]]]);
      i = j;
    }
    const bytes = [...vec(groups), ...flatten(this.body), 0x0b];
    return [...uleb(bytes.length), ...bytes];
  }

  /** The function type in binary form: 0x60, parameter types, result types. */
  encodeType(): number[] {
    return [
      0x60,
      ...vec(this.paramTypes.map((t) => [VALTYPE_BYTE[t]])),
      ...vec(this.resultTypes.map((t) => [VALTYPE_BYTE[t]])),
    ];
  }
}

/** Size limits of a linear memory, in 64 KiB pages. */
export interface MemoryLimits {
  /** Initial size. */
  initial: number;
  /** Required for a shared memory. */
  maximum?: number;
  /** A shared memory is backed by a SharedArrayBuffer and may be used by several threads. */
  shared?: boolean;
}

function encodeLimits({ initial, maximum, shared }: MemoryLimits): number[] {
  if (shared && maximum === undefined) {
    throw new Error("ModuleBuilder: a shared memory needs a maximum size");
  }
  // Flags: bit 0 = has maximum, bit 1 = shared.
  const flags = (maximum !== undefined ? 1 : 0) | (shared ? 2 : 0);
  return [flags, ...uleb(initial), ...(maximum !== undefined ? uleb(maximum) : [])];
}

/**
 * Builds a module with at most one linear memory (imported or defined here) and any
 * number of functions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { i32, local, ModuleBuilder } from "./builder.ts";
 * const mod = new ModuleBuilder();
 * const add = mod.func("add", { x: "i32", y: "i32" }, ["i32"], true);
 * add.emit(local.get(add.params.x), local.get(add.params.y), i32.add);
 * const { exports } = new WebAssembly.Instance(new WebAssembly.Module(mod.toBytes()));
 * assert.equal((exports.add as (x: number, y: number) => number)(2, 3), 5);
 * ```
 */
export class ModuleBuilder {
  private readonly funcs: FunctionBuilder[] = [];
  private memoryImport: { module: string; name: string; limits: MemoryLimits } | undefined;
  private memoryDef: { limits: MemoryLimits; exportName?: string } | undefined;

  /** Imports the module's memory, e.g. `importMemory("env", "memory", {...})`. */
  importMemory(module: string, name: string, limits: MemoryLimits): void {
    this.checkNoMemory();
    this.memoryImport = { module, name, limits };
  }

  /** Defines the module's own (private) memory, optionally exported under `exportName`. */
  defineMemory(limits: MemoryLimits, exportName?: string): void {
    this.checkNoMemory();
    this.memoryDef = { limits, exportName };
  }

  /** Only one memory per module (the multi-memory proposal is not needed here). */
  private checkNoMemory(): void {
    if (this.memoryImport || this.memoryDef) {
      throw new Error("ModuleBuilder: the module already has a memory (only one is supported)");
    }
  }

  /**
   * Adds a function and returns its builder. Functions can call each other by
   * `control.call(f.index)` in any order, since indices are fixed when added.
   */
  func<P extends string>(
    name: string,
    params: Readonly<Record<P, ValType>>,
    results: readonly ValType[] = [],
    exported = false,
  ): FunctionBuilder<P> {
    const f = new FunctionBuilder<P>(
      this.funcs.length,
      params,
      results,
      exported ? name : undefined,
    );
    this.funcs.push(f as unknown as FunctionBuilder);
    return f;
  }

  /** Serialises the module: magic, version, then the sections in the required order. */
  toBytes(): Uint8Array<ArrayBuffer> {
    const sections: number[] = [];
    const section = (id: number, content: number[]): void => {
      // A loop, not push(...content): spreading a large array into arguments can overflow
      // the stack.
      for (const byte of [id, ...uleb(content.length), ...content]) sections.push(byte);
    };

    // Type section (1): one entry per distinct signature.
    const types: string[] = [];
    const typeIndex = this.funcs.map((f) => {
      const key = f.encodeType().join(",");
      let i = types.indexOf(key);
      if (i < 0) i = types.push(key) - 1;
      return i;
    });
    section(1, vec(types.map((k) => k.split(",").map(Number))));

    // Import section (2): the memory, if imported (kind 0x02 = memory).
    if (this.memoryImport) {
      const { module, name, limits } = this.memoryImport;
      section(
        2,
        vec([[...encodeName(module), ...encodeName(name), 0x02, ...encodeLimits(limits)]]),
      );
    }

    // Function section (3): the type of each defined function.
    section(3, vec(typeIndex.map((t) => uleb(t))));

    // Memory section (5): the module's own memory, if defined here.
    if (this.memoryDef) section(5, vec([encodeLimits(this.memoryDef.limits)]));

    // Export section (7): kind 0x00 = function, 0x02 = memory.
    const exports: number[][] = [];
    for (const f of this.funcs) {
      if (f.exportName !== undefined) {
        exports.push([...encodeName(f.exportName), 0x00, ...uleb(f.index)]);
      }
    }
    if (this.memoryDef?.exportName !== undefined) {
      exports.push([...encodeName(this.memoryDef.exportName), 0x02, 0x00]);
    }
    section(7, vec(exports));

    // Code section (10): the bodies, in the order of the function section.
    section(10, vec(this.funcs.map((f) => f.encodeBody())));

    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
    return new Uint8Array([...header, ...sections]);
  }
}

// ---------------------------------------------------------------------------------------
// A structured-loop helper (the one control pattern the kernels use over and over)
// ---------------------------------------------------------------------------------------

/**
 * `for (counter = from; counter < to; counter += step) body`, with a signed comparison.
 * `to` is re-evaluated every iteration, so it is usually a `local.get`. The body may use
 * its own blocks and branches; it must not branch out of the loop.
 */
export function forLoop(
  counter: number,
  from: Code,
  to: Code,
  step: Code,
  body: Code,
): Code {
  return [
    from,
    local.set(counter),
    control.block(control.loop([
      // Depth 1 is the enclosing block: branching there leaves the loop.
      [local.get(counter), to, i32.ge_s, control.br_if(1)],
      body,
      [local.get(counter), step, i32.add, local.set(counter)],
      control.br(0), // depth 0 is the loop itself: back to its start
    ])),
  ];
}

/**
 * Generates the WebAssembly SIMD GEMM kernels (float32 and float64 in one module).
 *
 * The algorithm is the BLIS/GotoBLAS one of the JavaScript kernel (`../gemm_js.ts`); only
 * the innermost pieces live here, and the blocking loop that calls them is in
 * `gemm_instance.ts`:
 *
 * - `packA` / `packB` copy a block of op(A) / op(B) into contiguous *micro-panels* so that
 *   the micro-kernel reads both strictly sequentially whatever the transposition. Packing
 *   runs here rather than in JavaScript because in JS it cost more than the multiply.
 * - `macro` walks one packed block of C tile by tile and calls `micro` on each.
 * - `micro` computes one MR×NR tile of C, keeping it in SIMD registers for the whole depth.
 *
 * **Tile layout.** A micro-tile is MR = 6 rows × NR = 2 vectors of C, i.e. 6×8 floats for
 * float32 (f32x4) and 6×4 doubles for float64 (f64x2): 12 vector accumulators. Each depth
 * step loads the 2 vectors of the packed B row, and for each of the 6 rows broadcasts one
 * element of packed A and does 2 multiply-adds. That is 12 accumulators + 2 B vectors +
 * 1 broadcast = 15 of the 16 vector registers V8 has on x64: larger tiles spill to the
 * stack and were measured 2–4× slower. The depth loop is unrolled ×4 to amortise the loop
 * counter and pointer bumps.
 *
 * ```
 *            packed B micro-panel: kc rows of NR
 *                 [b0 b1]  ← 2 vectors per depth step
 * packed A    a0  [c00 c01]
 * micro-panel a1  [c10 c11]    c_rv += broadcast(a_r) · b_v
 * (MR per     ... [ ...   ]    (12 accumulators)
 *  depth)     a5  [c50 c51]
 * ```
 *
 * With relaxed SIMD, each multiply-add is one `relaxed_madd` (a fused multiply-add on x64
 * with FMA: one instruction, one rounding); without it, a `mul` then an `add`.
 *
 * @module
 */

import {
  type Code,
  control,
  f32,
  f32x4,
  f64,
  f64x2,
  forLoop,
  type FunctionBuilder,
  i32,
  lanePattern,
  local,
  ModuleBuilder,
  v128,
} from "./builder.ts";
import type { DType } from "../../storage.ts";

/** Cache blocking of one dtype's kernel (all counts in elements). */
export interface GemmBlocking {
  /** Rows of a micro-tile of C. */
  readonly MR: number;
  /** Columns of a micro-tile of C (two SIMD vectors). */
  readonly NR: number;
  /** Maximum depth of a packed block: an A and a B micro-panel (MR+NR)·KC stay in L1. */
  readonly KC: number;
  /** Maximum rows of a packed block of A: MC·KC stays in L2. A multiple of MR. */
  readonly MC: number;
  /** Maximum columns of a packed block of B: KC·NC stays in L3. A multiple of NR. */
  readonly NC: number;
}

/**
 * Blocking per dtype. L1 is 32 KiB on the machines we measured: float32 (6+8)·384·4 B =
 * 21 KiB, float64 (6+4)·256·8 B = 20 KiB. KC = 384 also keeps K = 288 (a 3×3×32
 * convolution) in one block instead of splitting it into a long and a short one.
 */
export const GEMM_BLOCKING: Readonly<Record<DType, GemmBlocking>> = {
  float32: { MR: 6, NR: 8, KC: 384, MC: 192, NC: 4096 },
  float64: { MR: 6, NR: 4, KC: 256, MC: 96, NC: 2048 },
};

/** Depth steps per iteration of the unrolled micro-kernel loop. */
const UNROLL = 4;

/** Options of {@link buildGemmModule}. */
export interface GemmModuleOptions {
  /** Use `relaxed_madd` (fused multiply-add) instead of `mul` + `add`. */
  relaxed: boolean;
  /** Import a shared memory (SharedArrayBuffer-backed) rather than a private one. */
  sharedMemory: boolean;
}

/**
 * Emits the GEMM module. It imports its memory as `env.memory` and exports, for each
 * prefix `f32_` and `f64_`:
 * - `packA(src, lineStride, stepStride, lines, depth, dst)` and `packB(...)` (same
 *   signature): element (line l, step p) of the source is at byte address
 *   `src + l·lineStride + p·stepStride`; lines are rows of op(A) (panels of MR) or columns
 *   of op(B) (panels of NR), steps run along the shared dimension K.
 * - `macro(mc, nc, kc, packedA, packedB, c, ldcBytes, alpha, beta, edgeTile)`:
 *   `C = alpha · A·B + beta · C` on an mc×nc block of C from packed panels; C is not read
 *   when beta = 0. `edgeTile` is MR·NR elements of scratch for partial tiles.
 *
 * All addresses and strides are in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildGemmModule } from "./gemm_module.ts";
 * const bytes = buildGemmModule({ relaxed: false, sharedMemory: false });
 * assert.ok(WebAssembly.validate(bytes));
 * ```
 */
export function buildGemmModule(options: GemmModuleOptions): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory(
    "env",
    "memory",
    // A shared memory must declare a maximum; 65536 pages (4 GiB) accepts any memory.
    options.sharedMemory ? { initial: 1, maximum: 65536, shared: true } : { initial: 1 },
  );
  for (const dtype of ["float32", "float64"] as const) {
    emitKernels(mod, new Lanes(dtype), GEMM_BLOCKING[dtype], options.relaxed);
  }
  return mod.toBytes();
}

/** The dtype-specific instructions, so one generator emits both kernels. */
export class Lanes {
  /** Export name prefix. */
  readonly prefix: string;
  /** Bytes per element. */
  readonly bytes: number;
  /** Elements per v128. */
  readonly lanes: number;
  /** Scalar type of `alpha` and `beta`. */
  readonly scalarType: "f32" | "f64";
  readonly scalar: typeof f32 | typeof f64;
  readonly vector: typeof f32x4 | typeof f64x2;
  /** Loads one element and broadcasts it to every lane. */
  readonly loadSplat: (offset: number) => Code;

  /** The instructions for elements of `dtype`. */
  constructor(dtype: DType) {
    const is32 = dtype === "float32";
    this.prefix = is32 ? "f32_" : "f64_";
    this.bytes = is32 ? 4 : 8;
    this.lanes = is32 ? 4 : 2;
    this.scalarType = is32 ? "f32" : "f64";
    this.scalar = is32 ? f32 : f64;
    this.vector = is32 ? f32x4 : f64x2;
    this.loadSplat = is32 ? v128.load32_splat : v128.load64_splat;
  }
}

function emitKernels(
  mod: ModuleBuilder,
  t: Lanes,
  blocking: GemmBlocking,
  relaxed: boolean,
): void {
  emitPack(mod, t, `${t.prefix}packA`, blocking.MR);
  emitPack(mod, t, `${t.prefix}packB`, blocking.NR);
  const micro = emitMicroKernel(mod, t, blocking, relaxed);
  const storeEdge = emitStoreEdge(mod, t, blocking);
  emitMacroKernel(mod, t, blocking, micro, storeEdge);
}

/** `a += b` for an i32 local. */
function addTo(target: number, amount: Code): Code {
  return [local.get(target), amount, i32.add, local.set(target)];
}

/**
 * Packs `lines` lines × `depth` steps into panels of `width` lines: panel q holds
 * (line q·width + r, step p) at element q·width·depth + p·width + r.
 *
 * A partial last panel repeats its last valid line instead of padding with zeros: a row
 * of the C tile depends only on the matching line of A (and a column only on its line of
 * B), and the rows/columns fed by padding lines are never stored. Repeating real data
 * keeps the reads in bounds and avoids denormals/NaN from stale scratch slowing the
 * SIMD units.
 */
function emitPack(mod: ModuleBuilder, t: Lanes, name: string, width: number): FunctionBuilder {
  const f = mod.func(
    name,
    { src: "i32", lineStride: "i32", stepStride: "i32", lines: "i32", depth: "i32", dst: "i32" },
    [],
    true,
  );
  const { src, lineStride, stepStride, lines, depth, dst } = f.params;
  const firstLine = f.local("i32");
  const valid = f.local("i32");
  const step = f.local("i32");
  const from = f.local("i32");
  // Byte offset of each line of the panel from the panel's first line.
  const lineOffset = Array.from({ length: width }, () => f.local("i32"));

  const panelBytes = width * t.bytes;
  // When lines are contiguous (e.g. rows of B, or rows of Aᵀ) a whole panel row is one
  // memcpy of `panelBytes`; copy it with v128 loads/stores if that is a whole number of them.
  const vectorCopy: Code = panelBytes % 16 !== 0 ? [] : [
    // if (lineStride == bytes && valid >= width)
    [local.get(lineStride), i32.const(t.bytes), i32.eq],
    [local.get(valid), i32.const(width), i32.ge_s, i32.and],
    control.if([
      forLoop(step, i32.const(0), local.get(depth), i32.const(1), [
        Array.from({ length: panelBytes / 16 }, (_, v) => [
          [local.get(dst), local.get(from), v128.load(16 * v), v128.store(16 * v)],
        ]),
        addTo(from, local.get(stepStride)),
        addTo(dst, i32.const(panelBytes)),
      ]),
      control.br(1), // done with this panel: depth 0 is this `if`, 1 the block around it
    ]),
  ];

  // When each line is contiguous along the depth instead (rows of an untransposed A,
  // columns of a transposed B — the dW and dx products of the layers), load L consecutive
  // steps of every line as one vector each and transpose L×L blocks with shuffles: the
  // scalar path below costs a load and a store per element plus address arithmetic, and
  // was measured at up to 40% of a conv weight-gradient product.
  const L = t.lanes;
  const stepStart = f.local("i32");
  const loaded = Array.from({ length: width }, () => f.local("v128"));
  const half = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  const shuffle = (lanes: number[]) => v128.shuffle(lanePattern(t.bytes, lanes));
  /** Stores the vector `value` (code) at `dst + offset`. */
  const storeAt = (
    offset: number,
    value: Code,
  ): Code => [local.get(dst), value, v128.store(offset)];
  const transposed: Code[] = [];
  if (L === 4) {
    // Lines in groups of four: a 4×4 transpose in two rounds of shuffles.
    for (let g = 0; g + 4 <= width; g += 4) {
      const [l0, l1, l2, l3] = loaded.slice(g, g + 4);
      transposed.push(
        [local.get(l0), local.get(l1), shuffle([0, 4, 1, 5]), local.set(half[0])],
        [local.get(l0), local.get(l1), shuffle([2, 6, 3, 7]), local.set(half[1])],
        [local.get(l2), local.get(l3), shuffle([0, 4, 1, 5]), local.set(half[2])],
        [local.get(l2), local.get(l3), shuffle([2, 6, 3, 7]), local.set(half[3])],
        // Step p of lines g…g+3 goes to dst + p·panelBytes + g·bytes.
        storeAt(g * 4, [local.get(half[0]), local.get(half[2]), shuffle([0, 1, 4, 5])]),
        storeAt(panelBytes + g * 4, [
          local.get(half[0]),
          local.get(half[2]),
          shuffle([2, 3, 6, 7]),
        ]),
        storeAt(2 * panelBytes + g * 4, [
          local.get(half[1]),
          local.get(half[3]),
          shuffle([0, 1, 4, 5]),
        ]),
        storeAt(3 * panelBytes + g * 4, [
          local.get(half[1]),
          local.get(half[3]),
          shuffle([2, 3, 6, 7]),
        ]),
      );
    }
    if (width % 4 === 2) {
      // Two lines left (the 6-wide A panels): pairs, stored as 64-bit halves.
      const g = width - 2, [la, lb] = loaded.slice(g);
      transposed.push(
        [local.get(la), local.get(lb), shuffle([0, 4, 1, 5]), local.set(half[0])],
        [local.get(la), local.get(lb), shuffle([2, 6, 3, 7]), local.set(half[1])],
        [0, 1, 2, 3].map((p) => [
          [local.get(dst), local.get(half[p >> 1])],
          v128.store64_lane(p & 1, p * panelBytes + g * 4),
        ]),
      );
    }
  } else {
    // float64: pairs of lines, a 2×2 transpose each.
    for (let g = 0; g + 2 <= width; g += 2) {
      const [la, lb] = loaded.slice(g, g + 2);
      transposed.push(
        storeAt(g * 8, [local.get(la), local.get(lb), shuffle([0, 2])]),
        storeAt(panelBytes + g * 8, [local.get(la), local.get(lb), shuffle([1, 3])]),
      );
    }
  }
  const covered = loaded.length === width &&
    (L === 4 ? width % 4 !== 1 && width % 4 !== 3 : width % 2 === 0);
  const transposeCopy: Code = !covered ? [] : [
    // if (stepStride == bytes && valid >= width): whole blocks of L steps
    [local.get(stepStride), i32.const(t.bytes), i32.eq],
    [local.get(valid), i32.const(width), i32.ge_s, i32.and],
    control.if([
      forLoop(step, i32.const(0), [local.get(depth), i32.const(-L), i32.and], i32.const(L), [
        loaded.map((vec, r) => [
          [local.get(from), local.get(lineOffset[r]), i32.add, v128.load(), local.set(vec)],
        ]),
        transposed,
        addTo(from, i32.const(L * t.bytes)),
        addTo(dst, i32.const(L * panelBytes)),
      ]),
      // The last depth % L steps go through the general loop.
      [local.get(depth), i32.const(-L), i32.and, local.set(stepStart)],
    ]),
  ];

  f.emit(
    forLoop(firstLine, i32.const(0), local.get(lines), i32.const(width), [
      // valid = lines - firstLine (≥ 1); from = src + firstLine·lineStride
      [local.get(lines), local.get(firstLine), i32.sub, local.set(valid)],
      [local.get(src), local.get(firstLine), local.get(lineStride), i32.mul, i32.add],
      local.set(from),
      // lineOffset[r] = min(r, valid - 1) · lineStride
      lineOffset.map((offset, r) => [
        [i32.const(r), local.get(valid), i32.const(1), i32.sub],
        [i32.const(r), local.get(valid), i32.lt_s, control.select],
        [local.get(lineStride), i32.mul, local.set(offset)],
      ]),
      [i32.const(0), local.set(stepStart)],
      control.block([
        vectorCopy,
        transposeCopy,
        // General case: one scalar load per element, the line offsets kept in locals.
        forLoop(step, local.get(stepStart), local.get(depth), i32.const(1), [
          lineOffset.map((offset, r) => [
            [local.get(dst), local.get(from), local.get(offset), i32.add, t.scalar.load()],
            t.scalar.store(r * t.bytes),
          ]),
          addTo(from, local.get(stepStride)),
          addTo(dst, i32.const(panelBytes)),
        ]),
      ]),
    ]),
  );
  return f;
}

/**
 * The micro-kernel `micro(kc, a, b, c, ldc, alpha, beta)`: one full MR×NR tile,
 * `C = alpha · (packed A panel · packed B panel) + beta · C`, C row stride `ldc` bytes.
 */
function emitMicroKernel(
  mod: ModuleBuilder,
  t: Lanes,
  { MR, NR }: GemmBlocking,
  relaxed: boolean,
): FunctionBuilder {
  const s = t.scalarType;
  const f = mod.func(
    `${t.prefix}micro`,
    { kc: "i32", a: "i32", b: "i32", c: "i32", ldc: "i32", alpha: s, beta: s },
  );
  const { kc, a, b, c, ldc, alpha, beta } = f.params;
  const vectorsPerRow = NR / t.lanes;
  // acc[r][v]: row r, vector v of the tile.
  const acc = Array.from(
    { length: MR },
    () => Array.from({ length: vectorsPerRow }, () => f.local("v128")),
  );
  const bVec = Array.from({ length: vectorsPerRow }, () => f.local("v128"));
  const aBroadcast = f.local("v128");
  const count = f.local("i32");
  const alphaVec = f.local("v128");
  const betaVec = f.local("v128");
  const cRow = f.local("i32");

  /** acc += a · b, fused when relaxed SIMD is available. */
  const multiplyAdd = (target: number, x: number, y: number): Code => [
    relaxed
      ? [local.get(x), local.get(y), local.get(target), t.vector.relaxed_madd] // x·y + target
      : [local.get(target), local.get(x), local.get(y), t.vector.mul, t.vector.add],
    local.set(target),
  ];

  /** One depth step `u` positions past the current pointers (the offsets are immediates). */
  const depthStep = (u: number): Code => [
    bVec.map((vec, v) => [
      [local.get(b), v128.load((u * NR + v * t.lanes) * t.bytes), local.set(vec)],
    ]),
    acc.map((row, r) => [
      [local.get(a), t.loadSplat((u * MR + r) * t.bytes), local.set(aBroadcast)],
      row.map((target, v) => multiplyAdd(target, aBroadcast, bVec[v])),
    ]),
  ];

  /** Runs `count` iterations of `unroll` depth steps each, advancing a and b. */
  const depthLoop = (unroll: number): Code =>
    control.block(control.loop([
      [local.get(count), i32.eqz, control.br_if(1)], // count == 0: leave the block
      Array.from({ length: unroll }, (_, u) => depthStep(u)),
      addTo(a, i32.const(unroll * MR * t.bytes)),
      addTo(b, i32.const(unroll * NR * t.bytes)),
      addTo(count, i32.const(-1)),
      control.br(0),
    ]));

  /** Stores the tile row by row; `withC` adds beta·C (reads C), otherwise C is overwritten. */
  const storeTile = (withC: boolean): Code => [
    local.get(c),
    local.set(cRow),
    acc.map((row) => [
      row.map((target, v) => [
        [local.get(cRow), local.get(target), local.get(alphaVec), t.vector.mul],
        withC ? [local.get(cRow), v128.load(16 * v), local.get(betaVec), t.vector.mul] : [],
        withC ? t.vector.add : [],
        v128.store(16 * v),
      ]),
      addTo(cRow, local.get(ldc)),
    ]),
  ];

  f.emit(
    acc.flat().map((target) => [v128.zero(), local.set(target)]),
    // kc / UNROLL unrolled iterations, then kc % UNROLL single steps.
    [local.get(kc), i32.const(Math.log2(UNROLL)), i32.shr_u, local.set(count)],
    depthLoop(UNROLL),
    [local.get(kc), i32.const(UNROLL - 1), i32.and, local.set(count)],
    depthLoop(1),
    [local.get(alpha), t.vector.splat, local.set(alphaVec)],
    [local.get(beta), t.vector.splat, local.set(betaVec)],
    // beta = 0 must not read C: BLAS semantics, and C may hold garbage or NaN.
    [local.get(beta), t.scalar.const(0), t.scalar.eq],
    control.if(storeTile(false), storeTile(true)),
  );
  return f;
}

/**
 * `storeEdge(tile, c, ldc, mr, nr, alpha, beta)`: adds the top-left mr×nr part of a tile
 * computed into scratch (row stride NR elements) into C, `C = alpha·tile + beta·C`.
 * Only partial tiles at the bottom/right borders of C take this scalar path.
 */
function emitStoreEdge(mod: ModuleBuilder, t: Lanes, { NR }: GemmBlocking): FunctionBuilder {
  const s = t.scalarType;
  const f = mod.func(
    `${t.prefix}storeEdge`,
    { tile: "i32", c: "i32", ldc: "i32", mr: "i32", nr: "i32", alpha: s, beta: s },
  );
  const { tile, c, ldc, mr, nr, alpha, beta } = f.params;
  const row = f.local("i32");
  const col = f.local("i32");
  const cAddr = f.local("i32");
  const tileAddr = f.local("i32");
  const alphaTimesTile: Code = [
    [local.get(tileAddr), t.scalar.load(), local.get(alpha), t.scalar.mul],
  ];
  f.emit(
    forLoop(row, i32.const(0), local.get(mr), i32.const(1), [
      forLoop(col, i32.const(0), local.get(nr), i32.const(1), [
        // cAddr = c + row·ldc + col·bytes; tileAddr = tile + (row·NR + col)·bytes
        [local.get(c), local.get(row), local.get(ldc), i32.mul, i32.add],
        [local.get(col), i32.const(t.bytes), i32.mul, i32.add, local.set(cAddr)],
        [local.get(tile), local.get(row), i32.const(NR), i32.mul, local.get(col), i32.add],
        [i32.const(t.bytes), i32.mul, i32.add, local.set(tileAddr)],
        [local.get(beta), t.scalar.const(0), t.scalar.eq],
        control.if(
          [local.get(cAddr), alphaTimesTile, t.scalar.store()],
          [
            [local.get(cAddr), alphaTimesTile],
            [local.get(cAddr), t.scalar.load(), local.get(beta), t.scalar.mul, t.scalar.add],
            t.scalar.store(),
          ],
        ),
      ]),
    ]),
  );
  return f;
}

/**
 * `macro(mc, nc, kc, packedA, packedB, c, ldc, alpha, beta, edgeTile)`: all tiles of an
 * mc×nc block of C. The outer loop walks B micro-panels and the inner one A micro-panels,
 * so one B micro-panel stays in L1 while the A block streams from L2.
 */
function emitMacroKernel(
  mod: ModuleBuilder,
  t: Lanes,
  { MR, NR }: GemmBlocking,
  micro: FunctionBuilder,
  storeEdge: FunctionBuilder,
): FunctionBuilder {
  const s = t.scalarType;
  const f = mod.func(
    `${t.prefix}macro`,
    {
      mc: "i32",
      nc: "i32",
      kc: "i32",
      packedA: "i32",
      packedB: "i32",
      c: "i32",
      ldc: "i32",
      alpha: s,
      beta: s,
      edgeTile: "i32",
    },
    [],
    true,
  );
  const { mc, nc, kc, packedA, packedB, c, ldc, alpha, beta, edgeTile } = f.params;
  const row = f.local("i32");
  const col = f.local("i32");
  const aPanel = f.local("i32");
  const bPanel = f.local("i32");
  const cTile = f.local("i32");
  const rowsLeft = f.local("i32");
  const colsLeft = f.local("i32");
  /** min(x, limit) for an i32 local. */
  const min = (x: number, limit: number): Code => [
    [local.get(x), i32.const(limit)],
    [local.get(x), i32.const(limit), i32.lt_s, control.select],
  ];
  f.emit(
    [local.get(packedB), local.set(bPanel)],
    forLoop(col, i32.const(0), local.get(nc), i32.const(NR), [
      [local.get(nc), local.get(col), i32.sub, local.set(colsLeft)],
      [local.get(packedA), local.set(aPanel)],
      // cTile = c + col·bytes
      [local.get(c), local.get(col), i32.const(t.bytes), i32.mul, i32.add, local.set(cTile)],
      forLoop(row, i32.const(0), local.get(mc), i32.const(MR), [
        [local.get(mc), local.get(row), i32.sub, local.set(rowsLeft)],
        // if (rowsLeft >= MR && colsLeft >= NR): a full tile, stored straight into C
        [local.get(rowsLeft), i32.const(MR), i32.ge_s],
        [local.get(colsLeft), i32.const(NR), i32.ge_s, i32.and],
        control.if(
          [
            [local.get(kc), local.get(aPanel), local.get(bPanel), local.get(cTile)],
            [local.get(ldc), local.get(alpha), local.get(beta), control.call(micro.index)],
          ],
          [
            // A partial tile: compute it whole into scratch, then store the valid part.
            [local.get(kc), local.get(aPanel), local.get(bPanel), local.get(edgeTile)],
            [i32.const(NR * t.bytes), t.scalar.const(1), t.scalar.const(0)],
            control.call(micro.index),
            [local.get(edgeTile), local.get(cTile), local.get(ldc)],
            [min(rowsLeft, MR), min(colsLeft, NR), local.get(alpha), local.get(beta)],
            control.call(storeEdge.index),
          ],
        ),
        // aPanel += MR·kc·bytes; cTile += MR·ldc
        addTo(aPanel, [local.get(kc), i32.const(MR * t.bytes), i32.mul]),
        addTo(cTile, [local.get(ldc), i32.const(MR), i32.mul]),
      ]),
      addTo(bPanel, [local.get(kc), i32.const(NR * t.bytes), i32.mul]),
    ]),
  );
  return f;
}

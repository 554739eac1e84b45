/**
 * Emits the WebAssembly SIMD kernels of the Winograd convolution (`../winograd.ts` holds the
 * algorithm and the plain JavaScript reference of every transform): the input transform
 * `V = Bᵀ d B`, the output transform `Y = Aᵀ M A` and the weight gradient's transform of
 * output-gradient tiles `E = A e Aᵀ`, for F(2×2, 3×3) and F(4×4, 3×3), plus a strided copy
 * of image planes that pads the input and crops the output.
 *
 * **Four tiles per vector.** The four float32 lanes of a vector hold four horizontally
 * adjacent tiles, so the transforms are straight-line SIMD code generated from the
 * matrices of `../_winograd_matrices.ts`, and the four tiles' transformed values land on
 * four consecutive columns of the GEMM operand `V[ξ]` (one vector store). Tiles of one row
 * start m pixels apart, so the input transform first applies `Bᵀ` along the rows to whole
 * contiguous vectors of the padded image (a lane-wise combination commutes with picking
 * lanes), then gathers column k of the four tiles (pixels k, k+m, k+2m, k+3m) with
 * shuffles, and applies `B` to those. The output transform does the same backwards and
 * interleaves the four tiles' rows with shuffles before storing them. With m = 4 both
 * gathers are 4×4 transposes, done with the unpack and half-swap shuffles that x64 runs as
 * single instructions (general two-source shuffles cost several).
 *
 * **Layouts of the results.** The input transform writes `V[ξ]` either as a matrix (row c
 * = channel c) or straight in the GEMM's packed B layout, for the forward and
 * input-gradient products (`wino{m}_inputPanels`), which then skip their packing pass;
 * see `emitTileTransform`.
 *
 * **Rows that do not divide by four.** A row of `tw` tiles is walked in groups of four;
 * the last group's extra lanes read the next tiles' data and write their results where the
 * next row's first tiles go (the input transform runs in ascending order, so the real
 * values overwrite them), or past the end of a channel's row of `V` (the caller leaves
 * three columns of slack). The output transform writes them into the columns past
 * `tw·m` of its padded output, which the crop drops.
 *
 * **Exactly the reference's arithmetic.** Each sum is evaluated as the reference does:
 * terms in ascending order, the first nonzero one starting the sum, coefficients ±1 as
 * additions and subtractions, others as one multiplication then an addition (no fused
 * multiply-add). So the kernels reproduce the JavaScript reference bit for bit.
 *
 * @module
 */

import {
  type Code,
  control,
  f32x4,
  forLoop,
  i32,
  lanePattern,
  local,
  type ModuleBuilder,
  v128,
} from "./builder.ts";
import { F2, F4, type WinogradMatrices } from "../_winograd_matrices.ts";
import { GEMM_BLOCKING } from "./gemm_module.ts";

/** Tiles per vector: the four float32 lanes. */
const LANES = 4;

/**
 * Columns of a GEMM micro-panel of B (`GEMM_BLOCKING.float32.NR`): the width of the panels
 * `wino{m}_inputPanels` writes.
 */
export const PANEL_COLUMNS = GEMM_BLOCKING.float32.NR;

/**
 * Emits, for F(2×2) and F(4×4), `wino{m}_input`, `wino{m}_inputPanels`, `wino{m}_dout` and
 * `wino{m}_output`, plus `copyPlanes`.
 */
export function emitWinogradKernels(mod: ModuleBuilder): void {
  for (const matrices of [F2, F4]) {
    const { m, alpha, BT, AT } = matrices;
    emitTileTransform(mod, `wino${m}_input`, m, BT, "rows");
    emitTileTransform(mod, `wino${m}_inputPanels`, m, BT, "panels");
    // A = (Aᵀ)ᵀ: α rows of m coefficients.
    const A = Array.from({ length: alpha }, (_, i) => AT.map((row) => row[i]));
    emitTileTransform(mod, `wino${m}_dout`, m, A, "rows");
    emitOutputTransform(mod, matrices);
  }
  emitCopyPlanes(mod);
}

/** A float32 splat constant. */
function splat(c: number): Code {
  const bytes = new Uint8Array(new Float32Array([c, c, c, c]).buffer);
  return v128.const([...bytes]);
}

/**
 * Code leaving `Σ_k coefs[k] · term(k)` on the stack, in the reference's order: ascending
 * k, zeros skipped, the first term starting the sum, ±1 as additions and subtractions,
 * any other coefficient as a multiplication by |c| then an addition or subtraction.
 */
function combine(coefs: readonly number[], term: (k: number) => Code): Code {
  const code: Code[] = [];
  let first = true;
  coefs.forEach((c, k) => {
    if (c === 0) return;
    const scaled: Code = Math.abs(c) === 1 ? term(k) : [term(k), splat(Math.abs(c)), f32x4.mul];
    if (first) code.push(scaled, c < 0 ? f32x4.neg : []);
    else code.push(scaled, c < 0 ? f32x4.sub : f32x4.add);
    first = false;
  });
  if (first) throw new Error("combine: a row of a transform matrix is all zeros");
  return code;
}

/** One lane of a vector local. */
interface LaneOf {
  vec: number;
  lane: number;
}

/** Code leaving a vector whose lane t is `sources[t]`, with at most three shuffles. */
function gather(sources: readonly LaneOf[]): Code {
  const vecs = [...new Set(sources.map((s) => s.vec))];
  if (vecs.length === 1 && sources.every((s, t) => s.lane === t)) return local.get(vecs[0]);
  if (vecs.length <= 2) {
    const [a, b = a] = vecs;
    const lanes = sources.map((s) => (s.vec === a ? 0 : LANES) + s.lane);
    return [local.get(a), local.get(b), v128.shuffle(lanePattern(4, lanes))];
  }
  // Lanes 0–1 and lanes 2–3 each come from at most two vectors: one shuffle per pair,
  // then one to join the pairs.
  const pair = (s: LaneOf, u: LaneOf): Code => [
    local.get(s.vec),
    local.get(u.vec),
    v128.shuffle(lanePattern(4, [s.lane, (u.vec === s.vec ? 0 : LANES) + u.lane, 0, 0])),
  ];
  return [
    pair(sources[0], sources[1]),
    pair(sources[2], sources[3]),
    v128.shuffle(lanePattern(4, [0, 1, 4, 5])),
  ];
}

/** Float32 lane patterns that x64 runs as one instruction each (unpck*ps, movlhps/movhlps). */
const UNPACK_LOW = lanePattern(4, [0, 4, 1, 5]);
const UNPACK_HIGH = lanePattern(4, [2, 6, 3, 7]);
const LOW_HALVES = lanePattern(4, [0, 1, 4, 5]);
const HIGH_HALVES = lanePattern(4, [2, 3, 6, 7]);

/**
 * Sets `out[k]` to column k of the 4×4 matrix whose rows are the vector locals `rows`, for
 * the first `out.length` columns, using the locals `tmp` (four): the classic transpose by
 * unpacking pairs of rows, then pairs of halves. Every step is a shuffle pattern the
 * engine maps to a single instruction, which the general {@link gather} is not.
 */
function transpose4(
  rows: readonly number[],
  out: readonly number[],
  tmp: readonly number[],
): Code {
  const shuffle = (a: number, b: number, pattern: number[], to: number): Code => [
    local.get(a),
    local.get(b),
    v128.shuffle(pattern),
    local.set(to),
  ];
  const code: Code[] = [
    shuffle(rows[0], rows[1], UNPACK_LOW, tmp[0]), // a0 b0 a1 b1
    shuffle(rows[2], rows[3], UNPACK_LOW, tmp[1]), // c0 d0 c1 d1
    shuffle(tmp[0], tmp[1], LOW_HALVES, out[0]),
  ];
  if (out.length > 1) code.push(shuffle(tmp[0], tmp[1], HIGH_HALVES, out[1]));
  if (out.length > 2) {
    code.push(
      shuffle(rows[0], rows[1], UNPACK_HIGH, tmp[2]), // a2 b2 a3 b3
      shuffle(rows[2], rows[3], UNPACK_HIGH, tmp[3]), // c2 d2 c3 d3
      shuffle(tmp[2], tmp[3], LOW_HALVES, out[2]),
    );
  }
  if (out.length > 3) code.push(shuffle(tmp[2], tmp[3], HIGH_HALVES, out[3]));
  return code;
}

/** `target += amount` for an i32 local. */
function addTo(target: number, amount: Code): Code {
  return [local.get(target), amount, i32.add, local.set(target)];
}

/**
 * Vectors loaded per row of the four tiles of a group: tile t reads pixels
 * `t·m … t·m + size − 1`, so the group spans `3m + size` pixels from its first one.
 */
function loadWidth(m: number, size: number): number {
  return Math.ceil((3 * m + size) / LANES);
}

/**
 * Where a tile transform writes: `"rows"`, row c of `V[ξ]` holds channel c's tiles (the
 * matrix layout), or `"panels"`, the packed B layout of the GEMM's micro-kernel.
 */
type TransformLayout = "rows" | "panels";

/**
 * `{name}(src, dst, examples, channels, Hp, Wp, th, tw, ld, xiStride)`: the tile transform
 * `V = R d Rᵀ` of `R` (α rows of `size` coefficients) on the size×size tiles of a grid with
 * step m. With R = Bᵀ (size α) it is the input transform `wino{m}_input`; with R = A
 * (size m) the transform `A e Aᵀ` of the output-gradient tiles (`wino{m}_dout`), which the
 * weight gradient multiplies with the input's.
 *
 * For each example n and channel c of the planes at `src` (`examples × channels` planes of
 * `Hp × Wp` float32, already padded with the convolution's zeros and wide enough for whole
 * groups of four tiles: `Wp ≥ 4⌈tw/4⌉·m + 4·⌈(3m + size)/4⌉ − 4m`), writes the transform of
 * tile (ti, tj) (its top-left pixel at row ti·m, column tj·m) at
 * `dst + ξ·xiStride + c·ld + p·4` with `p = n·th·tw + ti·tw + tj` and `ξ = i·α + j` the
 * position in the transformed tile. `ld` and `xiStride` are in bytes; a channel's row needs
 * three columns of slack past its last tile.
 *
 * **The panel layout** (`layout = "panels"`, the `wino{m}_inputPanels` kernels): `V[ξ]` is
 * written as the GEMM's packed B operand (see `GemmInstance.pack`), so the forward and
 * input-gradient GEMMs multiply it without a packing pass. Then `ld` is the byte size of
 * one panel (`PANEL_COLUMNS · channels · 4`) and tile p of channel c goes to
 * `dst + ξ·xiStride + ⌊p/8⌋·ld + c·32 + (p mod 8)·4`. A group of four tiles is one vector
 * store while it stays inside its panel (p mod 8 ≤ 4); otherwise its lanes are stored one
 * by one, the last ones at the start of the next panel. The overflow lanes of a row's last
 * group land on later tiles as in the row layout, so the space needs panels for three
 * columns past the last tile.
 */
function emitTileTransform(
  mod: ModuleBuilder,
  name: string,
  m: number,
  R: readonly (readonly number[])[],
  layout: TransformLayout,
): void {
  const alpha = R.length, size = R[0].length;
  const f = mod.func(
    name,
    {
      src: "i32",
      dst: "i32",
      examples: "i32",
      channels: "i32",
      Hp: "i32",
      Wp: "i32",
      th: "i32",
      tw: "i32",
      ld: "i32",
      xiStride: "i32",
    },
    [],
    true,
  );
  const { src, dst, examples, channels, Hp, Wp, th, tw, ld, xiStride } = f.params;
  const I = () => f.local("i32");
  const [n, c, ti, tj, plane, channelDst, tileBase, out] = [I(), I(), I(), I(), I(), I(), I(), I()];
  const [rowBytes, planeBytes, tiles] = [I(), I(), I()];
  const rowPtr = Array.from({ length: size }, I);
  const width = loadWidth(m, size);
  const rows = Array.from({ length: width }, () => f.local("v128"));
  const cols = Array.from({ length: size }, () => f.local("v128"));
  const tmp = Array.from({ length: 4 }, () => f.local("v128"));
  // The panel layout: the first tile of the example, the group's first tile p0, the value
  // being stored, and the byte jumps from a lane's place in this panel to its place in
  // the next one (`jump` = panel size − one panel row; `jump1`, `jump2` are it or 0).
  const [tile0, p0, jump, jump1, jump2] = [I(), I(), I(), I(), I()];
  const value = f.local("v128");

  /**
   * One group of four tiles: for each row i of R, combine the input rows on whole
   * vectors, gather the columns of the four tiles, combine those with the columns of Rᵀ,
   * and store each result with `store` at `out`, xiStride further per position.
   */
  const groupCode = (store: (vector: Code) => Code): Code => {
    const group: Code[] = [];
    for (let k = 0; k < size; k++) {
      group.push(local.get(tileBase), i32.const(k), local.get(rowBytes), i32.mul, i32.add);
      group.push(local.set(rowPtr[k]));
    }
    for (let i = 0; i < alpha; i++) {
      for (let v = 0; v < width; v++) {
        group.push(combine(R[i], (k) => [local.get(rowPtr[k]), v128.load(16 * v)]));
        group.push(local.set(rows[v]));
      }
      if (m === LANES) {
        // Column j of tile t is pixel j + 4t: lane j mod 4 of vector t + ⌊j/4⌋.
        group.push(transpose4(rows.slice(0, 4), cols.slice(0, 4), tmp));
        if (size > 4) group.push(transpose4(rows.slice(1, 5), cols.slice(4), tmp));
      } else {
        for (let j = 0; j < size; j++) {
          const pixels = Array.from({ length: LANES }, (_, t) => j + t * m);
          group.push(gather(pixels.map((e) => ({ vec: rows[e >> 2], lane: e & 3 }))));
          group.push(local.set(cols[j]));
        }
      }
      for (let j = 0; j < alpha; j++) {
        group.push(store(combine(R[j], (k) => local.get(cols[k]))));
        group.push(addTo(out, local.get(xiStride)));
      }
    }
    return group;
  };
  const wholeStore = (vector: Code): Code => [local.get(out), vector, v128.store()];
  // A group that crosses into the next panel (p0 mod 8 ≥ 5): lane 0 always stays, lane 3
  // always moves, lane 2 moves when p0 mod 8 ≥ 6 and lane 1 when it is 7.
  const splitStore = (vector: Code): Code => [
    vector,
    local.set(value),
    [local.get(out), local.get(value), v128.store32_lane(0, 0)],
    [local.get(out), local.get(jump1), i32.add, local.get(value), v128.store32_lane(1, 4)],
    [local.get(out), local.get(jump2), i32.add, local.get(value), v128.store32_lane(2, 8)],
    [local.get(out), local.get(jump), i32.add, local.get(value), v128.store32_lane(3, 12)],
  ];

  // Per group: where its first result goes (`out`), and the group's code.
  const group: Code = layout === "rows"
    ? [
      // out = channelDst + (ti·tw + tj)·4
      [local.get(ti), local.get(tw), i32.mul, local.get(tj), i32.add, i32.const(4), i32.mul],
      [local.get(channelDst), i32.add, local.set(out)],
      groupCode(wholeStore),
    ]
    : [
      // p0 = tile0 + ti·tw + tj; out = channelDst + ⌊p0/8⌋·ld + (p0 mod 8)·4
      [local.get(tile0), local.get(ti), local.get(tw), i32.mul, i32.add, local.get(tj), i32.add],
      local.set(p0),
      [local.get(p0), i32.const(3), i32.shr_u, local.get(ld), i32.mul, local.get(channelDst)],
      [i32.add, local.get(p0), i32.const(7), i32.and, i32.const(4), i32.mul, i32.add],
      local.set(out),
      [local.get(p0), i32.const(7), i32.and, i32.const(PANEL_COLUMNS - LANES), i32.le_s],
      control.if(groupCode(wholeStore), [
        // jump2 = p0 mod 8 ≥ 6 ? jump : 0; jump1 = p0 mod 8 = 7 ? jump : 0
        [local.get(jump), i32.const(0), local.get(p0), i32.const(7), i32.and, i32.const(6)],
        [i32.ge_s, control.select, local.set(jump2)],
        [local.get(jump), i32.const(0), local.get(p0), i32.const(7), i32.and, i32.const(7)],
        [i32.eq, control.select, local.set(jump1)],
        groupCode(splitStore),
      ]),
    ];
  // Where channel c of example n goes: its row of V[ξ], or its row within the panels.
  const channelTarget: Code = layout === "rows"
    ? [
      // dst + c·ld + n·tiles·4
      [local.get(dst), local.get(c), local.get(ld), i32.mul, i32.add],
      [local.get(n), local.get(tiles), i32.mul, i32.const(4), i32.mul, i32.add],
      local.set(channelDst),
    ]
    : [
      [local.get(dst), local.get(c), i32.const(PANEL_COLUMNS * 4), i32.mul, i32.add],
      local.set(channelDst),
      [local.get(n), local.get(tiles), i32.mul, local.set(tile0)],
    ];

  f.emit(
    [local.get(Wp), i32.const(4), i32.mul, local.set(rowBytes)],
    [local.get(rowBytes), local.get(Hp), i32.mul, local.set(planeBytes)],
    [local.get(th), local.get(tw), i32.mul, local.set(tiles)],
    [local.get(ld), i32.const(PANEL_COLUMNS * 4), i32.sub, local.set(jump)],
    [local.get(src), local.set(plane)],
    forLoop(n, i32.const(0), local.get(examples), i32.const(1), [
      forLoop(c, i32.const(0), local.get(channels), i32.const(1), [
        channelTarget,
        forLoop(ti, i32.const(0), local.get(th), i32.const(1), [
          forLoop(tj, i32.const(0), local.get(tw), i32.const(LANES), [
            // tileBase = plane + (ti·m·Wp + tj·m)·4
            [local.get(ti), i32.const(m), i32.mul, local.get(Wp), i32.mul],
            [local.get(tj), i32.const(m), i32.mul, i32.add, i32.const(4), i32.mul],
            [local.get(plane), i32.add, local.set(tileBase)],
            group,
          ]),
        ]),
        addTo(plane, local.get(planeBytes)),
      ]),
    ]),
  );
}

/**
 * `wino{m}_output(src, dst, bias, filters, examples, th, tw, ld, xiStride)`: the inverse
 * layout of the input transform. Reads the α² GEMM results of filter f and tile p at
 * `src + ξ·xiStride + f·ld + p·4`, and writes `Aᵀ M A + bias[f]` (an m×m tile) into plane
 * (n, f) of `dst`: `examples × filters` planes of `th·m` rows of `OW = 4⌈tw/4⌉·m` float32.
 * Columns past `tw·m` (and rows past the output's height) receive values to be cropped.
 */
function emitOutputTransform(mod: ModuleBuilder, matrices: WinogradMatrices): void {
  const { m, alpha, AT } = matrices;
  const f = mod.func(
    `wino${m}_output`,
    {
      src: "i32",
      dst: "i32",
      bias: "i32",
      filters: "i32",
      examples: "i32",
      th: "i32",
      tw: "i32",
      ld: "i32",
      xiStride: "i32",
    },
    [],
    true,
  );
  const { src, dst, bias, filters, examples, th, tw, ld, xiStride } = f.params;
  const I = () => f.local("i32");
  const [n, fi, ti, tj, tiles, rowBytes, planeBytes, filterSrc, filterDst, from, to] = [
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
    I(),
  ];
  const xiOffset = Array.from({ length: alpha * alpha }, I);
  const biasVec = f.local("v128");
  const partial = Array.from({ length: alpha }, () => f.local("v128"));
  const result = Array.from({ length: m }, () => f.local("v128"));
  const [rowOut, tmp] = [0, 1].map(() => Array.from({ length: 4 }, () => f.local("v128")));

  const group: Code[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < alpha; j++) {
      const load = (k: number): Code => [
        local.get(from),
        local.get(xiOffset[k * alpha + j]),
        i32.add,
        v128.load(),
      ];
      group.push(combine(AT[i], load), local.set(partial[j]));
    }
    for (let j = 0; j < m; j++) {
      group.push(combine(AT[j], (k) => local.get(partial[k])), local.get(biasVec), f32x4.add);
      group.push(local.set(result[j]));
    }
    // Row i of the four tiles, side by side: pixel e comes from tile ⌊e/m⌋, column e mod m.
    if (m === LANES) {
      // Vector v holds tile v's row: column v of the 4×4 matrix with rows result[j].
      group.push(transpose4(result, rowOut, tmp));
      for (let v = 0; v < m; v++) {
        group.push(local.get(to), local.get(rowOut[v]), v128.store(16 * v));
      }
    } else {
      for (let v = 0; v < m; v++) {
        const pixels = Array.from({ length: LANES }, (_, t) => LANES * v + t);
        group.push(local.get(to));
        group.push(gather(pixels.map((e) => ({ vec: result[e % m], lane: Math.floor(e / m) }))));
        group.push(v128.store(16 * v));
      }
    }
    group.push(addTo(to, local.get(rowBytes)));
  }

  f.emit(
    xiOffset.map((at, xi) => [local.get(xiStride), i32.const(xi), i32.mul, local.set(at)]),
    [local.get(th), local.get(tw), i32.mul, local.set(tiles)],
    // OW·4 bytes per row, with OW = 4⌈tw/4⌉·m; th·m rows per plane.
    [local.get(tw), i32.const(3), i32.add, i32.const(~3), i32.and, i32.const(4 * m), i32.mul],
    local.set(rowBytes),
    [local.get(rowBytes), local.get(th), i32.mul, i32.const(m), i32.mul, local.set(planeBytes)],
    [local.get(dst), local.set(filterDst)],
    forLoop(n, i32.const(0), local.get(examples), i32.const(1), [
      forLoop(fi, i32.const(0), local.get(filters), i32.const(1), [
        [local.get(bias), local.get(fi), i32.const(4), i32.mul, i32.add, v128.load32_splat()],
        local.set(biasVec),
        // src + f·ld + n·tiles·4
        [local.get(src), local.get(fi), local.get(ld), i32.mul, i32.add],
        [local.get(n), local.get(tiles), i32.mul, i32.const(4), i32.mul, i32.add],
        local.set(filterSrc),
        forLoop(ti, i32.const(0), local.get(th), i32.const(1), [
          forLoop(tj, i32.const(0), local.get(tw), i32.const(LANES), [
            [local.get(ti), local.get(tw), i32.mul, local.get(tj), i32.add, i32.const(4), i32.mul],
            [local.get(filterSrc), i32.add, local.set(from)],
            // to = filterDst + ti·m·rowBytes + tj·m·4
            [local.get(ti), i32.const(m), i32.mul, local.get(rowBytes), i32.mul],
            [local.get(tj), i32.const(4 * m), i32.mul, i32.add, local.get(filterDst), i32.add],
            local.set(to),
            group,
          ]),
        ]),
        addTo(filterDst, local.get(planeBytes)),
      ]),
    ]),
  );
}

/**
 * `copyPlanes(src, dst, planes, rows, rowBytes, srcRowBytes, srcPlaneBytes, dstRowBytes,
 * dstPlaneBytes)`: copies `rows` rows of `rowBytes` bytes (a multiple of 4) of each of
 * `planes` planes, with the given byte strides on each side: the padding of the input into
 * a zeroed frame, and the crop of the output. Rows here are short (tens of pixels), so
 * an inline vector loop beats a `memory.copy` call per row.
 */
function emitCopyPlanes(mod: ModuleBuilder): void {
  const f = mod.func(
    "copyPlanes",
    {
      src: "i32",
      dst: "i32",
      planes: "i32",
      rows: "i32",
      rowBytes: "i32",
      srcRowBytes: "i32",
      srcPlaneBytes: "i32",
      dstRowBytes: "i32",
      dstPlaneBytes: "i32",
    },
    [],
    true,
  );
  const p = f.params;
  const I = () => f.local("i32");
  const [plane, row, i, from, to, vecEnd] = [I(), I(), I(), I(), I(), I()];
  f.emit(
    [local.get(p.rowBytes), i32.const(~15), i32.and, local.set(vecEnd)],
    forLoop(plane, i32.const(0), local.get(p.planes), i32.const(1), [
      [local.get(p.src), local.get(plane), local.get(p.srcPlaneBytes), i32.mul, i32.add],
      local.set(from),
      [local.get(p.dst), local.get(plane), local.get(p.dstPlaneBytes), i32.mul, i32.add],
      local.set(to),
      forLoop(row, i32.const(0), local.get(p.rows), i32.const(1), [
        forLoop(i, i32.const(0), local.get(vecEnd), i32.const(16), [
          [local.get(to), local.get(i), i32.add],
          [local.get(from), local.get(i), i32.add, v128.load(), v128.store()],
        ]),
        forLoop(i, local.get(i), local.get(p.rowBytes), i32.const(4), [
          [local.get(to), local.get(i), i32.add],
          [local.get(from), local.get(i), i32.add, i32.load(), i32.store()],
        ]),
        addTo(from, local.get(p.srcRowBytes)),
        addTo(to, local.get(p.dstRowBytes)),
      ]),
    ]),
  );
}

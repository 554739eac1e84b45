/**
 * Emits the direct convolution kernels of `../conv_direct.ts`: float32, stride 1,
 * dilation 1, one channel group, for first layers whose reduction `C·KH·KW` is too short
 * for im2col + GEMM to pay (a 1-channel 7×7 or 3×3 filter bank on 28×28 images).
 *
 * A module is generated for one window shape (channels, image size, kernel size, padding):
 * every loop bound and every offset within a window is then a constant, so the taps of a
 * kernel row are fully unrolled with their addresses as load immediates. Emitting and
 * compiling take about a millisecond and are cached per shape and thread.
 *
 * **Layout.** The images are first copied ({@link DirectConvExports.pad}) into planes with
 * their zero padding and a row stride {@link DirectConvLayout.rowStride} rounded up so
 * that every vector load of a window stays inside its own row: no scalar tails and no
 * bounds tests in the inner loops. Weights are packed by blocks of four filters,
 * `[filter block][c][ky][kx][4]`, zero past the last filter.
 *
 * **Forward.** For each block of 4 filters, each output row and each run of 8 output
 * pixels, 8 accumulators (4 filters × 2 vectors) start from the bias; each tap
 * `(c, ky, kx)` adds two unaligned input loads times four weight broadcasts. 8 accumulators
 * + 2 inputs + 1 broadcast = 11 live vectors, within the 16 registers V8 has on x64. The
 * last run of a row (`outW mod 8` pixels) is stored lane by lane, so outputs go straight
 * to the `(N, F, Ho, Wo)` layout; when it is a single vector (28 = 3·8 + 4), two rows'
 * last vectors make one run, so that all 8 accumulators stay busy.
 *
 * **Weight gradient.** For each image, block of 4 filters, channel `c` and pair of taps
 * of the flattened `(ky, kx)` list, 8 accumulators (4 filters × 2 taps) sum `dout · x`
 * over the output rows, 4 pixels per step (the steps of a row unrolled); the last step of
 * a row masks `dout`'s lanes past `outW`. Each image's sums are added into per-lane partials (`[f][c][ky][kx][4]`), which
 * the caller folds in a fixed order. The bias gradient is summed the same way, from the
 * `dout` vectors that the first pass over each image loads anyway.
 *
 * Each multiply-add is one `f32x4.relaxed_madd` (fused) when the caller asks for it, else
 * a `mul` then an `add` (bitwise what the JavaScript reference computes).
 *
 * @module
 */

import {
  bulk,
  type Code,
  control,
  f32x4,
  f64,
  f64x2,
  forLoop,
  i32,
  lanePattern,
  local,
  ModuleBuilder,
  v128,
} from "./builder.ts";

/** The window shape a module is generated for (a subset of `ConvGeometry`). */
export interface DirectConvShape {
  /** Input channels `C`. */
  channels: number;
  /** Image height `H`. */
  height: number;
  /** Image width `W`. */
  width: number;
  /** Kernel height `KH`. */
  kernelH: number;
  /** Kernel width `KW`. */
  kernelW: number;
  /** Zero padding on every side. */
  pad: number;
  /** Output height `H + 2·pad − KH + 1`. */
  outH: number;
  /** Output width `W + 2·pad − KW + 1`. */
  outW: number;
}

/** Where the padded images and partials live, in float32 elements. */
export interface DirectConvLayout {
  /** Row stride of a padded plane: at least `W + 2·pad`, and `⌈Wo/4⌉·4 + KW − 1`. */
  rowStride: number;
  /** Rows of a padded plane, `H + 2·pad`. */
  paddedH: number;
  /** Elements of one padded plane. */
  planeStride: number;
  /** Elements of one padded image (all its channels). */
  imageStride: number;
  /** Output pixels per plane, `Ho·Wo`. */
  pixels: number;
  /** Taps per filter, `C·KH·KW`. */
  taps: number;
}

/** Lanes of an f32x4. */
const LANES = 4;
/** Filters per block: the accumulator tile is 4 filters × 2 vectors. */
export const FILTER_BLOCK = 4;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * The padded layout of `shape`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directConvLayout } from "./conv_direct_module.ts";
 * // 28×28 image, 7×7 kernel, pad 3: rows of 28 + 6 = 34 read up to column 28 + 6 − 1.
 * const l = directConvLayout({ channels: 1, height: 28, width: 28, kernelH: 7, kernelW: 7,
 *   pad: 3, outH: 28, outW: 28 });
 * assert.equal(l.rowStride, 36);
 * assert.equal(l.paddedH, 34);
 * ```
 */
export function directConvLayout(shape: DirectConvShape): DirectConvLayout {
  const { channels, height, width, kernelH, kernelW, pad, outH, outW } = shape;
  // The last vector of a row starts at ⌈Wo/4⌉·4 − 4 and a tap reads KW − 1 further.
  const rowStride = roundUp(Math.max(width + 2 * pad, roundUp(outW, LANES) + kernelW - 1), LANES);
  const paddedH = height + 2 * pad;
  const planeStride = paddedH * rowStride;
  return {
    rowStride,
    paddedH,
    planeStride,
    imageStride: channels * planeStride,
    pixels: outH * outW,
    taps: channels * kernelH * kernelW,
  };
}

/** The exported functions of a direct convolution module (all addresses in bytes). */
export interface DirectConvExports {
  /**
   * Copies `images` images `(C, H, W)` from `src` into the padded layout at `dst`, whose
   * padding must already be zero (it is never written).
   */
  pad(src: number, dst: number, images: number): void;
  /**
   * `out[n][f] = bias[f] + Σ_{c,ky,kx} w[f][c][ky][kx] · x[n][c][oh+ky][ow+kx]` for
   * `images` padded images at `x`, packed weights `w`, `4·filterBlocks` biases at `bias`;
   * image n's outputs start at `out + n·outImageBytes`. Outputs of the zero filters of the
   * last block land in the next image's first planes (overwritten later) or, for the
   * last image, just past its end: leave `(4·filterBlocks − F)·Ho·Wo` elements of room.
   */
  forward(
    x: number,
    w: number,
    bias: number,
    out: number,
    filterBlocks: number,
    outImageBytes: number,
    images: number,
  ): void;
  /**
   * Adds, for each image, `Σ dout[n][f][oh][ow] · x[n][c][oh+ky][ow+kx]` split by lane
   * (`ow mod 4`) into `partials[f][c][ky][kx][4]`, and `Σ dout[n][f][oh][ow]` likewise into
   * `biasPartials[f][4]` (4·filterBlocks filters). `dout` holds `images` images of
   * `doutImageBytes` each, read up to `4·filterBlocks` planes and 3 elements past the last
   * one (values there only reach filters past F).
   */
  weightGrad(
    x: number,
    dout: number,
    partials: number,
    biasPartials: number,
    filterBlocks: number,
    doutImageBytes: number,
    images: number,
  ): void;
  /**
   * `totals[i] = (v0 + v2) + (v1 + v3)` in float64 for the 4 float32 lanes `v` of each of
   * `count` partials at `lanes` (`totals` holds float64).
   */
  laneTotals(lanes: number, totals: number, count: number): void;
}

/** Options of {@link buildDirectConvModule}. */
export interface DirectConvModuleOptions {
  /** Use `relaxed_madd` (fused multiply-add) instead of `mul` + `add`. */
  relaxed: boolean;
  /** Import a shared memory (SharedArrayBuffer-backed) rather than a private one. */
  sharedMemory: boolean;
}

/** `target += amount` for an i32 local. */
function addTo(target: number, amount: Code): Code {
  return [local.get(target), amount, i32.add, local.set(target)];
}

/** A v128 with lanes `< count` all ones and the others zero: masks a row's last step. */
function laneMask(count: number): Code {
  const bytes: number[] = [];
  for (let lane = 0; lane < LANES; lane++) {
    for (let b = 0; b < 4; b++) bytes.push(lane < count ? 0xff : 0);
  }
  return v128.const(bytes);
}

/**
 * Emits the module of {@link DirectConvExports} for one window shape. It imports its
 * memory as `env.memory`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildDirectConvModule } from "./conv_direct_module.ts";
 * const bytes = buildDirectConvModule(
 *   { channels: 1, height: 5, width: 5, kernelH: 3, kernelW: 3, pad: 1, outH: 5, outW: 5 },
 *   { relaxed: false, sharedMemory: false },
 * );
 * assert.ok(WebAssembly.validate(bytes));
 * ```
 */
export function buildDirectConvModule(
  shape: DirectConvShape,
  options: DirectConvModuleOptions,
): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory(
    "env",
    "memory",
    options.sharedMemory ? { initial: 1, maximum: 65536, shared: true } : { initial: 1 },
  );
  const layout = directConvLayout(shape);
  emitPad(mod, shape, layout);
  emitForward(mod, shape, layout, options.relaxed);
  emitWeightGrad(mod, shape, layout, options.relaxed);
  emitLaneTotals(mod);
  return mod.toBytes();
}

/** `acc = a · b + acc`, fused or not. */
function multiplyAdd(relaxed: boolean, acc: number, a: number, b: number): Code {
  return [
    relaxed
      ? [local.get(a), local.get(b), local.get(acc), f32x4.relaxed_madd]
      : [local.get(acc), local.get(a), local.get(b), f32x4.mul, f32x4.add],
    local.set(acc),
  ];
}

function emitPad(mod: ModuleBuilder, s: DirectConvShape, l: DirectConvLayout): void {
  const f = mod.func("pad", { src: "i32", dst: "i32", images: "i32" }, [], true);
  const { src, dst, images } = f.params;
  const plane = f.local("i32"), row = f.local("i32"), to = f.local("i32");
  const planes = f.local("i32");
  const rowBytes = s.width * 4;
  f.emit(
    [local.get(images), i32.const(s.channels), i32.mul, local.set(planes)],
    forLoop(plane, i32.const(0), local.get(planes), i32.const(1), [
      // The first interior element of the plane.
      [local.get(dst), local.get(plane), i32.const(l.planeStride * 4), i32.mul, i32.add],
      [i32.const((s.pad * l.rowStride + s.pad) * 4), i32.add, local.set(to)],
      forLoop(row, i32.const(0), i32.const(s.height), i32.const(1), [
        [local.get(to), local.get(src), i32.const(rowBytes), bulk.copy],
        addTo(to, i32.const(l.rowStride * 4)),
        addTo(src, i32.const(rowBytes)),
      ]),
    ]),
  );
}

/**
 * One output vector of a run: 4 pixels starting at column `col` of row `row` (0 or 1)
 * relative to the run's pointers, of which the first `lanes` are stored.
 */
interface RunVector {
  row: number;
  col: number;
  lanes: number;
}

function emitForward(
  mod: ModuleBuilder,
  s: DirectConvShape,
  l: DirectConvLayout,
  relaxed: boolean,
): void {
  const f = mod.func(
    "forward",
    {
      x: "i32",
      w: "i32",
      bias: "i32",
      out: "i32",
      filterBlocks: "i32",
      outImageBytes: "i32",
      images: "i32",
    },
    [],
    true,
  );
  const { x, w, bias, out, filterBlocks, outImageBytes, images } = f.params;
  const n = f.local("i32"), fb = f.local("i32"), oh = f.local("i32"), run = f.local("i32");
  const c = f.local("i32");
  const xRow = f.local("i32"), outRow = f.local("i32"), xTap = f.local("i32");
  const wBlock = f.local("i32"), wTap = f.local("i32"), biasBlock = f.local("i32");
  const outBlock = f.local("i32");
  const acc = Array.from({ length: FILTER_BLOCK }, () => [f.local("v128"), f.local("v128")]);
  const xv = [f.local("v128"), f.local("v128")];
  const weight = f.local("v128");
  const { channels: C, kernelH: KH, kernelW: KW, outH: Ho, outW: Wo } = s;
  const P = l.pixels, S = l.rowStride;
  const fullRuns = Math.floor(Wo / 8), tail = Wo % 8;
  const tailVectors = Math.ceil(tail / LANES);
  // A row's last run of a single vector would leave half the accumulators idle and make
  // each one's chain of multiply-adds latency-bound: pair it with the next row's.
  const pairRows = tailVectors === 1 && Ho >= 2;

  /** One run of 4 filters × `vectors.length` vectors (≤ 2) from xRow, into outRow. */
  const runOf = (vectors: RunVector[]): Code => [
    acc.map((row, i) =>
      row.slice(0, vectors.length).map((a) => [
        local.get(biasBlock),
        v128.load32_splat(i * 4),
        local.set(a),
      ])
    ),
    [local.get(xRow), local.set(xTap), local.get(wBlock), local.set(wTap)],
    forLoop(c, i32.const(0), i32.const(C), i32.const(1), [
      Array.from({ length: KH * KW }, (_, t) => {
        const ky = Math.floor(t / KW), kx = t % KW;
        return [
          vectors.map((v, j) => [
            local.get(xTap),
            v128.load(((v.row + ky) * S + v.col + kx) * 4),
            local.set(xv[j]),
          ]),
          acc.map((row, i) => [
            [local.get(wTap), v128.load32_splat((t * FILTER_BLOCK + i) * 4), local.set(weight)],
            vectors.map((_, j) => multiplyAdd(relaxed, row[j], weight, xv[j])),
          ]),
        ];
      }),
      addTo(xTap, i32.const(l.planeStride * 4)),
      addTo(wTap, i32.const(KH * KW * FILTER_BLOCK * 4)),
    ]),
    acc.map((row, i) =>
      vectors.map((v, j) => {
        const at = (i * P + v.row * Wo + v.col) * 4;
        const put = (code: Code) => [local.get(outRow), local.get(row[j]), code];
        if (v.lanes === 4) return put(v128.store(at));
        if (v.lanes === 2) return put(v128.store64_lane(0, at));
        if (v.lanes === 1) return put(v128.store32_lane(0, at));
        return [put(v128.store64_lane(0, at)), put(v128.store32_lane(2, at + 8))];
      })
    ),
  ];

  /** `rows` (1 or 2) output rows from oh on: full runs of 8 pixels, then the tails. */
  const rowsOf = (rows: number): Code => {
    const tails: RunVector[] = [];
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < tailVectors; v++) {
        tails.push({ row: r, col: v * LANES, lanes: Math.min(LANES, tail - v * LANES) });
      }
    }
    return [
      [local.get(x), local.get(oh), i32.const(S * 4), i32.mul, i32.add, local.set(xRow)],
      [local.get(outBlock), local.get(oh), i32.const(Wo * 4), i32.mul, i32.add],
      local.set(outRow),
      fullRuns > 0
        ? forLoop(run, i32.const(0), i32.const(fullRuns), i32.const(1), [
          Array.from({ length: rows }, (_, r) =>
            runOf([{ row: r, col: 0, lanes: 4 }, { row: r, col: 4, lanes: 4 }])),
          addTo(xRow, i32.const(32)),
          addTo(outRow, i32.const(32)),
        ])
        : [],
      // Runs of at most 2 vectors: 4 filters × 2 vectors are the 8 accumulators.
      Array.from(
        { length: Math.ceil(tails.length / 2) },
        (_, k) => runOf(tails.slice(2 * k, 2 * k + 2)),
      ),
    ];
  };

  const step = pairRows ? 2 : 1;
  const pairedRows = Math.floor(Ho / step) * step;
  f.emit(
    forLoop(n, i32.const(0), local.get(images), i32.const(1), [
      forLoop(fb, i32.const(0), local.get(filterBlocks), i32.const(1), [
        [local.get(w), local.get(fb), i32.const(l.taps * FILTER_BLOCK * 4), i32.mul, i32.add],
        local.set(wBlock),
        [local.get(bias), local.get(fb), i32.const(FILTER_BLOCK * 4), i32.mul, i32.add],
        local.set(biasBlock),
        [local.get(out), local.get(fb), i32.const(FILTER_BLOCK * P * 4), i32.mul, i32.add],
        local.set(outBlock),
        forLoop(oh, i32.const(0), i32.const(pairedRows), i32.const(step), rowsOf(step)),
        pairedRows < Ho ? [i32.const(pairedRows), local.set(oh), rowsOf(1)] : [],
      ]),
      addTo(x, i32.const(l.imageStride * 4)),
      addTo(out, local.get(outImageBytes)),
    ]),
  );
}

/** Steps of 4 pixels per output row up to which the weight gradient unrolls them. */
const UNROLLED_STEPS = 8;

function emitWeightGrad(
  mod: ModuleBuilder,
  s: DirectConvShape,
  l: DirectConvLayout,
  relaxed: boolean,
): void {
  const f = mod.func(
    "weightGrad",
    {
      x: "i32",
      dout: "i32",
      partials: "i32",
      biasPartials: "i32",
      filterBlocks: "i32",
      doutImageBytes: "i32",
      images: "i32",
    },
    [],
    true,
  );
  const { x, dout, partials, biasPartials, filterBlocks, doutImageBytes, images } = f.params;
  const n = f.local("i32"), fb = f.local("i32"), c = f.local("i32");
  const oh = f.local("i32"), step = f.local("i32");
  const dBlock = f.local("i32"), xBase = f.local("i32"), pBase = f.local("i32");
  const dPtr = f.local("i32"), xPtr = f.local("i32");
  const acc = Array.from({ length: FILTER_BLOCK }, () => [f.local("v128"), f.local("v128")]);
  const xv = [f.local("v128"), f.local("v128")];
  const d = f.local("v128");
  // The bias gradient rides along the first pass over each image: Σ dout per lane, from
  // the dout vectors that pass loads anyway (8 + 4 accumulators, 2 inputs, 1 dout = 15).
  const dbAcc = Array.from({ length: FILTER_BLOCK }, () => f.local("v128"));
  const { channels: C, kernelH: KH, kernelW: KW, outH: Ho, outW: Wo } = s;
  const P = l.pixels, S = l.rowStride, taps = KH * KW;
  const fullSteps = Math.floor(Wo / LANES), rest = Wo % LANES;
  const unrolled = fullSteps <= UNROLLED_STEPS;
  // Partials of filter i of a block are i·C·KH·KW vectors past the block's first filter.
  const filterPartialBytes = C * taps * 16;
  /** Byte offset in a padded plane of tap t = (ky, kx). */
  const tapOffset = (t: number) => (Math.floor(t / KW) * S + (t % KW)) * 4;

  /** One step of 4 pixels, `at` bytes into the row, for the taps `t0 .. t0 + count − 1`. */
  const stepOf = (t0: number, count: number, at: number, masked: boolean, bias: boolean) => [
    xv.slice(0, count).map((v, j) => [
      local.get(xPtr),
      v128.load(tapOffset(t0 + j) + at),
      local.set(v),
    ]),
    acc.map((row, i) => [
      [local.get(dPtr), v128.load(i * P * 4 + at)],
      masked ? [laneMask(rest), v128.and] : [],
      local.set(d),
      row.slice(0, count).map((a, j) => multiplyAdd(relaxed, a, d, xv[j])),
      bias ? [local.get(dbAcc[i]), local.get(d), f32x4.add, local.set(dbAcc[i])] : [],
    ]),
  ];

  /**
   * Σ over the image's output rows for the taps t0 (and t0 + 1), added to the partials. Two
   * taps of the flattened (ky, kx) list share the dout loads whichever rows they read.
   */
  const tapsOf = (t0: number, count: number, bias = false): Code => [
    acc.map((row) => row.slice(0, count).map((a) => [v128.zero(), local.set(a)])),
    bias ? dbAcc.map((a) => [v128.zero(), local.set(a)]) : [],
    [local.get(dBlock), local.set(dPtr), local.get(xBase), local.set(xPtr)],
    forLoop(oh, i32.const(0), i32.const(Ho), i32.const(1), [
      unrolled
        ? Array.from({ length: fullSteps }, (_, j) => stepOf(t0, count, j * 16, false, bias))
        : [
          forLoop(step, i32.const(0), i32.const(fullSteps), i32.const(1), [
            stepOf(t0, count, 0, false, bias),
            addTo(dPtr, i32.const(16)),
            addTo(xPtr, i32.const(16)),
          ]),
        ],
      rest > 0 ? stepOf(t0, count, unrolled ? fullSteps * 16 : 0, true, bias) : [],
      // dout rows are Wo apart, padded input rows S apart.
      addTo(dPtr, i32.const((unrolled ? Wo : Wo - fullSteps * LANES) * 4)),
      addTo(xPtr, i32.const((unrolled ? S : S - fullSteps * LANES) * 4)),
    ]),
    acc.map((row, i) =>
      row.slice(0, count).map((a, j) => {
        const at = i * filterPartialBytes + (t0 + j) * 16;
        return [
          local.get(pBase),
          [local.get(pBase), v128.load(at), local.get(a), f32x4.add],
          v128.store(at),
        ];
      })
    ),
    bias
      ? dbAcc.map((a, i) => [
        [local.get(biasPartials), local.get(fb), i32.const(FILTER_BLOCK * 16), i32.mul, i32.add],
        [local.tee(xPtr), v128.load(i * 16), local.get(a), f32x4.add, local.set(a)],
        [local.get(xPtr), local.get(a), v128.store(i * 16)],
      ])
      : [],
  ];

  const groups: Code[] = [];
  for (let t0 = 0; t0 < taps; t0 += 2) groups.push(tapsOf(t0, Math.min(2, taps - t0)));
  // Channel 0's first pass also sums the bias gradient.
  const firstCount = Math.min(2, taps);
  groups[0] = C === 1 ? tapsOf(0, firstCount, true) : [
    local.get(c),
    control.if(tapsOf(0, firstCount), tapsOf(0, firstCount, true)),
  ];

  f.emit(
    forLoop(n, i32.const(0), local.get(images), i32.const(1), [
      forLoop(fb, i32.const(0), local.get(filterBlocks), i32.const(1), [
        [local.get(dout), local.get(fb), i32.const(FILTER_BLOCK * P * 4), i32.mul, i32.add],
        local.set(dBlock),
        forLoop(c, i32.const(0), i32.const(C), i32.const(1), [
          [local.get(x), local.get(c), i32.const(l.planeStride * 4), i32.mul, i32.add],
          local.set(xBase),
          // partials[fb·4][c][0][0]
          [local.get(fb), i32.const(FILTER_BLOCK * C), i32.mul, local.get(c), i32.add],
          [i32.const(taps * 16), i32.mul, local.get(partials), i32.add, local.set(pBase)],
          groups,
        ]),
      ]),
      addTo(x, i32.const(l.imageStride * 4)),
      addTo(dout, local.get(doutImageBytes)),
    ]),
  );
}

function emitLaneTotals(mod: ModuleBuilder): void {
  const f = mod.func("laneTotals", { lanes: "i32", totals: "i32", count: "i32" }, [], true);
  const { lanes, totals, count } = f.params;
  const i = f.local("i32"), v = f.local("v128"), pair = f.local("v128");
  f.emit(
    forLoop(i, i32.const(0), local.get(count), i32.const(1), [
      [local.get(lanes), local.get(i), i32.const(16), i32.mul, i32.add, v128.load()],
      local.set(v),
      // [v0, v1] + [v2, v3], widened to float64 (exactly).
      [local.get(v), f64x2.promote_low_f32x4],
      [local.get(v), local.get(v), v128.shuffle(lanePattern(4, [2, 3, 2, 3]))],
      [f64x2.promote_low_f32x4, f64x2.add, local.set(pair)],
      [local.get(totals), local.get(i), i32.const(8), i32.mul, i32.add],
      [local.get(pair), f64x2.extract_lane(0), local.get(pair), f64x2.extract_lane(1), f64.add],
      f64.store(),
    ]),
  );
}

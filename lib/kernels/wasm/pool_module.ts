/**
 * Emits 2×2, stride-2 max pooling (the windows tile the input: the pooling of nearly every
 * convolutional network) as branch-free SIMD, forward and backward, for both dtypes.
 *
 * **Forward.** One iteration takes the windows `ow … ow+L−1` of an output row (L = lanes
 * per vector: 4 for float32, 2 for float64). Two vector loads per input row hold their 2L
 * pixels, interleaved left/right; a shuffle splits them into the left taps and the right
 * taps. The four taps `(0,0), (0,1), (1,0), (1,1)` (tap numbers 0–3, row-major) are folded
 * into a running maximum with lane masks instead of branches:
 *
 * ```
 * replace = (best == best) AND NOT (tap <= best)      // tap > best, or tap NaN and best not
 * best    = replace ? tap : best                       // v128.bitselect
 * argmax  = replace ? k   : argmax
 * ```
 *
 * which keeps the first maximum on ties and lets the first NaN win, exactly as the
 * JavaScript kernels in `../pool.ts` do. Branches on random data were mispredicted about
 * once per window; these masks cost the same whatever the data.
 *
 * **Backward.** Each window writes all four of its pixels: `dout` where its tap is the
 * recorded `argmax`, +0 elsewhere, interleaved back by shuffles. Windows tile the input, so
 * every pixel of `dx` is written exactly once and needs no clearing first.
 *
 * A row whose width is not a multiple of L ends with one more vector step, shifted back to
 * end at the row's end: it overlaps the previous step and rewrites the same values. Rows
 * narrower than L take a scalar loop.
 *
 * @module
 */

import {
  type Code,
  control,
  forLoop,
  type FunctionBuilder,
  i32,
  i32x4,
  i64x2,
  lanePattern,
  local,
  type ModuleBuilder,
  v128,
} from "./builder.ts";
import { Lanes } from "./gemm_module.ts";

/** `target += amount` for an i32 local. */
function addTo(target: number, amount: Code): Code {
  return [local.get(target), amount, i32.add, local.set(target)];
}

/**
 * Emits, for each prefix `f32_` and `f64_` (addresses in bytes, `argmax` a Uint16Array of
 * tap numbers):
 * - `maxPool2x2(x, out, argmax, planes, outH, outW)`: `x` holds `planes` planes of
 *   `2·outH × 2·outW` pixels; writes the `outH × outW` maxima of each and their taps;
 * - `maxPool2x2Back(dout, argmax, dx, planes, outH, outW)`: overwrites `dx` (shaped like
 *   `x`) with each window's `dout` at its argmax tap and +0 at the other three.
 */
export function emitPoolKernels(mod: ModuleBuilder): void {
  for (const dtype of ["float32", "float64"] as const) {
    const t = new Lanes(dtype);
    emitForward(mod, t);
    emitBackward(mod, t);
  }
}

/** A v128 constant holding the integer `k` in every lane of `t`'s mask width. */
function laneConstant(t: Lanes, k: number): Code {
  const bytes = new Array(16).fill(0);
  for (let lane = 0; lane < t.lanes; lane++) bytes[lane * t.bytes] = k;
  return v128.const(bytes);
}

/** The loops shared by both directions: planes, output rows, then L windows at a time. */
interface Walk {
  f: FunctionBuilder;
  /** Address of the top-left pixel of the current window(s) in the full-size image. */
  pixel: number;
  /** Element index of the current window in the pooled planes. */
  window: number;
  /** Bytes per full-size row. */
  rowBytes: number;
}

function walk(
  f: FunctionBuilder,
  t: Lanes,
  image: number,
  planes: number,
  outH: number,
  outW: number,
  vectorStep: (w: Walk) => Code,
  scalarStep: (w: Walk) => Code,
): Code {
  const pixel = f.local("i32"), window = f.local("i32"), rowBytes = f.local("i32");
  const p = f.local("i32"), oh = f.local("i32"), ow = f.local("i32");
  const vecEnd = f.local("i32"), back = f.local("i32");
  const w: Walk = { f, pixel, window, rowBytes };
  /** Moves the window position by `windows` (which may be negative). */
  const advance = (windows: Code): Code => [
    addTo(pixel, [windows, i32.const(2 * t.bytes), i32.mul]),
    addTo(window, windows),
  ];
  return [
    // rowBytes = 2·outW·bytes; vecEnd = outW rounded down to whole vectors;
    // back = how far the last vector must start early to end at the row's end
    [local.get(outW), i32.const(2 * t.bytes), i32.mul, local.set(rowBytes)],
    [local.get(outW), i32.const(-t.lanes), i32.and, local.set(vecEnd)],
    [i32.const(t.lanes), local.get(outW), local.get(vecEnd), i32.sub, i32.sub, local.set(back)],
    [i32.const(0), local.set(window), local.get(image), local.set(pixel)],
    forLoop(p, i32.const(0), local.get(planes), i32.const(1), [
      forLoop(oh, i32.const(0), local.get(outH), i32.const(1), [
        forLoop(ow, i32.const(0), local.get(vecEnd), i32.const(t.lanes), [
          vectorStep(w),
          advance(i32.const(t.lanes)),
        ]),
        // The rest of a row: one more vector step that overlaps the previous one (it
        // rewrites the same values), or, in rows narrower than a vector, scalar steps.
        // A scalar tail on every row was measured 3× slower: its float selects compile to
        // branches, mispredicted on real data.
        [local.get(outW), local.get(vecEnd), i32.ne],
        control.if([
          [local.get(vecEnd), i32.eqz],
          control.if(
            forLoop(ow, i32.const(0), local.get(outW), i32.const(1), [
              scalarStep(w),
              advance(i32.const(1)),
            ]),
            [
              advance([i32.const(0), local.get(back), i32.sub]),
              vectorStep(w),
              advance(i32.const(t.lanes)),
            ],
          ),
        ]),
        // The row pair is done: skip the second row of the pair.
        addTo(pixel, local.get(rowBytes)),
      ]),
    ]),
  ];
}

function emitForward(mod: ModuleBuilder, t: Lanes): void {
  const f = mod.func(
    `${t.prefix}maxPool2x2`,
    { x: "i32", out: "i32", argmax: "i32", planes: "i32", outH: "i32", outW: "i32" },
    [],
    true,
  );
  const { x, out, argmax, planes, outH, outW } = f.params;
  const taps = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  const best = f.local("v128"), arg = f.local("v128"), replace = f.local("v128");
  const even = v128.shuffle(lanePattern(t.bytes, t.lanes === 4 ? [0, 2, 4, 6] : [0, 2]));
  const odd = v128.shuffle(lanePattern(t.bytes, t.lanes === 4 ? [1, 3, 5, 7] : [1, 3]));
  // Bytes 0–1 of each mask-width lane: the tap numbers as consecutive 16-bit values.
  const low16 = v128.shuffle(
    Array.from({ length: 16 }, (_, i) => (i >> 1) < t.lanes ? (i >> 1) * t.bytes + (i & 1) : 0),
  );
  const sTaps = [f.local(t.scalarType), f.local(t.scalarType), f.local(t.scalarType)];
  const sBest = f.local(t.scalarType), sArg = f.local("i32"), sReplace = f.local("i32");

  const vectorStep = ({ pixel, window, rowBytes }: Walk): Code => [
    // Row 0 gives taps 0 (left) and 1 (right); row 1 gives taps 2 and 3.
    [0, 1].map((r) => [
      [local.get(pixel), r ? [local.get(rowBytes), i32.add] : [], v128.load()],
      [local.get(pixel), r ? [local.get(rowBytes), i32.add] : [], v128.load(16)],
      local.set(taps[2 * r + 1]),
      local.tee(taps[2 * r]),
      local.get(taps[2 * r + 1]),
      even,
      local.get(taps[2 * r]),
      local.get(taps[2 * r + 1]),
      odd,
      local.set(taps[2 * r + 1]),
      local.set(taps[2 * r]),
    ]),
    [local.get(taps[0]), local.set(best), v128.zero(), local.set(arg)],
    [1, 2, 3].map((k) => [
      [local.get(best), local.get(best), t.vector.eq],
      [local.get(taps[k]), local.get(best), t.vector.le, v128.andnot, local.set(replace)],
      [local.get(taps[k]), local.get(best), local.get(replace), v128.bitselect, local.set(best)],
      [laneConstant(t, k), local.get(arg), local.get(replace), v128.bitselect, local.set(arg)],
    ]),
    [local.get(out), local.get(window), i32.const(t.bytes), i32.mul, i32.add],
    [local.get(best), v128.store()],
    [local.get(argmax), local.get(window), i32.const(2), i32.mul, i32.add],
    [local.get(arg), local.get(arg), low16],
    t.lanes === 4 ? v128.store64_lane(0) : v128.store32_lane(0),
  ];

  const scalarStep = ({ pixel, window, rowBytes }: Walk): Code => [
    [local.get(pixel), t.scalar.load(), local.set(sBest), i32.const(0), local.set(sArg)],
    [1, 2, 3].map((k) => [
      [local.get(pixel), k >= 2 ? [local.get(rowBytes), i32.add] : []],
      [t.scalar.load((k & 1) * t.bytes), local.set(sTaps[k - 1])],
      [local.get(sBest), local.get(sBest), t.scalar.eq],
      [local.get(sTaps[k - 1]), local.get(sBest), t.scalar.le, i32.eqz, i32.and],
      local.set(sReplace),
      [local.get(sTaps[k - 1]), local.get(sBest), local.get(sReplace), control.select],
      local.set(sBest),
      [i32.const(k), local.get(sArg), local.get(sReplace), control.select, local.set(sArg)],
    ]),
    [local.get(out), local.get(window), i32.const(t.bytes), i32.mul, i32.add],
    [local.get(sBest), t.scalar.store()],
    [local.get(argmax), local.get(window), i32.const(2), i32.mul, i32.add],
    [local.get(sArg), i32.store16()],
  ];

  f.emit(walk(f, t, x, planes, outH, outW, vectorStep, scalarStep));
}

function emitBackward(mod: ModuleBuilder, t: Lanes): void {
  const f = mod.func(
    `${t.prefix}maxPool2x2Back`,
    { dout: "i32", argmax: "i32", dx: "i32", planes: "i32", outH: "i32", outW: "i32" },
    [],
    true,
  );
  const { dout, argmax, dx, planes, outH, outW } = f.params;
  const grad = f.local("v128"), arg = f.local("v128");
  const parts = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  const sGrad = f.local(t.scalarType), sArg = f.local("i32");
  // Lane j of the left taps and lane j of the right taps become pixels 2j and 2j+1.
  const interleaveLow = v128.shuffle(
    lanePattern(t.bytes, t.lanes === 4 ? [0, 4, 1, 5] : [0, 2]),
  );
  const interleaveHigh = v128.shuffle(
    lanePattern(t.bytes, t.lanes === 4 ? [2, 6, 3, 7] : [1, 3]),
  );
  // float64: spread two 16-bit tap numbers into the low bytes of two 64-bit lanes (byte 16
  // of the shuffle's concatenation is a zero, from the second operand).
  const spread64 = v128.shuffle([0, 1, ...new Array(6).fill(16), 2, 3, ...new Array(6).fill(16)]);
  const tapEq = t.lanes === 4 ? i32x4.eq : i64x2.eq;

  const vectorStep = ({ pixel, window, rowBytes }: Walk): Code => [
    [local.get(dout), local.get(window), i32.const(t.bytes), i32.mul, i32.add, v128.load()],
    local.set(grad),
    [local.get(argmax), local.get(window), i32.const(2), i32.mul, i32.add],
    t.lanes === 4 ? v128.load16x4_u() : [v128.load32_zero(), v128.zero(), spread64],
    local.set(arg),
    // parts[k] = argmax == k ? grad : +0  (adding +0 turns a −0 gradient into +0, as the
    // JavaScript kernel's 0 + dout does)
    [0, 1, 2, 3].map((k) => [
      [local.get(grad), local.get(arg), laneConstant(t, k), tapEq, v128.and],
      [v128.zero(), t.vector.add, local.set(parts[k])],
    ]),
    [0, 1].map((r) => [
      [local.get(pixel), r ? [local.get(rowBytes), i32.add] : []],
      [local.get(parts[2 * r]), local.get(parts[2 * r + 1]), interleaveLow, v128.store()],
      [local.get(pixel), r ? [local.get(rowBytes), i32.add] : []],
      [local.get(parts[2 * r]), local.get(parts[2 * r + 1]), interleaveHigh, v128.store(16)],
    ]),
  ];

  const scalarStep = ({ pixel, window, rowBytes }: Walk): Code => [
    [local.get(dout), local.get(window), i32.const(t.bytes), i32.mul, i32.add, t.scalar.load()],
    local.set(sGrad),
    [local.get(argmax), local.get(window), i32.const(2), i32.mul, i32.add, i32.load16_u()],
    local.set(sArg),
    [0, 1, 2, 3].map((k) => [
      [local.get(pixel), k >= 2 ? [local.get(rowBytes), i32.add] : []],
      [local.get(sGrad), t.scalar.const(0), local.get(sArg), i32.const(k), i32.eq],
      [control.select, t.scalar.const(0), t.scalar.add],
      t.scalar.store((k & 1) * t.bytes),
    ]),
  ];

  f.emit(walk(f, t, dx, planes, outH, outW, vectorStep, scalarStep));
}

/**
 * Emits the WebAssembly versions of `im2col` and `col2im` (see `../im2col.ts` for what they
 * compute), plus the block transpose the convolution uses to move between the per-example
 * layout of tensors and the per-filter layout of GEMM operands.
 *
 * They work on operands that already sit in the WebAssembly memory of the thread's GEMM
 * instance, so that the convolution copies each input chunk in once (one bulk `set`),
 * builds the im2col matrix there, and GEMM packs it from there without another copy.
 *
 * The loops mirror the JavaScript ones: for each row of the matrix (a tap `(c, kh, kw)`)
 * and each output row `oh` of each example, the output columns whose tap falls inside the
 * image form one run `[owLo, owHi)`; only the zeros of the padding fall outside it. The run
 * bounds depend on `kh` and `kw` only, so the caller computes them once into a small table
 * (`bounds`, see {@link im2colBounds}) and the innermost loops do no bounds tests. With
 * stride 1 a run is contiguous in the input too and is copied (or, in `col2im`, added) with
 * 128-bit loads and stores.
 *
 * @module
 */

import {
  bulk,
  type Code,
  control,
  forLoop,
  type FunctionBuilder,
  i32,
  local,
  type ModuleBuilder,
  v128,
} from "./builder.ts";
import { Lanes } from "./gemm_module.ts";
import type { WindowGeometry } from "../im2col.ts";

/** `target += amount` for an i32 local. */
function addTo(target: number, amount: Code): Code {
  return [local.get(target), amount, i32.add, local.set(target)];
}

/** Int32 entries per kernel row or column in the bounds table. */
const BOUND_FIELDS = 3;

/**
 * The run table of {@link emitIm2col} for one window geometry: for each kernel row `kh`,
 * `[ih0, ohLo, ohHi]` (the input row of output row 0, and the output rows whose tap lies in
 * the image), then for each kernel column `kw`, `[iw0, owLo, owHi]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { im2colBounds } from "./im2col_module.ts";
 * const g = { channels: 1, height: 3, width: 3, kernelH: 3, kernelW: 3, stride: 1, pad: 1,
 *   dilation: 1, outH: 3, outW: 3 };
 * // kh = 0 reads input row oh − 1: output row 0 falls in the padding.
 * assert.deepEqual([...im2colBounds(g).slice(0, 3)], [-1, 1, 3]);
 * ```
 */
export function im2colBounds(g: WindowGeometry): Int32Array {
  const table = new Int32Array(BOUND_FIELDS * (g.kernelH + g.kernelW));
  const put = (at: number, size: number, outSize: number, k: number) => {
    const offset = k * g.dilation - g.pad;
    // The first output index whose tap is ≥ 0, and one past the last whose tap is < size.
    const lo = offset >= 0 ? 0 : Math.min(outSize, Math.ceil(-offset / g.stride));
    const last = offset >= size ? 0 : Math.floor((size - 1 - offset) / g.stride) + 1;
    table.set([offset, lo, Math.max(lo, Math.min(outSize, last))], at * BOUND_FIELDS);
  };
  for (let kh = 0; kh < g.kernelH; kh++) put(kh, g.height, g.outH, kh);
  for (let kw = 0; kw < g.kernelW; kw++) put(g.kernelH + kw, g.width, g.outW, kw);
  return table;
}

/** Emits `im2col`, `col2im` for both dtypes and the dtype-free `swapBlocks` into `mod`. */
export function emitIm2colKernels(mod: ModuleBuilder): void {
  for (const dtype of ["float32", "float64"] as const) {
    const t = new Lanes(dtype);
    emitWindowWalk(mod, t, "im2col");
    emitWindowWalk(mod, t, "col2im");
  }
  emitSwapBlocks(mod);
}

/**
 * `{prefix}im2col(x, cols, bounds, examples, channels, c0, c1, H, W, KH, KW, stride, outH,
 * outW)` writes the im2col matrix of channels `[c0, c1)` of `examples` consecutive examples
 * starting at `x` (each `channels·H·W` elements) into `cols`, laid out as in `../im2col.ts`.
 *
 * `{prefix}col2im(...)` with the same parameters is its adjoint: it adds every entry of
 * `cols` onto the pixel of `x` it would have been copied from (so `x` is the gradient being
 * accumulated; padding entries are dropped).
 *
 * Addresses are byte offsets; `bounds` is the table of {@link im2colBounds}.
 */
function emitWindowWalk(mod: ModuleBuilder, t: Lanes, kind: "im2col" | "col2im"): void {
  const f = mod.func(
    `${t.prefix}${kind}`,
    {
      x: "i32",
      cols: "i32",
      bounds: "i32",
      examples: "i32",
      channels: "i32",
      c0: "i32",
      c1: "i32",
      H: "i32",
      W: "i32",
      KH: "i32",
      KW: "i32",
      stride: "i32",
      outH: "i32",
      outW: "i32",
    },
    [],
    true,
  );
  const { x, cols, bounds, examples, channels, c0, c1, H, W, KH, KW, stride, outH, outW } =
    f.params;
  const b = t.bytes;
  const L = f.local.bind(f);
  const [c, kh, kw, n, oh] = [L("i32"), L("i32"), L("i32"), L("i32"), L("i32")];
  const [ih0, ohLo, ohHi, iw0, owLo, owHi] = [
    L("i32"),
    L("i32"),
    L("i32"),
    L("i32"),
    L("i32"),
    L("i32"),
  ];
  const [planeBytes, exampleBytes, outRowBytes, matrixRowBytes] = [
    L("i32"),
    L("i32"),
    L("i32"),
    L("i32"),
  ];
  const [channelPlane, row, dst, plane, src] = [L("i32"), L("i32"), L("i32"), L("i32"), L("i32")];
  const runs = new RunEmitter(f, t);
  /** bounds[(entry)·3 + field] */
  const bound = (entry: Code, field: number): Code => [
    local.get(bounds),
    entry,
    i32.const(BOUND_FIELDS * 4),
    i32.mul,
    i32.add,
    i32.load(4 * field),
  ];

  // The valid part of one output row: im2col copies the taps (zeros around them), col2im
  // adds the entries back onto the taps (and skips the zeros).
  const validRow: Code = kind === "im2col"
    ? [
      runs.zero(local.get(dst), local.get(owLo)),
      runs.copy(
        [local.get(dst), local.get(owLo), i32.const(b), i32.mul, i32.add],
        local.get(src),
        [local.get(owHi), local.get(owLo), i32.sub],
        stride,
      ),
      runs.zero(
        [local.get(dst), local.get(owHi), i32.const(b), i32.mul, i32.add],
        [local.get(outW), local.get(owHi), i32.sub],
      ),
    ]
    : runs.add(
      local.get(src),
      [local.get(dst), local.get(owLo), i32.const(b), i32.mul, i32.add],
      [local.get(owHi), local.get(owLo), i32.sub],
      stride,
    );

  f.emit(
    [local.get(H), local.get(W), i32.mul, i32.const(b), i32.mul, local.set(planeBytes)],
    [local.get(planeBytes), local.get(channels), i32.mul, local.set(exampleBytes)],
    [local.get(outW), i32.const(b), i32.mul, local.set(outRowBytes)],
    [local.get(outRowBytes), local.get(outH), i32.mul, local.get(examples), i32.mul],
    local.set(matrixRowBytes),
    [local.get(cols), local.set(row)],
    forLoop(c, local.get(c0), local.get(c1), i32.const(1), [
      [local.get(x), local.get(c), local.get(planeBytes), i32.mul, i32.add],
      local.set(channelPlane),
      forLoop(kh, i32.const(0), local.get(KH), i32.const(1), [
        [bound(local.get(kh), 0), local.set(ih0)],
        [bound(local.get(kh), 1), local.set(ohLo)],
        [bound(local.get(kh), 2), local.set(ohHi)],
        forLoop(kw, i32.const(0), local.get(KW), i32.const(1), [
          [bound([local.get(KH), local.get(kw), i32.add], 0), local.set(iw0)],
          [bound([local.get(KH), local.get(kw), i32.add], 1), local.set(owLo)],
          [bound([local.get(KH), local.get(kw), i32.add], 2), local.set(owHi)],
          [local.get(row), local.set(dst)],
          forLoop(n, i32.const(0), local.get(examples), i32.const(1), [
            [local.get(channelPlane), local.get(n), local.get(exampleBytes), i32.mul, i32.add],
            local.set(plane),
            forLoop(oh, i32.const(0), local.get(outH), i32.const(1), [
              // Output rows whose tap row is padding: all zeros (im2col) or nothing (col2im).
              [local.get(oh), local.get(ohLo), i32.lt_s],
              [local.get(oh), local.get(ohHi), i32.ge_s, i32.or],
              control.if(
                kind === "im2col" ? runs.zero(local.get(dst), local.get(outW)) : [],
                [
                  // src = plane + ((oh·stride + ih0)·W + owLo·stride + iw0)·bytes
                  [local.get(oh), local.get(stride), i32.mul, local.get(ih0), i32.add],
                  [local.get(W), i32.mul],
                  [local.get(owLo), local.get(stride), i32.mul, i32.add, local.get(iw0)],
                  [i32.add, i32.const(b), i32.mul, local.get(plane), i32.add, local.set(src)],
                  validRow,
                ],
              ),
              addTo(dst, local.get(outRowBytes)),
            ]),
          ]),
          addTo(row, local.get(matrixRowBytes)),
        ]),
      ]),
    ]),
  );
}

/**
 * Emits the short runs of the window walk inline (a call per run would cost more than the
 * run itself on small images), with the scratch locals they need allocated once.
 */
class RunEmitter {
  readonly #t: Lanes;
  readonly #i: number;
  readonly #end: number;
  readonly #vecEnd: number;
  readonly #from: number;
  readonly #to: number;
  readonly #step: number;

  constructor(f: FunctionBuilder, t: Lanes) {
    this.#t = t;
    this.#i = f.local("i32");
    this.#end = f.local("i32");
    this.#vecEnd = f.local("i32");
    this.#from = f.local("i32");
    this.#to = f.local("i32");
    this.#step = f.local("i32");
  }

  /** Sets `end` = count·bytes and `vecEnd` = the whole vectors within it, in bytes. */
  #extent(count: Code): Code {
    const t = this.#t;
    return [
      [count, i32.const(t.bytes), i32.mul, local.set(this.#end)],
      [local.get(this.#end), i32.const(~15), i32.and, local.set(this.#vecEnd)],
    ];
  }

  /** Writes `count` zeros at address `dst`. */
  zero(dst: Code, count: Code): Code {
    const t = this.#t, i = this.#i, to = this.#to;
    return [
      dst,
      local.set(to),
      this.#extent(count),
      forLoop(i, i32.const(0), local.get(this.#vecEnd), i32.const(16), [
        [local.get(to), local.get(i), i32.add, v128.zero(), v128.store()],
      ]),
      forLoop(i, local.get(i), local.get(this.#end), i32.const(t.bytes), [
        [local.get(to), local.get(i), i32.add, t.scalar.const(0), t.scalar.store()],
      ]),
    ];
  }

  /**
   * Copies `count` elements read every `stride` elements from `src` to consecutive
   * elements at `dst` (vectors when stride = 1).
   */
  copy(dst: Code, src: Code, count: Code, stride: number): Code {
    const t = this.#t, i = this.#i, from = this.#from, to = this.#to, step = this.#step;
    return [
      [dst, local.set(to), src, local.set(from)],
      this.#extent(count),
      [local.get(stride), i32.const(1), i32.eq],
      control.if(
        [
          forLoop(i, i32.const(0), local.get(this.#vecEnd), i32.const(16), [
            [local.get(to), local.get(i), i32.add],
            [local.get(from), local.get(i), i32.add, v128.load(), v128.store()],
          ]),
          forLoop(i, local.get(i), local.get(this.#end), i32.const(t.bytes), [
            [local.get(to), local.get(i), i32.add],
            [local.get(from), local.get(i), i32.add, t.scalar.load(), t.scalar.store()],
          ]),
        ],
        [
          [local.get(stride), i32.const(t.bytes), i32.mul, local.set(step)],
          forLoop(i, i32.const(0), local.get(this.#end), i32.const(t.bytes), [
            [local.get(to), local.get(i), i32.add, local.get(from), t.scalar.load()],
            t.scalar.store(),
            addTo(from, local.get(step)),
          ]),
        ],
      ),
    ];
  }

  /**
   * Adds `count` consecutive elements at `src` onto elements every `stride` elements from
   * `dst` (vectors when stride = 1).
   */
  add(dst: Code, src: Code, count: Code, stride: number): Code {
    const t = this.#t, i = this.#i, from = this.#from, to = this.#to, step = this.#step;
    const addAt = (load: (o?: number) => Code, store: (o?: number) => Code, add: Code) => [
      [local.get(to), local.get(i), i32.add],
      [local.get(to), local.get(i), i32.add, load()],
      [local.get(from), local.get(i), i32.add, load(), add, store()],
    ];
    return [
      [src, local.set(from), dst, local.set(to)],
      this.#extent(count),
      [local.get(stride), i32.const(1), i32.eq],
      control.if(
        [
          forLoop(
            i,
            i32.const(0),
            local.get(this.#vecEnd),
            i32.const(16),
            addAt(v128.load, v128.store, t.vector.add),
          ),
          forLoop(
            i,
            local.get(i),
            local.get(this.#end),
            i32.const(t.bytes),
            addAt(t.scalar.load, t.scalar.store, t.scalar.add),
          ),
        ],
        [
          [local.get(stride), i32.const(t.bytes), i32.mul, local.set(step)],
          forLoop(i, i32.const(0), local.get(this.#end), i32.const(t.bytes), [
            [local.get(to), local.get(to), t.scalar.load()],
            [local.get(from), local.get(i), i32.add, t.scalar.load(), t.scalar.add],
            t.scalar.store(),
            addTo(to, local.get(step)),
          ]),
        ],
      ),
    ];
  }
}

/**
 * `swapBlocks(src, dst, rows, cols, blockBytes)`: `src` is a rows × cols grid of blocks of
 * `blockBytes` each (row-major), `dst` receives the cols × rows grid: block (j, i) of `dst`
 * is block (i, j) of `src`. The convolution uses it to turn GEMM's (filter, example, pixel)
 * output into the (example, filter, pixel) layout of a tensor, and back for `dout`.
 */
function emitSwapBlocks(mod: ModuleBuilder): void {
  const f = mod.func(
    "swapBlocks",
    { src: "i32", dst: "i32", rows: "i32", cols: "i32", blockBytes: "i32" },
    [],
    true,
  );
  const { src, dst, rows, cols, blockBytes } = f.params;
  const i = f.local("i32"), j = f.local("i32"), from = f.local("i32");
  f.emit(
    [local.get(src), local.set(from)],
    forLoop(i, i32.const(0), local.get(rows), i32.const(1), [
      forLoop(j, i32.const(0), local.get(cols), i32.const(1), [
        // dst + (j·rows + i)·blockBytes ← from; from += blockBytes
        [local.get(dst), local.get(j), local.get(rows), i32.mul, local.get(i), i32.add],
        [local.get(blockBytes), i32.mul, i32.add],
        [local.get(from), local.get(blockBytes), bulk.copy],
        addTo(from, local.get(blockBytes)),
      ]),
    ]),
  );
}

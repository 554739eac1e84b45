/**
 * Emits the block kernels of spatial batchnorm (`channel_blocks.ts`) for float32 storage:
 * block moments, normalization, and the two backward passes, each over a run of whole
 * blocks of `inner` contiguous elements.
 *
 * They reproduce the JavaScript block loops bit for bit. Those compute in float64 (JS
 * numbers) with four running sums `s0…s3` over elements `k…k+3`, add a scalar tail into
 * `s0` and return `(s0 + s1) + (s2 + s3)`; they round to float32 only on store. Here every
 * group of four float32 elements is two float64 pairs (`v128.load64_zero` then
 * `f64x2.promote_low_f32x4`, both exact), the pair `(s0, s1)` and the pair `(s2, s3)` are
 * two f64x2 accumulators, and every formula keeps the JavaScript operation order in f64
 * (WebAssembly never fuses a multiply and an add), so each lane does exactly what the
 * JavaScript does for its element.
 *
 * Per-channel constants come from a table of float64 rows of {@link NORM_TABLE_STRIDE}
 * entries, one row per channel; the block after the last channel's is channel 0's again.
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
  local,
  type ModuleBuilder,
  v128,
} from "./builder.ts";

/** Entries (float64) per channel row of a constants table. */
export const NORM_TABLE_STRIDE = 8;

/** Where each constant sits in a channel's row, for the normalize kernels. */
export const NORMALIZE_SLOTS = { shift: 0, scale: 1, gamma: 2, beta: 3 } as const;

/** Where each constant sits in a channel's row, for the backward kernels. */
export const BACKWARD_SLOTS = { mean: 0, invStd: 1, coef: 2, sumDout: 3, sumDoutXHat: 4 } as const;

/**
 * Emits (all addresses in bytes; `blocks` blocks of `inner` float32 elements, one after
 * the other; `c0` the channel of the first block; per-block results are float64):
 * - `f32_blockMoments(x, blocks, inner, sums, m2)`: `sums[b] = Σ x`,
 *   `m2[b] = Σ (x − sums[b]/inner)²`.
 * - `f32_normalizeBlocks(x, blocks, inner, c0, channels, table, out)` and
 *   `f32_normalizeBlocksKeep(x, blocks, inner, c0, channels, table, out, xHat)`:
 *   `xHat = (x − shift)·scale`, `out = gamma·xHat + beta` ({@link NORMALIZE_SLOTS}).
 * - `f32_gradientSums(dout, xHat, blocks, inner, c0, channels, table, sumDout,
 *   sumDoutXHat)` and `f32_gradientSumsFromInput(dout, x, …)`: per block `Σ dout` and
 *   `Σ dout·xHat`, with `xHat = (x − mean)·invStd` in the second ({@link BACKWARD_SLOTS}).
 * - `f32_normBackward(dout, xHat, blocks, inner, c0, channels, table, dx, count)` and
 *   `f32_normBackwardFromInput(dout, x, …)`:
 *   `dx = coef·(count·dout − sumDout − xHat·sumDoutXHat)`.
 */
export function emitNormKernels(mod: ModuleBuilder): void {
  emitMoments(mod);
  for (const keep of [false, true]) emitNormalize(mod, keep);
  for (const fromInput of [false, true]) {
    emitGradientSums(mod, fromInput);
    emitBackward(mod, fromInput);
  }
}

/** The float64 arithmetic of one step: on a pair of lanes, or on a scalar (the tail). */
function arith(vector: boolean) {
  return vector
    ? { add: f64x2.add, sub: f64x2.sub, mul: f64x2.mul }
    : { add: f64.add, sub: f64.sub, mul: f64.mul };
}

/** Two float32 elements (or one) at `ptr + i + offset`, widened to float64. */
function load(vector: boolean, ptr: number, i: number, offset: number): Code {
  const at = [local.get(ptr), local.get(i), i32.add];
  return vector
    ? [at, v128.load64_zero(offset), f64x2.promote_low_f32x4]
    : [at, f32.load(offset), f64.promote_f32];
}

/** Rounds `value` (two float64 lanes, or one scalar) to float32 at `ptr + i + offset`. */
function store(vector: boolean, ptr: number, i: number, offset: number, value: Code): Code {
  const at = [local.get(ptr), local.get(i), i32.add];
  return vector
    ? [at, value, f32x4.demote_f64x2_zero, v128.store64_lane(0, offset)]
    : [at, value, f32.demote_f64, f32.store(offset)];
}

/** A float64 value held both as a scalar and splatted to two lanes. */
class Value {
  readonly scalar: number;
  readonly pair: number;

  constructor(f: FunctionBuilder) {
    this.scalar = f.local("f64");
    this.pair = f.local("v128");
  }

  get(vector: boolean): Code {
    return local.get(vector ? this.pair : this.scalar);
  }

  /** Pops a scalar into both forms. */
  set(value: Code): Code {
    return [value, local.tee(this.scalar), f64x2.splat, local.set(this.pair)];
  }

  /** Stores `value` in the form `vector` says and leaves it on the stack. */
  tee(vector: boolean, value: Code): Code {
    return [value, local.tee(vector ? this.pair : this.scalar)];
  }
}

/**
 * The four running sums of the JavaScript loops: `s0, s1` in the lanes of one f64x2,
 * `s2, s3` in another, and `s0` moved to a scalar for the tail.
 */
class Sums {
  readonly low: number;
  readonly high: number;
  readonly s0: number;

  constructor(f: FunctionBuilder) {
    this.low = f.local("v128");
    this.high = f.local("v128");
    this.s0 = f.local("f64");
  }

  reset(): Code {
    return [v128.zero(), local.set(this.low), v128.zero(), local.set(this.high)];
  }

  /** Adds `value` to the pair of half `half` (0: s0, s1; 1: s2, s3), or to s0 in the tail. */
  add(vector: boolean, half: number, value: Code): Code {
    if (!vector) return [local.get(this.s0), value, f64.add, local.set(this.s0)];
    const pair = half === 0 ? this.low : this.high;
    return [local.get(pair), value, f64x2.add, local.set(pair)];
  }

  /** Between the vector loop and the tail: the tail goes on adding into s0. */
  toTail(): Code {
    return [local.get(this.low), f64x2.extract_lane(0), local.set(this.s0)];
  }

  /** Pushes `(s0 + s1) + (s2 + s3)`. */
  total(): Code {
    return [
      [local.get(this.s0), local.get(this.low), f64x2.extract_lane(1), f64.add],
      [local.get(this.high), f64x2.extract_lane(0), local.get(this.high), f64x2.extract_lane(1)],
      [f64.add, f64.add],
    ];
  }
}

/** What a kernel's per-block code can use. */
interface BlockContext {
  /** Byte offset of the current element within the block. */
  i: number;
  /** Byte offset of the block's float64 result slot (8 · block index). */
  slot: number;
  /** Byte address of the block's channel row in the constants table (if any). */
  row: number;
  /**
   * The loop over the block's elements: `step(true, offset, half)` for elements
   * `offset/4, offset/4 + 1` of each group of four (twice per group), then `toTail`, then
   * `step(false, 0, 0)` for each element past the last whole group.
   */
  elements(step: (vector: boolean, offset: number, half: number) => Code, toTail?: Code): Code;
}

/**
 * The loop over `blocks` blocks: runs `body` for each, then moves every pointer of
 * `pointers` on by a block and the channel row on by one (wrapping after `channels`).
 */
function forBlocks(
  f: FunctionBuilder,
  blocks: number,
  inner: number,
  pointers: number[],
  channel: { c0: number; channels: number; table: number } | null,
  body: (ctx: BlockContext) => Code,
): Code {
  const b = f.local("i32"), i = f.local("i32"), slot = f.local("i32");
  const innerBytes = f.local("i32"), end4 = f.local("i32");
  const c = f.local("i32"), row = f.local("i32");
  const rowBytes = NORM_TABLE_STRIDE * 8;
  const ctx: BlockContext = {
    i,
    slot,
    row,
    elements: (step, toTail = []) => [
      forLoop(i, i32.const(0), local.get(end4), i32.const(16), [
        step(true, 0, 0),
        step(true, 8, 1),
      ]),
      toTail,
      forLoop(i, local.get(i), local.get(innerBytes), i32.const(4), step(false, 0, 0)),
    ],
  };
  return [
    [local.get(inner), i32.const(4), i32.mul, local.tee(innerBytes)],
    [i32.const(~15), i32.and, local.set(end4)],
    [i32.const(0), local.set(slot)],
    channel === null ? [] : [
      [local.get(channel.c0), local.set(c)],
      [local.get(channel.table), local.get(c), i32.const(rowBytes), i32.mul, i32.add],
      local.set(row),
    ],
    forLoop(b, i32.const(0), local.get(blocks), i32.const(1), [
      body(ctx),
      pointers.map((p) => [local.get(p), local.get(innerBytes), i32.add, local.set(p)]),
      [local.get(slot), i32.const(8), i32.add, local.set(slot)],
      channel === null ? [] : [
        [local.get(c), i32.const(1), i32.add, local.tee(c)],
        [local.get(row), i32.const(rowBytes), i32.add, local.set(row)],
        [local.get(channel.channels), i32.eq],
        control.if([i32.const(0), local.set(c), local.get(channel.table), local.set(row)]),
      ],
    ]),
  ];
}

/** Loads entry `slot` of the current channel row into `value`. */
function loadConstant(ctx: BlockContext, value: Value, slot: number): Code {
  return value.set([local.get(ctx.row), f64.load(slot * 8)]);
}

function emitMoments(mod: ModuleBuilder): void {
  const f = mod.func(
    "f32_blockMoments",
    { x: "i32", blocks: "i32", inner: "i32", sums: "i32", m2: "i32" },
    [],
    true,
  );
  const { x, blocks, inner, sums, m2 } = f.params;
  const acc = new Sums(f), mean = new Value(f), deviation = new Value(f);
  const sum = f.local("f64");
  f.emit(forBlocks(f, blocks, inner, [x], null, (ctx) => [
    acc.reset(),
    ctx.elements(
      (vector, offset, half) => acc.add(vector, half, load(vector, x, ctx.i, offset)),
      acc.toTail(),
    ),
    [acc.total(), local.set(sum)],
    [local.get(sums), local.get(ctx.slot), i32.add, local.get(sum), f64.store()],
    mean.set([local.get(sum), local.get(inner), f64.convert_i32_s, f64.div]),
    acc.reset(),
    ctx.elements((vector, offset, half) => {
      const op = arith(vector);
      const d = deviation.tee(vector, [load(vector, x, ctx.i, offset), mean.get(vector), op.sub]);
      return acc.add(vector, half, [d, deviation.get(vector), op.mul]);
    }, acc.toTail()),
    [local.get(m2), local.get(ctx.slot), i32.add, acc.total(), f64.store()],
  ]));
}

function emitNormalize(mod: ModuleBuilder, keep: boolean): void {
  const f = mod.func(
    keep ? "f32_normalizeBlocksKeep" : "f32_normalizeBlocks",
    {
      x: "i32",
      blocks: "i32",
      inner: "i32",
      c0: "i32",
      channels: "i32",
      table: "i32",
      out: "i32",
      xHat: "i32",
    },
    [],
    true,
  );
  const { x, blocks, inner, c0, channels, table, out, xHat } = f.params;
  const [shift, scale, gamma, beta, h] = Array.from({ length: 5 }, () => new Value(f));
  const pointers = keep ? [x, out, xHat] : [x, out];
  f.emit(forBlocks(f, blocks, inner, pointers, { c0, channels, table }, (ctx) => [
    loadConstant(ctx, shift, NORMALIZE_SLOTS.shift),
    loadConstant(ctx, scale, NORMALIZE_SLOTS.scale),
    loadConstant(ctx, gamma, NORMALIZE_SLOTS.gamma),
    loadConstant(ctx, beta, NORMALIZE_SLOTS.beta),
    ctx.elements((vector, offset) => {
      const op = arith(vector);
      const normalized = [
        load(vector, x, ctx.i, offset),
        shift.get(vector),
        op.sub,
        scale.get(vector),
        op.mul,
      ];
      // out uses the unrounded xHat, as in the JavaScript.
      return keep
        ? [
          store(vector, xHat, ctx.i, offset, h.tee(vector, normalized)),
          store(vector, out, ctx.i, offset, [
            gamma.get(vector),
            h.get(vector),
            op.mul,
            beta.get(vector),
            op.add,
          ]),
        ]
        : store(vector, out, ctx.i, offset, [
          gamma.get(vector),
          normalized,
          op.mul,
          beta.get(vector),
          op.add,
        ]);
    }),
  ]));
}

/** `xHat` of the element at `offset`: loaded, or `(x − mean)·invStd` from the input. */
function normalizedInput(
  vector: boolean,
  values: number,
  i: number,
  offset: number,
  fromInput: { mean: Value; invStd: Value } | null,
): Code {
  const v = load(vector, values, i, offset);
  if (fromInput === null) return v;
  const op = arith(vector);
  return [v, fromInput.mean.get(vector), op.sub, fromInput.invStd.get(vector), op.mul];
}

function emitGradientSums(mod: ModuleBuilder, fromInput: boolean): void {
  const f = mod.func(
    fromInput ? "f32_gradientSumsFromInput" : "f32_gradientSums",
    {
      dout: "i32",
      values: "i32",
      blocks: "i32",
      inner: "i32",
      c0: "i32",
      channels: "i32",
      table: "i32",
      sumDout: "i32",
      sumDoutXHat: "i32",
    },
    [],
    true,
  );
  const { dout, values, blocks, inner, c0, channels, table, sumDout, sumDoutXHat } = f.params;
  const d = new Sums(f), g = new Sums(f), a = new Value(f);
  const source = fromInput ? { mean: new Value(f), invStd: new Value(f) } : null;
  f.emit(forBlocks(f, blocks, inner, [dout, values], { c0, channels, table }, (ctx) => [
    source === null ? [] : [
      loadConstant(ctx, source.mean, BACKWARD_SLOTS.mean),
      loadConstant(ctx, source.invStd, BACKWARD_SLOTS.invStd),
    ],
    d.reset(),
    g.reset(),
    ctx.elements((vector, offset, half) => [
      d.add(vector, half, a.tee(vector, load(vector, dout, ctx.i, offset))),
      g.add(vector, half, [
        a.get(vector),
        normalizedInput(vector, values, ctx.i, offset, source),
        arith(vector).mul,
      ]),
    ], [d.toTail(), g.toTail()]),
    [local.get(sumDout), local.get(ctx.slot), i32.add, d.total(), f64.store()],
    [local.get(sumDoutXHat), local.get(ctx.slot), i32.add, g.total(), f64.store()],
  ]));
}

function emitBackward(mod: ModuleBuilder, fromInput: boolean): void {
  const f = mod.func(
    fromInput ? "f32_normBackwardFromInput" : "f32_normBackward",
    {
      dout: "i32",
      values: "i32",
      blocks: "i32",
      inner: "i32",
      c0: "i32",
      channels: "i32",
      table: "i32",
      dx: "i32",
      count: "f64",
    },
    [],
    true,
  );
  const { dout, values, blocks, inner, c0, channels, table, dx, count } = f.params;
  const [coef, sumDout, sumDoutXHat, n] = Array.from({ length: 4 }, () => new Value(f));
  const source = fromInput ? { mean: new Value(f), invStd: new Value(f) } : null;
  f.emit(
    n.set(local.get(count)),
    forBlocks(f, blocks, inner, [dout, values, dx], { c0, channels, table }, (ctx) => [
      source === null ? [] : [
        loadConstant(ctx, source.mean, BACKWARD_SLOTS.mean),
        loadConstant(ctx, source.invStd, BACKWARD_SLOTS.invStd),
      ],
      loadConstant(ctx, coef, BACKWARD_SLOTS.coef),
      loadConstant(ctx, sumDout, BACKWARD_SLOTS.sumDout),
      loadConstant(ctx, sumDoutXHat, BACKWARD_SLOTS.sumDoutXHat),
      ctx.elements((vector, offset) => {
        const op = arith(vector);
        return store(vector, dx, ctx.i, offset, [
          coef.get(vector),
          [n.get(vector), load(vector, dout, ctx.i, offset), op.mul, sumDout.get(vector), op.sub],
          [normalizedInput(vector, values, ctx.i, offset, source), sumDoutXHat.get(vector), op.mul],
          [op.sub, op.mul],
        ]);
      }),
    ]),
  );
}

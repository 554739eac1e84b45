/**
 * Instances of the WebAssembly SIMD GEMM: a compiled kernel module plus the linear memory
 * it works in, with a small allocator, typed-array views and the cache-blocking loop.
 *
 * Each thread needs its own instance (a WebAssembly instance cannot be shared between
 * workers), so creating one is a function, {@link createGemmInstance}; the calling thread
 * gets a lazily created default one from {@link defaultGemmInstance}. An instance reuses
 * its packing scratch and operand space across calls: the memory only grows, because
 * fresh large allocations cost page faults on first touch.
 *
 * Two levels of API:
 * - {@link GemmInstance.gemm} takes ordinary typed arrays and copies them in and out with
 *   bulk `TypedArray.set` (memcpy speed).
 * - {@link GemmInstance.alloc}, {@link GemmInstance.view} and
 *   {@link GemmInstance.gemmInPlace} let a caller keep operands in WebAssembly memory
 *   (e.g. write im2col columns straight into it) and skip the copies.
 * - {@link GemmInstance.pack} and {@link GemmInstance.gemmPacked} split a product into
 *   its packing passes and the micro-kernel loop, for callers whose products are small
 *   and many (the Winograd convolution's K is the channel count, 32–64): an operand used
 *   by many products is packed once, and an operand a kernel can write in the packed
 *   layout directly is not packed at all.
 *
 * @module
 */

import { type DType, dtypeOf, type FloatArray } from "../../storage.ts";
import { checkGemmArgs, scaleC } from "../_gemm_args.ts";
import { wasmFeatures } from "./features.ts";
import { buildGemmModule, GEMM_BLOCKING } from "./gemm_module.ts";

/** Options of {@link createGemmInstance}. */
export interface GemmInstanceOptions {
  /**
   * The memory to work in. Default: a new private memory. Pass a shared memory
   * (`new WebAssembly.Memory({ initial, maximum, shared: true })`) to let other threads
   * see the operands. One instance owns all allocation in a memory; others on the same
   * memory (one per thread) must be `guest`s.
   */
  memory?: WebAssembly.Memory;
  /**
   * Create a guest instance: it allocates nothing in `memory` (its owner does) and must
   * be given packing scratch with `useScratch` before it multiplies. Default false.
   */
  guest?: boolean;
  /**
   * Use `relaxed_madd` (fused multiply-add). Default: whenever the engine supports relaxed
   * SIMD. `false` selects the `mul` + `add` kernel (for tests and benchmarks).
   */
  relaxed?: boolean;
}

/** What a GEMM kernel is, for logs and benchmarks. */
export interface GemmKernelInfo {
  /** `"wasm"` or `"js"`. */
  name: "wasm" | "js";
  /** Whether the kernel uses 128-bit SIMD. */
  simd: boolean;
  /** Whether it uses relaxed SIMD's fused multiply-add. */
  relaxed: boolean;
  /** A one-line human-readable description (tile shapes, instructions). */
  description: string;
}

/** Target size of a column block of op(B) copied in by `GemmInstance.gemm`. */
const COPY_BLOCK_BYTES = 1 << 21;
/**
 * The narrowest such block: every block repacks A, which costs little only when a block
 * has a few hundred columns of work to amortise it over.
 */
const MIN_COPY_COLUMNS = 256;

/** The WebAssembly page size in bytes. */
const PAGE = 65536;
/** Allocations are aligned to a SIMD vector. */
const ALIGN = 16;

/** `pack(src, lineStride, stepStride, lines, depth, dst)`, see `buildGemmModule`. */
type PackFn = (
  src: number,
  lineStride: number,
  stepStride: number,
  lines: number,
  depth: number,
  dst: number,
) => void;

/** One dtype's exported kernels (all addresses and strides in bytes). */
interface KernelExports {
  packA: PackFn;
  packB: PackFn;
  macro: (
    mc: number,
    nc: number,
    kc: number,
    packedA: number,
    packedB: number,
    c: number,
    ldc: number,
    alpha: number,
    beta: number,
    edgeTile: number,
  ) => void;
}

// Emitting and compiling take a few milliseconds: once per variant and thread.
const modules = new Map<string, WebAssembly.Module>();

function compiledModule(relaxed: boolean, sharedMemory: boolean): WebAssembly.Module {
  const key = `${relaxed}/${sharedMemory}`;
  let mod = modules.get(key);
  if (!mod) {
    mod = new WebAssembly.Module(buildGemmModule({ relaxed, sharedMemory }));
    modules.set(key, mod);
  }
  return mod;
}

function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
}

function bytesOf(dtype: DType): number {
  return dtype === "float32" ? 4 : 8;
}

/**
 * A GEMM kernel instance bound to one WebAssembly memory. Create with
 * {@link createGemmInstance}.
 */
export class GemmInstance {
  /** The linear memory operands live in. Its `buffer` changes when it grows. */
  readonly memory: WebAssembly.Memory;
  /** Which kernel this is. */
  readonly info: GemmKernelInfo;
  private readonly kernels: Record<DType, KernelExports>;
  /** Packing scratch, sized for the larger dtype (see {@link gemmScratchBytes}). */
  private packedA = -1;
  private packedB = -1;
  private edgeTile = -1;
  /** Whether this instance allocates in its memory (false: a guest, see the constructor). */
  private readonly owner: boolean;
  /** End of the own scratch: allocations start here. */
  private readonly scratchEnd: number;
  /** First free byte: everything below is scratch or allocated. */
  private top: number;

  /**
   * Use {@link createGemmInstance}. A *guest* instance (`owner = false`) works in a memory
   * that another instance allocates in — several threads' instances on one shared memory:
   * it allocates nothing and is given its packing scratch with
   * {@link GemmInstance.useScratch}.
   */
  constructor(memory: WebAssembly.Memory, relaxed: boolean, owner = true) {
    this.memory = memory;
    this.owner = owner;
    const instance = new WebAssembly.Instance(compiledModule(relaxed, isSharedMemory(memory)), {
      env: { memory },
    });
    const e = instance.exports as Record<string, KernelExports[keyof KernelExports]>;
    const kernels = (prefix: string): KernelExports => ({
      packA: e[`${prefix}packA`] as KernelExports["packA"],
      packB: e[`${prefix}packB`] as KernelExports["packB"],
      macro: e[`${prefix}macro`] as KernelExports["macro"],
    });
    this.kernels = { float32: kernels("f32_"), float64: kernels("f64_") };
    const f32 = GEMM_BLOCKING.float32, f64 = GEMM_BLOCKING.float64;
    this.info = {
      name: "wasm",
      simd: true,
      relaxed,
      description: `WebAssembly SIMD: f32x4 ${f32.MR}×${f32.NR} and f64x2 ${f64.MR}×${f64.NR} ` +
        `register tiles, ${relaxed ? "relaxed_madd (fused)" : "mul + add"}, packing in WASM`,
    };
    this.top = 0;
    if (owner) this.useScratch(this.allocBytes(gemmScratchBytes()));
    this.scratchEnd = this.top;
  }

  /**
   * Points this instance's packing scratch at the {@link gemmScratchBytes} bytes starting
   * at byte `offset` (16-byte aligned) of its memory. Owners get theirs when created;
   * guests must be given one before multiplying, and no two threads may share one.
   */
  useScratch(offset: number): void {
    const end = offset + gemmScratchBytes();
    if (!Number.isInteger(offset) || offset < 0 || offset % ALIGN !== 0) {
      throw new Error(
        `GemmInstance.useScratch: offset must be a non-negative multiple of ${ALIGN}, got ${offset}`,
      );
    }
    if (end > this.memory.buffer.byteLength) {
      throw new Error(
        `GemmInstance.useScratch: the scratch [${offset}, ${end}) lies beyond the memory ` +
          `(${this.memory.buffer.byteLength} bytes)`,
      );
    }
    const [a, b] = scratchLayout();
    this.packedA = offset;
    this.packedB = offset + a;
    this.edgeTile = offset + a + b;
  }

  /**
   * Reserves `count` elements of `dtype` (16-byte aligned) and returns their byte offset.
   * Growing the memory invalidates earlier views (their buffer is detached or too
   * short): call {@link GemmInstance.view} again after allocating.
   */
  alloc(dtype: DType, count: number): number {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new Error(`GemmInstance.alloc: count must be a non-negative integer, got ${count}`);
    }
    return this.allocBytes(count * bytesOf(dtype));
  }

  /** Bump allocation of `bytes` (rounded up to 16), growing the memory if needed. */
  private allocBytes(bytes: number): number {
    if (!this.owner) {
      throw new Error(
        "GemmInstance.alloc: this is a guest instance; allocate with the memory's owner",
      );
    }
    const offset = this.top;
    const end = offset + Math.ceil(bytes / ALIGN) * ALIGN;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw new Error(
          `GemmInstance.alloc: cannot grow WebAssembly memory to ${end} bytes ` +
            `(now ${have}): ${(e as Error).message}`,
        );
      }
    }
    this.top = end;
    return offset;
  }

  /** The current allocation mark, to pass to {@link GemmInstance.release} later. */
  mark(): number {
    return this.top;
  }

  /**
   * Frees every allocation made after `mark` was taken (a stack discipline). The memory
   * itself is kept, so the next allocations reuse it without page faults.
   */
  release(mark: number): void {
    if (!Number.isInteger(mark) || mark < this.scratchEnd || mark > this.top) {
      throw new Error(
        `GemmInstance.release: mark must come from mark() (between ${this.scratchEnd} and ` +
          `${this.top}), got ${mark}`,
      );
    }
    this.top = mark;
  }

  /** A typed-array view of `count` elements of `dtype` at byte `offset` of the memory. */
  view(dtype: DType, offset: number, count: number): FloatArray {
    return dtype === "float32"
      ? new Float32Array(this.memory.buffer, offset, count)
      : new Float64Array(this.memory.buffer, offset, count);
  }

  /**
   * `C = alpha · op(A) · op(B) + beta · C` on operands already in this instance's memory:
   * `aOffset`, `bOffset`, `cOffset` are byte offsets (e.g. from {@link GemmInstance.alloc})
   * of row-major matrices of `dtype` with leading dimensions `lda`, `ldb`, `ldc` in
   * elements. Same contract as `gemm` otherwise (C is not read when beta = 0).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createGemmInstance } from "./gemm_instance.ts";
   * const inst = createGemmInstance();
   * const a = inst.alloc("float32", 4), c = inst.alloc("float32", 4);
   * inst.view("float32", a, 4).set([1, 2, 3, 4]); // [[1, 2], [3, 4]]
   * inst.gemmInPlace("float32", false, true, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2); // a · aᵀ
   * assert.deepEqual([...inst.view("float32", c, 4)], [5, 11, 11, 25]);
   * ```
   */
  gemmInPlace(
    dtype: DType,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    aOffset: number,
    lda: number,
    bOffset: number,
    ldb: number,
    beta: number,
    cOffset: number,
    ldc: number,
  ): void {
    checkInPlaceArgs(
      "GemmInstance.gemmInPlace",
      this.memory,
      dtype,
      transA,
      transB,
      M,
      N,
      K,
      alpha,
      aOffset,
      lda,
      bOffset,
      ldb,
      cOffset,
      ldc,
    );
    const skipAB = alpha === 0 || K === 0;
    if (M === 0 || N === 0) return;
    this.run(
      dtype,
      transA,
      transB,
      M,
      N,
      skipAB ? 0 : K,
      alpha,
      aOffset,
      lda,
      bOffset,
      ldb,
      beta,
      cOffset,
      ldc,
    );
  }

  /**
   * Bytes of a packed block of `lines` rows of op(A) (`operand = "A"`, panels of MR) or
   * columns of op(B) (`"B"`, panels of NR), `depth` steps deep, as {@link GemmInstance.pack}
   * writes it and {@link GemmInstance.gemmPacked} reads it: whole panels, the last one
   * possibly partial.
   */
  packedBytes(dtype: DType, operand: "A" | "B", lines: number, depth: number): number {
    const { MR, NR } = GEMM_BLOCKING[dtype];
    const width = operand === "A" ? MR : NR;
    return Math.ceil(lines / width) * width * depth * bytesOf(dtype);
  }

  /**
   * Packs a block of op(A) (`operand = "A"`: `lines` rows of op(A), `depth` = K columns)
   * or of op(B) (`"B"`: `lines` columns of op(B), `depth` = K rows) at byte `src` of this
   * memory (row-major, leading dimension `ld` elements, transposed when `trans`) into
   * micro-panels at byte `dst`, the layout the micro-kernel reads: panel q holds
   * (line q·w + r, step p) at element `q·w·depth + p·w + r`, w = MR for A and NR for B
   * (`GEMM_BLOCKING`). A partial last panel repeats its last line. A caller may also
   * write this layout itself (the Winograd input transform does) and skip this pass.
   */
  pack(
    dtype: DType,
    operand: "A" | "B",
    trans: boolean,
    lines: number,
    depth: number,
    src: number,
    ld: number,
    dst: number,
  ): void {
    const fn = "GemmInstance.pack";
    if (dtype !== "float32" && dtype !== "float64") {
      throw new Error(`${fn}: dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
    }
    const bytes = bytesOf(dtype);
    checkCount(fn, "lines", lines);
    checkCount(fn, "depth", depth);
    if (lines === 0 || depth === 0) return;
    // Rows of A / columns of Bᵀ are contiguous along the depth; columns of B / rows of
    // Aᵀ are contiguous across lines.
    const alongDepth = (operand === "A") !== trans;
    const [lineStride, stepStride] = alongDepth ? [ld * bytes, bytes] : [bytes, ld * bytes];
    const minLd = alongDepth ? depth : lines;
    if (!Number.isInteger(ld) || ld < minLd) {
      throw new Error(`${fn}: ld must be an integer ≥ ${minLd}, got ${ld}`);
    }
    const span = ((lines - 1) * lineStride + (depth - 1) * stepStride) + bytes;
    checkRange(fn, this.memory, "src", src, span, bytes);
    checkRange(fn, this.memory, "dst", dst, this.packedBytes(dtype, operand, lines, depth), bytes);
    const kernel = this.kernels[dtype];
    (operand === "A" ? kernel.packA : kernel.packB)(src, lineStride, stepStride, lines, depth, dst);
  }

  /**
   * `C = alpha · A · B + beta · C` (M×N, leading dimension `ldc` elements, at byte
   * `cOffset`) from operands already packed by {@link GemmInstance.pack} (or written in
   * its layout): `packedA` holds M rows and `packedB` N columns, both K deep. This is the
   * micro-kernel loop alone: a caller that multiplies one operand by many others, or
   * produces an operand in the packed layout, packs each once. C is not read when
   * beta = 0. With K ≤ `GEMM_BLOCKING[dtype].KC` (one depth slice, which is also what
   * keeps a micro-panel in L1) each element of C gets the arithmetic of
   * {@link GemmInstance.gemmInPlace}; deeper products are summed in one run instead of
   * KC-deep slices.
   *
   * Tiles of C that are cut by its bottom or right border go through scratch and a
   * scalar store; a caller with room for the whole tiles in C (and finite values in the
   * packed lines past M and N) may round M up to a multiple of MR and N to one of NR.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createGemmInstance } from "./gemm_instance.ts";
   * const inst = createGemmInstance();
   * const a = inst.alloc("float32", 4), c = inst.alloc("float32", 4);
   * inst.view("float32", a, 4).set([1, 2, 3, 4]); // [[1, 2], [3, 4]]
   * const pa = inst.alloc("float32", inst.packedBytes("float32", "A", 2, 2) / 4);
   * const pb = inst.alloc("float32", inst.packedBytes("float32", "B", 2, 2) / 4);
   * inst.pack("float32", "A", false, 2, 2, a, 2, pa);
   * inst.pack("float32", "B", false, 2, 2, a, 2, pb);
   * inst.gemmPacked("float32", 2, 2, 2, 1, pa, pb, 0, c, 2); // a · a
   * assert.deepEqual([...inst.view("float32", c, 4)], [7, 10, 15, 22]);
   * ```
   */
  gemmPacked(
    dtype: DType,
    M: number,
    N: number,
    K: number,
    alpha: number,
    packedA: number,
    packedB: number,
    beta: number,
    cOffset: number,
    ldc: number,
  ): void {
    const fn = "GemmInstance.gemmPacked";
    if (dtype !== "float32" && dtype !== "float64") {
      throw new Error(`${fn}: dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
    }
    const bytes = bytesOf(dtype);
    checkCount(fn, "M", M);
    checkCount(fn, "N", N);
    checkCount(fn, "K", K);
    if (!Number.isInteger(ldc) || ldc < Math.max(1, N)) {
      throw new Error(`${fn}: ldc must be an integer ≥ max(1, N) = ${Math.max(1, N)}, got ${ldc}`);
    }
    if (M === 0 || N === 0) return;
    if (alpha !== 0 && K !== 0) {
      checkRange(fn, this.memory, "packedA", packedA, this.packedBytes(dtype, "A", M, K), bytes);
      checkRange(fn, this.memory, "packedB", packedB, this.packedBytes(dtype, "B", N, K), bytes);
    }
    checkRange(fn, this.memory, "c", cOffset, ((M - 1) * ldc + N) * bytes, bytes);
    if (this.packedA < 0) {
      throw new Error("GemmInstance: a guest instance needs useScratch() before multiplying");
    }
    this.kernels[dtype].macro(
      M,
      N,
      alpha === 0 ? 0 : K,
      packedA,
      packedB,
      cOffset,
      ldc * bytes,
      alpha,
      beta,
      this.edgeTile,
    );
  }

  /**
   * The blocking loop (the three outer loops of BLIS): for each NC-wide column block of
   * C, each KC-deep slice of K packs op(B) once, then each MC-tall row block packs op(A)
   * and runs the macro-kernel. The first K slice applies `beta`; later ones accumulate.
   * With K = 0 the macro-kernel still runs (with no depth steps) to scale C by beta.
   */
  private run(
    dtype: DType,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    beta: number,
    c: number,
    ldc: number,
  ): void {
    if (this.packedA < 0) {
      throw new Error("GemmInstance: a guest instance needs useScratch() before multiplying");
    }
    const { MC, KC, NC } = GEMM_BLOCKING[dtype];
    const kernel = this.kernels[dtype];
    const bytes = bytesOf(dtype);
    // Byte strides of op(A) along its rows (i) and along K (p), and of op(B) along its
    // columns (j) and along K: transposition is just a swap of strides.
    const aRow = (transA ? 1 : lda) * bytes, aDepth = (transA ? lda : 1) * bytes;
    const bCol = (transB ? ldb : 1) * bytes, bDepth = (transB ? 1 : ldb) * bytes;
    // Equal K slices (a multiple of 4, the unroll factor) rather than KC + a short rest:
    // a short last slice would pay the tile load/store overhead for little work.
    const slices = Math.max(1, Math.ceil(K / KC));
    const kcStep = Math.min(KC, Math.ceil(K / slices / 4) * 4) || 1;
    for (let jc = 0; jc < N; jc += NC) {
      const nc = Math.min(NC, N - jc);
      for (let pc = 0; pc === 0 || pc < K; pc += kcStep) {
        const kc = Math.min(kcStep, K - pc);
        if (kc > 0) kernel.packB(b + jc * bCol + pc * bDepth, bCol, bDepth, nc, kc, this.packedB);
        for (let ic = 0; ic < M; ic += MC) {
          const mc = Math.min(MC, M - ic);
          if (kc > 0) kernel.packA(a + ic * aRow + pc * aDepth, aRow, aDepth, mc, kc, this.packedA);
          kernel.macro(
            mc,
            nc,
            kc,
            this.packedA,
            this.packedB,
            c + (ic * ldc + jc) * bytes,
            ldc * bytes,
            alpha,
            pc === 0 ? beta : 1,
            this.edgeTile,
          );
        }
      }
    }
  }

  /**
   * `C = alpha · op(A) · op(B) + beta · C` on ordinary typed arrays, all of one dtype:
   * copies the operands into this instance's memory (bulk copies, one per row when a
   * leading dimension leaves gaps), multiplies, and copies C back. Same contract as
   * `gemm`. The operand space is reused by later calls. The arrays must not be views of
   * this instance's memory (growing it would detach them): use
   * {@link GemmInstance.gemmInPlace} for operands that already live there.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createGemmInstance } from "./gemm_instance.ts";
   * const inst = createGemmInstance();
   * const a = new Float64Array([1, 2, 3, 4]); // [[1, 2], [3, 4]]
   * const c = new Float64Array(4);
   * inst.gemm(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2); // c = a · a
   * assert.deepEqual([...c], [7, 10, 15, 22]);
   * ```
   */
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: FloatArray,
    lda: number,
    B: FloatArray,
    ldb: number,
    beta: number,
    C: FloatArray,
    ldc: number,
  ): void {
    const fn = "GemmInstance.gemm";
    checkGemmArgs(fn, transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    const dtype = dtypeOf(C);
    if (dtypeOf(A) !== dtype || dtypeOf(B) !== dtype) {
      throw new Error(
        `${fn}: A, B and C must share one dtype, got ${dtypeOf(A)}, ${dtypeOf(B)}, ${dtype}`,
      );
    }
    if (M === 0 || N === 0) return;
    if (alpha === 0 || K === 0) {
      // Nothing to multiply: scaling C in place beats copying it through WASM memory.
      scaleC(M, N, beta, C, ldc);
      return;
    }
    const mark = this.top;
    try {
      const a = this.copyIn(dtype, A, transA ? K : M, transA ? M : K, lda);
      // B and C come in one column block at a time, a block of op(B) of about 2 MiB (at
      // least 256 columns, at most the kernel's NC): its copy is still in cache when GEMM
      // packs it, instead of a whole-matrix copy making a round trip through main memory,
      // which two threads share. Measured on the 64×288×25088 im2col product: one thread
      // 19.4 → 19.0 ms, two threads 11.5 → 9.9 ms. (1 MiB blocks cost one thread more in
      // per-row copy calls; 4 MiB ones lost on two threads.) The arithmetic of each
      // element of C is unchanged.
      const { NC, NR } = GEMM_BLOCKING[dtype];
      const fitting = Math.floor(COPY_BLOCK_BYTES / bytesOf(dtype) / K / NR) * NR;
      const width = Math.min(N, NC, Math.max(MIN_COPY_COLUMNS, fitting));
      const bBlock = this.alloc(dtype, K * width), cBlock = this.alloc(dtype, M * width);
      for (let j0 = 0; j0 < N; j0 += width) {
        const nc = Math.min(width, N - j0);
        // Columns j0… of op(B): columns of B, or rows of B when it is transposed.
        if (transB) this.copyInto(dtype, B.subarray(j0 * ldb), nc, K, ldb, bBlock);
        else this.copyInto(dtype, B.subarray(j0), K, nc, ldb, bBlock);
        if (beta !== 0) this.copyInto(dtype, C.subarray(j0), M, nc, ldc, cBlock);
        const ldbBlock = transB ? K : nc;
        this.run(
          dtype,
          transA,
          transB,
          M,
          nc,
          K,
          alpha,
          a,
          transA ? M : K,
          bBlock,
          ldbBlock,
          beta,
          cBlock,
          nc,
        );
        const result = this.view(dtype, cBlock, M * nc);
        if (ldc === nc && j0 === 0) C.set(result);
        else {
          for (let i = 0; i < M; i++) {
            C.set(result.subarray(i * nc, (i + 1) * nc), i * ldc + j0);
          }
        }
      }
    } finally {
      this.release(mark);
    }
  }

  /** Copies a rows×cols matrix into fresh space, packed densely (ld = cols). */
  private copyIn(dtype: DType, src: FloatArray, rows: number, cols: number, ld: number): number {
    const offset = this.alloc(dtype, rows * cols);
    this.copyInto(dtype, src, rows, cols, ld, offset);
    return offset;
  }

  /** Copies a rows×cols matrix to byte `offset`, packed densely (ld = cols). */
  private copyInto(
    dtype: DType,
    src: FloatArray,
    rows: number,
    cols: number,
    ld: number,
    offset: number,
  ): void {
    const dst = this.view(dtype, offset, rows * cols);
    if (ld === cols) dst.set(src.subarray(0, rows * cols));
    else for (let i = 0; i < rows; i++) dst.set(src.subarray(i * ld, i * ld + cols), i * cols);
  }
}

/**
 * Bytes of the three packing buffers [packed A, packed B, edge tile], each sized for the
 * larger of the two dtypes and rounded up to 16 bytes. Panel counts round up: a partial
 * last panel still occupies a whole one.
 */
function scratchLayout(): [number, number, number] {
  const f32 = GEMM_BLOCKING.float32, f64 = GEMM_BLOCKING.float64;
  const bytes = (elements: (b: typeof f32) => number) =>
    Math.ceil(Math.max(elements(f32) * 4, elements(f64) * 8) / ALIGN) * ALIGN;
  return [
    bytes((b) => Math.ceil(b.MC / b.MR) * b.MR * b.KC),
    bytes((b) => Math.ceil(b.NC / b.NR) * b.NR * b.KC),
    bytes((b) => b.MR * b.NR),
  ];
}

/**
 * The packing scratch one GEMM instance needs, in bytes (about 6.6 MB: mostly the packed
 * block of B). Owners of a memory reserve this much for each guest instance.
 */
export function gemmScratchBytes(): number {
  const [a, b, tile] = scratchLayout();
  return a + b + tile;
}

/**
 * Checks the arguments of an in-place GEMM on `memory` (see `GemmInstance.gemmInPlace`):
 * a known dtype, sizes and leading dimensions as in `gemm`, and byte offsets aligned to
 * the dtype whose matrices lie inside the memory. Throws an Error naming `fn`.
 */
export function checkInPlaceArgs(
  fn: string,
  memory: WebAssembly.Memory,
  dtype: DType,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  aOffset: number,
  lda: number,
  bOffset: number,
  ldb: number,
  cOffset: number,
  ldc: number,
): void {
  if (dtype !== "float32" && dtype !== "float64") {
    throw new Error(`${fn}: dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
  }
  const bytes = bytesOf(dtype);
  // Sizes and leading dimensions as in gemm; then the byte ranges must lie in memory.
  const spans = checkGemmArgs(fn, transA, transB, M, N, K, ANY, lda, ANY, ldb, ANY, ldc);
  const inMemory = (name: string, offset: number, span: number) => {
    const limit = memory.buffer.byteLength;
    if (!Number.isInteger(offset) || offset < 0 || offset % bytes !== 0) {
      throw new Error(
        `${fn}: ${name}Offset must be a non-negative multiple of ${bytes}, got ${offset}`,
      );
    }
    if (offset + span * bytes > limit) {
      throw new Error(
        `${fn}: ${name} spans bytes [${offset}, ${offset + span * bytes}) but the memory ` +
          `has ${limit}`,
      );
    }
  };
  // BLAS semantics: with alpha = 0 or K = 0, A and B are not read.
  if (alpha !== 0 && K !== 0) {
    inMemory("a", aOffset, spans.a);
    inMemory("b", bOffset, spans.b);
  }
  inMemory("c", cOffset, spans.c);
}

function checkCount(fn: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${fn}: ${name} must be a non-negative integer, got ${value}`);
  }
}

/** Checks that `span` bytes at byte `offset` (aligned to `align`) lie inside `memory`. */
function checkRange(
  fn: string,
  memory: WebAssembly.Memory,
  name: string,
  offset: number,
  span: number,
  align: number,
): void {
  if (!Number.isInteger(offset) || offset < 0 || offset % align !== 0) {
    throw new Error(`${fn}: ${name} must be a non-negative multiple of ${align}, got ${offset}`);
  }
  const limit = memory.buffer.byteLength;
  if (offset + span > limit) {
    throw new Error(
      `${fn}: ${name} spans bytes [${offset}, ${offset + span}) but the memory has ${limit}`,
    );
  }
}

/** An operand length that passes any length check (the in-place API checks bytes). */
const ANY = { length: Infinity };

/**
 * Creates a GEMM instance: compiles the kernel module (once per thread and variant) and
 * instantiates it on `options.memory` or a new private memory.
 * Throws when the engine lacks WebAssembly SIMD, or relaxed SIMD if `relaxed: true`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createGemmInstance } from "./gemm_instance.ts";
 * const inst = createGemmInstance({ relaxed: false });
 * assert.equal(inst.info.relaxed, false);
 * ```
 */
export function createGemmInstance(options: GemmInstanceOptions = {}): GemmInstance {
  const features = wasmFeatures();
  if (!features.simd) {
    throw new Error("createGemmInstance: this engine does not support WebAssembly SIMD");
  }
  const relaxed = options.relaxed ?? features.relaxedSimd;
  if (relaxed && !features.relaxedSimd) {
    throw new Error(
      "createGemmInstance: relaxed = true but this engine does not support relaxed SIMD",
    );
  }
  if (options.guest && !options.memory) {
    throw new Error("createGemmInstance: a guest instance needs the owner's `memory`");
  }
  const memory = options.memory ?? new WebAssembly.Memory({ initial: 1 });
  return new GemmInstance(memory, relaxed, !options.guest);
}

let defaultInstance: GemmInstance | undefined;

/**
 * This thread's default instance (created on first use, with the default options).
 * Throws like {@link createGemmInstance} when WebAssembly SIMD is unavailable.
 */
export function defaultGemmInstance(): GemmInstance {
  defaultInstance ??= createGemmInstance();
  return defaultInstance;
}

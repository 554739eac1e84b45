/**
 * The WebAssembly kernels besides GEMM (im2col/col2im, Winograd transforms, max pooling,
 * ReLU, Adam, spatial batchnorm's blocks), instantiated on
 * the memory of the thread's GEMM instance. Sharing that memory is the point: the
 * convolution builds its im2col matrix where GEMM then reads it, and every operand is
 * allocated with the GEMM instance's `alloc`/`mark`/`release`.
 *
 * Like the GEMM instance, this is per thread (each pool worker makes its own on first use).
 *
 * @module
 */

import { type DType, dtypeOf, type FloatArray } from "../../storage.ts";
import { ModuleBuilder } from "./builder.ts";
import {
  buildDirectConvModule,
  type DirectConvExports,
  type DirectConvShape,
} from "./conv_direct_module.ts";
import { emitElementwiseKernels } from "./elementwise_module.ts";
import { wasmFeatures } from "./features.ts";
import { defaultGemmInstance, type GemmInstance } from "./gemm_instance.ts";
import { emitIm2colKernels } from "./im2col_module.ts";
import { emitNormKernels } from "./norm_module.ts";
import { emitOptimKernels } from "./optim_module.ts";
import { emitPoolKernels } from "./pool_module.ts";
import { emitWinogradKernels } from "./winograd_module.ts";

/** The exported functions of the auxiliary module (addresses in bytes). */
export interface LayerKernelExports {
  /** float32 im2col, see `im2col_module.ts`. */
  f32_im2col: WindowWalk;
  /** float64 im2col. */
  f64_im2col: WindowWalk;
  /** float32 col2im (accumulates into its first argument). */
  f32_col2im: WindowWalk;
  /** float64 col2im. */
  f64_col2im: WindowWalk;
  /** Transposes a rows × cols grid of `blockBytes`-byte blocks, see `im2col_module.ts`. */
  swapBlocks(src: number, dst: number, rows: number, cols: number, blockBytes: number): void;
  /** F(2×2, 3×3) input transform, see `winograd_module.ts`. */
  wino2_input: WinogradInput;
  /** F(4×4, 3×3) input transform. */
  wino4_input: WinogradInput;
  /**
   * F(2×2, 3×3) input transform into the GEMM's packed B panels (`ld` = bytes per
   * panel), see `winograd_module.ts`.
   */
  wino2_inputPanels: WinogradInput;
  /** F(4×4, 3×3) input transform into packed B panels. */
  wino4_inputPanels: WinogradInput;
  /** F(2×2, 3×3) transform of output-gradient tiles, see `winograd_module.ts`. */
  wino2_dout: WinogradInput;
  /** F(4×4, 3×3) transform of output-gradient tiles. */
  wino4_dout: WinogradInput;
  /** F(2×2, 3×3) output transform, see `winograd_module.ts`. */
  wino2_output: WinogradOutput;
  /** F(4×4, 3×3) output transform. */
  wino4_output: WinogradOutput;
  /** Strided copy of 2-d planes (pads and crops), see `winograd_module.ts`. */
  copyPlanes(
    src: number,
    dst: number,
    planes: number,
    rows: number,
    rowBytes: number,
    srcRowBytes: number,
    srcPlaneBytes: number,
    dstRowBytes: number,
    dstPlaneBytes: number,
  ): void;
  /** float32 2×2 max pooling forward, see `pool_module.ts`. */
  f32_maxPool2x2: PoolKernel;
  /** float64 2×2 max pooling forward. */
  f64_maxPool2x2: PoolKernel;
  /** float32 2×2 max pooling backward: `(dout, argmax, dx, planes, outH, outW)`. */
  f32_maxPool2x2Back: PoolKernel;
  /** float64 2×2 max pooling backward. */
  f64_maxPool2x2Back: PoolKernel;
  /** float32 ReLU `dst = max(src, 0)`, see `elementwise_module.ts`. */
  f32_relu(src: number, dst: number, n: number): void;
  /** float64 ReLU. */
  f64_relu(src: number, dst: number, n: number): void;
  /** float32 ReLU backward `dx = dout · (x > 0)`. */
  f32_reluMask(dout: number, x: number, dx: number, n: number): void;
  /** float64 ReLU backward. */
  f64_reluMask(dout: number, x: number, dx: number, n: number): void;
  /** Adam on float32 storage (float64 arithmetic), see `optim_module.ts`. */
  f32_adam: AdamKernel;
  /** Adam on float64 storage. */
  f64_adam: AdamKernel;
  /** Per-block sum and squared deviations of float32 blocks, see `norm_module.ts`. */
  f32_blockMoments(x: number, blocks: number, inner: number, sums: number, m2: number): void;
  /** Per-block normalization `out = gamma·(x − shift)·scale + beta`, see `norm_module.ts`. */
  f32_normalizeBlocks: NormalizeKernel;
  /** {@link LayerKernelExports.f32_normalizeBlocks} that also stores `xHat`. */
  f32_normalizeBlocksKeep: NormalizeKernel;
  /** Per-block `Σ dout` and `Σ dout·xHat` from a stored `xHat`, see `norm_module.ts`. */
  f32_gradientSums: GradientSumsKernel;
  /** Per-block `Σ dout` and `Σ dout·xHat` with `xHat` recomputed from the input. */
  f32_gradientSumsFromInput: GradientSumsKernel;
  /** Batchnorm's `dx` from a stored `xHat`, see `norm_module.ts`. */
  f32_normBackward: NormBackwardKernel;
  /** Batchnorm's `dx` with `xHat` recomputed from the input. */
  f32_normBackwardFromInput: NormBackwardKernel;
}

/** `(x, blocks, inner, c0, channels, table, out, xHat)`, see `norm_module.ts`. */
export type NormalizeKernel = (
  x: number,
  blocks: number,
  inner: number,
  c0: number,
  channels: number,
  table: number,
  out: number,
  xHat: number,
) => void;

/**
 * `(dout, values, blocks, inner, c0, channels, table, sumDout, sumDoutXHat)`, see
 * `norm_module.ts`.
 */
export type GradientSumsKernel = (
  dout: number,
  values: number,
  blocks: number,
  inner: number,
  c0: number,
  channels: number,
  table: number,
  sumDout: number,
  sumDoutXHat: number,
) => void;

/** `(dout, values, blocks, inner, c0, channels, table, dx, count)`, see `norm_module.ts`. */
export type NormBackwardKernel = (
  dout: number,
  values: number,
  blocks: number,
  inner: number,
  c0: number,
  channels: number,
  table: number,
  dx: number,
  count: number,
) => void;

/** The Adam update in WebAssembly, see `optim_module.ts`. */
export type AdamKernel = (
  w: number,
  dw: number,
  m: number,
  v: number,
  n: number,
  learningRate: number,
  beta1: number,
  beta2: number,
  oneMinusBeta1: number,
  oneMinusBeta2: number,
  inverse1: number,
  inverse2: number,
  epsilon: number,
) => void;

/** `im2col` / `col2im` in WebAssembly, see `im2col_module.ts`. */
export type WindowWalk = (
  x: number,
  cols: number,
  bounds: number,
  examples: number,
  channels: number,
  c0: number,
  c1: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  stride: number,
  outH: number,
  outW: number,
) => void;

/** A Winograd tile transform (input or output gradient), see `winograd_module.ts`. */
export type WinogradInput = (
  src: number,
  dst: number,
  examples: number,
  channels: number,
  Hp: number,
  Wp: number,
  th: number,
  tw: number,
  ld: number,
  xiStride: number,
) => void;

/** A Winograd output transform, see `winograd_module.ts`. */
export type WinogradOutput = (
  src: number,
  dst: number,
  bias: number,
  filters: number,
  examples: number,
  th: number,
  tw: number,
  ld: number,
  xiStride: number,
) => void;

/** `maxPool2x2(x, out, argmax, planes, outH, outW)` and its backward, see `pool_module.ts`. */
export type PoolKernel = (
  a: number,
  b: number,
  c: number,
  planes: number,
  outH: number,
  outW: number,
) => void;

/**
 * The auxiliary kernels bound to one GEMM instance's memory. Get the thread's own with
 * {@link layerKernels}.
 */
export class LayerKernels {
  /** The GEMM instance whose memory and allocator the kernels use. */
  readonly gemm: GemmInstance;
  /** The raw exports. */
  readonly exports: LayerKernelExports;

  /** Instantiates the auxiliary module on `gemm`'s memory. */
  constructor(gemm: GemmInstance) {
    this.gemm = gemm;
    const instance = new WebAssembly.Instance(compiledModule(isShared(gemm.memory)), {
      env: { memory: gemm.memory },
    });
    this.exports = instance.exports as unknown as LayerKernelExports;
  }

  /**
   * The direct convolution kernels for one window shape (see `conv_direct_module.ts`), on
   * the same memory, fused multiply-adds exactly when the GEMM instance uses them. Made on
   * first use, then cached per shape.
   */
  directConv(shape: DirectConvShape): DirectConvExports {
    const key = directConvKey(shape);
    let kernels = this.#directConv.get(key);
    if (kernels === undefined) {
      const relaxed = this.gemm.info.relaxed;
      const sharedMemory = isShared(this.gemm.memory);
      const moduleKey = `${key}/${relaxed}/${sharedMemory}`;
      let mod = directConvModules.get(moduleKey);
      if (mod === undefined) {
        mod = new WebAssembly.Module(buildDirectConvModule(shape, { relaxed, sharedMemory }));
        directConvModules.set(moduleKey, mod);
      }
      const instance = new WebAssembly.Instance(mod, { env: { memory: this.gemm.memory } });
      kernels = instance.exports as unknown as DirectConvExports;
      this.#directConv.set(key, kernels);
    }
    return kernels;
  }

  #directConv = new Map<string, DirectConvExports>();

  /** A view of `count` elements of `dtype` at byte `offset` (re-take after allocating). */
  view(dtype: DType, offset: number, count: number): FloatArray {
    return this.gemm.view(dtype, offset, count);
  }

  /** Reserves `count` elements of `dtype` in the memory and returns the byte offset. */
  alloc(dtype: DType, count: number): number {
    return this.gemm.alloc(dtype, count);
  }

  /**
   * Copies `src` into freshly allocated space (one bulk copy) and returns its offset.
   * Allocating may grow the memory, so take views only afterwards.
   */
  copyIn(src: FloatArray): number {
    const offset = this.gemm.alloc(dtypeOf(src), src.length);
    this.view(dtypeOf(src), offset, src.length).set(src);
    return offset;
  }
}

const modules = new Map<boolean, WebAssembly.Module>();
/** Direct convolution modules, by shape, fused or not, and shared memory or not. */
const directConvModules = new Map<string, WebAssembly.Module>();

function directConvKey(s: DirectConvShape): string {
  return [s.channels, s.height, s.width, s.kernelH, s.kernelW, s.pad, s.outH, s.outW].join(",");
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
}

function compiledModule(sharedMemory: boolean): WebAssembly.Module {
  let mod = modules.get(sharedMemory);
  if (!mod) {
    const builder = new ModuleBuilder();
    builder.importMemory(
      "env",
      "memory",
      sharedMemory ? { initial: 1, maximum: 65536, shared: true } : { initial: 1 },
    );
    emitIm2colKernels(builder);
    emitWinogradKernels(builder);
    emitPoolKernels(builder);
    emitElementwiseKernels(builder);
    emitOptimKernels(builder);
    emitNormKernels(builder);
    mod = new WebAssembly.Module(builder.toBytes());
    modules.set(sharedMemory, mod);
  }
  return mod;
}

const byInstance = new WeakMap<GemmInstance, LayerKernels>();

/**
 * The auxiliary kernels on the memory of `gemm` (default: this thread's default GEMM
 * instance, created on first use), or null when the engine lacks WebAssembly SIMD (callers
 * then use their JavaScript loops). One set per GEMM instance, made on first use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerKernels } from "./layer_kernels.ts";
 * const k = layerKernels();
 * if (k !== null) {
 *   const mark = k.gemm.mark();
 *   const at = k.copyIn(new Float32Array([-1, 2, -3, 4, 5]));
 *   k.exports.f32_relu(at, at, 5);
 *   assert.deepEqual([...k.view("float32", at, 5)], [0, 2, 0, 4, 5]);
 *   k.gemm.release(mark);
 * }
 * ```
 */
export function layerKernels(gemm?: GemmInstance): LayerKernels | null {
  // Without SIMD there is nothing to build; with it, a failure is a bug and must surface.
  if (!wasmFeatures().simd) return null;
  const instance = gemm ?? defaultGemmInstance();
  let kernels = byInstance.get(instance);
  if (kernels === undefined) {
    kernels = new LayerKernels(instance);
    byInstance.set(instance, kernels);
  }
  return kernels;
}

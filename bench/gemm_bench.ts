/**
 * GEMM throughput: float32 and float64 at 256³, 512³, 1024³ and at the im2col shape of a
 * 3×3×32→64 convolution over a batch (M=64, K=288, N=25088). In the same run: the default
 * kernel (`gemm`, WebAssembly SIMD when available), WebAssembly without fused
 * multiply-add, WebAssembly on operands already in its memory (no copies), the JavaScript
 * kernel, and the naive loop. For float32 512³ and the im2col shape, thread scaling in
 * interleaved rounds: one thread (plain arrays, shared arrays, in place) against two
 * (`gemmParallel` on shared arrays, `gemmParallelInPlace`); goal: two threads ≥ 1.8× the
 * fastest one-thread call. The notes at the end say which kernel `gemm` ran.
 * Run: deno task bench
 */
import { gemm, gemmKernelInfo, gemmReference } from "../lib/kernels/gemm.ts";
import { gemmJs } from "../lib/kernels/gemm_js.ts";
import { gemmParallel } from "../lib/kernels/gemm_parallel.ts";
import { gemmParallelInPlace, sharedGemmInstance } from "../lib/kernels/gemm_parallel_in_place.ts";
import { setNumThreads } from "../lib/parallel/worker_pool.ts";
import { wasmFeatures } from "../lib/kernels/wasm/features.ts";
import { createGemmInstance, defaultGemmInstance } from "../lib/kernels/wasm/gemm_instance.ts";
import { Rng } from "../lib/rng.ts";
import { note, pairedRounds, ratio, reportRounds, timed } from "./_report.ts";

type Shape = { name: string; M: number; N: number; K: number };
const shapes: Shape[] = [
  { name: "256³", M: 256, N: 256, K: 256 },
  { name: "512³", M: 512, N: 512, K: 512 },
  { name: "1024³", M: 1024, N: 1024, K: 1024 },
  { name: "im2col 64×288×25088", M: 64, N: 25088, K: 288 },
];

const rng = new Rng(0);
function filled(n: number, f32: boolean): Float32Array | Float64Array {
  const a = f32 ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

const features = wasmFeatures();
const info = gemmKernelInfo();
note(`gemm kernel: ${info.name} — ${info.description}`);
note(
  `WebAssembly features: simd=${features.simd}, relaxed_madd=${features.relaxedSimd}` +
    "; JS kernel: 4×4 register tile over packed float64 panels (lib/kernels/gemm_js.ts)",
);
const mulAdd = features.simd ? createGemmInstance({ relaxed: false }) : undefined;
const inPlace = info.name === "wasm" ? defaultGemmInstance() : undefined;

for (const dtype of ["float32", "float64"] as const) {
  const f32 = dtype === "float32";
  const short = f32 ? "f32" : "f64";
  for (const { name, M, N, K } of shapes) {
    const A = filled(M * K, f32), B = filled(K * N, f32), C = filled(M * N, f32);
    const gflop = (2 * M * N * K) / 1e9;
    const group = `${dtype} ${name}`;
    const label = (kernel: string) => `${short} ${name} ${kernel}`;

    const main = label(info.name);
    Deno.bench(`gemm (${info.name}) ${group}`, { group, baseline: true }, () => {
      timed(main, "GFLOP/s", gflop, () => gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N));
    });

    if (mulAdd && info.relaxed) {
      const l = label("wasm mul+add");
      Deno.bench(`wasm mul+add ${group}`, { group }, () => {
        timed(
          l,
          "GFLOP/s",
          gflop,
          () => mulAdd.gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N),
        );
      });
      ratio(`fused vs mul+add, ${short} ${name}`, main, l);
    }

    if (inPlace) {
      // Operands resident in WebAssembly memory: the copies in and out are skipped.
      const l = label("wasm in place");
      Deno.bench(`wasm in place ${group}`, { group }, () => {
        const mark = inPlace.mark();
        const a = inPlace.alloc(dtype, M * K), b = inPlace.alloc(dtype, K * N);
        const c = inPlace.alloc(dtype, M * N);
        inPlace.view(dtype, a, M * K).set(A);
        inPlace.view(dtype, b, K * N).set(B);
        timed(l, "GFLOP/s", gflop, () => {
          inPlace.gemmInPlace(dtype, false, false, M, N, K, 1, a, K, b, N, 0, c, N);
        });
        inPlace.release(mark);
      });
    }

    // The JS kernel at 1024³ would take most of the bench's time budget; it is flat in
    // size anyway (packed panels), so 256³, 512³ and im2col show it.
    if (M !== 1024) {
      const l = label("js");
      Deno.bench(`js ${group}`, { group }, () => {
        timed(l, "GFLOP/s", gflop, () => gemmJs(false, false, M, N, K, 1, A, K, B, N, 0, C, N));
      });
      if (info.name === "wasm") ratio(`wasm vs js, ${short} ${name}`, main, l);
    }

    if (f32 && (M === 512 || M === 64)) {
      // Thread scaling, measured in interleaved rounds (see pairedRounds): one thread on
      // plain memory (the fastest one-thread call on ordinary arrays), one thread and two
      // threads on shared memory (as tensors are by default), and one and two threads on
      // operands resident in the shared WebAssembly memory (no copies at all).
      const shared = (a: Float32Array | Float64Array) => {
        const copy = new Float32Array(new SharedArrayBuffer(4 * a.length));
        copy.set(a);
        return copy;
      };
      const [sA, sB, sC] = [shared(A), shared(B), shared(C)];
      Deno.bench(
        `thread scaling, interleaved ${group}`,
        // Its own group: the figures are in the rounds report, not in Deno's per-call table.
        { group: `${group}, 1 vs 2 threads`, n: 1, warmup: 0 },
        async () => {
          await setNumThreads(2);
          const arena = sharedGemmInstance();
          const mark = arena.mark();
          const a = arena.alloc(dtype, M * K), b = arena.alloc(dtype, K * N);
          const c = arena.alloc(dtype, M * N);
          arena.view(dtype, a, M * K).set(A);
          arena.view(dtype, b, K * N).set(B);
          const times = await pairedRounds({
            "1 thread, plain": () => gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N),
            "1 thread, shared": () => gemm(false, false, M, N, K, 1, sA, K, sB, N, 0, sC, N),
            "2 threads, shared (gemmParallel)": () =>
              gemmParallel(false, false, M, N, K, 1, sA, K, sB, N, 0, sC, N),
            "1 thread, in place": () =>
              arena.gemmInPlace(dtype, false, false, M, N, K, 1, a, K, b, N, 0, c, N),
            "2 threads, in place (gemmParallelInPlace)": () =>
              gemmParallelInPlace(dtype, false, false, M, N, K, 1, a, K, b, N, 0, c, N),
          }, M === 512 ? 100 : 40);
          arena.release(mark);
          reportRounds(`${short} ${name}, 1 vs 2 threads`, times, "GFLOP/s", gflop, [
            [
              "2 threads in place vs 1 thread plain (goal ≥ 1.8)",
              "2 threads, in place (gemmParallelInPlace)",
              "1 thread, plain",
            ],
            [
              "2 threads vs 1, both in place",
              "2 threads, in place (gemmParallelInPlace)",
              "1 thread, in place",
            ],
            [
              "2 threads vs 1, both on shared arrays",
              "2 threads, shared (gemmParallel)",
              "1 thread, shared",
            ],
            [
              "2 threads on shared arrays vs 1 thread plain",
              "2 threads, shared (gemmParallel)",
              "1 thread, plain",
            ],
          ]);
        },
      );
    }

    if (M === 256) {
      const naive = label("naive loop");
      Deno.bench(`naive loop ${group}`, { group }, () => {
        timed(
          naive,
          "GFLOP/s",
          gflop,
          () => gemmReference(false, false, M, N, K, 1, A, K, B, N, 0, C, N),
        );
      });
      ratio(`gemm vs naive loop, ${short} ${name}`, main, naive);
    }
  }
}

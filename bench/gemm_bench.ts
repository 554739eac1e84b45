/**
 * GEMM throughput: float32 and float64 at 256³, 512³, 1024³ and at the im2col shape of a
 * 3×3×32→64 convolution over a batch (M=64, K=288, N=25088), against the naive loop.
 * Run: deno task bench
 */
import { gemm, gemmReference } from "../lib/kernels/gemm.ts";
import { Rng } from "../lib/rng.ts";
import { note, ratio, timed } from "./_report.ts";

type Shape = { name: string; M: number; N: number; K: number };
const shapes: Shape[] = [
  { name: "256³", M: 256, N: 256, K: 256 },
  { name: "512³", M: 512, N: 512, K: 512 },
  { name: "1024³", M: 1024, N: 1024, K: 1024 },
  { name: "im2col M=64 K=288 N=25088", M: 64, N: 25088, K: 288 },
];

const rng = new Rng(0);
function filled(n: number, f32: boolean): Float32Array | Float64Array {
  const a = f32 ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

note("kernel: JavaScript 4×4 register tile over packed panels (lib/kernels/gemm.ts)");
for (const dtype of ["float32", "float64"] as const) {
  const f32 = dtype === "float32";
  for (const { name, M, N, K } of shapes) {
    const A = filled(M * K, f32), B = filled(K * N, f32), C = filled(M * N, f32);
    const gflop = (2 * M * N * K) / 1e9;
    const label = `gemm ${dtype} ${name}`;
    Deno.bench(label, { group: `${dtype} ${name}`, baseline: true }, () => {
      timed(label, "GFLOP/s", gflop, () => gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N));
    });
    if (M === 256) {
      const naive = `naive loop ${dtype} ${name}`;
      Deno.bench(naive, { group: `${dtype} ${name}` }, () => {
        timed(
          naive,
          "GFLOP/s",
          gflop,
          () => gemmReference(false, false, M, N, K, 1, A, K, B, N, 0, C, N),
        );
      });
      ratio(`packed GEMM vs naive loop, ${dtype} ${name}`, label, naive);
    }
  }
}

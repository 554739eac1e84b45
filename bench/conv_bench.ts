/**
 * Convolution and max pooling: the fast layers against the naive loops, and the
 * convolution's GFLOP/s against the GEMM kernel's own rate on the very products the
 * convolution computes (same shapes, same number of calls). The gap between the two is
 * what im2col, col2im and the other data movement cost.
 *
 * Shapes (float32 and float64):
 * - W1  x(100,3,31,31)  w(25,3,3,3)  stride 2 pad 1 (also naive)
 * - W2b x(128,32,14,14) w(64,32,3,3) stride 1 pad 1
 * - W3  x(64,64,32,32)  w(64,64,3,3) stride 1 pad 1
 * - max pool 2×2 stride 2 on x(128,32,28,28) (fast and naive)
 * - the first layers of our two networks, float32, on 1 and 2 threads: the direct kernels
 *   (`kernels/conv_direct.ts`) against im2col + GEMM, forward and weight gradient (no dx):
 *   conv 7×7×32 pad 3 on x(50,1,28,28) and conv 3×3×32 pad 1 on x(128,1,28,28)
 *
 * Everything runs on one thread; the float32 W2b and W3 convolutions and the float32 max
 * pool run again on two (the worker pool), with the speed-up reported. The "fast" rows use
 * the algorithm the library picks (`convAlgorithmFor`: Winograd for float32 W2b and W3);
 * for float32 W2b and W3 the "im2col" and "winograd" rows force each algorithm, and the
 * Winograd ÷ im2col speed ratio is measured in the same run (GFLOP/s count the direct
 * method's multiply-adds, so Winograd's figures are effective rates). Reference figures
 * of other systems measured on the same machine are printed as notes.
 *
 * Run: deno task bench (or deno bench --allow-read=. bench/conv_bench.ts)
 */
import { gemm, gemmKernelInfo } from "../lib/kernels/gemm.ts";
import { convBackwardNaive, convForwardNaive, convGeometry } from "../lib/layers/conv.ts";
import {
  type ConvAlgorithm,
  convAlgorithmFor,
  convBackwardBatch,
  convChunkCount,
  convChunkSize,
  convForwardBatch,
  setConvAlgorithm,
} from "../lib/kernels/conv.ts";
import { convBackwardFast, convForwardFast } from "../lib/layers/conv_fast.ts";
import {
  maxPoolBackwardFast,
  maxPoolBackwardNaive,
  maxPoolForwardFast,
  maxPoolForwardNaive,
} from "../lib/layers/pool.ts";
import { getNumThreads, getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { type DType, Tensor } from "../lib/tensor.ts";
import { note, ratio, timed } from "./_report.ts";

/**
 * A bench body that first switches the library to `threads` threads with all workers
 * loaded (only on the first call of a bench whose predecessor used another count: Deno
 * runs benches in order). It is async so that Deno awaits the switch: a pool's workers
 * load on the event loop, which a synchronous bench never yields to.
 */
function onThreads(threads: number, fn: () => void): () => Promise<void> {
  return async () => {
    const ready = getNumThreads() === threads &&
      (threads === 1 || getPool().activeThreads === threads);
    if (!ready) await setNumThreads(threads);
    fn();
  };
}

/** Calls per label left out of the derived figures: they include V8's tier-up. */
const UNTIMED_CALLS = 3;
const calls = new Map<string, number>();

/** Like `timed`, but the first {@link UNTIMED_CALLS} calls of a label only warm up. */
function measured(label: string, unit: string, work: number, fn: () => void): void {
  const n = calls.get(label) ?? 0;
  calls.set(label, n + 1);
  if (n < UNTIMED_CALLS) fn();
  else timed(label, unit, work, fn);
}

interface ConvShape {
  name: string;
  x: number[];
  w: number[];
  stride: number;
  pad: number;
  naive: boolean;
}

const shapes: ConvShape[] = [
  { name: "W1", x: [100, 3, 31, 31], w: [25, 3, 3, 3], stride: 2, pad: 1, naive: true },
  { name: "W2b", x: [128, 32, 14, 14], w: [64, 32, 3, 3], stride: 1, pad: 1, naive: false },
  { name: "W3", x: [64, 64, 32, 32], w: [64, 64, 3, 3], stride: 1, pad: 1, naive: false },
];

interface FirstLayer {
  name: string;
  x: number[];
  w: number[];
  pad: number;
}

const firstLayers: FirstLayer[] = [
  { name: "first 7×7", x: [50, 1, 28, 28], w: [32, 1, 7, 7], pad: 3 },
  { name: "first 3×3", x: [128, 1, 28, 28], w: [32, 1, 3, 3], pad: 1 },
];

const rng = new Rng(0);
note(`GEMM kernel: ${gemmKernelInfo().description}`);

for (const dtype of ["float32", "float64"] as const) {
  for (const shape of shapes) benchConv(shape, dtype, 1);
  benchPool(dtype, 1);
}
for (const shape of shapes.filter((s) => s.name !== "W1")) benchConv(shape, "float32", 2);
benchPool("float32", 2);
for (const threads of [1, 2]) {
  for (const shape of firstLayers) benchFirstLayer(shape, threads);
}

note("Reference, other systems on the same machine, float32 (median ms), 1 / 2 threads:");
note("  PyTorch (oneDNN) fwd+bwd: W2b 28 / 14, W3 144 / 73-96; max pool fwd 14.7, fwd+bwd 16.5");
note("  PyTorch 1.13 (oneDNN, AVX-512) on the Zen 5 machine, 2 threads: W2b 8.8, W3 142-146");
note("  numpy im2col + OpenBLAS fwd+bwd: W2b 61-69 / 38-54, W3 283-301 / 168-221");
note("  TF.js WebAssembly backend, forward only: W2b 34, W3 159");
note("  PyTorch (oneDNN, AVX-512), 1 thread: first 7×7 layer fwd 1.44, whole bwd 1.6");

function benchConv(shape: ConvShape, dtype: DType, threads: number): void {
  const { name, stride, pad } = shape;
  const x = Tensor.randn(shape.x, rng, dtype);
  const w = Tensor.randn(shape.w, rng, dtype).mul(0.1);
  const b = Tensor.randn([shape.w[0]], rng, dtype);
  const param = { stride, pad };
  const g = convGeometry("bench", x, w, b, param);
  const dout = Tensor.randn([g.batch, g.filters, g.outH, g.outW], rng, dtype);
  const F = g.filters, K = g.channels * g.kernelH * g.kernelW, P = g.outH * g.outW;
  // Forward: one F×K by K×P product per example; backward: two more of the same size.
  const gflop = (2 * g.batch * F * K * P) / 1e9;
  const tag = threads === 1 ? `${dtype} ${name}` : `${dtype} ${name} ${threads} threads`;
  const group = `conv ${tag}`;

  if (dtype === "float32" && shape.name !== "W1") benchAlgorithms(shape, threads, x, w, b, dout);
  const fwd = `conv fwd fast ${tag}`;
  Deno.bench(
    fwd,
    { group, baseline: true },
    onThreads(threads, () => {
      measured(fwd, "GFLOP/s", gflop, () => convForwardFast(x, w, b, param));
    }),
  );
  const fwdBwd = `conv fwd+bwd fast ${tag}`;
  Deno.bench(
    fwdBwd,
    { group },
    onThreads(threads, () => {
      measured(fwdBwd, "GFLOP/s", 3 * gflop, () => {
        const [, cache] = convForwardFast(x, w, b, param);
        convBackwardFast(dout, cache);
      });
    }),
  );
  if (threads > 1) {
    const one = `${dtype} ${name}`;
    ratio(`${one} fwd: ${threads} threads ÷ 1 thread speed`, fwd, `conv fwd fast ${one}`);
    ratio(
      `${one} fwd+bwd: ${threads} threads ÷ 1 thread speed (goal ≥ 1.8)`,
      fwdBwd,
      `conv fwd+bwd fast ${one}`,
    );
    return;
  }

  // The GEMM calls of the im2col convolution, alone: per chunk of nb examples, W·cols
  // (forward), dout·colsᵀ (dw) and Wᵀ·dout (dcols), on operands of the same sizes.
  const nb = convChunkSize(g), chunks = convChunkCount(g), cols = nb * P;
  const A = Tensor.randn([F, K], rng, dtype).data;
  const B = Tensor.randn([K, cols], rng, dtype).data;
  const C = Tensor.randn([F, cols], rng, dtype).data;
  // Separate outputs, so that the inputs keep their magnitudes from call to call.
  const dwOut = Tensor.zeros([F, K], dtype).data, dcolsOut = Tensor.zeros([K, cols], dtype).data;
  const gemmFwd = `GEMM alone at conv fwd shapes ${tag}`;
  Deno.bench(gemmFwd, { group }, () => {
    measured(gemmFwd, "GFLOP/s", gflop, () => {
      for (let c = 0; c < chunks; c++) gemm(false, false, F, cols, K, 1, A, K, B, cols, 0, C, cols);
    });
  });
  const gemmAll = `GEMM alone at conv fwd+bwd shapes ${tag}`;
  Deno.bench(gemmAll, { group }, () => {
    measured(gemmAll, "GFLOP/s", 3 * gflop, () => {
      for (let c = 0; c < chunks; c++) {
        gemm(false, false, F, cols, K, 1, A, K, B, cols, 0, C, cols);
        gemm(false, true, F, K, cols, 1, C, cols, B, cols, 0, dwOut, K);
        gemm(true, false, K, cols, F, 1, A, K, C, cols, 0, dcolsOut, cols);
      }
    });
  });
  // The im2col rows when the library picks Winograd for this shape.
  const im2col = convAlgorithmFor(g, dtype) === "winograd";
  const [fwdIm2col, fwdBwdIm2col] = im2col
    ? [`conv fwd im2col ${tag}`, `conv fwd+bwd im2col ${tag}`]
    : [fwd, fwdBwd];
  ratio(`${tag} fwd: im2col conv GFLOP/s ÷ GEMM GFLOP/s (goal ≥ 0.70)`, fwdIm2col, gemmFwd);
  ratio(
    `${tag} fwd+bwd: im2col conv GFLOP/s ÷ GEMM GFLOP/s (goal ≥ 0.70)`,
    fwdBwdIm2col,
    gemmAll,
  );

  if (shape.naive) {
    const naiveFwd = `conv fwd naive ${tag}`;
    Deno.bench(naiveFwd, { group, n: 5, warmup: 1 }, () => {
      measured(naiveFwd, "GFLOP/s", gflop, () => convForwardNaive(x, w, b, param));
    });
    const naiveFwdBwd = `conv fwd+bwd naive ${tag}`;
    Deno.bench(naiveFwdBwd, { group, n: 5, warmup: 1 }, () => {
      measured(naiveFwdBwd, "GFLOP/s", 3 * gflop, () => {
        const [, cache] = convForwardNaive(x, w, b, param);
        convBackwardNaive(dout, cache);
      });
    });
    ratio(`${tag} fwd: fast ÷ naive speed`, fwd, naiveFwd);
    ratio(`${tag} fwd+bwd: fast ÷ naive speed`, fwdBwd, naiveFwdBwd);
  }
}

function benchPool(dtype: DType, threads: number): void {
  const x = Tensor.randn([128, 32, 28, 28], rng, dtype);
  const p = { poolHeight: 2, poolWidth: 2, stride: 2 };
  const dout = Tensor.randn([128, 32, 14, 14], rng, dtype);
  const suffix = threads === 1 ? "" : `, ${threads} threads`;
  const group = `max pool ${dtype}${suffix}`;
  // Work unit: million input pixels per second.
  const mpix = x.size / 1e6;
  const labels = {
    fastFwd: `max pool 2×2 fwd fast ${dtype} x(128,32,28,28)${suffix}`,
    fastFwdBwd: `max pool 2×2 fwd+bwd fast ${dtype} x(128,32,28,28)${suffix}`,
    naiveFwd: `max pool 2×2 fwd naive ${dtype} x(128,32,28,28)`,
    naiveFwdBwd: `max pool 2×2 fwd+bwd naive ${dtype} x(128,32,28,28)`,
  };
  Deno.bench(
    labels.fastFwd,
    { group, baseline: true },
    onThreads(threads, () => {
      measured(labels.fastFwd, "Mpixel/s", mpix, () => maxPoolForwardFast(x, p));
    }),
  );
  Deno.bench(
    labels.fastFwdBwd,
    { group },
    onThreads(threads, () => {
      measured(labels.fastFwdBwd, "Mpixel/s", mpix, () => {
        const [, cache] = maxPoolForwardFast(x, p);
        maxPoolBackwardFast(dout, cache);
      });
    }),
  );
  if (threads > 1) {
    const one = `${dtype} x(128,32,28,28)`;
    ratio(
      `max pool ${dtype} fwd: ${threads} threads ÷ 1 thread speed`,
      labels.fastFwd,
      `max pool 2×2 fwd fast ${one}`,
    );
    ratio(
      `max pool ${dtype} fwd+bwd: ${threads} threads ÷ 1 thread speed`,
      labels.fastFwdBwd,
      `max pool 2×2 fwd+bwd fast ${one}`,
    );
    return;
  }
  Deno.bench(labels.naiveFwd, { group, n: 10 }, () => {
    measured(labels.naiveFwd, "Mpixel/s", mpix, () => maxPoolForwardNaive(x, p));
  });
  Deno.bench(labels.naiveFwdBwd, { group, n: 10 }, () => {
    measured(labels.naiveFwdBwd, "Mpixel/s", mpix, () => {
      const [, cache] = maxPoolForwardNaive(x, p);
      maxPoolBackwardNaive(dout, cache);
    });
  });
  ratio(`max pool ${dtype} fwd: fast ÷ naive speed`, labels.fastFwd, labels.naiveFwd);
  ratio(`max pool ${dtype} fwd+bwd: fast ÷ naive speed`, labels.fastFwdBwd, labels.naiveFwdBwd);
}

/**
 * The same convolution with each algorithm forced (`setConvAlgorithm`), fwd and fwd+bwd, and
 * the Winograd ÷ im2col speed ratios of this run.
 */
function benchAlgorithms(
  shape: ConvShape,
  threads: number,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  dout: Tensor,
): void {
  const param = { stride: shape.stride, pad: shape.pad };
  const g = convGeometry("bench", x, w, b, param);
  const gflop = (2 * g.batch * g.filters * g.channels * 9 * g.outH * g.outW) / 1e9;
  const tag = `float32 ${shape.name}${threads === 1 ? "" : ` ${threads} threads`}`;
  const group = `conv algorithms ${tag}`;
  const forced = (algorithm: ConvAlgorithm, fn: () => void) => () => {
    setConvAlgorithm(algorithm);
    try {
      fn();
    } finally {
      setConvAlgorithm("auto");
    }
  };
  const labels = (algorithm: ConvAlgorithm) =>
    [`conv fwd ${algorithm} ${tag}`, `conv fwd+bwd ${algorithm} ${tag}`] as const;
  for (const algorithm of ["im2col", "winograd"] as const) {
    const [fwd, fwdBwd] = labels(algorithm);
    Deno.bench(
      fwd,
      { group, baseline: algorithm === "im2col" },
      onThreads(threads, () => {
        measured(fwd, "GFLOP/s", gflop, forced(algorithm, () => convForwardFast(x, w, b, param)));
      }),
    );
    Deno.bench(
      fwdBwd,
      { group },
      onThreads(threads, () => {
        measured(
          fwdBwd,
          "GFLOP/s",
          3 * gflop,
          forced(algorithm, () => {
            const [, cache] = convForwardFast(x, w, b, param);
            convBackwardFast(dout, cache);
          }),
        );
      }),
    );
  }
  const [im2colFwd, im2colFwdBwd] = labels("im2col");
  const [winoFwd, winoFwdBwd] = labels("winograd");
  ratio(`${tag} fwd: Winograd ÷ im2col speed`, winoFwd, im2colFwd);
  ratio(`${tag} fwd+bwd: Winograd ÷ im2col speed`, winoFwdBwd, im2colFwdBwd);
}

/**
 * A first layer (few input channels, no dx) through the kernels' front doors with the
 * outputs allocated once, so that only the convolutions are timed: the direct kernels
 * against im2col + GEMM, each alternative forced with `setConvAlgorithm`.
 */
function benchFirstLayer(shape: FirstLayer, threads: number): void {
  const x = Tensor.randn(shape.x, rng, "float32");
  const w = Tensor.randn(shape.w, rng, "float32").mul(0.1);
  const b = Tensor.randn([shape.w[0]], rng, "float32");
  const g = convGeometry("bench", x, w, b, { stride: 1, pad: shape.pad });
  const out = new Float32Array(g.batch * g.filters * g.outH * g.outW);
  const dout = Tensor.randn([g.batch, g.filters, g.outH, g.outW], rng, "float32");
  const dw = new Float32Array(w.size), db = new Float32Array(b.size);
  const gflop = (2 * g.batch * g.filters * g.channels * g.kernelH * g.kernelW * g.outH * g.outW) /
    1e9;
  const tag = `float32 ${shape.name} x(${shape.x}) ${threads} thread${threads > 1 ? "s" : ""}`;
  const group = `conv ${tag}`;
  const label = (pass: string, mode: string) => `conv ${pass} ${mode} ${tag}`;
  for (const mode of ["direct", "im2col"] as const) {
    const run = (fn: () => void) =>
      onThreads(threads, () => {
        setConvAlgorithm(mode);
        try {
          fn();
        } finally {
          setConvAlgorithm("auto");
        }
      });
    const fwd = label("fwd", mode), grads = label("dW+db", mode);
    Deno.bench(
      fwd,
      { group, baseline: mode === "direct" },
      run(() => {
        measured(fwd, "GFLOP/s", gflop, () => convForwardBatch(x.data, w.data, b.data, g, out));
      }),
    );
    Deno.bench(
      grads,
      { group },
      run(() => {
        measured(grads, "GFLOP/s", gflop, () => {
          convBackwardBatch(dout.data, x.data, w.data, g, null, dw, db);
        });
      }),
    );
  }
  ratio(`${tag} fwd: direct ÷ im2col speed`, label("fwd", "direct"), label("fwd", "im2col"));
  ratio(
    `${tag} dW+db: direct ÷ im2col speed`,
    label("dW+db", "direct"),
    label("dW+db", "im2col"),
  );
}

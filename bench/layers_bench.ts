/**
 * Affine layer forward+backward (one thread; and on one and two threads at the shape of
 * ThreeLayerConvNet's hidden layer), ReLU forward and backward against the JavaScript loops
 * they replaced, and seconds per epoch of a 784-100-10 TwoLayerNet in float32 (one thread,
 * one Solver step with Adam, batch 100, times the 590 steps of a 59,000-image epoch).
 * Run: deno task bench
 */
import { reluJs, reluMaskJs } from "../lib/kernels/elementwise.ts";
import { affineBackward, affineForward } from "../lib/layers/affine.ts";
import { reluBackward, reluForward } from "../lib/layers/relu.ts";
import { TwoLayerNet } from "../lib/models/two_layer_net.ts";
import { getNumThreads, getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { ratio, timed } from "./_report.ts";

const rng = new Rng(0);

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

{
  // ThreeLayerConvNet's hidden layer on Fashion-MNIST: 32 pooled 14×14 maps → 100 units.
  const [N, D, M] = [50, 6272, 100];
  const x = Tensor.randn([N, D], rng, "float32");
  const w = Tensor.randn([D, M], rng, "float32").mul(0.01);
  const b = Tensor.zeros([M], "float32");
  const dout = Tensor.randn([N, M], rng, "float32");
  const gflop = (3 * 2 * N * D * M) / 1e9;
  const label = (t: number) => `affine fwd+bwd float32 (${N},${D})x(${D},${M}), ${t} thread(s)`;
  for (const threads of [1, 2]) {
    let calls = 0;
    Deno.bench(
      label(threads),
      { group: "affine CNN hidden layer", baseline: threads === 1 },
      onThreads(threads, () => {
        const run = () => {
          const [, cache] = affineForward(x, w, b);
          affineBackward(dout, cache);
        };
        if (calls++ < 3) run(); // warm-up: tier-up and first touches
        else timed(label(threads), "GFLOP/s", gflop, run);
      }),
    );
  }
  ratio("affine (50,6272)x(6272,100): 2 threads ÷ 1 thread speed", label(2), label(1));
}

{
  // ReLU on activations of random sign: the case where a branch per element mispredicts.
  const n = 50 * 32 * 28 * 28;
  const x = Tensor.randn([50, 32, 28, 28], rng, "float32");
  const dout = Tensor.randn([50, 32, 28, 28], rng, "float32");
  const out = Tensor.zeros([50, 32, 28, 28], "float32");
  const mElements = n / 1e6;
  const group = "relu float32 (50,32,28,28)";
  const cases: [string, () => void][] = [
    ["relu fwd layer (WebAssembly)", () => reluForward(x)],
    ["relu fwd JavaScript loop", () => reluJs(x.data, out.data)],
    ["relu bwd layer (WebAssembly)", () => reluBackward(dout, x)],
    ["relu bwd JavaScript loop", () => reluMaskJs(dout.data, x.data, out.data)],
  ];
  for (const [name, fn] of cases) {
    Deno.bench(`${name} ${group}`, { group }, () => timed(name, "Melem/s", mElements, fn));
  }
  ratio("relu fwd: WebAssembly ÷ JavaScript speed", cases[0][0], cases[1][0]);
  ratio("relu bwd: WebAssembly ÷ JavaScript speed", cases[2][0], cases[3][0]);
}

for (const dtype of ["float32", "float64"] as const) {
  for (const [N, D, M] of [[100, 3072, 100], [200, 784, 512]]) {
    const x = Tensor.randn([N, D], rng, dtype);
    const w = Tensor.randn([D, M], rng, dtype).mul(0.01);
    const b = Tensor.zeros([M], dtype);
    const dout = Tensor.randn([N, M], rng, dtype);
    // forward N·D·M multiply-adds, backward two more products of the same size.
    const gflop = (3 * 2 * N * D * M) / 1e9;
    const label = `affine fwd+bwd ${dtype} (${N},${D})x(${D},${M})`;
    Deno.bench(
      label,
      { group: `affine ${N}x${D}x${M}` },
      onThreads(1, () => {
        timed(label, "GFLOP/s", gflop, () => {
          const [, cache] = affineForward(x, w, b);
          affineBackward(dout, cache);
        });
      }),
    );
  }
}

{
  const numTrain = 59000, batchSize = 100;
  // Synthetic inputs: the step's cost does not depend on the pixel values, and the bench
  // then needs no data files.
  const XTrain = Tensor.randn([numTrain, 784], rng, "float32").mul(60);
  const yTrain = Int32Array.from({ length: numTrain }, () => rng.randint(10));
  const model = new TwoLayerNet({ inputDim: 784, hiddenDim: 100, dtype: "float32", rng });
  const solver = new Solver(
    model,
    { XTrain, yTrain, XVal: XTrain.sliceRows(0, 100), yVal: yTrain.subarray(0, 100) },
    {
      updateRule: "adam",
      batchSize,
      verbose: false,
      rng,
    },
  );
  const label = "TwoLayerNet 784-100-10 f32 epoch (590 Adam steps)";
  Deno.bench(
    "TwoLayerNet 784-100-10 float32, one Adam step of batch 100",
    onThreads(1, () => timed(label, "s/epoch", numTrain / batchSize, () => solver.step())),
  );
}

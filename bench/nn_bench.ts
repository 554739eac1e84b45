/**
 * The module API's overhead over the functional layers: one training step of cs231n's
 * ThreeLayerConvNet shape (conv 7×7×32 pad 3 – ReLU – 2×2 max pool – affine 100 – ReLU –
 * affine 10, float32, batch 50, Adam) through `nn.Sequential` + autograd + `optim.Adam`,
 * against the same network as `ThreeLayerConvNet` + `Solver.step()` (functional layers,
 * hand-written backward, cs231n's `adam`). Timed in interleaved rounds (see `pairedRounds`),
 * at 1 and 2 threads; goal: at most 10% slower.
 *
 * Seconds per epoch of a module-API network against PyTorch: `deno task bench:epoch`
 * (`bench/epoch.ts`).
 *
 * Inputs are synthetic (a step's cost does not depend on pixel values).
 * Run: deno bench --allow-read=. bench/nn_bench.ts
 */
import * as F from "../lib/nn/functional.ts";
import * as nn from "../lib/nn/mod.ts";
import * as optim from "../lib/nn/optim/mod.ts";
import { ThreeLayerConvNet } from "../lib/models/cnn.ts";
import { getNumThreads, getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { pairedRounds, reportRounds } from "./_report.ts";

const rng = new Rng(0);
const poolSize = 5000;
const XTrain = Tensor.randn([poolSize, 1, 28, 28], rng, "float32");
const yTrain = Int32Array.from({ length: poolSize }, () => rng.randint(10));

async function useThreads(threads: number): Promise<void> {
  const ready = getNumThreads() === threads &&
    (threads === 1 || getPool().activeThreads === threads);
  if (!ready) await setNumThreads(threads);
}

// ------------------------------------------------------------- 1. overhead per step

function solverStep(): () => void {
  const model = new ThreeLayerConvNet({
    inputDim: [1, 28, 28],
    numFilters: 32,
    filterSize: 7,
    hiddenDim: 100,
    dtype: "float32",
    rng: new Rng(1),
  });
  const solver = new Solver(
    model,
    { XTrain, yTrain, XVal: XTrain.sliceRows(0, 100), yVal: yTrain.subarray(0, 100) },
    { updateRule: "adam", optimConfig: { learningRate: 1e-3 }, batchSize: 50, verbose: false },
  );
  return () => solver.step();
}

/**
 * The module-API step. `reluAfterPool` orders the block conv – pool – ReLU, the order the
 * functional model's `convReluPoolForward` computes (the same function: ReLU is monotonic,
 * so it commutes with max pooling, and on a quarter of the values); otherwise conv – ReLU –
 * pool, as a PyTorch user would usually write it.
 */
function moduleStep(reluAfterPool: boolean): () => void {
  const block = reluAfterPool
    ? [new nn.MaxPool2d(2), new nn.ReLU()]
    : [new nn.ReLU(), new nn.MaxPool2d(2)];
  const model = new nn.Sequential(
    new nn.Conv2d(1, 32, 7, { padding: 3, rng: new Rng(1) }),
    ...block,
    new nn.Flatten(),
    new nn.Linear(32 * 14 * 14, 100, { rng: new Rng(2) }),
    new nn.ReLU(),
    new nn.Linear(100, 10, { rng: new Rng(3) }),
  );
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const batchRng = new Rng(4);
  return () => {
    // Sampled like Solver.step: 50 indices with replacement, rows copied out.
    const idx = batchRng.choice(poolSize, 50);
    const xb = XTrain.take(idx);
    const yb = Int32Array.from(idx, (i) => yTrain[i]);
    optimizer.zeroGrad();
    F.crossEntropy(model.forward(xb), yb).backward();
    optimizer.step();
  };
}

for (const threads of [1, 2]) {
  Deno.bench(
    `module API vs Solver step, ThreeLayerConvNet shape, batch 50, ${threads} thread(s)`,
    { group: `module overhead, ${threads} thread(s)`, n: 1, warmup: 0 },
    async () => {
      await useThreads(threads);
      const times = await pairedRounds(
        {
          "Solver step (functional layers)": solverStep(),
          "module API step, conv-pool-relu": moduleStep(true),
          "module API step, conv-relu-pool": moduleStep(false),
        },
        60,
        5,
      );
      reportRounds(
        `One training step, ThreeLayerConvNet 7x7x32-100-10 f32, batch 50, Adam, ${threads} thread(s)`,
        times,
        "steps/s",
        1,
        [
          [
            "module API ÷ Solver time, same op sequence (goal ≤ 1.10)",
            "Solver step (functional layers)",
            "module API step, conv-pool-relu",
          ],
          [
            "module API ÷ Solver time, ReLU before the pool",
            "Solver step (functional layers)",
            "module API step, conv-relu-pool",
          ],
        ],
      );
    },
  );
}

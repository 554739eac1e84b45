/**
 * The module API's cost, in two measurements:
 *
 * 1. **Overhead over the functional layers.** One training step of cs231n's
 *    ThreeLayerConvNet shape (conv 7×7×32 pad 3 – ReLU – 2×2 max pool – affine 100 – ReLU –
 *    affine 10, float32, batch 50, Adam) through `nn.Sequential` + autograd + `optim.Adam`,
 *    against the same network as `ThreeLayerConvNet` + `Solver.step()` (functional layers,
 *    hand-written backward, cs231n's `adam`). Timed in interleaved rounds (see
 *    `pairedRounds`), at 1 and 2 threads; goal: at most 10% slower.
 * 2. **Seconds per epoch** of the network PyTorch users write for Fashion-MNIST:
 *    conv3×3×32-BN-ReLU-pool-conv3×3×64-BN-ReLU-pool-fc128-ReLU-dropout-fc10, batch 128,
 *    Adam, at 1 and 2 threads: a step timed and multiplied by the 461 steps of a
 *    59,000-image epoch. `bench/nn_bench_torch.py` measures PyTorch on the same network.
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
import { note, pairedRounds, reportRounds, timed } from "./_report.ts";

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

// --------------------------------------------------------------- 2. seconds per epoch

const EPOCH_BATCH = 128;
const STEPS_PER_EPOCH = Math.ceil(59000 / EPOCH_BATCH);
const UNTIMED_CALLS = 3;

function bnNet(): nn.Sequential {
  const r = new Rng(5);
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1, rng: r }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1, rng: r }),
    new nn.BatchNorm2d(64),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(64 * 7 * 7, 128, { rng: r }),
    new nn.ReLU(),
    new nn.Dropout(0.5, { rng: r }),
    new nn.Linear(128, 10, { rng: r }),
  );
}

for (const threads of [1, 2]) {
  const model = bnNet();
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const batchRng = new Rng(6);
  const label = `conv-BN net epoch (${STEPS_PER_EPOCH} Adam steps of 128), ${threads} thread(s)`;
  let calls = 0;
  const step = () => {
    const start = batchRng.randint(0, poolSize - EPOCH_BATCH);
    const xb = XTrain.sliceRows(start, start + EPOCH_BATCH);
    const yb = yTrain.subarray(start, start + EPOCH_BATCH);
    optimizer.zeroGrad();
    F.crossEntropy(model.forward(xb), yb).backward();
    optimizer.step();
  };
  Deno.bench(
    `conv3x3x32-BN-pool-conv3x3x64-BN-pool-fc128-dropout-fc10, one Adam step of 128, ${threads} thread(s)`,
    { group: "conv-BN epoch", baseline: threads === 1 },
    async () => {
      await useThreads(threads);
      if (calls++ < UNTIMED_CALLS) step();
      else timed(label, "s/epoch", STEPS_PER_EPOCH, step);
    },
  );
}
note(
  "PyTorch on the same network: /usr/bin/python3 bench/nn_bench_torch.py (see the README for " +
    "the figures measured beside this bench)",
);

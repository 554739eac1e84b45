/**
 * Seconds per epoch of cs231n's ThreeLayerConvNet on Fashion-MNIST-sized inputs: conv 7×7×32
 * (pad 3) – relu – 2×2 max pool – affine 100 – relu – affine 10, float32, Adam, batch 50.
 * One Solver step is timed and multiplied by the 1,180 steps of a 59,000-image epoch, at 1
 * and at 2 threads. `deno task bench:epoch` (`bench/epoch.ts`) times the same step beside
 * PyTorch's.
 *
 * The inputs are synthetic (the step's cost does not depend on pixel values), so the bench
 * needs no data files. Run: deno bench --allow-read=. bench/cnn_epoch_bench.ts
 */
import { getNumThreads, getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { threeLayerConvNet } from "./_networks.ts";
import { note, ratio, timed } from "./_report.ts";

const numTrain = 59000, batchSize = 50;
const stepsPerEpoch = numTrain / batchSize;
const rng = new Rng(0);
// A pool of distinct images to draw minibatches from; an epoch's worth is not needed.
const poolSize = 5000;
const XTrain = Tensor.randn([poolSize, 1, 28, 28], rng, "float32");
const yTrain = Int32Array.from({ length: poolSize }, () => rng.randint(10));

/** Calls per label left out of the figures: they include V8's tier-up and first touches. */
const UNTIMED_CALLS = 5;

for (const threads of [1, 2]) {
  const model = threeLayerConvNet();
  const solver = new Solver(
    model,
    { XTrain, yTrain, XVal: XTrain.sliceRows(0, 100), yVal: yTrain.subarray(0, 100) },
    { updateRule: "adam", optimConfig: { learningRate: 1e-3 }, batchSize, verbose: false },
  );
  const label = `ThreeLayerConvNet f32 epoch (${stepsPerEpoch} Adam steps), ${threads} thread(s)`;
  let calls = 0;
  Deno.bench(
    `ThreeLayerConvNet 7x7x32-100-10 float32, one Adam step of batch 50, ${threads} thread(s)`,
    { group: "cnn epoch", baseline: threads === 1 },
    async () => {
      // With all workers loaded (a pool starts them lazily, on the event loop).
      const ready = getNumThreads() === threads &&
        (threads === 1 || getPool().activeThreads === threads);
      if (!ready) await setNumThreads(threads);
      if (calls++ < UNTIMED_CALLS) solver.step();
      else timed(label, "s/epoch", stepsPerEpoch, () => solver.step());
    },
  );
}
ratio(
  "ThreeLayerConvNet epoch: 2 threads ÷ 1 thread speed",
  `ThreeLayerConvNet f32 epoch (${stepsPerEpoch} Adam steps), 2 thread(s)`,
  `ThreeLayerConvNet f32 epoch (${stepsPerEpoch} Adam steps), 1 thread(s)`,
);
note("PyTorch on the same machine, side by side: deno task bench:epoch --nets cnn");

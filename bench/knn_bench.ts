/**
 * Assignment 1 speed: k-nearest-neighbour prediction and the linear losses.
 *
 * - kNN on a subset (100 test × 2,000 training rows, 784-d, float32, k = 5): `predict`
 *   with the two-loop, one-loop and no-loop distances, in interleaved rounds, so the
 *   no-loop speed-up is shown as the notebook shows it (on one thread and on two).
 * - kNN at full Fashion-MNIST size: 10,000 test × 59,000 training rows, 784-d, float32,
 *   k = 5, two threads, distances in blocks of test rows; seconds, GFLOP/s of the distance
 *   products, and the process's peak resident memory sampled after every block. Random
 *   data of the data set's shape (the benchmark reads no data set; `deno task knn` times
 *   the same call on the real images).
 * - SVM and softmax loss, naive vs vectorized, at the notebook's size (500 × 3073, 10
 *   classes, float64), in interleaved rounds.
 *
 * Run: deno task bench (all benches) or deno bench --allow-read=. bench/knn_bench.ts
 */
import { KNearestNeighbor } from "../lib/classifiers/knn.ts";
import { svmLossNaive, svmLossVectorized } from "../lib/classifiers/linear_svm.ts";
import { softmaxLossNaive, softmaxLossVectorized } from "../lib/classifiers/softmax.ts";
import { setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { meanMs, note, pairedRounds, reportRounds, timed } from "./_report.ts";

const rng = new Rng(0);

/** Pixel-like rows: mean-subtracted values of a few tens. */
function rows(n: number, d: number): Tensor {
  const t = Tensor.zeros([n, d], "float32");
  for (let i = 0; i < t.size; i++) t.data[i] = 60 * rng.normal();
  return t;
}
function labels(n: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.randint(10));
}

{
  const [numTest, numTrain, D, k] = [100, 2000, 784, 5];
  const knn = new KNearestNeighbor();
  knn.train(rows(numTrain, D), labels(numTrain));
  const X = rows(numTest, D);
  const title = `kNN predict, ${numTest} test × ${numTrain} train × ${D}, float32, k = ${k}`;
  Deno.bench(title, { group: "knn subset", n: 1, warmup: 0 }, async () => {
    await setNumThreads(1);
    const one = await pairedRounds(
      {
        "two loops": () => void knn.predict(X, { k, numLoops: 2 }),
        "one loop": () => void knn.predict(X, { k, numLoops: 1 }),
        "no loops, 1 thread": () => void knn.predict(X, { k }),
      },
      5,
      1,
    );
    await setNumThreads(2);
    const two = await pairedRounds(
      { "no loops, 2 threads": () => void knn.predict(X, { k }) },
      5,
      1,
    );
    reportRounds(title, { ...one, ...two }, "Gmuladd/s", (numTest * numTrain * D) / 1e9, [
      ["no loops (1 thread) ÷ two loops, speed", "no loops, 1 thread", "two loops"],
      ["no loops (1 thread) ÷ one loop, speed", "no loops, 1 thread", "one loop"],
      ["one loop ÷ two loops, speed", "one loop", "two loops"],
    ]);
  });
}

{
  const [numTest, numTrain, D, k] = [10000, 59000, 784, 5];
  const title = `kNN predict, full size: ${numTest} test × ${numTrain} train × ${D}, float32`;
  // Made on first use and kept: Deno runs a bench once more as its warm-up.
  let inputs: { knn: KNearestNeighbor; X: Tensor } | null = null;
  Deno.bench(title, { group: "knn full", n: 1, warmup: 0 }, async () => {
    await setNumThreads(2);
    if (inputs === null) {
      const knn = new KNearestNeighbor();
      knn.train(rows(numTrain, D), labels(numTrain));
      inputs = { knn, X: rows(numTest, D) };
    }
    const { knn, X } = inputs;
    let peak = Deno.memoryUsage().rss;
    const label = `kNN predict ${numTest}×${numTrain}×${D} f32, k = ${k}, 2 threads`;
    timed(label, "GFLOP/s", (2 * numTest * numTrain * D) / 1e9, () => {
      knn.predict(X, { k, onBlock: () => (peak = Math.max(peak, Deno.memoryUsage().rss)) });
    });
    note(
      `${label}: ${(meanMs(label) / 1000).toFixed(1)} s per call (mean so far); peak RSS ` +
        `${(peak / 2 ** 20).toFixed(0)} MiB (training set 185 MB, block buffer 67 MB)`,
    );
  });
}

{
  const [N, D, C] = [500, 3073, 10];
  const W = Tensor.randn([D, C], rng).mul(0.0001);
  const X = Tensor.randn([N, D], rng).mul(60);
  const y = labels(N);
  const title = `linear losses, ${N} × ${D}, ${C} classes, float64`;
  Deno.bench(title, { group: "linear losses", n: 1, warmup: 0 }, async () => {
    await setNumThreads(1);
    const times = await pairedRounds(
      {
        "svm naive": () => void svmLossNaive(W, X, y, 5e-6),
        "svm vectorized": () => void svmLossVectorized(W, X, y, 5e-6),
        "softmax naive": () => void softmaxLossNaive(W, X, y, 5e-6),
        "softmax vectorized": () => void softmaxLossVectorized(W, X, y, 5e-6),
      },
      20,
      3,
    );
    reportRounds(title, times, "Gmuladd/s", (2 * N * D * C) / 1e9, [
      ["svm vectorized ÷ naive, speed", "svm vectorized", "svm naive"],
      ["softmax vectorized ÷ naive, speed", "softmax vectorized", "softmax naive"],
    ]);
  });
}

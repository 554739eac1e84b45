/**
 * Affine layer forward+backward, and seconds per epoch of a 784-100-10 TwoLayerNet in
 * float32 (one Solver step with Adam, batch 100, times the 590 steps of a 59,000-image
 * epoch). Run: deno task bench
 */
import { affineBackward, affineForward } from "../lib/layers/affine.ts";
import { TwoLayerNet } from "../lib/models/two_layer_net.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { timed } from "./_report.ts";

const rng = new Rng(0);

for (const dtype of ["float32", "float64"] as const) {
  for (const [N, D, M] of [[100, 3072, 100], [200, 784, 512]]) {
    const x = Tensor.randn([N, D], rng, dtype);
    const w = Tensor.randn([D, M], rng, dtype).mul(0.01);
    const b = Tensor.zeros([M], dtype);
    const dout = Tensor.randn([N, M], rng, dtype);
    // forward N·D·M multiply-adds, backward two more products of the same size.
    const gflop = (3 * 2 * N * D * M) / 1e9;
    const label = `affine fwd+bwd ${dtype} (${N},${D})x(${D},${M})`;
    Deno.bench(label, { group: `affine ${N}x${D}x${M}` }, () => {
      timed(label, "GFLOP/s", gflop, () => {
        const [, cache] = affineForward(x, w, b);
        affineBackward(dout, cache);
      });
    });
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
  Deno.bench("TwoLayerNet 784-100-10 float32, one Adam step of batch 100", () => {
    timed(label, "s/epoch", numTrain / batchSize, () => solver.step());
  });
}

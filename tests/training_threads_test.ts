// Whole training steps of the two networks of the training-speed benchmark
// (bench/epoch.ts) give bitwise the same parameters on one and on two threads: every
// kernel on their path (convolution by im2col, Winograd and the direct kernel, batchnorm,
// pooling, GEMM, Adam) splits its work so that the result does not depend on the split.
import assert from "node:assert/strict";
import * as F from "../lib/nn/functional.ts";
import * as optim from "../lib/nn/optim/mod.ts";
import { getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { convBnNet, threeLayerConvNet } from "../bench/_networks.ts";

const sanitizers = { sanitizeOps: true, sanitizeResources: true };

const rng = new Rng(40);
const X = Tensor.randn([96, 1, 28, 28], rng, "float32");
const y = Int32Array.from({ length: 96 }, () => rng.randint(10));

/** Parameters of ThreeLayerConvNet after three Adam steps of batch 50 through the Solver. */
function cnnSteps(): Map<string, Float32Array> {
  const model = threeLayerConvNet(41);
  const solver = new Solver(
    model,
    { XTrain: X, yTrain: y, XVal: X.sliceRows(0, 10), yVal: y.subarray(0, 10) },
    {
      updateRule: "adam",
      optimConfig: { learningRate: 1e-3 },
      batchSize: 50,
      verbose: false,
      rng: new Rng(42),
    },
  );
  for (let i = 0; i < 3; i++) solver.step();
  return new Map(Object.entries(model.params).map(([k, t]) => [k, t.data as Float32Array]));
}

/** Parameters and batchnorm statistics of the conv-BN net after two module-API Adam steps. */
function bnSteps(): Map<string, Float32Array> {
  const model = convBnNet(43);
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  for (let step = 0; step < 2; step++) {
    const [from, to] = [step * 48, (step + 1) * 48];
    optimizer.zeroGrad();
    F.crossEntropy(model.forward(X.sliceRows(from, to)), y.subarray(from, to)).backward();
    optimizer.step();
  }
  return new Map(
    Object.entries(model.stateDict()).map(([k, t]) => [k, t.data as Float32Array]),
  );
}

function assertBitwise(
  multi: Map<string, Float32Array>,
  single: Map<string, Float32Array>,
  net: string,
): void {
  assert.deepEqual([...multi.keys()], [...single.keys()]);
  for (const [name, want] of single) {
    const got = multi.get(name)!;
    assert.equal(got.length, want.length, `${net} ${name}: length`);
    for (let i = 0; i < want.length; i++) {
      if (!Object.is(got[i], want[i])) {
        assert.fail(`${net} ${name}[${i}]: ${got[i]} on two threads, ${want[i]} on one`);
      }
    }
  }
}

Deno.test(
  "training steps give bitwise the same parameters on 1 and 2 threads",
  sanitizers,
  async () => {
    try {
      await setNumThreads(1);
      const [cnn1, bn1] = [cnnSteps(), bnSteps()];
      await setNumThreads(2);
      assert.equal(getPool().activeThreads, 2, "both threads take part");
      const [cnn2, bn2] = [cnnSteps(), bnSteps()];
      assertBitwise(cnn2, cnn1, "ThreeLayerConvNet");
      assertBitwise(bn2, bn1, "conv-BN net");
    } finally {
      await setNumThreads(1);
    }
  },
);

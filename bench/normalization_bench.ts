/**
 * Normalization and dropout layers: the speed-up of `batchnormBackwardAlt` (closed form)
 * over `batchnormBackward` (computation graph) on the notebook's N=100, D=500 in float64,
 * and forward+backward throughput of every layer at training-hot-path sizes in float32
 * (a 512-wide hidden layer with batch 200; conv feature maps (50, 32, 14, 14)).
 * Run: deno task bench
 */
import {
  batchnormBackward,
  batchnormBackwardAlt,
  batchnormForward,
} from "../lib/layers/batchnorm.ts";
import { dropoutBackward, dropoutForward } from "../lib/layers/dropout.ts";
import { layernormBackward, layernormForward } from "../lib/layers/layernorm.ts";
import {
  spatialBatchnormBackward,
  spatialBatchnormForward,
} from "../lib/layers/spatial_batchnorm.ts";
import {
  spatialGroupnormBackward,
  spatialGroupnormForward,
} from "../lib/layers/spatial_groupnorm.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { ratio, timed } from "./_report.ts";

const rng = new Rng(0);

{
  // The notebook's comparison: x = 5·randn + 12, float64.
  const [N, D] = [100, 500];
  const x = Tensor.randn([N, D], rng).mul(5).add(12);
  const gamma = Tensor.randn([D], rng), beta = Tensor.randn([D], rng);
  const dout = Tensor.randn([N, D], rng);
  const [, cache] = batchnormForward(x, gamma, beta, { mode: "train" });
  const work = (N * D) / 1e6;
  const graph = "batchnormBackward f64 (100,500)";
  const alt = "batchnormBackwardAlt f64 (100,500)";
  Deno.bench(graph, { group: "batchnorm backward", baseline: true }, () => {
    timed(graph, "Melem/s", work, () => batchnormBackward(dout, cache));
  });
  Deno.bench(alt, { group: "batchnorm backward" }, () => {
    timed(alt, "Melem/s", work, () => batchnormBackwardAlt(dout, cache));
  });
  ratio("batchnormBackwardAlt speed-up over batchnormBackward", alt, graph);
}

{
  const [N, D] = [200, 512];
  const x = Tensor.randn([N, D], rng, "float32").mul(3).add(1);
  const gamma = Tensor.ones([D], "float32"), beta = Tensor.zeros([D], "float32");
  const dout = Tensor.randn([N, D], rng, "float32");
  const work = (N * D) / 1e6;
  const layers: [string, () => void][] = [
    ["batchnorm fwd+bwd(alt) f32 (200,512)", () => {
      const [, cache] = batchnormForward(x, gamma, beta, { mode: "train" });
      batchnormBackwardAlt(dout, cache);
    }],
    ["layernorm fwd+bwd f32 (200,512)", () => {
      const [, cache] = layernormForward(x, gamma, beta);
      layernormBackward(dout, cache);
    }],
    ["dropout p=0.5 fwd+bwd f32 (200,512)", () => {
      const [, cache] = dropoutForward(x, { mode: "train", p: 0.5 });
      dropoutBackward(dout, cache);
    }],
  ];
  for (const [label, fn] of layers) {
    Deno.bench(label, { group: "hidden layer 200x512" }, () => timed(label, "Melem/s", work, fn));
  }
}

{
  const [N, C, H, W] = [50, 32, 14, 14];
  const x = Tensor.randn([N, C, H, W], rng, "float32");
  const dout = Tensor.randn([N, C, H, W], rng, "float32");
  const work = (N * C * H * W) / 1e6;
  const sbn = "spatial batchnorm fwd+bwd f32 (50,32,14,14)";
  const gn = "spatial groupnorm G=4 fwd+bwd f32 (50,32,14,14)";
  const gammaC = Tensor.ones([C], "float32"), betaC = Tensor.zeros([C], "float32");
  const gamma4 = Tensor.ones([1, C, 1, 1], "float32"),
    beta4 = Tensor.zeros([1, C, 1, 1], "float32");
  Deno.bench(sbn, { group: "feature maps" }, () => {
    timed(sbn, "Melem/s", work, () => {
      const [, cache] = spatialBatchnormForward(x, gammaC, betaC, { mode: "train" });
      spatialBatchnormBackward(dout, cache);
    });
  });
  Deno.bench(gn, { group: "feature maps" }, () => {
    timed(gn, "Melem/s", work, () => {
      const [, cache] = spatialGroupnormForward(x, gamma4, beta4, 4, {});
      spatialGroupnormBackward(dout, cache);
    });
  });
}

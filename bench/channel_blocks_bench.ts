/**
 * Spatial batchnorm's block kernels (`lib/kernels/channel_blocks.ts`) on the two feature
 * maps of the conv-BN benchmark network, (128, 32, 28·28) and (128, 64, 14·14) in float32,
 * on one thread: each JavaScript block loop against its WebAssembly SIMD twin (same results
 * bit for bit), then a whole training-mode forward and backward (statistics, normalization
 * without a stored xHat, backward from the input, as `F.batchNorm` runs them) with the
 * JavaScript GEMM selected (which keeps the block loops in JavaScript) and with the default.
 * Run: deno bench --allow-read=. bench/channel_blocks_bench.ts
 */
import {
  blockGradientSumsFromInputRange,
  blockGradientSumsRangeWasm,
  blockMomentsRange,
  blockMomentsRangeWasm,
  normalizeBlocksRange,
  normalizeBlocksRangeWasm,
  normBackwardBlocksRangeWasm,
  normBackwardFromInputBlocksRange,
} from "../lib/kernels/channel_blocks.ts";
import { setGemmKernel } from "../lib/kernels/gemm.ts";
import {
  channelMoments,
  channelNormBackwardFromInput,
  inverseStd,
  normalizeChannels,
} from "../lib/kernels/normalization.ts";
import { layerKernels } from "../lib/kernels/wasm/layer_kernels.ts";
import { setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { pairedRounds, reportRounds } from "./_report.ts";

const rng = new Rng(0);

for (const [outer, channels, inner] of [[128, 32, 784], [128, 64, 196]]) {
  const blocks = outer * channels, n = blocks * inner;
  const x = Float32Array.from({ length: n }, () => 1 + rng.normal());
  const dout = Float32Array.from({ length: n }, () => rng.normal());
  const out = new Float32Array(n), dx = new Float32Array(n);
  const perChannel = () => Float64Array.from({ length: channels }, () => 0.5 + rng.uniform());
  const [mean, invStd, gamma, beta, coef, sumDout, sumDoutXHat] = Array.from(
    { length: 7 },
    perChannel,
  );
  const sums = new Float64Array(blocks), m2 = new Float64Array(blocks);
  const title = `spatial batchnorm blocks, (${outer}, ${channels}, ${inner}) float32, 1 thread`;
  Deno.bench(title, { group: "batchnorm blocks", n: 1, warmup: 0 }, async () => {
    await setNumThreads(1);
    const wasm = layerKernels();
    if (wasm === null) return;
    const layer = (kernel: "js" | "auto") => () => {
      setGemmKernel(kernel);
      const variance = new Float64Array(channels), istd = new Float64Array(channels);
      channelMoments(x, outer, channels, inner, mean, variance);
      inverseStd(variance, 1e-5, channels, istd);
      normalizeChannels(x, outer, channels, inner, mean, istd, gamma, beta, null, out);
      const dgamma = new Float32Array(channels), dbeta = new Float32Array(channels);
      channelNormBackwardFromInput(
        dout,
        x,
        outer,
        channels,
        inner,
        mean,
        gamma,
        istd,
        dx,
        dgamma,
        dbeta,
      );
      setGemmKernel("auto");
    };
    const times = await pairedRounds(
      {
        "moments js": () => blockMomentsRange(x, inner, 0, blocks, sums, m2),
        "moments wasm": () => blockMomentsRangeWasm(wasm, x, inner, 0, blocks, sums, m2),
        "normalize js": () =>
          normalizeBlocksRange(x, channels, inner, 0, blocks, mean, invStd, gamma, beta, null, out),
        "normalize wasm": () =>
          normalizeBlocksRangeWasm(
            wasm,
            x,
            channels,
            inner,
            0,
            blocks,
            mean,
            invStd,
            gamma,
            beta,
            null,
            out,
          ),
        "gradient sums js": () =>
          blockGradientSumsFromInputRange(
            dout,
            x,
            channels,
            inner,
            0,
            blocks,
            mean,
            invStd,
            sums,
            m2,
          ),
        "gradient sums wasm": () =>
          blockGradientSumsRangeWasm(
            wasm,
            dout,
            x,
            mean,
            invStd,
            channels,
            inner,
            0,
            blocks,
            sums,
            m2,
          ),
        "backward dx js": () =>
          normBackwardFromInputBlocksRange(
            dout,
            x,
            channels,
            inner,
            0,
            blocks,
            outer * inner,
            mean,
            invStd,
            coef,
            sumDout,
            sumDoutXHat,
            dx,
          ),
        "backward dx wasm": () =>
          normBackwardBlocksRangeWasm(
            wasm,
            dout,
            x,
            mean,
            invStd,
            channels,
            inner,
            0,
            blocks,
            outer * inner,
            coef,
            sumDout,
            sumDoutXHat,
            dx,
          ),
        "layer fwd+bwd js": layer("js"),
        "layer fwd+bwd wasm": layer("auto"),
      },
      15,
    );
    reportRounds(title, times, "Melem/s", n / 1e6, [
      ["moments: wasm speed-up", "moments wasm", "moments js"],
      ["normalize: wasm speed-up", "normalize wasm", "normalize js"],
      ["gradient sums: wasm speed-up", "gradient sums wasm", "gradient sums js"],
      ["backward dx: wasm speed-up", "backward dx wasm", "backward dx js"],
      ["layer fwd+bwd: wasm speed-up", "layer fwd+bwd wasm", "layer fwd+bwd js"],
    ]);
  });
}

/**
 * A quick benchmark of the Winograd convolution alone (a few seconds instead of the
 * minutes of `conv_bench.ts`): the forward, input-gradient and weight-gradient kernels of
 * `lib/kernels/winograd.ts` on the W2b and W3 shapes, float32, on one and two threads,
 * plus the layer's fwd and fwd+bwd (`convForwardFast` / `convBackwardFast` with Winograd
 * forced). Prints the median milliseconds of interleaved rounds.
 *
 * Run: deno task bench:winograd [--rounds 15] [--shapes W2b,W3]
 */
import { parseArgs } from "node:util";
import { setConvAlgorithm } from "../lib/kernels/conv.ts";
import {
  winogradBackwardData,
  winogradBackwardFilter,
  winogradForward,
} from "../lib/kernels/winograd.ts";
import { convGeometry } from "../lib/layers/conv.ts";
import { convBackwardFast, convForwardFast } from "../lib/layers/conv_fast.ts";
import { getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { pairedRounds } from "./_report.ts";

const HELP = `The Winograd convolution alone: forward, dx, dw+db and the layer, W2b and W3, float32,
1 and 2 threads; median ms of interleaved rounds.

Usage: deno run --allow-read=. bench/winograd_quick.ts [--rounds N] [--shapes W2b,W3]

  --rounds N      timed rounds per shape and thread count (default 15)
  --shapes LIST   which of W2b, W3 (default both)
  --help          this text`;

function fail(message: string): never {
  console.error(`winograd_quick: ${message}`);
  Deno.exit(2);
}

const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        rounds: { type: "string", default: "15" },
        shapes: { type: "string", default: "W2b,W3" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
})();
if (flags.help) {
  console.log(HELP);
  Deno.exit(0);
}
const rounds = Number(flags.rounds);
if (!Number.isSafeInteger(rounds) || rounds < 1) {
  fail(`--rounds must be an integer ≥ 1, got "${flags.rounds}"`);
}
const wanted = flags.shapes.split(",");
for (const name of wanted) {
  if (name !== "W2b" && name !== "W3") fail(`--shapes must list W2b and/or W3, got "${name}"`);
}

const shapes = [
  { name: "W2b", x: [128, 32, 14, 14], w: [64, 32, 3, 3] },
  { name: "W3", x: [64, 64, 32, 32], w: [64, 64, 3, 3] },
].filter((s) => wanted.includes(s.name));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const rng = new Rng(0);
setConvAlgorithm("winograd");
for (const threads of [1, 2]) {
  await setNumThreads(threads);
  if (threads > 1) getPool();
  for (const shape of shapes) {
    const x = Tensor.randn(shape.x, rng, "float32");
    const w = Tensor.randn(shape.w, rng, "float32").mul(0.1);
    const b = Tensor.randn([shape.w[0]], rng, "float32");
    const param = { stride: 1, pad: 1 };
    const g = convGeometry("bench", x, w, b, param);
    const dout = Tensor.randn([g.batch, g.filters, g.outH, g.outW], rng, "float32");
    const out = new Float32Array(dout.size), dx = new Float32Array(x.size);
    const dw = new Float32Array(w.size), db = new Float32Array(b.size);
    const xs = x.data as Float32Array, ws = w.data as Float32Array;
    const douts = dout.data as Float32Array, bs = b.data as Float32Array;
    const times = await pairedRounds({
      fwd: () => winogradForward(xs, ws, bs, g, out),
      dx: () => winogradBackwardData(douts, ws, g, dx),
      "dw+db": () => winogradBackwardFilter(douts, xs, g, dw, db),
      "layer fwd": () => void convForwardFast(x, w, b, param),
      "layer fwd+bwd": () => {
        const [, cache] = convForwardFast(x, w, b, param);
        convBackwardFast(dout, cache);
      },
    }, rounds);
    const line = Object.entries(times).map(([k, t]) => `${k} ${median(t).toFixed(2)}`);
    console.log(`${shape.name} ${threads}T (ms, median of ${rounds}): ${line.join(" | ")}`);
  }
}
await setNumThreads(1);

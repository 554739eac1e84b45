/**
 * Seconds per epoch of the two networks of the training-speed goal, ours and PyTorch's,
 * measured side by side in one run on the same machine:
 *
 * - **cnn**: cs231n's ThreeLayerConvNet (conv 7×7×32 pad 3 – ReLU – 2×2 max pool – affine
 *   100 – ReLU – affine 10), float32, Adam, batch 50, 1,180 steps per 59,000-image epoch,
 *   through `Solver.step()`.
 * - **bn**: conv3×3×32-BN-ReLU-pool-conv3×3×64-BN-ReLU-pool-fc128-ReLU-dropout-fc10, float32,
 *   Adam, batch 128, 461 steps per epoch, through the module API (`nn`, `optim.Adam`).
 *
 * Each figure is the median of per-step wall times after a warm-up, times the steps of an
 * epoch. PyTorch runs `bench/epoch_torch.py` through `/usr/bin/python3` with glibc
 * told to keep freed memory (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`: on these
 * virtual machines returning memory to the system and faulting it back in costs PyTorch
 * 2.5–4×, and our library keeps its scratch memory too), and, with `--as-installed`, once
 * more without. Without `import torch` the peer is skipped with a note.
 *
 * Also reported: minor page faults per step (fresh memory touched) and, with
 * `--rss-steps N`, the resident set size over N steps of each network.
 *
 * Run: deno task bench:epoch [--threads 1,2] [--nets cnn,bn] [--rss-steps 1000]
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as F from "../lib/nn/functional.ts";
import * as optim from "../lib/nn/optim/mod.ts";
import { getNumThreads, getPool, setNumThreads } from "../lib/parallel/worker_pool.ts";
import { Rng } from "../lib/rng.ts";
import { Solver } from "../lib/solver.ts";
import { Tensor } from "../lib/tensor.ts";
import { convBnNet, threeLayerConvNet } from "./_networks.ts";

const HELP = `Seconds per epoch, ours and PyTorch's, side by side.

Usage: deno task bench:epoch [options]

  --threads LIST     thread counts to measure (default 1,2)
  --nets LIST        networks: cnn (ThreeLayerConvNet), bn (conv-BN net) (default cnn,bn)
  --steps-cnn N      timed steps of the cnn per measurement (default 200)
  --steps-bn N       timed steps of the conv-BN net per measurement (default 40)
  --rss-steps N      also run N steps of each network per thread count and report the
                     resident set size along the way (default 0: not run)
  --as-installed     also time PyTorch with glibc's default allocator settings
  --no-peer          do not run PyTorch
  --help             this text`;

const NETS = {
  cnn: { batch: 50, stepsPerEpoch: Math.ceil(59000 / 50), title: "ThreeLayerConvNet" },
  bn: { batch: 128, stepsPerEpoch: Math.ceil(59000 / 128), title: "conv-BN net" },
} as const;
type NetName = keyof typeof NETS;

const POOL = 5000;
const WARMUP = 5;
const PYTHON = "/usr/bin/python3";
const KEPT_MEMORY = {
  MALLOC_MMAP_THRESHOLD_: "1073741824",
  MALLOC_TRIM_THRESHOLD_: "4294967296",
};

function fail(message: string): never {
  console.error(`epoch: ${message}`);
  Deno.exit(2);
}

function integerFlag(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isSafeInteger(v) || v < min) {
    fail(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return v;
}

const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        threads: { type: "string", default: "1,2" },
        nets: { type: "string", default: "cnn,bn" },
        "steps-cnn": { type: "string", default: "200" },
        "steps-bn": { type: "string", default: "40" },
        "rss-steps": { type: "string", default: "0" },
        "as-installed": { type: "boolean", default: false },
        "no-peer": { type: "boolean", default: false },
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
const threadCounts = flags.threads.split(",").map((t) => integerFlag("threads", t, 1));
const nets = flags.nets.split(",").map((n) => {
  if (!(n in NETS)) fail(`--nets must list cnn and/or bn, got "${n}"`);
  return n as NetName;
});
const steps: Record<NetName, number> = {
  cnn: integerFlag("steps-cnn", flags["steps-cnn"], 1),
  bn: integerFlag("steps-bn", flags["steps-bn"], 1),
};
const rssSteps = integerFlag("rss-steps", flags["rss-steps"], 0);

const rng = new Rng(0);
const XTrain = Tensor.randn([POOL, 1, 28, 28], rng, "float32");
const yTrain = Int32Array.from({ length: POOL }, () => rng.randint(10));

/** A fresh network of `net` and the function that runs one training step of it. */
function makeStep(net: NetName): () => void {
  if (net === "cnn") {
    const solver = new Solver(
      threeLayerConvNet(),
      { XTrain, yTrain, XVal: XTrain.sliceRows(0, 100), yVal: yTrain.subarray(0, 100) },
      { updateRule: "adam", optimConfig: { learningRate: 1e-3 }, batchSize: 50, verbose: false },
    );
    return () => solver.step();
  }
  const model = convBnNet();
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const batchRng = new Rng(6);
  const batch = NETS.bn.batch;
  return () => {
    const start = batchRng.randint(0, POOL - batch);
    optimizer.zeroGrad();
    F.crossEntropy(
      model.forward(XTrain.sliceRows(start, start + batch)),
      yTrain.subarray(start, start + batch),
    ).backward();
    optimizer.step();
  };
}

interface Measurement {
  /** Median milliseconds per step. */
  ms: number;
  faultsPerStep: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function useThreads(threads: number): Promise<void> {
  const ready = getNumThreads() === threads &&
    (threads === 1 || getPool().activeThreads === threads);
  if (!ready) await setNumThreads(threads);
}

async function measureOurs(net: NetName, threads: number): Promise<Measurement> {
  await useThreads(threads);
  const step = makeStep(net);
  for (let i = 0; i < WARMUP; i++) step();
  const faults0 = process.resourceUsage().minorPageFault;
  const times: number[] = [];
  for (let i = 0; i < steps[net]; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const faults = process.resourceUsage().minorPageFault - faults0;
  return { ms: median(times), faultsPerStep: faults / steps[net] };
}

/** PyTorch's measurement, or the reason it could not be taken. */
async function measurePeer(
  net: NetName,
  threads: number,
  keptMemory: boolean,
): Promise<Measurement & { version: string } | string> {
  const script = fileURLToPath(new URL("./epoch_torch.py", import.meta.url));
  const command = new Deno.Command(PYTHON, {
    args: [script, "--net", net, "--threads", `${threads}`, "--steps", `${steps[net]}`],
    env: keptMemory ? KEPT_MEMORY : {},
    stdout: "piped",
    stderr: "piped",
  });
  let output: Deno.CommandOutput;
  try {
    output = await command.output();
  } catch (e) {
    return `${PYTHON} could not be started (${(e as Error).message})`;
  }
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1);
    return `PyTorch run failed: ${err}`;
  }
  const r = JSON.parse(new TextDecoder().decode(output.stdout));
  return { ms: median(r.ms), faultsPerStep: r.faultsPerStep, version: r.version };
}

function seconds(net: NetName, ms: number): string {
  return (ms * NETS[net].stepsPerEpoch / 1000).toFixed(1);
}

const rows: string[][] = [];
const ours = new Map<string, Measurement>();
let peerNote = flags["no-peer"] ? "PyTorch not run (--no-peer)" : "";
for (const net of nets) {
  for (const threads of threadCounts) {
    const label = `${NETS[net].title}, ${threads} thread(s)`;
    console.error(`measuring ${label}: ours …`);
    const m = await measureOurs(net, threads);
    ours.set(`${net}/${threads}`, m);
    const row = [
      NETS[net].title,
      `${threads}`,
      m.ms.toFixed(2),
      seconds(net, m.ms),
      m.faultsPerStep.toFixed(0),
    ];
    for (const kept of flags["no-peer"] ? [] : flags["as-installed"] ? [true, false] : [true]) {
      console.error(`measuring ${label}: PyTorch${kept ? "" : " as installed"} …`);
      const p = await measurePeer(net, threads, kept);
      if (typeof p === "string") {
        peerNote = `PyTorch skipped: ${p}`;
        row.push("–", "–", "–");
        continue;
      }
      peerNote ||= `PyTorch ${p.version} through ${PYTHON}`;
      row.push(seconds(net, p.ms), (m.ms / p.ms).toFixed(2), p.faultsPerStep.toFixed(0));
    }
    rows.push(row);
  }
}

const header = ["network", "threads", "ours ms/step", "ours s/epoch", "faults/step"];
if (!flags["no-peer"]) {
  header.push("PyTorch s/epoch (kept memory)", "ours ÷ PyTorch", "PyTorch faults/step");
  if (flags["as-installed"]) {
    header.push("PyTorch s/epoch (as installed)", "ours ÷ PyTorch", "PyTorch faults/step");
  }
}
printTable(header, rows);
for (const net of nets) {
  const one = ours.get(`${net}/1`);
  for (const t of threadCounts.filter((t) => t > 1)) {
    const many = ours.get(`${net}/${t}`)!;
    if (one) {
      console.log(
        `${NETS[net].title}: ${t} threads ÷ 1 thread speed ${(one.ms / many.ms).toFixed(2)}×`,
      );
    }
  }
}
if (peerNote) console.log(peerNote);

for (const net of rssSteps > 0 ? nets : []) {
  for (const threads of threadCounts) {
    await useThreads(threads);
    const step = makeStep(net);
    const marks: string[] = [];
    const faults0 = process.resourceUsage().minorPageFault;
    for (let i = 1; i <= rssSteps; i++) {
      step();
      if (i === 1 || i % Math.max(1, Math.floor(rssSteps / 4)) === 0) {
        marks.push(`step ${i}: ${(Deno.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
      }
    }
    const faults = process.resourceUsage().minorPageFault - faults0;
    console.log(
      `${NETS[net].title}, ${threads} thread(s), RSS over ${rssSteps} steps: ${
        marks.join(", ")
      }; ` +
        `${(faults / rssSteps).toFixed(0)} minor page faults per step`,
    );
  }
}

function printTable(head: string[], body: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ");
  console.log(line(head));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of body) console.log(line(r));
}
await setNumThreads(1);

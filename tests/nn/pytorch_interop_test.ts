/**
 * Our state dicts against real PyTorch: the same Sequential built on both sides, weights
 * moved through safetensors files in both directions with `load_state_dict(strict=True)` /
 * `loadStateDict` (strict), outputs compared. Skipped, with a message, when
 * `/usr/bin/python3 -c "import torch"` fails (Debian: `apt-get install python3-torch`).
 */

import assert from "node:assert/strict";
import { loadParams, saveParams } from "../../lib/io/safetensors.ts";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import * as nn from "../../lib/nn/mod.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

const PYTHON = "/usr/bin/python3";

function torchAvailable(): boolean {
  try {
    return new Deno.Command(PYTHON, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

const available = torchAvailable();
if (!available) {
  console.log(`pytorch_interop_test: skipped: \`${PYTHON} -c "import torch"\` failed`);
}

function model(rng: Rng): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1, rng }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, 5, { rng }),
  );
}

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let d = 0;
  for (let i = 0; i < a.size; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

Deno.test({
  name: "PyTorch interop: our state dict loads into torch (strict) and torch's into ours",
  ignore: !available,
  fn() {
    const dir = "out/test/interop";
    Deno.mkdirSync(dir, { recursive: true });
    const rng = new Rng(0);
    const ours = model(rng);
    // One training-mode pass moves the batchnorm statistics away from their defaults.
    noGrad(() => ours.forward(Tensor.randn([6, 1, 8, 8], rng, "float32")));
    ours.eval();
    const x = Tensor.randn([3, 1, 8, 8], rng, "float32");
    const y = noGrad(() => ours.forward(x));
    saveParams(`${dir}/ours.safetensors`, ours.stateDict());
    saveParams(`${dir}/io.safetensors`, { x, y });

    const run = new Deno.Command(PYTHON, {
      args: [new URL("./pytorch_interop.py", import.meta.url).pathname, dir],
    }).outputSync();
    assert.ok(run.success, new TextDecoder().decode(run.stderr));

    const out = loadParams(`${dir}/torch_out.safetensors`).params;
    assert.ok(maxDiff(out.y_ours, y) < 1e-5, "torch with our weights gives our output");

    const theirs = model(new Rng(1));
    theirs.loadStateDict(loadParams(`${dir}/torch_state.safetensors`).params);
    theirs.eval();
    const tracked = theirs.stateDict()["1.num_batches_tracked"];
    assert.ok(tracked.isInt64 && tracked.item() === 1);
    assert.ok(
      maxDiff(noGrad(() => theirs.forward(x)), out.y_theirs) < 1e-5,
      "ours with torch's weights",
    );

    assert.deepEqual(
      [...out.half.data],
      [1.5, -0.099975586, 65504, 6.1035156e-05].map(Math.fround),
    );
    assert.deepEqual([...out.bhalf.data], [1.5, -3.140625, 2 ** 100]);
  },
});

/**
 * A PyTorch user can rebuild the committed model from the file alone: the layer list in its
 * metadata becomes a torch `nn.Sequential`, `load_state_dict(strict=True)` takes the
 * weights, and its accuracy on the mini test set is the one data/README.md records.
 * Skipped, with a message, when `/usr/bin/python3 -c "import torch"` fails.
 */

import assert from "node:assert/strict";

const PYTHON = "/usr/bin/python3";

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: -1, stdout: "", stderr: String(e) };
  }
}

const hasTorch = (await run(["-c", "import torch"])).code === 0;
if (!hasTorch) console.warn(`fashion_cnn_torch_test: skipped, ${PYTHON} cannot import torch`);

Deno.test({
  name: "PyTorch rebuilds the committed model from its metadata and matches data/README.md",
  ignore: !hasTorch,
  async fn() {
    const r = await run([
      "tests/scripts/fashion_cnn_torch.py",
      "data/models/fashion_cnn.safetensors",
      "data/fashion-mnist-mini",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = r.stdout.match(/^test accuracy: (0\.\d{4})$/m)?.[1];
    const readme = await Deno.readTextFile("data/README.md");
    const want = readme.match(/mini subset[^|\n]*\|[^|\n]*\|\s*\*{0,2}(0\.\d{4})/)?.[1];
    assert.ok(want, "data/README.md records the mini-subset accuracy");
    assert.equal(got, want, r.stdout);
  },
});

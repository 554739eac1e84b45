/**
 * `scripts/evaluate.ts` on the committed model reproduces the test accuracies written in
 * data/README.md: on the committed mini subset always, on the full test set when it is
 * installed; and a broken model file ends the script with an error naming it.
 */

import assert from "node:assert/strict";

const MODEL = "data/models/fashion_cnn.safetensors";
const FULL = "/usr/share/datasets/fashion-mnist";

async function evaluate(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      "--allow-read=.,/usr/share/datasets",
      "--allow-env=FASHION_MNIST_DIR",
      "scripts/evaluate.ts",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The accuracy data/README.md records for `which` ("mini subset" or "full test set"). */
async function recorded(which: string): Promise<string> {
  const text = await Deno.readTextFile("data/README.md");
  const m = text.match(new RegExp(`${which}[^|\\n]*\\|[^|\\n]*\\|\\s*\\*{0,2}(0\\.\\d{4})`));
  assert.ok(m, `data/README.md records the ${which} accuracy in the models table`);
  return m[1];
}

function measured(stdout: string): string {
  const m = stdout.match(/^test accuracy: (0\.\d{4})$/m);
  assert.ok(m, `evaluate.ts prints "test accuracy: 0.xxxx"; got:\n${stdout}`);
  return m[1];
}

Deno.test("evaluate.ts reproduces data/README.md's accuracy on the committed mini subset", async () => {
  const r = await evaluate("--model", MODEL, "--data", "data/fashion-mnist-mini");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /true \\ predicted/);
  assert.equal(measured(r.stdout), await recorded("mini subset"));
});

const hasFull = (() => {
  try {
    Deno.statSync(`${FULL}/t10k-images-idx3-ubyte.gz`);
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "evaluate.ts reproduces data/README.md's accuracy on the full test set",
  ignore: !hasFull,
  async fn() {
    const r = await evaluate("--model", MODEL, "--data", FULL);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(measured(r.stdout), await recorded("full test set"));
  },
});

Deno.test("evaluate.ts on a file that is not a model exits 1 naming the file", async () => {
  const r = await evaluate("--model", "data/README.md", "--data", "data/fashion-mnist-mini");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /evaluate: loadModel: data\/README\.md: not a readable safetensors file/);
  assert.doesNotMatch(r.stdout, /test accuracy/);
});

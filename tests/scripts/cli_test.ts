/**
 * The experiment scripts seen from the command line: each test runs a script as a
 * subprocess with the permissions of its `deno task` and checks what a user sees (exit code,
 * the one line on stderr, the files written). Outputs go to `out/test-cli/`.
 */
import assert from "node:assert/strict";

const MINI = "data/fashion-mnist-mini";
const OUT = "out/test-cli";
/** The grants of the scripts' tasks in deno.json. */
const TASK_GRANTS = [
  "--allow-read=.,/usr/share/datasets",
  "--allow-write=out",
  "--allow-env=FASHION_MNIST_DIR",
];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function deno(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, out: decode(stdout), err: decode(stderr) };
}

/** Runs `scripts/<script>.ts` with the task's permissions. */
function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  return deno(["run", ...TASK_GRANTS, `scripts/${script}.ts`, ...args], env);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

async function clean(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** The failure as a message that shows what the script printed. */
function explain(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.out.slice(-3000)}\n--- stderr\n${r.err.slice(-3000)}`;
}

/** stderr has exactly one line, and no stack trace or "Uncaught". */
function assertOneLine(r: Run, pattern: RegExp): void {
  const lines = r.err.trim().split("\n");
  assert.equal(lines.length, 1, explain(r));
  assert.match(lines[0], pattern, explain(r));
  assert.doesNotMatch(r.err, /Uncaught|^\s+at /m, explain(r));
}

Deno.test("--quick and the demo run on the mini subset, sizes shrunk with one line", async () => {
  // The two runs that asked for more than the subset holds; .ci/run smoke-tests every
  // script's --quick on both data states.
  const cases: [string, string[]][] = [
    ["fully_connected_nets", ["--demo"]],
    ["fully_connected_nets", ["--quick"]],
  ];
  for (const [script, args] of cases) {
    const dir = `${OUT}/mini-${script}${args.join("")}`;
    const r = await runScript(script, [...args, "--data", MINI, "--out", dir]);
    assert.equal(r.code, 0, `${script} ${args.join(" ")}: ${explain(r)}`);
    const results = await readJson(`${dir}/results.json`);
    const run = (results.runs as Record<string, unknown>[])[0];
    assert.equal((run.dataset as Record<string, unknown>).isMini, true);
    await clean(dir);
  }
  // The demo and the quick run ask for 2,000 + 500 training and 1,000 test images.
  const dir = `${OUT}/mini-demo`;
  const r = await runScript("fully_connected_nets", [
    "--demo",
    "--quick",
    "--data",
    MINI,
    "--out",
    dir,
  ]);
  const notes = r.out.split("\n").filter((l) => /fewer than asked for/.test(l));
  assert.equal(notes.length, 1, explain(r));
  assert.match(
    notes[0],
    /holds 2000 training and 500 test images.*using 1600 train \/ 400 val \/ 500 test/,
  );
  await clean(dir);
});

Deno.test("the full update-rule comparison shrinks its 4,000 images to the mini subset", async () => {
  const dir = `${OUT}/mini-update-rules`;
  const r = await runScript("fully_connected_nets", [
    "--only",
    "update-rules",
    "--data",
    MINI,
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.out, /asks for 4000 training images, the training split holds 1900; using 1900/);
  const results = await readJson(`${dir}/results.json`);
  assert.ok("updateRules" in results);
  await clean(dir);
});

Deno.test("--data outside the granted folders: the exact deno run line, then 'does not exist'", async () => {
  const missing = `/nonexistent-cli-test-${Date.now()}`;
  const r = await runScript("fully_connected_nets", ["--data", missing, "--quick"]);
  assert.equal(r.code, 2, explain(r));
  assertOneLine(r, /may not read --data/);
  const command = r.err.match(/run instead: (deno run .*)$/m)?.[1];
  assert.ok(command, explain(r));
  assert.ok(command.includes(`--allow-read=.,/usr/share/datasets,${missing} `), command);
  assert.ok(command.endsWith(`scripts/fully_connected_nets.ts --data ${missing} --quick`), command);
  assert.doesNotMatch(r.err, /does not exist/);
  // The line it printed works: with the grant, the script says the folder does not exist.
  const words = command.split(" ");
  const again = await deno(words.slice(1));
  assert.equal(again.code, 2, explain(again));
  assertOneLine(again, new RegExp(`--data "${missing}" does not exist`));
  assert.doesNotMatch(again.err, /permission/i);
});

Deno.test("FASHION_MNIST_DIR and --out outside the grants name the variable and the flag", async () => {
  const missing = `/nonexistent-cli-test-${Date.now()}`;
  const env = await runScript("dropout", ["--only", "checks"], { FASHION_MNIST_DIR: missing });
  assert.equal(env.code, 2, explain(env));
  assertOneLine(env, /may not read FASHION_MNIST_DIR/);
  assert.match(
    env.err,
    new RegExp(
      `run instead: FASHION_MNIST_DIR=${missing} deno run --allow-read=.,/usr/share/datasets,${missing} `,
    ),
  );
  const out = await runScript("dropout", ["--only", "checks", "--out", missing]);
  assert.equal(out.code, 2, explain(out));
  assertOneLine(out, /may not write --out/);
  assert.match(out.err, new RegExp(`--allow-write=${missing} `));
  // A folder inside the repository that does not exist is named as such.
  const inside = await runScript("dropout", ["--data", "data/no-such-folder"]);
  assert.equal(inside.code, 2, explain(inside));
  assertOneLine(inside, /--data "data\/no-such-folder" does not exist/);
});

Deno.test("every flag is checked before the data loads", async () => {
  const cases: [string, string[], RegExp][] = [
    ["fully_connected_nets", ["--lr", "abc"], /--lr must be a number > 0, got "abc"/],
    [
      "fully_connected_nets",
      ["--hidden", "256,x"],
      /--hidden must be a comma-separated list.*got "256,x"/,
    ],
    [
      "fully_connected_nets",
      ["--normalization", "bn"],
      /--normalization must be none, batchnorm or layernorm, got "bn"/,
    ],
    ["convolutional_networks", ["--epochs", "0"], /--epochs must be an integer ≥ 1, got "0"/],
    ["dropout", ["--ratios", "1,1.5"], /--ratios must be .*got "1,1.5"/],
    [
      "batch_normalization",
      ["--num-train", "1e3.5"],
      /--num-train must be an integer ≥ 1, got "1e3.5"/,
    ],
  ];
  for (const [script, args, message] of cases) {
    const r = await runScript(script, [...args, "--data", MINI, "--out", `${OUT}/never`]);
    assert.equal(r.code, 2, `${script} ${args.join(" ")}: ${explain(r)}`);
    assertOneLine(r, message);
    assert.doesNotMatch(r.out, /Loaded/, `${script} ${args.join(" ")} loaded the data first`);
  }
  await clean(`${OUT}/never`);
});

Deno.test("a data error is one line '<script>: <message>' with exit code 1", async () => {
  // data/ exists but holds none of the four files.
  const r = await runScript("fully_connected_nets", ["--data", "data", "--out", `${OUT}/never`]);
  assert.equal(r.code, 1, explain(r));
  assertOneLine(r, /^fully_connected_nets: findFashionMnist: dataDir is "data", but/);
  await clean(`${OUT}/never`);
});

Deno.test("--only merges its sections into results.json and results.md", async () => {
  const dir = `${OUT}/merge`;
  await clean(dir);
  const first = await runScript("batch_normalization", ["--only", "checks", "--out", dir]);
  assert.equal(first.code, 0, explain(first));
  const second = await runScript("batch_normalization", [
    "--quick",
    "--only",
    "baseline",
    "--data",
    MINI,
    "--out",
    dir,
  ]);
  assert.equal(second.code, 0, explain(second));
  const results = await readJson(`${dir}/results.json`);
  assert.ok("checks" in results && "baseline" in results, Object.keys(results).join());
  const runs = results.runs as { sections: string[]; args: string[] }[];
  assert.deepEqual(runs.map((r) => r.sections), [["checks"], ["baseline"]]);
  assert.deepEqual(runs[0].args, ["--only", "checks", "--out", dir]);
  const md = await Deno.readTextFile(`${dir}/results.md`);
  assert.match(md, /## Batchnorm forward statistics/);
  assert.match(md, /## 6-layer net with and without batchnorm/);
  // A third run of the first section replaces it and keeps the other.
  const third = await runScript("batch_normalization", ["--only", "checks", "--out", dir]);
  assert.equal(third.code, 0, explain(third));
  const after = await readJson(`${dir}/results.json`);
  assert.deepEqual((after.runs as { sections: string[] }[]).map((r) => r.sections), [
    ["baseline"],
    ["checks"],
  ]);
  assert.deepEqual(after.baseline, results.baseline);
  const md3 = await Deno.readTextFile(`${dir}/results.md`);
  assert.equal(md3.split("## Batchnorm forward statistics").length, 2, md3);
  assert.match(md3, /## 6-layer net with and without batchnorm/);
  await clean(dir);
});

Deno.test("--demo honours the net's flags and refuses --only", async () => {
  const dir = `${OUT}/demo-flags`;
  const r = await runScript("fully_connected_nets", [
    "--demo",
    "--quick",
    "--epochs",
    "2",
    "--hidden",
    "32",
    "--lr",
    "2e-3",
    "--data",
    MINI,
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, explain(r));
  const demo = (await readJson(`${dir}/results.json`)).demo as {
    config: Record<string, unknown>;
    valAccHistory: number[];
  };
  assert.equal(demo.config.numEpochs, 2);
  assert.deepEqual(demo.config.hiddenDims, [32]);
  assert.equal(demo.config.learningRate, 2e-3);
  assert.equal(demo.config.lrDecay, 0.9); // not given: the demo's own value
  assert.equal(demo.valAccHistory.length, 3);
  await clean(dir);
  const only = await runScript("fully_connected_nets", ["--demo", "--only", "best"]);
  assert.equal(only.code, 2, explain(only));
  assertOneLine(only, /--only chooses sections of the full run, and --demo runs none/);
});

Deno.test("flag messages quote what the user typed", async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown flag "--bogus"/],
    [["extra"], /unexpected argument "extra"/],
    [["--seed", "1.5"], /--seed must be an integer ≥ 0, got "1.5"/],
    [["--only", "nope"], /--only: unknown section "nope"/],
    [["--quick=1"], /--quick takes no value, got "--quick=1"/],
    [["--dataset", "mnist"], /--dataset must be fashion-mnist or cifar10, got "mnist"/],
  ];
  for (const [args, message] of cases) {
    const r = await runScript("dropout", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${explain(r)}`);
    assertOneLine(r, message);
  }
});

/**
 * The helpers of `scripts/_cli.ts` and `scripts/_plots.ts`, tested directly: split sizes
 * fitted to the data, flag parsing and checks, permission checks, merging results, the
 * training-curve figure and captioned weight grids.
 */
import assert from "node:assert/strict";
import {
  checkAccess,
  COMMON_FLAGS,
  fitSizes,
  isInteger,
  isListOf,
  isNumber,
  isOneOf,
  mergeResults,
  parseFlagValues,
  shellQuote,
} from "../../scripts/_cli.ts";
import { trainingCurvePanels, withCaption, writeTrainingCurves } from "../../scripts/_plots.ts";

Deno.test("fitSizes shrinks requests larger than the data, in proportion, and says so", () => {
  const avail = { train: 2000, test: 500 };
  // Fits: unchanged.
  assert.deepEqual(fitSizes({ numTraining: 1500, numValidation: 500, numTest: 500 }, avail), {
    sizes: { numTraining: 1500, numValidation: 500, numTest: 500 },
    shrunk: false,
  });
  // 2,000 + 500 of 2,000: 4:1 kept.
  assert.deepEqual(fitSizes({ numTraining: 2000, numValidation: 500 }, avail), {
    sizes: { numTraining: 1600, numValidation: 400 },
    shrunk: true,
  });
  // Only the test split too large.
  assert.deepEqual(fitSizes({ numTraining: 10, numTest: 1000 }, avail), {
    sizes: { numTraining: 10, numTest: 500 },
    shrunk: true,
  });
  // Defaults (nothing asked) are left to getData.
  assert.deepEqual(fitSizes({}, avail), { sizes: {}, shrunk: false });
  // Training alone larger than the file: all of it.
  assert.deepEqual(fitSizes({ numTraining: 5000 }, avail).sizes, { numTraining: 2000 });
  // A tiny file keeps at least one training example.
  const tiny = fitSizes({ numTraining: 1, numValidation: 100 }, { train: 2, test: 0 }).sizes;
  assert.ok(tiny.numTraining! >= 1 && tiny.numTraining! + tiny.numValidation! <= 2);
});

Deno.test("parseFlagValues fills defaults, records given flags and checks values", () => {
  const specs = {
    ...COMMON_FLAGS,
    lr: { type: "string" as const, default: "1e-3", help: "", check: isNumber({ above: 0 }) },
    hidden: { type: "string" as const, default: "10", help: "", check: isListOf(isInteger(1)) },
    norm: { type: "string" as const, default: "none", help: "", check: isOneOf(["none", "bn"]) },
  };
  const ok = parseFlagValues(specs, ["--lr", "0.5", "--quick", "--hidden", "3, 4"]);
  assert.equal(ok.values.lr, "0.5");
  assert.equal(ok.values.seed, "0");
  assert.equal(ok.values.quick, true);
  assert.deepEqual([...ok.given].sort(), ["hidden", "lr", "quick"]);
  const bad: [string[], string][] = [
    [["--lr", "0"], '--lr must be a number > 0, got "0"'],
    [["--lr", ""], '--lr must be a number > 0, got ""'],
    [
      ["--hidden", "3,,4"],
      '--hidden must be a comma-separated list, each item an integer ≥ 1, got "3,,4"',
    ],
    [["--norm", "BN"], '--norm must be none or bn, got "BN"'],
    [["--seed=-1"], '--seed must be an integer ≥ 0, got "-1"'],
    [
      ["--seed", "-1"],
      '--seed needs a value; for one that starts with "-", write --seed=-1 (got "-1")',
    ],
    [["--nope"], 'unknown flag "--nope"'],
    [["stray"], 'unexpected argument "stray" (every flag starts with --)'],
    [["--lr"], "--lr needs a value"],
  ];
  for (const [args, message] of bad) {
    assert.throws(() => parseFlagValues(specs, args), { message }, args.join(" "));
  }
  // --help skips the checks (the help text is printed instead).
  assert.equal(parseFlagValues(specs, ["--help", "--lr", "x"]).values.help, true);
});

Deno.test("checkAccess names what may not be read or written and the command that grants it", () => {
  // The test task grants reading . and /usr/share/datasets and writing out/.
  const missing = "/nonexistent-cli-helpers-test";
  const read = checkAccess({ dataFlag: missing, outDir: "out/x", outFlag: false });
  assert.match(read!, /may not read --data "\/nonexistent-cli-helpers-test"/);
  assert.match(read!, /run instead: deno run --allow-read=\.,\/usr\/share\/datasets,\/nonexistent/);
  const write = checkAccess({ outDir: "/tmp/elsewhere", outFlag: true });
  assert.match(write!, /may not write --out "\/tmp\/elsewhere"/);
  // Read too: results.json merges with what an earlier run left there.
  assert.match(
    write!,
    / --allow-read=\.,\/usr\/share\/datasets,\/tmp\/elsewhere --allow-write=\/tmp\/elsewhere /,
  );
  const env = checkAccess({ dataEnv: missing, outDir: "out/x", outFlag: false });
  assert.match(env!, /run instead: FASHION_MNIST_DIR=\/nonexistent-cli-helpers-test deno run/);
  assert.equal(
    checkAccess({ dataFlag: "data/absent", outDir: "out/x", outFlag: false }),
    '--data "data/absent" does not exist',
  );
  assert.equal(
    checkAccess({ dataFlag: "README.md", outDir: "out/x", outFlag: false }),
    '--data "README.md" is not a directory',
  );
  assert.equal(
    checkAccess({ dataFlag: "data/fashion-mnist-mini", outDir: "out/x", outFlag: true }),
    null,
  );
  assert.equal(shellQuote("a b'c"), `'a b'\\''c'`);
  assert.equal(shellQuote("--data=/x,y"), "--data=/x,y");
});

Deno.test("mergeResults keeps other runs' sections and drops runs left with none", () => {
  const first = mergeResults(null, "s", { startedAt: "t1", args: [] }, { a: 1, b: 2 });
  assert.deepEqual(first, {
    script: "s",
    runs: [{ startedAt: "t1", args: [], sections: ["a", "b"] }],
    a: 1,
    b: 2,
  });
  const second = mergeResults(first, "s", { startedAt: "t2", args: ["--only", "b"] }, { b: 3 });
  assert.deepEqual(second.runs.map((r) => [r.startedAt, r.sections]), [["t1", ["a"]], [
    "t2",
    ["b"],
  ]]);
  const third = mergeResults(second, "s", { startedAt: "t3", args: [] }, { a: 4 });
  assert.deepEqual(third.runs.map((r) => r.startedAt), ["t2", "t3"]);
  assert.equal(third.a, 4);
  assert.equal(third.b, 3);
  // Another script's file is replaced, not merged.
  assert.deepEqual(
    mergeResults(first, "other", { startedAt: "t", args: [] }, { c: 1 }).runs.length,
    1,
  );
  // The layout before runs were recorded counts as one earlier run.
  const legacy = { script: "s", mode: "full", seed: 0, totalSeconds: 5, a: 1, b: 2 };
  const merged = mergeResults(legacy, "s", { startedAt: "t", args: [] }, { b: 9 });
  assert.deepEqual(merged.runs[0], {
    startedAt: "unknown",
    args: [],
    sections: ["a"],
    mode: "full",
    seed: 0,
    totalSeconds: 5,
  });
  assert.equal(merged.a, 1);
  assert.equal(merged.b, 9);
});

const run = (acc: number[]) => ({
  lossHistory: [2.3, 1.5, 1.1],
  trainAccHistory: acc,
  valAccHistory: acc.map((a) => a - 0.05),
});

Deno.test("training curves of one run label its accuracy series train and val", async () => {
  const [loss, accuracy] = trainingCurvePanels({ train: run([0.1, 0.7]) });
  assert.equal(loss.series.length, 1);
  assert.deepEqual(accuracy.series.map((s) => s.name), ["train", "val"]);
  assert.equal(accuracy.integerX, true);
  const several = trainingCurvePanels({ sgd: run([0.1, 0.5]), adam: run([0.2, 0.8]) });
  assert.deepEqual(several.map((p) => p.title), [
    "Training loss",
    "Training accuracy",
    "Validation accuracy",
  ]);
  assert.deepEqual(several[2].series.map((s) => s.name), ["sgd", "adam"]);
  assert.ok(several.slice(1).every((p) => p.integerX));
  // The conv script's figure: one run keyed "train".
  const dir = "out/test-cli/curves";
  const path = await writeTrainingCurves(dir, "train", "ThreeLayerConvNet", {
    train: run([0.1, 0.7]) as never,
  });
  const svg = await Deno.readTextFile(path);
  const legendNames = [...svg.matchAll(/<g class="legend">[\s\S]*?<\/g>/g)]
    .flatMap((m) => [...m[0].matchAll(/>([^<]+)<\/text>/g)].map((t) => t[1]));
  assert.deepEqual(legendNames, ["train", "val"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("withCaption writes the caption above the image, widening the canvas if needed", () => {
  const gray = { width: 40, height: 3, channels: 1 as const, data: new Uint8Array(120).fill(7) };
  const out = withCaption(gray, "8 of 9", 1);
  // 6 characters of 3 pixels with 1-pixel gaps (23) plus 2-pixel margins fit in 40.
  assert.equal(out.width, 40);
  assert.equal(out.height, 2 + 5 + 2 + 3);
  // The image is copied below the strip, unchanged.
  assert.deepEqual([...out.data.subarray(9 * 40)], [...gray.data]);
  // "8" is a 3×5 block with two holes: its top row is lit across.
  assert.deepEqual([...out.data.subarray(2 * 40 + 2, 2 * 40 + 5)], [255, 255, 255]);
  assert.deepEqual([...out.data.subarray(3 * 40 + 2, 3 * 40 + 5)], [255, 0, 255]);
  // RGB, scaled 2×: wider than the image.
  const rgb = { width: 4, height: 2, channels: 3 as const, data: new Uint8Array(24).fill(1) };
  const big = withCaption(rgb, "units: 100", 2);
  assert.equal(big.width, (10 * 4 - 1) * 2 + 8);
  assert.equal(big.data.length, big.width * big.height * 3);
});

/**
 * The library's layering, enforced: every module of `lib/` sits on a floor, and its imports
 * may only point to its own floor or below. Data flows top to bottom (scripts → models →
 * layers → tensor → kernels → parallel → storage), never back up, and nothing but Deno's
 * runtime, Web APIs and `node:` built-ins comes from outside. A folder's `_`-prefixed files
 * are its internals, and `lib/kernels/wasm/` is the kernels' own: other folders use the
 * kernels' public files instead.
 *
 * The test reads the import lines of every file under `lib/` (comments stripped, so JSDoc
 * examples do not count); a file that no floor claims fails it too, so a new folder gets a
 * place in the table below, and the README's tour of `lib/`, when it is created.
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Floors from the bottom (0) up; a path prefix ending in "/" claims a whole folder. */
const FLOORS: [prefix: string, floor: number][] = [
  // Storage and the things every floor may use: no imports from the library at all.
  ["lib/storage.ts", 0],
  ["lib/scratch.ts", 0],
  ["lib/buffer_pool.ts", 0],
  ["lib/rng.ts", 0],
  ["lib/progress.ts", 0],
  ["lib/checks.ts", 0],
  // The worker pool: threads, jobs and their shared-memory protocol; knows no kernel.
  ["lib/parallel/", 1],
  // Every hot loop, on raw typed arrays; registers its own pool jobs.
  ["lib/kernels/", 2],
  // The n-d array (and the checks every Tensor-taking function shares).
  ["lib/tensor.ts", 3],
  ["lib/tensor_checks.ts", 3],
  ["lib/autograd/", 3],
  // Forward/backward pairs on Tensors, and what reads, writes or shows Tensors.
  ["lib/layers/", 4],
  ["lib/gradient_check.ts", 4],
  ["lib/io/", 4],
  ["lib/data/", 4],
  ["lib/vis/", 4],
  // Models, classifiers, image features, the module API, update rules.
  ["lib/models/", 5],
  ["lib/classifiers/", 5],
  ["lib/features/", 5],
  ["lib/nn/", 5],
  ["lib/optim.ts", 5],
  ["lib/optim/", 5],
  // Training loops and what inspects trained models.
  ["lib/solver.ts", 6],
  ["lib/visualization/", 6],
];

/** Folders private to a floor's folder: [private folder, the only folder that may use it]. */
const PRIVATE_FOLDERS: [folder: string, owner: string][] = [["lib/kernels/wasm/", "lib/kernels/"]];

function floorOf(path: string): number | undefined {
  return FLOORS.find(([prefix]) => prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix)
    ?.[1];
}

async function libFiles(dir = "lib"): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await libFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
export function importsOf(source: string): string[] {
  // Drop comments first: JSDoc examples import freely (they run as tests, on top).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specifiers: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) specifiers.push(match[1]);
  }
  return specifiers;
}

/** Every import of `file` that breaks a rule, as a readable line. */
function violations(file: string, source: string): string[] {
  const found: string[] = [];
  const floor = floorOf(file)!;
  for (const spec of importsOf(source)) {
    if (spec.startsWith("node:")) continue;
    if (!spec.startsWith(".")) {
      found.push(`${file} imports "${spec}": lib/ uses only relative imports and node: built-ins`);
      continue;
    }
    const target = relative(ROOT, join(ROOT, dirname(file), spec)).replaceAll("\\", "/");
    const targetFloor = floorOf(target);
    if (targetFloor === undefined) {
      found.push(`${file} imports ${target}, which is outside every floor of lib/`);
    } else if (targetFloor > floor) {
      found.push(`${file} (floor ${floor}) imports ${target} (floor ${targetFloor}): upward`);
    }
    const name = target.slice(target.lastIndexOf("/") + 1);
    const targetDir = target.slice(0, target.lastIndexOf("/") + 1);
    if (name.startsWith("_") && !file.startsWith(targetDir)) {
      found.push(`${file} imports ${target}: another folder's internals`);
    }
    for (const [folder, owner] of PRIVATE_FOLDERS) {
      if (target.startsWith(folder) && !file.startsWith(owner)) {
        found.push(`${file} imports ${target}: ${folder} is private to ${owner}`);
      }
    }
  }
  return found;
}

Deno.test("every file of lib/ sits on a floor of the layering", async () => {
  const unplaced = (await libFiles()).filter((f) => floorOf(f) === undefined);
  assert.deepEqual(unplaced, [], "give these files a floor in tests/layering_test.ts");
});

Deno.test("lib/ imports point down the floors, never up or into another folder's internals", async () => {
  const found: string[] = [];
  for (const file of await libFiles()) {
    found.push(...violations(file, await Deno.readTextFile(join(ROOT, file))));
  }
  assert.deepEqual(found, []);
});

Deno.test("the layering check catches what it is meant to catch", () => {
  const upward = 'import { Tensor } from "../tensor.ts";\nexport const x = 1;';
  assert.match(
    violations("lib/kernels/demo.ts", upward)[0],
    /floor 2\) imports lib\/tensor.ts \(floor 3\): upward/,
  );
  const internal = 'import { checkGemmArgs } from "../kernels/_gemm_args.ts";';
  assert.match(violations("lib/layers/demo.ts", internal)[0], /another folder's internals/);
  const wasm = 'import type { GemmInstance } from "../kernels/wasm/gemm_instance.ts";';
  assert.match(violations("lib/layers/demo.ts", wasm)[0], /private to lib\/kernels\//);
  const outside = 'import { x } from "npm:left-pad";';
  assert.match(violations("lib/layers/demo.ts", outside)[0], /only relative imports/);
  const dynamic = 'const m = await import("../models/cnn.ts");';
  assert.match(violations("lib/layers/demo.ts", dynamic)[0], /upward/);
  // Downward, sibling-folder public files, own internals and JSDoc examples are fine.
  const fine = [
    'import { gemm } from "../kernels/gemm.ts";',
    'import { getData } from "../data/preprocess.ts";',
    'import { helper } from "./_helper.ts";',
    '/**\n * ```ts\n * import { ThreeLayerConvNet } from "../models/cnn.ts";\n * ```\n */',
  ].join("\n");
  assert.deepEqual(violations("lib/layers/demo.ts", fine), []);
});

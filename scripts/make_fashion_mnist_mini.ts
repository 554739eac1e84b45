/**
 * Makes the Fashion-MNIST mini subset committed in `data/fashion-mnist-mini/`: the first
 * 2,000 training and first 500 test examples of the official files, in the same gzipped
 * IDX format and under the same file names, so the loaders need no special case.
 *
 * Run once, from the repository root:
 *
 * ```sh
 * deno run --allow-read --allow-write=data scripts/make_fashion_mnist_mini.ts
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FASHION_MNIST_FILES, FASHION_MNIST_SYSTEM_DIR } from "../lib/data/fashion_mnist.ts";
import { encodeIdx, gzip, readIdxFile } from "../lib/data/idx.ts";

const USAGE =
  `Usage: deno run --allow-read --allow-write=data scripts/make_fashion_mnist_mini.ts [options]

Copies the first examples of the official Fashion-MNIST files into a small subset with the
same file names and format (gzipped IDX).

Options:
  --src DIR     directory with the four official .gz files (default ${FASHION_MNIST_SYSTEM_DIR})
  --out DIR     where to write the subset (default data/fashion-mnist-mini)
  --train N     number of training examples to keep (default 2000)
  --test N      number of test examples to keep (default 500)
  -h, --help    show this help`;

/** Parses a count flag, rejecting anything but a positive integer. */
function parseCount(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`--${flag} must be a positive integer, got "${value}"`);
  }
  return n;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      src: { type: "string", default: FASHION_MNIST_SYSTEM_DIR },
      out: { type: "string", default: "data/fashion-mnist-mini" },
      train: { type: "string", default: "2000" },
      test: { type: "string", default: "500" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const keep = { train: parseCount("train", values.train), test: parseCount("test", values.test) };
  await Deno.mkdir(values.out, { recursive: true });

  for (const name of Object.values(FASHION_MNIST_FILES)) {
    const { dims, data } = await readIdxFile(`${values.src}/${name}`);
    const count = name.startsWith("train") ? keep.train : keep.test;
    if (count > dims[0]) {
      throw new Error(`${name} has only ${dims[0]} examples, cannot keep ${count}`);
    }
    // Every IDX array is row-major with the example index first, so the first `count`
    // examples are one contiguous prefix of the data.
    const perExample = data.length / dims[0];
    const subset = encodeIdx([count, ...dims.slice(1)], data.subarray(0, count * perExample));
    const compressed = await gzip(subset);
    await Deno.writeFile(`${values.out}/${name}`, compressed);
    console.log(`${values.out}/${name}: ${count} of ${dims[0]}, ${compressed.length} bytes`);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`make_fashion_mnist_mini: ${(e as Error).message}\n\n${USAGE}`);
    Deno.exit(1);
  }
}

/**
 * Loading the data set a script names, with the sizes it asks for shrunk to the data that
 * is there (one line says so), and a data set that cannot be loaded reported as one line
 * (exit code 1).
 *
 * @module
 */

import type { ScriptContext } from "./_context.ts";
import { join } from "node:path";
import { type DatasetName, type DataSplits, getData } from "../lib/data/preprocess.ts";
import { FASHION_MNIST_FILES, findFashionMnist } from "../lib/data/fashion_mnist.ts";
import { readIdxFile } from "../lib/data/idx.ts";
import type { DType } from "../lib/storage.ts";
import { fail } from "./_flags.ts";

/** Split sizes a script asks for; a size left out means the data set's default. */
export interface SplitSizes {
  /** Training examples (the first of the training file). */
  numTraining?: number;
  /** Validation examples (the ones after the training examples). */
  numValidation?: number;
  /** Test examples (the first of the test file). */
  numTest?: number;
}

/**
 * Sizes that fit in `available` examples: a training + validation request larger than the
 * training file shrinks both in proportion (at least one training example), a test request
 * larger than the test file shrinks to it. Sizes left out stay out. Returns the sizes and
 * whether anything changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitSizes } from "./_cli.ts";
 * const { sizes, shrunk } = fitSizes(
 *   { numTraining: 2000, numValidation: 500, numTest: 1000 },
 *   { train: 2000, test: 500 },
 * );
 * assert.deepEqual(sizes, { numTraining: 1600, numValidation: 400, numTest: 500 });
 * assert.ok(shrunk);
 * ```
 */
export function fitSizes(
  requested: SplitSizes,
  available: { train: number; test: number },
): { sizes: SplitSizes; shrunk: boolean } {
  const sizes = { ...requested };
  let shrunk = false;
  const { numTraining, numValidation, numTest } = requested;
  if (numTraining !== undefined || numValidation !== undefined) {
    const train = numTraining ?? 0, val = numValidation ?? 0;
    if (train + val > available.train) {
      shrunk = true;
      const keptVal = Math.min(
        Math.floor((available.train * val) / (train + val)),
        available.train - 1,
      );
      if (numValidation !== undefined) sizes.numValidation = keptVal;
      if (numTraining !== undefined) {
        sizes.numTraining = Math.max(
          1,
          available.train - (numValidation !== undefined ? keptVal : 0),
        );
      }
    }
  }
  if (numTest !== undefined && numTest > available.test) {
    shrunk = true;
    sizes.numTest = available.test;
  }
  return { sizes, shrunk };
}

/**
 * How many training and test examples the data set the flags name holds, read cheaply (the
 * label files' headers; CIFAR-10 batch file sizes). Null when that cannot be told: loading
 * the data then reports the problem.
 */
async function countExamples(
  dataset: DatasetName,
  dataDir: string | undefined,
): Promise<{ train: number; test: number } | null> {
  try {
    if (dataset === "fashion-mnist") {
      const { dir } = findFashionMnist(dataDir === undefined ? {} : { dataDir });
      const labels = async (gzName: string) => {
        for (const name of [gzName, gzName.slice(0, -3)]) {
          try {
            return (await readIdxFile(join(dir, name))).dims[0];
          } catch { /* try the other name */ }
        }
        throw new Error(`no ${gzName}`);
      };
      return {
        train: await labels(FASHION_MNIST_FILES.trainLabels),
        test: await labels(FASHION_MNIST_FILES.testLabels),
      };
    }
    const base = dataDir ?? "data";
    for (const dir of [base, join(base, "cifar-10-batches-bin")]) {
      const size = (name: string) => Deno.statSync(join(dir, name)).size / 3073;
      try {
        const train = [1, 2, 3, 4, 5].reduce((s, i) => s + size(`data_batch_${i}.bin`), 0);
        return { train: Math.floor(train), test: Math.floor(size("test_batch.bin")) };
      } catch { /* try the nested folder */ }
    }
    return null;
  } catch {
    return null;
  }
}

/**
 * Loads the data set the flags name (`--dataset`, `--data`) and prints what was loaded.
 * Sizes the script asks for shrink to the data that is there (one line says so); a data set
 * that cannot be loaded ends the script with one line `<script>: <message>` and exit code 1.
 */
export async function loadData(
  ctx: ScriptContext<string>,
  options: SplitSizes & { dtype?: DType; subtractMean?: boolean } = {},
): Promise<DataSplits> {
  const { flags, script } = ctx;
  const dataset = flags.dataset as DatasetName;
  const dataDir = flags.data as string | undefined;
  const t0 = performance.now();
  let data: DataSplits;
  try {
    const { dtype, subtractMean, ...requested } = options;
    const available = await countExamples(dataset, dataDir);
    let sizes: SplitSizes = requested;
    if (available !== null) {
      const fitted = fitSizes(requested, available);
      sizes = fitted.sizes;
      if (fitted.shrunk) {
        const show = (s: SplitSizes) =>
          `${s.numTraining ?? "default"} train / ${s.numValidation ?? "default"} val / ` +
          `${s.numTest ?? "default"} test`;
        console.log(
          `${script}: the data set holds ${available.train} training and ${available.test} ` +
            `test images, fewer than asked for (${show(requested)}); using ${show(sizes)}`,
        );
      }
    }
    data = await getData({
      dataset,
      dataDir,
      ...sizes,
      ...(dtype ? { dtype } : {}),
      ...(subtractMean === undefined ? {} : { subtractMean }),
    });
  } catch (e) {
    fail(script, (e as Error).message, 1);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `Loaded ${data.dataset}${
      data.isMini ? " (committed mini subset)" : ""
    } from ${data.dir} in ${secs}s: ` +
      `train ${data.XTrain.shape[0]}, val ${data.XVal.shape[0]}, test ${data.XTest.shape[0]}, ` +
      `image shape [${data.XTrain.shape.slice(1)}]`,
  );
  return data;
}

/**
 * The first `count` training examples of `data` (validation and test splits unchanged), for
 * a section that trains on a subset; when the training split is smaller, all of it, and one
 * line says so.
 */
export function trainingSubset(
  ctx: ScriptContext<string>,
  data: DataSplits,
  count: number,
  what: string,
): DataSplits {
  const available = data.XTrain.shape[0];
  if (count > available) {
    console.log(
      `${ctx.script}: ${what} asks for ${count} training images, the training split holds ` +
        `${available}; using ${available}`,
    );
  }
  const n = Math.min(count, available);
  return { ...data, XTrain: data.XTrain.sliceRows(0, n), yTrain: data.yTrain.subarray(0, n) };
}

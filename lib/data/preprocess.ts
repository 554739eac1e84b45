/**
 * Train / validation / test splits as float tensors, like cs231n's `get_CIFAR10_data`.
 *
 * @module
 */

import { checkDType, type DType } from "../storage.ts";
import { Tensor } from "../tensor.ts";
import { loadCifar10 } from "./cifar10.ts";
import type { RawImageDataset } from "./dataset.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";

/** The data sets {@link getData} can load. */
export type DatasetName = "fashion-mnist" | "cifar10";

/** Options of {@link getData}. */
export interface GetDataOptions {
  /** Which data set (default `"fashion-mnist"`). */
  dataset?: DatasetName;
  /**
   * Where the files are. Fashion-MNIST: see `findFashionMnist` for the search when omitted.
   * CIFAR-10: the directory with the `.bin` files or its parent (default `"data"`).
   */
  dataDir?: string;
  /** Training examples: the first ones of the training file (default 59,000 / 49,000). */
  numTraining?: number;
  /** Validation examples: the ones right after the training split (default 1,000). */
  numValidation?: number;
  /** Test examples: the first ones of the test file (default 10,000 / 1,000). */
  numTest?: number;
  /** Subtract the mean training image from all three splits (default true). */
  subtractMean?: boolean;
  /** Element type of the image tensors (default `"float32"`). */
  dtype?: DType;
  /** Images as rows `(N, C*H*W)` instead of `(N, C, H, W)` (default false). */
  flatten?: boolean;
}

/** The splits returned by {@link getData}. */
export interface DataSplits {
  /** Training images, `(N, C, H, W)` or `(N, D)` when flattened. */
  XTrain: Tensor;
  /** Training labels. */
  yTrain: Int32Array;
  /** Validation images. */
  XVal: Tensor;
  /** Validation labels. */
  yVal: Int32Array;
  /** Test images. */
  XTest: Tensor;
  /** Test labels. */
  yTest: Int32Array;
  /** The mean training image that was subtracted, `(C, H, W)` or `(D,)`; absent if none. */
  meanImage?: Tensor;
  /** Class names, indexed by label. */
  classNames: readonly string[];
  /** Which data set this is. */
  dataset: DatasetName;
  /** The directory the files were read from. */
  dir: string;
  /** Whether the data came from the small committed subset rather than the full set. */
  isMini: boolean;
}

/** cs231n's split sizes for each data set. */
const DEFAULT_SPLITS: Record<DatasetName, { train: number; val: number; test: number }> = {
  "fashion-mnist": { train: 59000, val: 1000, test: 10000 },
  cifar10: { train: 49000, val: 1000, test: 1000 },
};

/**
 * Loads a data set and returns train / validation / test splits as float tensors, the way
 * cs231n's `get_CIFAR10_data` does: pixel values stay in 0..255 (no scaling), the mean
 * training image is subtracted from every split, the validation examples are the
 * `numValidation` right after the first `numTraining`, and the test examples are the first
 * `numTest` of the test file.
 *
 * Flattened rows are in (C, H, W) order. (The assignment-1 notebook flattens CIFAR-10 in
 * (H, W, C) order; a linear classifier does not care, but reshape weights to `[C, H, W]`
 * when visualising them.)
 *
 * When the data set has fewer examples than the default sizes (e.g. the Fashion-MNIST mini
 * subset of 2,000 + 500), the defaults shrink to fit: 5% of the training file for
 * validation, the rest for training, the whole test file, and a warning says so. Sizes given
 * explicitly are never changed.
 *
 * @throws Error naming the option when a size is not a valid integer or asks for more
 *   examples than the files hold, or when `dataset` or `dtype` is unknown
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getData } from "./preprocess.ts";
 * const data = await getData({ dataDir: "data/fashion-mnist-mini", numTraining: 100,
 *   numValidation: 10, numTest: 20 });
 * assert.deepEqual(data.XTrain.shape, [100, 1, 28, 28]);
 * assert.equal(data.yVal.length, 10);
 * ```
 */
export async function getData(options: GetDataOptions = {}): Promise<DataSplits> {
  const dataset = options.dataset ?? "fashion-mnist";
  if (dataset !== "fashion-mnist" && dataset !== "cifar10") {
    throw new Error(
      `getData: dataset must be "fashion-mnist" or "cifar10", got ${JSON.stringify(dataset)}`,
    );
  }
  const dtype = checkDType("getData", options.dtype ?? "float32");
  const subtractMean = options.subtractMean ?? true;
  const flatten = options.flatten ?? false;
  for (const key of ["numTraining", "numValidation", "numTest"] as const) {
    const value = options[key];
    const min = key === "numTraining" ? 1 : 0;
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= min)) {
      throw new Error(
        `getData: ${key} must be an integer ≥ ${min}, got ${value}`,
      );
    }
  }

  const raw: RawImageDataset = dataset === "cifar10"
    ? await loadCifar10(options.dataDir)
    : await loadFashionMnist({ dataDir: options.dataDir });
  const sizes = chooseSizes(dataset, raw, options);

  const [channels, height, width] = raw.imageShape;
  const pixels = channels * height * width;
  const imageShape = flatten ? [pixels] : [channels, height, width];

  let mean: Float64Array | null = null;
  if (subtractMean) {
    // Bytes summed in float64 are exact (at most 255 * 60,000), so this equals numpy's
    // np.mean(X_train, axis=0) bit for bit.
    mean = new Float64Array(pixels);
    for (let i = 0; i < sizes.train; i++) {
      const row = raw.xTrain.subarray(i * pixels, (i + 1) * pixels);
      for (let j = 0; j < pixels; j++) mean[j] += row[j];
    }
    for (let j = 0; j < pixels; j++) mean[j] /= sizes.train;
  }

  const split = (x: Uint8Array, start: number, count: number): Tensor => {
    const out = Tensor.zeros([count, ...imageShape], dtype);
    const src = x.subarray(start * pixels, (start + count) * pixels);
    const dst = out.data;
    if (mean === null) {
      dst.set(src);
    } else {
      // Subtract in float64 and round once, so float32 output loses nothing extra.
      for (let i = 0, k = 0; i < count; i++) {
        for (let j = 0; j < pixels; j++, k++) dst[k] = src[k] - mean[j];
      }
    }
    return out;
  };

  let meanImage: Tensor | undefined;
  if (mean !== null) {
    meanImage = Tensor.zeros(imageShape, dtype);
    meanImage.data.set(mean);
  }
  const valEnd = sizes.train + sizes.val;
  return {
    XTrain: split(raw.xTrain, 0, sizes.train),
    yTrain: raw.yTrain.slice(0, sizes.train),
    XVal: split(raw.xTrain, sizes.train, sizes.val),
    yVal: raw.yTrain.slice(sizes.train, valEnd),
    XTest: split(raw.xTest, 0, sizes.test),
    yTest: raw.yTest.slice(0, sizes.test),
    ...(meanImage ? { meanImage } : {}),
    classNames: raw.classNames,
    dataset,
    dir: raw.dir,
    isMini: raw.isMini,
  };
}

/**
 * The split sizes: explicit ones as given (checked against what exists), defaults shrunk
 * to fit a data set smaller than the official one.
 */
function chooseSizes(
  dataset: DatasetName,
  raw: RawImageDataset,
  options: GetDataOptions,
): { train: number; val: number; test: number } {
  const defaults = DEFAULT_SPLITS[dataset];
  const trainAvailable = raw.yTrain.length;
  const testAvailable = raw.yTest.length;
  const { numTraining, numValidation, numTest } = options;

  let val: number;
  if (numValidation !== undefined) val = numValidation;
  else if (numTraining !== undefined) {
    val = Math.max(0, Math.min(defaults.val, trainAvailable - numTraining));
  } else if (defaults.train + defaults.val <= trainAvailable) val = defaults.val;
  else val = Math.min(defaults.val, Math.floor(trainAvailable / 20));
  const train = numTraining ?? Math.min(defaults.train, trainAvailable - val);
  const test = numTest ?? Math.min(defaults.test, testAvailable);

  const where = `the ${dataset} files in ${raw.dir}`;
  if (train < 1) {
    throw new Error(
      `getData: numValidation (${val}) leaves no training examples: ${where} hold ` +
        `${trainAvailable} training examples`,
    );
  }
  if (train + val > trainAvailable) {
    throw new Error(
      `getData: numTraining (${train}) + numValidation (${val}) = ${train + val}, but ` +
        `${where} hold only ${trainAvailable} training examples`,
    );
  }
  if (test > testAvailable) {
    throw new Error(
      `getData: numTest is ${test}, but ${where} hold only ${testAvailable} test examples`,
    );
  }
  const shrunk = (numTraining === undefined && train !== defaults.train) ||
    (numValidation === undefined && val !== defaults.val) ||
    (numTest === undefined && test !== defaults.test);
  if (shrunk) {
    const fmt = (n: number) => n.toLocaleString("en-US");
    console.warn(
      `getData: ${where} hold ${fmt(trainAvailable)} training and ${fmt(testAvailable)} ` +
        `test examples${raw.isMini ? " (the mini subset)" : ""}, fewer than the default ` +
        `${fmt(defaults.train)} / ${fmt(defaults.val)} / ${fmt(defaults.test)}; using ` +
        `${fmt(train)} train / ${fmt(val)} val / ${fmt(test)} test`,
    );
  }
  return { train, val, test };
}

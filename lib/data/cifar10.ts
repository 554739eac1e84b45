/**
 * CIFAR-10 from its binary distribution (`cifar-10-binary.tar.gz`).
 *
 * cs231n reads the Python pickle version; we read the binary version instead because it
 * needs no unpickler. Both hold the same images in the same order: five training batches
 * `data_batch_1.bin` … `data_batch_5.bin` of 10,000 records and `test_batch.bin`, each
 * record one label byte then 3,072 pixel bytes: the 1,024 red values of the 32×32 image
 * (row-major), then the green, then the blue. That is already channel-major (C, H, W), the
 * layout our convolutions use, so records are copied without reordering.
 *
 * @module
 */

import type { RawImageDataset } from "./dataset.ts";

/** The 10 CIFAR-10 class names, indexed by label. */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/** Bytes per image: 3 channels of 32×32. */
const IMAGE_BYTES = 3 * 32 * 32;
/** Bytes per record: the label byte, then the image. */
const RECORD_BYTES = 1 + IMAGE_BYTES;

/** The training batch file names, in the order cs231n concatenates them. */
export const CIFAR10_TRAIN_FILES: readonly string[] = Object.freeze(
  [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
);
/** The test batch file name. */
export const CIFAR10_TEST_FILE = "test_batch.bin";

const HOW_TO_GET = "download the CIFAR-10 binary version (cifar-10-binary.tar.gz) from " +
  "https://www.cs.toronto.edu/~kriz/cifar.html and extract it into data/ (which creates " +
  "data/cifar-10-batches-bin/), or pass the directory that holds the .bin files";

/**
 * Loads CIFAR-10 as bytes: images `N * 3072` (each 3×32×32), labels `Int32Array`.
 *
 * @param dir the directory holding the `.bin` files, or its parent holding
 *   `cifar-10-batches-bin/` (default `"data"`)
 * @throws Error naming the path and saying how to get the data set when a file is missing;
 *   naming the file and its length when the length is not a positive multiple of 3,073
 *   bytes; naming the file, record index and value when a label is above 9
 *
 * @example
 * ```ts ignore
 * import { loadCifar10 } from "./cifar10.ts";
 * const { xTrain, yTrain } = await loadCifar10("data"); // needs the downloaded data set
 * console.log(xTrain.length / 3072, yTrain.length); // 50000 50000
 * ```
 */
export async function loadCifar10(dir = "data"): Promise<RawImageDataset> {
  const batchDir = findBatchDir(dir);
  const train = await readBatches(CIFAR10_TRAIN_FILES.map((name) => `${batchDir}/${name}`));
  const test = await readBatches([`${batchDir}/${CIFAR10_TEST_FILE}`]);
  return {
    xTrain: train.x,
    yTrain: train.y,
    xTest: test.x,
    yTest: test.y,
    imageShape: [3, 32, 32],
    classNames: CIFAR10_CLASSES,
    dir: batchDir,
    isMini: false,
  };
}

/** `dir` itself when it holds the batches, else `dir/cifar-10-batches-bin` if that does. */
function findBatchDir(dir: string): string {
  const nested = `${dir}/cifar-10-batches-bin`;
  for (const candidate of [dir, nested]) {
    if (fileSize(`${candidate}/${CIFAR10_TRAIN_FILES[0]}`) !== null) return candidate;
  }
  throw new Error(
    `loadCifar10: cannot find ${CIFAR10_TRAIN_FILES[0]} in ${dir} or in ${nested}; ` +
      `CIFAR-10 is not installed: ${HOW_TO_GET}`,
  );
}

/**
 * Reads and concatenates batch files. Sizes are checked from `stat` first so the output
 * is allocated once and each file is copied in and dropped: the training set is 150 MB,
 * and holding every file plus the result would double that.
 */
async function readBatches(paths: string[]): Promise<{ x: Uint8Array; y: Int32Array }> {
  const counts = paths.map((path) => {
    const size = fileSize(path);
    if (size === null) throw new Error(`loadCifar10: missing ${path}; ${HOW_TO_GET}`);
    if (size === 0 || size % RECORD_BYTES !== 0) {
      throw new Error(
        `loadCifar10: ${path} is ${size} bytes long, expected a positive multiple of ` +
          `${RECORD_BYTES} (1 label byte + ${IMAGE_BYTES} pixel bytes per record); ` +
          `the file is truncated or not the binary version of CIFAR-10`,
      );
    }
    return size / RECORD_BYTES;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  const x = new Uint8Array(total * IMAGE_BYTES);
  const y = new Int32Array(total);
  let offset = 0;
  for (let f = 0; f < paths.length; f++) {
    const bytes = await readFile(paths[f]);
    // Re-check: the file may have changed since it was measured.
    if (bytes.length !== counts[f] * RECORD_BYTES) {
      throw new Error(
        `loadCifar10: ${paths[f]} changed size while loading (${bytes.length} bytes, ` +
          `expected ${counts[f] * RECORD_BYTES})`,
      );
    }
    for (let r = 0; r < counts[f]; r++) {
      const start = r * RECORD_BYTES;
      const label = bytes[start];
      if (label >= CIFAR10_CLASSES.length) {
        throw new Error(
          `loadCifar10: ${paths[f]} record ${r} has label ${label}, expected 0..9`,
        );
      }
      y[offset] = label;
      x.set(bytes.subarray(start + 1, start + RECORD_BYTES), offset * IMAGE_BYTES);
      offset++;
    }
  }
  return { x, y };
}

/** Size of the file at `path`, or null when there is no such file. */
function fileSize(path: string): number | null {
  try {
    const info = Deno.statSync(path);
    return info.isFile ? info.size : null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw new Error(`loadCifar10: cannot read ${path}: ${(e as Error).message}`);
  }
}

async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(`loadCifar10: cannot read ${path}: ${(e as Error).message}`);
  }
}

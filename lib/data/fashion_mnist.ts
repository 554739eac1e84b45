/**
 * Fashion-MNIST: finding the files and loading them as bytes.
 *
 * Fashion-MNIST (Zalando Research) is a drop-in replacement for MNIST: 60,000 training and
 * 10,000 test greyscale images of 28×28 pixels, 10 classes of clothing. It is what our
 * scripts train on by default because Debian packages it (`dataset-fashion-mnist`), while
 * CIFAR-10 must be downloaded by hand.
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { RawImageDataset } from "./dataset.ts";
import { type IdxArray, readIdxFile } from "./idx.ts";

/** The 10 Fashion-MNIST class names, indexed by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** The four official file names (each may also be present uncompressed, without `.gz`). */
export const FASHION_MNIST_FILES: {
  readonly trainImages: string;
  readonly trainLabels: string;
  readonly testImages: string;
  readonly testLabels: string;
} = Object.freeze({
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
});

/** Where the Debian package `dataset-fashion-mnist` installs the files. */
export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

/** How to get the full data set, quoted in warnings and errors. */
const HOW_TO_GET_FULL_SET = "to use the full set, run `sudo apt-get install " +
  `dataset-fashion-mnist\` (installs to ${FASHION_MNIST_SYSTEM_DIR}), or put the four .gz ` +
  "files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, " +
  "t10k-labels-idx1-ubyte.gz) in data/fashion-mnist/, or pass --data DIR";

/** Options of {@link findFashionMnist} and {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Directory holding the four files. When given, it must contain them: no fallback. */
  dataDir?: string;
}

/** Where {@link findFashionMnist} found the data set. */
export interface FashionMnistLocation {
  /** The directory holding the four files. */
  dir: string;
  /** Whether it is the committed 2,000 + 500 image subset rather than the full set. */
  isMini: boolean;
  /**
   * Which step of the search found it: the `dataDir` option, the `FASHION_MNIST_DIR`
   * environment variable, `data/fashion-mnist/` under the working directory, the Debian
   * package's directory, or the committed mini subset.
   */
  source: "dataDir" | "env" | "cwd" | "system" | "mini";
  /** The candidates passed over before `dir`, each with the reason (for diagnostics). */
  skipped: string[];
}

/**
 * Finds a directory holding the four Fashion-MNIST files.
 *
 * Search order: `options.dataDir`, then the `FASHION_MNIST_DIR` environment variable, then
 * `data/fashion-mnist/` (relative to the working directory), then the Debian package's
 * `/usr/share/datasets/fashion-mnist/`, and last the mini subset committed in
 * `data/fashion-mnist-mini/`. A directory the user named (option or environment variable)
 * must hold the files; the others are skipped when absent or unreadable (missing
 * `--allow-read` permission counts as unreadable).
 *
 * @throws Error naming the directory and the missing files when a named directory is
 *   incomplete, or listing every candidate when none holds the files
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findFashionMnist } from "./fashion_mnist.ts";
 * const { dir, isMini } = findFashionMnist({ dataDir: "data/fashion-mnist-mini" });
 * assert.equal(dir, "data/fashion-mnist-mini");
 * assert.equal(isMini, true);
 * ```
 */
export function findFashionMnist(options: FashionMnistOptions = {}): FashionMnistLocation {
  const mini = miniDir();
  const found = (dir: string, source: FashionMnistLocation["source"], skipped: string[]) => ({
    dir,
    isMini: mini !== null && samePath(dir, mini),
    source,
    skipped,
  });

  if (options.dataDir !== undefined) {
    requireComplete("dataDir", options.dataDir);
    return found(options.dataDir, "dataDir", []);
  }
  const fromEnv = readEnv("FASHION_MNIST_DIR");
  if (fromEnv) {
    requireComplete("the FASHION_MNIST_DIR environment variable", fromEnv);
    return found(fromEnv, "env", []);
  }

  const skipped: string[] = [];
  const candidates: [string, FashionMnistLocation["source"]][] = [
    ["data/fashion-mnist", "cwd"],
    [FASHION_MNIST_SYSTEM_DIR, "system"],
  ];
  if (mini !== null) candidates.push([mini, "mini"]);
  for (const [dir, source] of candidates) {
    const probe = probeDir(dir);
    if (probe.missing.length === 0) return found(dir, source, skipped);
    skipped.push(`${dir}: ${probe.reason}`);
  }
  throw new Error(
    `findFashionMnist: no directory holds the Fashion-MNIST files (searched ${
      skipped.join("; ")
    }); ${HOW_TO_GET_FULL_SET}`,
  );
}

/**
 * Loads Fashion-MNIST as bytes: images `N * 784` (each 1×28×28), labels `Int32Array`.
 *
 * The directory is chosen by {@link findFashionMnist}. When the search falls back to the
 * committed mini subset, a warning says how to get the full set.
 *
 * @throws Error naming the file when a file is not valid IDX, images are not 28×28, image
 *   and label counts differ, or a label is not in 0..9
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadFashionMnist } from "./fashion_mnist.ts";
 * const ds = await loadFashionMnist({ dataDir: "data/fashion-mnist-mini" });
 * assert.equal(ds.xTrain.length, 2000 * 784); // 2,000 images of 1×28×28
 * assert.equal(ds.yTest.length, 500);
 * ```
 */
export async function loadFashionMnist(
  options: FashionMnistOptions = {},
): Promise<RawImageDataset> {
  const location = findFashionMnist(options);
  const { dir } = location;
  if (location.source === "mini") {
    console.warn(
      `Fashion-MNIST: the full data set was not found, using the 2,000 + 500 image mini ` +
        `subset in ${dir} (skipped ${location.skipped.join("; ")}); ${HOW_TO_GET_FULL_SET}.`,
    );
  }
  const paths = probeDir(dir).paths;
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    readIdxFile(paths.trainImages),
    readIdxFile(paths.trainLabels),
    readIdxFile(paths.testImages),
    readIdxFile(paths.testLabels),
  ]);
  const train = checkSplit(trainImages, paths.trainImages, trainLabels, paths.trainLabels);
  const test = checkSplit(testImages, paths.testImages, testLabels, paths.testLabels);
  return {
    xTrain: train.x,
    yTrain: train.y,
    xTest: test.x,
    yTest: test.y,
    imageShape: [1, 28, 28],
    classNames: FASHION_MNIST_CLASSES,
    dir,
    isMini: location.isMini,
  };
}

/** Validates one split (images + labels) and converts the labels to `Int32Array`. */
function checkSplit(
  images: IdxArray,
  imagesPath: string,
  labels: IdxArray,
  labelsPath: string,
): { x: Uint8Array; y: Int32Array } {
  const [n, height, width] = images.dims;
  if (images.dims.length !== 3 || height !== 28 || width !== 28) {
    throw new Error(
      `loadFashionMnist: ${imagesPath} holds an array of shape [${images.dims}], ` +
        `expected images of shape [N, 28, 28]`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new Error(
      `loadFashionMnist: ${labelsPath} holds an array of shape [${labels.dims}], ` +
        `expected labels of shape [N]`,
    );
  }
  if (labels.dims[0] !== n) {
    throw new Error(
      `loadFashionMnist: ${imagesPath} has ${n} images but ${labelsPath} has ` +
        `${labels.dims[0]} labels; the counts must agree`,
    );
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label >= FASHION_MNIST_CLASSES.length) {
      throw new Error(
        `loadFashionMnist: ${labelsPath} has label ${label} at index ${i}, ` +
          `expected 0..${FASHION_MNIST_CLASSES.length - 1}`,
      );
    }
    y[i] = label;
  }
  return { x: images.data, y };
}

type FileKey = keyof typeof FASHION_MNIST_FILES;

/** The result of looking for the four files in one directory. */
interface Probe {
  /** Path of each file found (the `.gz` name, or the name without `.gz`). */
  paths: Record<FileKey, string>;
  /** The official names of the files not found. */
  missing: string[];
  /** Why the directory is unusable, when `missing` is not empty. */
  reason: string;
}

function probeDir(dir: string): Probe {
  const paths = {} as Record<FileKey, string>;
  const missing: string[] = [];
  for (const key of Object.keys(FASHION_MNIST_FILES) as FileKey[]) {
    const gzName = FASHION_MNIST_FILES[key];
    let path: string | null;
    try {
      path = firstFile([`${dir}/${gzName}`, `${dir}/${gzName.slice(0, -3)}`]);
    } catch (e) {
      if (isPermissionError(e)) {
        return {
          paths,
          missing: Object.values(FASHION_MNIST_FILES),
          reason: "no read permission (run with --allow-read)",
        };
      }
      throw e;
    }
    if (path === null) missing.push(gzName);
    else paths[key] = path;
  }
  const reason = missing.length === 4 ? "not found" : `missing ${missing.join(", ")}`;
  return { paths, missing, reason };
}

/** The first of `paths` that is a file, or null; permission errors propagate. */
function firstFile(paths: string[]): string | null {
  for (const path of paths) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
    }
  }
  return null;
}

function requireComplete(what: string, dir: string): void {
  const probe = probeDir(dir);
  if (probe.missing.length > 0) {
    throw new Error(
      `findFashionMnist: ${what} is "${dir}", but that directory is unusable: ${probe.reason}` +
        ` (expected ${Object.values(FASHION_MNIST_FILES).join(", ")}, gzipped or not)`,
    );
  }
}

function isPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
}

/** Reads an environment variable; without `--allow-env` it counts as unset. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The committed mini subset, located from this module so it works from any directory. */
function miniDir(): string | null {
  const url = new URL("../../data/fashion-mnist-mini", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : null;
}

function samePath(a: string, b: string): boolean {
  try {
    return resolve(a) === resolve(b);
  } catch {
    // resolve() reads the working directory, which needs read permission.
    return a === b;
  }
}

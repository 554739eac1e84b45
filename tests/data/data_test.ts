import assert from "node:assert/strict";
import { CIFAR10_CLASSES, loadCifar10 } from "../../lib/data/cifar10.ts";
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  findFashionMnist,
  loadFashionMnist,
} from "../../lib/data/fashion_mnist.ts";
import { encodeIdx, gunzip, gzip, parseIdx, readIdxFile } from "../../lib/data/idx.ts";
import { type DataSplits, getData } from "../../lib/data/preprocess.ts";

const MINI_DIR = "data/fashion-mnist-mini";

/**
 * A fresh directory under out/: the test task may write to /tmp but only read inside the
 * repository, so a directory from the default Deno.makeTempDir could not be read back.
 */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.mkdir("out", { recursive: true });
  const dir = await Deno.makeTempDir({ dir: "out", prefix: "data_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with console.warn captured; returns the warnings. */
async function captureWarnings(fn: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return warnings;
}

/** Asserts that `promise` rejects with an Error whose message matches every pattern. */
async function rejectsWith(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof Error);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

function escape(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

// A 2×2×3 ubyte array written out by hand, so the parser is not checked only against our
// own encoder.
const HAND_MADE_IDX = Uint8Array.of(
  0x00,
  0x00,
  0x08,
  0x03, // magic: ubyte, 3 dims
  0x00,
  0x00,
  0x00,
  0x02, // dim 0 = 2
  0x00,
  0x00,
  0x00,
  0x02, // dim 1 = 2
  0x00,
  0x00,
  0x00,
  0x03, // dim 2 = 3
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 250],
);

Deno.test("IDX", async (t) => {
  await t.step("parses a hand-made raw file", async () => {
    const { dims, data } = await parseIdx(HAND_MADE_IDX, "hand.idx");
    assert.deepEqual(dims, [2, 2, 3]);
    assert.deepEqual([...data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 250]);
  });

  await t.step("encodeIdx writes the same bytes as the hand-made file", () => {
    const values = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 250);
    assert.deepEqual(encodeIdx([2, 2, 3], values), HAND_MADE_IDX);
    assert.throws(() => encodeIdx([2, 2], values), /dims \[2,2\] need 4 values but data has 12/);
    assert.throws(() => encodeIdx([], values), /1 to 4 entries/);
  });

  await t.step("dims above 2^24 are read as big-endian uint32", async () => {
    const bytes = Uint8Array.of(0, 0, 8, 1, 0x01, 0x00, 0x00, 0x00);
    // 16,777,216 values declared but none present: the error quotes the decoded size.
    await rejectsWith(parseIdx(bytes, "big.idx"), /need 16777216 data bytes/);
  });

  await t.step("reads gzipped and raw files from disk", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/a.idx`, HAND_MADE_IDX);
      const gz = await gzip(HAND_MADE_IDX);
      assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b]);
      await Deno.writeFile(`${dir}/a.idx.gz`, gz);
      const raw = await readIdxFile(`${dir}/a.idx`);
      const inflated = await readIdxFile(`${dir}/a.idx.gz`);
      assert.deepEqual(inflated.dims, [2, 2, 3]);
      assert.deepEqual(inflated, raw);
      await rejectsWith(readIdxFile(`${dir}/absent.gz`), escape(`${dir}/absent.gz`));
    });
  });

  await t.step("rejects malformed files, naming the file and the problem", async () => {
    const withByte = (index: number, value: number) =>
      HAND_MADE_IDX.map((v, i) => i === index ? value : v);
    const cases: [string, Uint8Array, RegExp][] = [
      ["too short", Uint8Array.of(0, 0, 8), /3 bytes long, shorter than the 4-byte magic/],
      ["wrong magic", withByte(0, 0x1e), /must start with bytes 00 00, got 0x1e 0x00/],
      ["wrong type", withByte(2, 0x0d), /must be 0x08 \(unsigned byte\), got 0x0d \(float32\)/],
      ["zero dims", withByte(3, 0), /dimensions must be 1 to 4, got 0/],
      ["five dims", withByte(3, 5), /dimensions must be 1 to 4, got 5/],
      ["truncated header", HAND_MADE_IDX.subarray(0, 10), /header .* is 16 bytes.* only 10/],
      ["truncated data", HAND_MADE_IDX.subarray(0, 27), /need 12 data bytes.*only 11.*truncated/],
      [
        "trailing data",
        Uint8Array.of(...HAND_MADE_IDX, 0, 0),
        /need 12 data bytes.*14 are present \(2 trailing bytes\)/,
      ],
    ];
    for (const [name, bytes, problem] of cases) {
      const fileName = `${name.replace(" ", "-")}.idx`;
      await rejectsWith(parseIdx(bytes, fileName), escape(fileName), problem);
      // The same checks apply after inflating.
      await rejectsWith(parseIdx(await gzip(bytes), fileName), escape(fileName), problem);
    }
  });

  await t.step("rejects corrupt gzip, naming the file", async () => {
    const gz = await gzip(HAND_MADE_IDX);
    const flipped = gz.map((v, i) => i === 12 ? v ^ 0xff : v);
    await rejectsWith(parseIdx(flipped, "flipped.gz"), /flipped\.gz/, /not a valid gzip stream/);
    const cut = gz.subarray(0, gz.length - 6);
    await rejectsWith(parseIdx(cut, "cut.gz"), /cut\.gz/, /not a valid gzip stream/);
    await rejectsWith(gunzip(Uint8Array.of(0x1f, 0x8b, 8), "tiny.gz"), /tiny\.gz/);
  });
});

/** Writes a Fashion-MNIST-like directory with `nTrain` / `nTest` synthetic examples. */
async function writeFashionDir(
  dir: string,
  { nTrain = 3, nTest = 2, labels, imageDims = [28, 28], gz = true }: {
    nTrain?: number;
    nTest?: number;
    labels?: number[];
    imageDims?: number[];
    gz?: boolean;
  } = {},
): Promise<void> {
  const pixels = imageDims[0] * imageDims[1];
  const write = async (name: string, dims: number[], fill: (i: number) => number) => {
    const size = dims.reduce((a, b) => a * b, 1);
    const idx = encodeIdx(dims, Uint8Array.from({ length: size }, (_, i) => fill(i)));
    await Deno.writeFile(`${dir}/${name}${gz ? ".gz" : ""}`, gz ? await gzip(idx) : idx);
  };
  await write("train-images-idx3-ubyte", [nTrain, ...imageDims], (i) => (i * 7) % 256);
  await write("train-labels-idx1-ubyte", [labels?.length ?? nTrain], (i) => labels?.[i] ?? i);
  await write("t10k-images-idx3-ubyte", [nTest, ...imageDims], (i) => (i * 3 + pixels) % 256);
  await write("t10k-labels-idx1-ubyte", [nTest], (i) => 9 - i);
}

Deno.test("Fashion-MNIST loader on synthetic files", async (t) => {
  await t.step("loads values and labels from gzipped or raw files", async () => {
    for (const gz of [true, false]) {
      await withTempDir(async (dir) => {
        await writeFashionDir(dir, { gz });
        const ds = await loadFashionMnist({ dataDir: dir });
        assert.equal(ds.dir, dir);
        assert.equal(ds.isMini, false);
        assert.deepEqual(ds.imageShape, [1, 28, 28]);
        assert.equal(ds.xTrain.length, 3 * 784);
        assert.equal(ds.xTrain[785], (785 * 7) % 256);
        assert.equal(ds.xTest[100], (100 * 3 + 784) % 256);
        assert.deepEqual(ds.yTrain, Int32Array.of(0, 1, 2));
        assert.deepEqual(ds.yTest, Int32Array.of(9, 8));
        assert.equal(ds.classNames, FASHION_MNIST_CLASSES);
      });
    }
  });

  await t.step("rejects a label out of range, naming file, index and value", async () => {
    await withTempDir(async (dir) => {
      await writeFashionDir(dir, { labels: [4, 10, 2] });
      await rejectsWith(
        loadFashionMnist({ dataDir: dir }),
        /train-labels-idx1-ubyte\.gz has label 10 at index 1, expected 0\.\.9/,
      );
    });
  });

  await t.step("rejects image and label counts that disagree", async () => {
    await withTempDir(async (dir) => {
      await writeFashionDir(dir, { labels: [1, 2, 3, 4] });
      await rejectsWith(
        loadFashionMnist({ dataDir: dir }),
        /train-images-idx3-ubyte\.gz has 3 images but .*train-labels-idx1-ubyte\.gz has 4/,
      );
    });
  });

  await t.step("rejects images that are not 28×28", async () => {
    await withTempDir(async (dir) => {
      await writeFashionDir(dir, { imageDims: [32, 32] });
      await rejectsWith(
        loadFashionMnist({ dataDir: dir }),
        /train-images-idx3-ubyte\.gz holds an array of shape \[3,32,32\], expected .*\[N, 28, 28\]/,
      );
    });
  });

  await t.step("an explicit directory without the files is an error, not a fallback", async () => {
    await withTempDir(async (dir) => {
      await writeFashionDir(dir);
      await Deno.remove(`${dir}/t10k-labels-idx1-ubyte.gz`);
      assert.throws(
        () => findFashionMnist({ dataDir: dir }),
        (e: Error) =>
          e.message.includes(`dataDir is "${dir}"`) &&
          /missing t10k-labels-idx1-ubyte\.gz \(expected/.test(e.message),
      );
    });
    assert.throws(
      () => findFashionMnist({ dataDir: "out/no-such-dir" }),
      /dataDir is "out\/no-such-dir", but that directory is unusable: not found/,
    );
  });

  await t.step("FASHION_MNIST_DIR is used and must be complete", async () => {
    const saved = Deno.env.get("FASHION_MNIST_DIR");
    try {
      await withTempDir(async (dir) => {
        await writeFashionDir(dir);
        Deno.env.set("FASHION_MNIST_DIR", dir);
        assert.deepEqual(findFashionMnist(), { dir, isMini: false, source: "env", skipped: [] });
        // The option still wins over the environment.
        assert.equal(findFashionMnist({ dataDir: MINI_DIR }).source, "dataDir");
        Deno.env.set("FASHION_MNIST_DIR", `${dir}/nothing-here`);
        assert.throws(() => findFashionMnist(), /FASHION_MNIST_DIR environment variable/);
      });
    } finally {
      if (saved === undefined) Deno.env.delete("FASHION_MNIST_DIR");
      else Deno.env.set("FASHION_MNIST_DIR", saved);
    }
  });
});

Deno.test("Fashion-MNIST mini subset", async (t) => {
  const ds = await loadFashionMnist({ dataDir: MINI_DIR });

  await t.step("has the first 2,000 training and 500 test examples", () => {
    assert.equal(ds.isMini, true);
    assert.equal(ds.xTrain.length, 2000 * 784);
    assert.equal(ds.yTrain.length, 2000);
    assert.equal(ds.xTest.length, 500 * 784);
    assert.equal(ds.yTest.length, 500);
    // The first labels of the official files: ankle boot, T-shirt, T-shirt, dress, ...
    assert.deepEqual([...ds.yTrain.subarray(0, 10)], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert.deepEqual([...ds.yTest.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  });

  await t.step("labels are in 0..9 and every class occurs", () => {
    for (const y of [ds.yTrain, ds.yTest]) {
      const counts = new Array(10).fill(0);
      for (const label of y) counts[label]++; // an out-of-range label would grow the array
      assert.equal(counts.length, 10);
      assert.ok(counts.every((c) => c > 0), `class counts ${counts}`);
    }
  });

  await t.step("the default search warns how to get the full set when it falls back", async () => {
    const saved = Deno.env.get("FASHION_MNIST_DIR");
    Deno.env.delete("FASHION_MNIST_DIR");
    try {
      const location = findFashionMnist();
      let loaded = ds;
      const warnings = await captureWarnings(async () => loaded = await loadFashionMnist());
      assert.equal(loaded.isMini, location.source === "mini");
      if (location.source === "mini") {
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /apt-get install dataset-fashion-mnist/);
        assert.match(warnings[0], /data\/fashion-mnist\//);
        assert.match(warnings[0], /--data DIR/);
        assert.equal(loaded.yTrain.length, 2000);
      } else {
        assert.deepEqual(warnings, []);
      }
    } finally {
      if (saved !== undefined) Deno.env.set("FASHION_MNIST_DIR", saved);
    }
  });
});

/** Pixel value of CIFAR record `r` of file `f` at channel `c`, row `h`, column `w`. */
function cifarPixel(f: number, r: number, c: number, h: number, w: number): number {
  return (f * 31 + r * 17 + c * 101 + h * 5 + w * 3) % 256;
}

/** Writes synthetic CIFAR-10 .bin files: `perBatch` records in each training batch. */
async function writeCifarDir(dir: string, perBatch = 2, testRecords = 3): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const files = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"];
  for (const [f, name] of [...files, "test_batch"].entries()) {
    const n = name === "test_batch" ? testRecords : perBatch;
    const bytes = new Uint8Array(n * 3073);
    for (let r = 0; r < n; r++) {
      bytes[r * 3073] = (f * perBatch + r) % 10;
      for (let c = 0; c < 3; c++) {
        for (let h = 0; h < 32; h++) {
          for (let w = 0; w < 32; w++) {
            bytes[r * 3073 + 1 + c * 1024 + h * 32 + w] = cifarPixel(f, r, c, h, w);
          }
        }
      }
    }
    await Deno.writeFile(`${dir}/${name}.bin`, bytes);
  }
}

Deno.test("CIFAR-10 loader on synthetic files", async (t) => {
  await t.step("places pixels channel-major and reads labels", async () => {
    await withTempDir(async (dir) => {
      const batchDir = `${dir}/cifar-10-batches-bin`;
      await writeCifarDir(batchDir);
      for (const given of [batchDir, dir]) {
        const ds = await loadCifar10(given);
        assert.equal(ds.dir, batchDir);
        assert.deepEqual(ds.imageShape, [3, 32, 32]);
        assert.equal(ds.classNames, CIFAR10_CLASSES);
        assert.deepEqual(ds.yTrain, Int32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        assert.deepEqual(ds.yTest, Int32Array.of(0, 1, 2));
        assert.equal(ds.xTrain.length, 10 * 3072);
        // Example 7 is record 1 of data_batch_4 (f = 3); check one pixel of each channel.
        for (const [c, h, w] of [[0, 0, 0], [1, 5, 31], [2, 31, 7]]) {
          assert.equal(ds.xTrain[7 * 3072 + c * 1024 + h * 32 + w], cifarPixel(3, 1, c, h, w));
        }
        assert.equal(ds.xTest[2 * 3072 + 2 * 1024 + 3 * 32 + 4], cifarPixel(5, 2, 2, 3, 4));
      }
    });
  });

  await t.step("rejects a file whose length is not a multiple of 3,073", async () => {
    await withTempDir(async (dir) => {
      await writeCifarDir(dir);
      const path = `${dir}/data_batch_3.bin`;
      await Deno.writeFile(path, new Uint8Array(2 * 3073 + 1));
      await rejectsWith(loadCifar10(dir), escape(path), /6147 bytes long/, /multiple of 3073/);
    });
  });

  await t.step("rejects label 10, naming file, record and value", async () => {
    await withTempDir(async (dir) => {
      await writeCifarDir(dir);
      const path = `${dir}/test_batch.bin`;
      const bytes = await Deno.readFile(path);
      bytes[2 * 3073] = 10;
      await Deno.writeFile(path, bytes);
      await rejectsWith(loadCifar10(dir), escape(`${path} record 2 has label 10, expected 0..9`));
    });
  });

  await t.step("a missing file names the path and how to get the data set", async () => {
    await withTempDir(async (dir) => {
      await writeCifarDir(dir);
      await Deno.remove(`${dir}/data_batch_5.bin`);
      await rejectsWith(
        loadCifar10(dir),
        escape(`missing ${dir}/data_batch_5.bin`),
        /cifar-10-binary\.tar\.gz/,
      );
      await rejectsWith(
        loadCifar10(`${dir}/none`),
        escape(
          `cannot find data_batch_1.bin in ${dir}/none or in ${dir}/none/cifar-10-batches-bin`,
        ),
        /cifar-10-binary\.tar\.gz/,
      );
    });
  });

  await t.step("getData splits CIFAR-10 like get_CIFAR10_data", async () => {
    await withTempDir(async (dir) => {
      await writeCifarDir(dir, 4, 3); // 20 training records, 3 test records
      const raw = await loadCifar10(dir);
      let data!: DataSplits;
      const warnings = await captureWarnings(async () => {
        data = await getData({ dataset: "cifar10", dataDir: dir });
      });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /20 training and 3 test .* using 19 train \/ 1 val \/ 3 test/);
      // Defaults shrink to the 20 + 3 examples present: 5% validation, the rest training.
      assert.deepEqual(data.XTrain.shape, [19, 3, 32, 32]);
      assert.deepEqual(data.XVal.shape, [1, 3, 32, 32]);
      assert.deepEqual(data.XTest.shape, [3, 3, 32, 32]);
      assert.equal(data.classNames, CIFAR10_CLASSES);

      data = await getData({
        dataset: "cifar10",
        dataDir: dir,
        numTraining: 12,
        numValidation: 5,
        numTest: 2,
        dtype: "float64",
      });
      const mean = data.meanImage!;
      assert.deepEqual(mean.shape, [3, 32, 32]);
      // Validation example 0 is training record 12; test example 1 is test record 1.
      const pixel = 1 * 1024 + 9 * 32 + 30;
      let sum = 0;
      for (let i = 0; i < 12; i++) sum += raw.xTrain[i * 3072 + pixel];
      assert.equal(mean.get(1, 9, 30), sum / 12);
      assert.equal(data.XVal.get(0, 1, 9, 30), raw.xTrain[12 * 3072 + pixel] - sum / 12);
      assert.equal(data.XTest.get(1, 1, 9, 30), raw.xTest[3072 + pixel] - sum / 12);
      assert.deepEqual(data.yVal, raw.yTrain.slice(12, 17));
      assert.deepEqual(data.yTest, raw.yTest.slice(0, 2));
    });
  });
});

Deno.test("getData on the Fashion-MNIST mini subset", async (t) => {
  const raw = await loadFashionMnist({ dataDir: MINI_DIR });

  await t.step("default sizes shrink to 1,900 / 100 / 500 with a warning", async () => {
    let data!: DataSplits;
    const warnings = await captureWarnings(async () => {
      data = await getData({ dataDir: MINI_DIR });
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /2,000 training and 500 test examples \(the mini subset\)/);
    assert.match(warnings[0], /using 1,900 train \/ 100 val \/ 500 test/);
    assert.equal(data.dataset, "fashion-mnist");
    assert.equal(data.isMini, true);
    assert.deepEqual(data.XTrain.shape, [1900, 1, 28, 28]);
    assert.deepEqual(data.XVal.shape, [100, 1, 28, 28]);
    assert.deepEqual(data.XTest.shape, [500, 1, 28, 28]);
    assert.equal(data.XTrain.dtype, "float32");
    assert.deepEqual(data.yTrain, raw.yTrain.slice(0, 1900));
    assert.deepEqual(data.yVal, raw.yTrain.slice(1900, 2000));
    assert.deepEqual(data.yTest, raw.yTest);
    assert.ok(data.yTrain instanceof Int32Array);
  });

  await t.step("explicit sizes are used as given and checked", async () => {
    const data = await getData({
      dataDir: MINI_DIR,
      numTraining: 50,
      numValidation: 7,
      numTest: 9,
    });
    assert.deepEqual([data.yTrain.length, data.yVal.length, data.yTest.length], [50, 7, 9]);
    await rejectsWith(
      getData({ dataDir: MINI_DIR, numTraining: 1990, numValidation: 20 }),
      /numTraining \(1990\) \+ numValidation \(20\) = 2010, but .* only 2000 training/,
    );
    await rejectsWith(getData({ dataDir: MINI_DIR, numTest: 501 }), /numTest is 501.*only 500/);
    await rejectsWith(getData({ numTraining: 0 }), /numTraining must be an integer ≥ 1, got 0/);
    await rejectsWith(getData({ numValidation: 1.5 }), /numValidation must be .*got 1\.5/);
    await rejectsWith(
      // @ts-expect-error: checking the run-time guard for callers without types
      getData({ dataset: "mnist" }),
      /dataset must be "fashion-mnist" or "cifar10", got "mnist"/,
    );
  });

  await t.step("the training split has zero mean after subtraction", async () => {
    for (const dtype of ["float32", "float64"] as const) {
      const data = await getData({
        dataDir: MINI_DIR,
        numTraining: 300,
        numValidation: 40,
        numTest: 500,
        dtype,
      });
      assert.equal(data.XTrain.dtype, dtype);
      assert.equal(data.meanImage!.dtype, dtype);
      // Each stored value is rounded once, so the mean of a column is off by at most one
      // rounding of a value ≤ 255: 255 * 2^-24 ≈ 1.5e-5 in float32.
      const tolerance = dtype === "float32" ? 2e-5 : 1e-12;
      let worst = 0;
      for (let j = 0; j < 784; j++) {
        let sum = 0;
        for (let i = 0; i < 300; i++) sum += data.XTrain.data[i * 784 + j];
        worst = Math.max(worst, Math.abs(sum / 300));
      }
      assert.ok(worst < tolerance, `${dtype}: largest column mean ${worst}`);
      // The mean image is the mean of the training bytes, and it is subtracted from the
      // validation and test splits too.
      const j = 14 * 28 + 14;
      let sum = 0;
      for (let i = 0; i < 300; i++) sum += raw.xTrain[i * 784 + j];
      const mean = sum / 300;
      assert.ok(mean > 10, "the centre pixel is not blank in the mini subset");
      const round = dtype === "float32" ? Math.fround : (v: number) => v;
      assert.equal(data.meanImage!.get(0, 14, 14), round(mean));
      assert.equal(data.XVal.get(5, 0, 14, 14), round(raw.xTrain[305 * 784 + j] - mean));
      assert.equal(data.XTest.get(3, 0, 14, 14), round(raw.xTest[3 * 784 + j] - mean));
    }
  });

  await t.step("subtractMean: false keeps raw 0..255 values; flatten gives rows", async () => {
    const data = await getData({
      dataDir: MINI_DIR,
      numTraining: 20,
      numValidation: 5,
      numTest: 5,
      subtractMean: false,
      flatten: true,
      dtype: "float64",
    });
    assert.equal(data.meanImage, undefined);
    assert.deepEqual(data.XTrain.shape, [20, 784]);
    assert.deepEqual(data.XVal.shape, [5, 784]);
    assert.deepEqual(data.XTest.shape, [5, 784]);
    assert.equal(data.XTrain.dtype, "float64");
    assert.deepEqual([...data.XTrain.data], [...raw.xTrain.subarray(0, 20 * 784)]);
    assert.deepEqual([...data.XVal.data], [...raw.xTrain.subarray(20 * 784, 25 * 784)]);
    assert.deepEqual([...data.XTest.data], [...raw.xTest.subarray(0, 5 * 784)]);
  });
});

/** Whether the Debian package's files can be read in this run. */
function systemSetReadable(): boolean {
  try {
    const state = Deno.permissions.querySync({ name: "read", path: FASHION_MNIST_SYSTEM_DIR });
    return state.state === "granted" && Deno.statSync(FASHION_MNIST_SYSTEM_DIR).isDirectory;
  } catch {
    return false;
  }
}

Deno.test({
  name: "full Fashion-MNIST from the Debian package",
  // Needs `apt-get install dataset-fashion-mnist` and read permission for its directory.
  ignore: !systemSetReadable(),
  fn: async () => {
    const full = await loadFashionMnist({ dataDir: FASHION_MNIST_SYSTEM_DIR });
    assert.equal(full.isMini, false);
    assert.equal(full.yTrain.length, 60000);
    assert.equal(full.xTrain.length, 60000 * 784);
    assert.equal(full.yTest.length, 10000);
    assert.equal(full.xTest.length, 10000 * 784);
    // The official set is balanced: 6,000 training and 1,000 test images per class.
    for (const [y, perClass] of [[full.yTrain, 6000], [full.yTest, 1000]] as const) {
      const counts = new Array(10).fill(0);
      for (const label of y) counts[label]++;
      assert.deepEqual(counts, new Array(10).fill(perClass));
    }
    // The committed mini subset is exactly a prefix of the official files.
    const mini = await loadFashionMnist({ dataDir: MINI_DIR });
    assert.deepEqual(mini.xTrain, full.xTrain.subarray(0, 2000 * 784));
    assert.deepEqual(mini.yTrain, full.yTrain.subarray(0, 2000));
    assert.deepEqual(mini.xTest, full.xTest.subarray(0, 500 * 784));
    assert.deepEqual(mini.yTest, full.yTest.subarray(0, 500));
  },
});

Deno.test("a gzipped IDX file that inflates past its header's size is stopped there", async () => {
  // A valid 10-byte label file followed by 64 MiB of zeros: a 64 KB decompression bomb.
  const bomb = new Uint8Array(8 + 10 + (64 << 20));
  bomb.set(encodeIdx([10], new Uint8Array(10)));
  const gz = await gzip(bomb);
  assert.ok(gz.length < (1 << 20));
  await rejectsWith(
    parseIdx(gz, "bomb-labels.gz"),
    /gunzip: bomb-labels\.gz inflates to more than 65554 bytes, the most it may hold/,
  );
  // A file whose header is wrong is not inflated further either; parsing says what is wrong.
  const wrong = encodeIdx([10], new Uint8Array(10));
  wrong[2] = 0x0d;
  await rejectsWith(parseIdx(await gzip(wrong), "floats.gz"), /data type must be 0x08/);
});

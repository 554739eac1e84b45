import assert from "node:assert/strict";
import { relError } from "../../lib/gradient_check.ts";
import { KNearestNeighbor } from "../../lib/classifiers/knn.ts";
import { Rng } from "../../lib/rng.ts";
import { type DType, Tensor } from "../../lib/tensor.ts";

function labels(n: number, numClasses: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: n }, () => rng.randint(numClasses));
}

function trained(numTrain: number, D: number, dtype: DType, rng: Rng) {
  const knn = new KNearestNeighbor();
  const XTrain = Tensor.randn([numTrain, D], rng, dtype);
  const yTrain = labels(numTrain, 4, rng);
  knn.train(XTrain, yTrain);
  return { knn, XTrain, yTrain };
}

Deno.test("KNearestNeighbor distances", async (t) => {
  const rng = new Rng(0);
  const { knn, XTrain } = trained(50, 30, "float64", rng);
  const X = Tensor.randn([20, 30], rng);

  await t.step("the two-loop version is the Euclidean distance", () => {
    const dists = knn.computeDistancesTwoLoops(X);
    assert.deepEqual(dists.shape, [20, 50]);
    let sum = 0;
    for (let d = 0; d < 30; d++) sum += (X.get(3, d) - XTrain.get(7, d)) ** 2;
    assert.equal(dists.get(3, 7), Math.sqrt(sum));
  });

  await t.step("the one-loop and no-loop versions agree with the two-loop one", () => {
    const two = knn.computeDistancesTwoLoops(X);
    assert.ok(relError(knn.computeDistancesOneLoop(X), two) < 1e-10);
    assert.ok(relError(knn.computeDistancesNoLoops(X), two) < 1e-10);
  });

  await t.step("keep the dtype of X", () => {
    const X32 = X.astype("float32");
    for (
      const d of [
        knn.computeDistancesTwoLoops(X32),
        knn.computeDistancesOneLoop(X32),
        knn.computeDistancesNoLoops(X32),
      ]
    ) assert.equal(d.dtype, "float32");
  });

  await t.step("no-loop distances of the training rows to themselves are 0, never NaN", () => {
    // Large offsets make ‖x‖² + ‖y‖² − 2x·y cancel badly; rounding may go below 0.
    const big = XTrain.add(1000);
    const self = new KNearestNeighbor();
    self.train(big, new Int32Array(50));
    const d = self.computeDistancesNoLoops(big);
    for (let i = 0; i < 50; i++) {
      const v = d.get(i, i);
      assert.ok(v >= 0 && v < 1e-3, `dists[${i}, ${i}] = ${v}`);
    }
  });

  await t.step("the threaded GEMM path agrees with the two-loop version (float32)", () => {
    // 64 × 2000 × 40 multiply-adds is above gemmParallel's threshold.
    const big = trained(2000, 40, "float32", new Rng(1));
    const Xb = Tensor.randn([64, 40], new Rng(2), "float32");
    const a = big.knn.computeDistancesNoLoops(Xb), b = big.knn.computeDistancesTwoLoops(Xb);
    assert.ok(relError(a, b) < 1e-4, `${relError(a, b)}`);
  });
});

Deno.test("KNearestNeighbor.predictLabels", async (t) => {
  const knn = new KNearestNeighbor();
  knn.train(Tensor.zeros([5, 2]), [3, 1, 1, 3, 2]);

  await t.step("a tied vote goes to the smallest label", () => {
    // k = 2 nearest: examples 0 (label 3) and 1 (label 1): one vote each → 1.
    const dists = Tensor.fromArray([[0.1, 0.2, 5, 5, 5]]);
    assert.deepEqual([...knn.predictLabels(dists, 2)], [1]);
    // k = 4: labels 3, 1, 1, 3 → two votes each → 1.
    assert.deepEqual([...knn.predictLabels(Tensor.fromArray([[1, 2, 3, 4, 5]]), 4)], [1]);
  });

  await t.step("a majority wins, and equal distances keep the earlier example", () => {
    assert.deepEqual([...knn.predictLabels(Tensor.fromArray([[9, 1, 1, 9, 9]]), 2)], [1]);
    // All equal: the first k examples (labels 3, 1, 1) vote.
    assert.deepEqual([...knn.predictLabels(Tensor.fromArray([[1, 1, 1, 1, 1]]), 3)], [1]);
    assert.deepEqual([...knn.predictLabels(Tensor.fromArray([[1, 1, 1, 1, 1]]), 1)], [3]);
    // Example 4 is the nearest: label 2.
    assert.deepEqual([...knn.predictLabels(Tensor.fromArray([[1, 1, 1, 1, 0]]), 1)], [2]);
  });
});

Deno.test("KNearestNeighbor.predict", async (t) => {
  const rng = new Rng(3);
  for (const dtype of ["float64", "float32"] as const) {
    await t.step(`blocked equals unblocked (${dtype})`, () => {
      const { knn } = trained(300, 16, dtype, rng);
      const X = Tensor.randn([45, 16], rng, dtype);
      const dists = knn.computeDistancesNoLoops(X);
      for (const k of [1, 3, 5, 8]) {
        const expected = knn.predictLabels(dists, k);
        for (const blockSize of [1, 7, 45, 100]) {
          assert.deepEqual(knn.predict(X, { k, blockSize }), expected, `k=${k} b=${blockSize}`);
        }
        assert.deepEqual(knn.predict(X, { k }), expected);
      }
    });
  }

  await t.step("blocked equals unblocked when X and the training set differ in dtype", () => {
    for (const [trainType, testType] of [["float32", "float64"], ["float64", "float32"]] as const) {
      const { knn } = trained(300, 16, trainType, rng);
      const X = Tensor.randn([45, 16], rng, testType);
      const dists = knn.computeDistancesNoLoops(X);
      assert.equal(dists.dtype, testType);
      for (const k of [1, 4]) {
        assert.deepEqual(knn.predict(X, { k, blockSize: 10 }), knn.predictLabels(dists, k));
      }
    }
  });

  await t.step("the loop versions predict the same labels", () => {
    const { knn } = trained(200, 10, "float64", rng);
    const X = Tensor.randn([30, 10], rng);
    const expected = knn.predict(X, { k: 5 });
    assert.deepEqual(knn.predict(X, { k: 5, numLoops: 1 }), expected);
    assert.deepEqual(knn.predict(X, { k: 5, numLoops: 2 }), expected);
  });

  await t.step("onBlock reports every block", () => {
    const { knn } = trained(20, 3, "float64", rng);
    const seen: number[] = [];
    knn.predict(Tensor.randn([10, 3], rng), { blockSize: 4, onBlock: (done) => seen.push(done) });
    assert.deepEqual(seen, [4, 8, 10]);
  });

  await t.step("labels a separable problem correctly", () => {
    const knn = new KNearestNeighbor();
    const centres = [[0, 0], [10, 0], [0, 10]];
    const make = (n: number) => {
      const X = Tensor.zeros([n, 2]);
      const y = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = i % 3;
        X.data[2 * i] = centres[y[i]][0] + rng.normal();
        X.data[2 * i + 1] = centres[y[i]][1] + rng.normal();
      }
      return { X, y };
    };
    const train = make(90), test = make(30);
    knn.train(train.X, train.y);
    assert.deepEqual(knn.predict(test.X, { k: 5 }), test.y);
  });
});

Deno.test("KNearestNeighbor errors name the function and the values", () => {
  const knn = new KNearestNeighbor();
  const X = Tensor.zeros([3, 4]);
  assert.throws(() => knn.predict(X), /KNearestNeighbor\.predict: .*call train\(X, y\) first/);
  assert.throws(
    () => knn.train(X, [0, -1, 2]),
    /KNearestNeighbor\.train: y\[1\] = -1 is not a class index/,
  );
  assert.throws(() => knn.train(X, [0, 1.5, 2]), /y\[1\] = 1.5/);
  assert.throws(() => knn.train(X, [0, 1]), /y has 2 labels but X has 3 rows/);
  knn.train(X, [0, 1, 2]);
  assert.throws(
    () => knn.predict(Tensor.zeros([2, 5])),
    /KNearestNeighbor\.predict: X has 5 columns but 4 were expected \(X shape \[2,5\]\)/,
  );
  assert.throws(
    () => knn.predict(Tensor.zeros([2, 4]), { k: 4 }),
    /predict: k must be an integer in \[1, 3\] \(the training set size\), got 4/,
  );
  assert.throws(() => knn.predictLabels(Tensor.zeros([2, 3]), 0), /got 0/);
  assert.throws(
    () => knn.predictLabels(Tensor.zeros([2, 5])),
    /predictLabels: dists has 5 columns but 3 were expected/,
  );
  assert.throws(
    // @ts-expect-error: an unknown option
    () => knn.predict(Tensor.zeros([2, 4]), { K: 3 }),
    /predict: unknown option "K" \(did you mean "k"\?\); valid options: k, numLoops, blockSize, onBlock/,
  );
  assert.throws(
    // @ts-expect-error: numLoops out of range
    () => knn.predict(Tensor.zeros([2, 4]), { numLoops: 3 }),
    /numLoops must be 0, 1 or 2, got 3/,
  );
});

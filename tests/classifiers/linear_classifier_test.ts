import assert from "node:assert/strict";
import { LinearSVM, Softmax } from "../../lib/classifiers/linear_classifier.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

/** Three Gaussian blobs in 2-d, with the bias column appended. */
function blobs(n: number, rng: Rng) {
  const centres = [[-4, 0], [4, 0], [0, 5]];
  const X = Tensor.zeros([n, 3]);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    X.data[3 * i] = centres[y[i]][0] + rng.normal();
    X.data[3 * i + 1] = centres[y[i]][1] + rng.normal();
    X.data[3 * i + 2] = 1;
  }
  return { X, y };
}

function accuracy(pred: Int32Array, y: Int32Array): number {
  return pred.reduce((s, p, i) => s + (p === y[i] ? 1 : 0), 0) / y.length;
}

for (const Classifier of [LinearSVM, Softmax]) {
  Deno.test(`${Classifier.name}`, async (t) => {
    const rng = new Rng(5);
    const train = blobs(300, rng), test = blobs(150, rng);

    await t.step("learns a separable toy problem", () => {
      const clf = new Classifier();
      const history = clf.train(train.X, train.y, {
        learningRate: 1e-2,
        reg: 1e-3,
        numIters: 300,
        batchSize: 50,
        rng: new Rng(0),
      });
      assert.equal(history.length, 300);
      assert.ok(history[299] < history[0] / 2, `${history[0]} → ${history[299]}`);
      assert.ok(accuracy(clf.predict(test.X), test.y) > 0.97);
    });

    await t.step("W starts as 0.001·randn(D, C) from the rng, C = max(y) + 1", () => {
      const clf = new Classifier();
      clf.train(train.X, train.y, { numIters: 0, rng: new Rng(9) });
      const draws = new Rng(9);
      const expected = Tensor.zeros([3, 3]).map(() => 0.001 * draws.normal());
      assert.deepEqual(clf.W?.toNested(), expected.toNested());
      clf.train(train.X, train.y, { numIters: 0, rng: new Rng(10) });
      assert.deepEqual(clf.W?.toNested(), expected.toNested(), "W is drawn only once");
    });

    await t.step("same seed, same run; float32 stays float32", () => {
      const run = (dtype: "float32" | "float64") => {
        const clf = new Classifier();
        const h = clf.train(train.X.astype(dtype), train.y, { numIters: 20, rng: new Rng(1) });
        return { h, W: clf.W as Tensor };
      };
      assert.deepEqual(run("float64").h, run("float64").h);
      assert.equal(run("float32").W.dtype, "float32");
    });

    await t.step("errors name the method and the values", () => {
      const clf = new Classifier();
      const name = Classifier.name;
      assert.throws(
        () => clf.predict(test.X),
        new RegExp(`${name}\\.predict: the classifier has no weights yet`),
      );
      assert.throws(
        // @ts-expect-error: an unknown option
        () => clf.train(train.X, train.y, { lr: 1 }),
        new RegExp(`${name}\\.train: unknown option "lr"; valid options: learningRate, reg`),
      );
      assert.throws(
        () => clf.train(train.X, Int32Array.from(train.y, (v) => v - 1)),
        /y\[0\] = -1 is not a class index/,
      );
      clf.train(train.X, train.y, { numIters: 1 });
      assert.throws(
        () => clf.predict(Tensor.zeros([2, 4])),
        new RegExp(`${name}\\.predict: X has 4 columns but 3 were expected`),
      );
      assert.throws(
        () => clf.train(train.X, Int32Array.from(train.y, (v) => v + 1)),
        /y holds label 3 but W has only 3 classes/,
      );
    });
  });
}

import assert from "node:assert/strict";
import { Rng } from "../lib/rng.ts";
import { allocate, isSharedStorage, setSharedStorage } from "../lib/storage.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("Tensor factories", async (t) => {
  await t.step("zeros/ones/full default to float64 and honour dtype", () => {
    assert.equal(Tensor.zeros([2, 3]).dtype, "float64");
    assert.equal(Tensor.ones([2], "float32").dtype, "float32");
    assert.deepEqual([...Tensor.full([3], 2.5).data], [2.5, 2.5, 2.5]);
    assert.deepEqual(Tensor.zeros([2, 0, 3]).size, 0);
  });
  await t.step("fromArray flattens nested arrays and infers the shape", () => {
    const x = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(x.shape, [2, 3]);
    assert.equal(x.get(1, 0), 4);
    assert.throws(() => Tensor.fromArray([1, 2, 3], [2, 2]), /3 values do not fill shape \[2,2\]/);
    assert.throws(() => Tensor.fromArray([[1, 2], [3]]), /ragged/);
  });
  await t.step("linspace matches numpy's formula and hits stop exactly", () => {
    const x = Tensor.linspace(-0.1, 0.5, 7);
    const step = 0.6 / 6;
    assert.equal(x.data[0], -0.1);
    for (let i = 1; i < 6; i++) assert.equal(x.data[i], i * step + -0.1);
    assert.equal(x.data[6], 0.5);
    assert.deepEqual([...Tensor.linspace(3, 3, 1).data], [3]);
    assert.equal(Tensor.linspace(0, 1, 0).size, 0);
  });
  await t.step("arange counts like numpy", () => {
    assert.deepEqual([...Tensor.arange(4).data], [0, 1, 2, 3]);
    assert.deepEqual([...Tensor.arange(1, 2, 0.25).data], [1, 1.25, 1.5, 1.75]);
    assert.deepEqual([...Tensor.arange(5, 0, -2).data], [5, 3, 1]);
    assert.throws(() => Tensor.arange(0, 1, 0), /step must be finite and non-zero/);
  });
  await t.step("randn is reproducible and roughly standard normal", () => {
    const a = Tensor.randn([20000], new Rng(3));
    const b = Tensor.randn([20000], new Rng(3));
    assert.deepEqual(a.data, b.data);
    const mean = a.mean().item();
    const std = Math.sqrt(a.sub(mean).square().mean().item());
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 0.03, `std ${std}`);
  });
  await t.step("the constructor rejects a shape that does not fit the data", () => {
    assert.throws(
      () => new Tensor(new Float64Array(5), [2, 3]),
      /shape \[2,3\] needs 6 elements but data has 5/,
    );
    assert.throws(() => Tensor.zeros([2, -1]), /non-negative integers/);
    assert.throws(() => Tensor.zeros([2], "int8" as "float32"), /dtype must be/);
  });
});

Deno.test("Tensor shape operations", async (t) => {
  const x = Tensor.arange(24).reshape([2, 3, 4]);
  await t.step("reshape infers -1 and shares storage", () => {
    const y = x.reshape([4, -1]);
    assert.deepEqual(y.shape, [4, 6]);
    y.data[0] = 100;
    assert.equal(x.get(0, 0, 0), 100);
    y.data[0] = 0;
    assert.throws(() => x.reshape([5, -1]), /cannot reshape \[2,3,4\]/);
    assert.throws(() => x.reshape([-1, -1]), /only one -1/);
  });
  await t.step("transpose permutes axes like numpy", () => {
    const y = x.transpose([2, 0, 1]);
    assert.deepEqual(y.shape, [4, 2, 3]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 4; k++) assert.equal(y.get(k, i, j), x.get(i, j, k));
      }
    }
    assert.deepEqual(x.transpose().shape, [4, 3, 2]);
    assert.throws(() => x.transpose([0, 0, 1]), /not a permutation/);
  });
  await t.step("get/set accept negative indices and reject out-of-range ones", () => {
    assert.equal(x.get(-1, -1, -1), 23);
    assert.throws(() => x.get(0, 3, 0), /index 3 out of range for axis 1 of size 3/);
    assert.throws(() => x.get(0, 0), /got 2 indices for a 3-d tensor/);
  });
  await t.step("toNested, clone and astype", () => {
    const m = Tensor.fromArray([[1, 2], [3, 4]]);
    assert.deepEqual(m.toNested(), [[1, 2], [3, 4]]);
    const c = m.clone();
    c.data[0] = 9;
    assert.equal(m.data[0], 1);
    const f = m.astype("float32");
    assert.equal(f.dtype, "float32");
    assert.ok(f.data instanceof Float32Array);
    assert.deepEqual([...f.data], [1, 2, 3, 4]);
  });
  await t.step("sliceRows is a view, take copies the chosen rows", () => {
    const m = Tensor.arange(6).reshape([3, 2]);
    const v = m.sliceRows(1, 3);
    assert.deepEqual(v.toNested(), [[2, 3], [4, 5]]);
    v.data[0] = -1;
    assert.equal(m.get(1, 0), -1);
    assert.deepEqual(m.take([2, 0, 2]).toNested(), [[4, 5], [0, 1], [4, 5]]);
    assert.throws(() => m.take([3]), /index 3 out of range for axis 0 of size 3/);
    assert.throws(() => m.sliceRows(2, 4), /need 0 ≤ start ≤ end ≤ 3/);
  });
});

Deno.test("Tensor arithmetic and reductions", async (t) => {
  await t.step("broadcasting a trailing-dims operand and a column", () => {
    const x = Tensor.arange(6).reshape([2, 3]);
    assert.deepEqual(x.add(Tensor.fromArray([10, 20, 30])).toNested(), [[10, 21, 32], [
      13,
      24,
      35,
    ]]);
    assert.deepEqual(x.mul(Tensor.fromArray([[2], [3]])).toNested(), [[0, 2, 4], [9, 12, 15]]);
    assert.deepEqual(x.sub(1).div(2).toNested(), [[-0.5, 0, 0.5], [1, 1.5, 2]]);
    assert.throws(
      () => x.add(Tensor.fromArray([1, 2])),
      /Tensor.add: shapes \[2,3\] and \[2\] cannot be broadcast together/,
    );
    assert.throws(() => x.add(Tensor.zeros([3], "float32")), /dtypes differ/);
  });
  await t.step("sum/mean/max/min/argmax along axes", () => {
    const x = Tensor.fromArray([[1, 5, 2], [7, 0, 7]]);
    assert.equal(x.sum().item(), 22);
    assert.deepEqual(x.sum(0).toNested(), [8, 5, 9]);
    assert.deepEqual(x.sum(1, true).shape, [2, 1]);
    assert.deepEqual(x.mean(1).toNested(), [8 / 3, 14 / 3]);
    assert.deepEqual(x.max(-1).toNested(), [5, 7]);
    assert.deepEqual(x.min(0).toNested(), [1, 0, 2]);
    assert.deepEqual([...x.argmax(1)], [1, 0]); // first of the tied 7s, like numpy
    assert.deepEqual([...x.argmax()], [3]);
    assert.throws(() => x.sum(2), /axis 2 out of range for shape \[2,3\]/);
  });
  await t.step("matmul agrees with hand-computed products and checks shapes", () => {
    const a = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
    const b = Tensor.fromArray([[7, 8], [9, 10], [11, 12]]);
    assert.deepEqual(a.matmul(b).toNested(), [[58, 64], [139, 154]]);
    assert.throws(() => a.matmul(a), /shapes \[2,3\] and \[2,3\] do not fit/);
    const f = a.astype("float32").matmul(b.astype("float32"));
    assert.equal(f.dtype, "float32");
    assert.deepEqual(f.toNested(), [[58, 64], [139, 154]]);
  });
  await t.step("unary maps", () => {
    const x = Tensor.fromArray([-4, 0, 9]);
    assert.deepEqual(x.abs().toNested(), [4, 0, 9]);
    assert.deepEqual(x.maximum(0).sqrt().toNested(), [0, 0, 3]);
    assert.deepEqual(x.neg().toNested(), [4, -0, -9]);
  });
});

Deno.test("storage can be shared memory for the worker pool", () => {
  const before = isSharedStorage();
  try {
    setSharedStorage(true);
    const t = Tensor.zeros([4], "float32");
    assert.ok(t.data.buffer instanceof SharedArrayBuffer);
    setSharedStorage(false);
    assert.ok(allocate("float64", 2).buffer instanceof ArrayBuffer);
  } finally {
    setSharedStorage(before);
  }
});

Deno.test("Tensor factories name the problem: no values, or more memory than there is", () => {
  for (const bad of [null, undefined, 3, "1,2"]) {
    assert.throws(
      () => Tensor.fromArray(bad as never),
      /Tensor\.fromArray: values must be an array \(nested for several dimensions\) or a typed array of numbers, got /,
    );
  }
  assert.throws(
    () => Tensor.zeros([100000, 100000]),
    /Tensor\.zeros: shape \[100000,100000\]: allocate: cannot allocate 10000000000 float64 elements \(80 GB\)/,
  );
});

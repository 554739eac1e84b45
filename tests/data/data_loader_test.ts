import assert from "node:assert/strict";
import { DataLoader } from "../../lib/data/data_loader.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

const X = Tensor.arange(7 * 4).reshape([7, 1, 2, 2]);
const y = Int32Array.from({ length: 7 }, (_, i) => i);

Deno.test("DataLoader: batches in order, the last one short unless dropLast", () => {
  const sizes = [...new DataLoader({ X, y }, { batchSize: 3 })].map(([xb, yb]) => {
    assert.equal(xb.shape[0], yb.length);
    return [...yb];
  });
  assert.deepEqual(sizes, [[0, 1, 2], [3, 4, 5], [6]]);
  const dropped = new DataLoader({ X, y }, { batchSize: 3, dropLast: true });
  assert.equal(dropped.length, 2);
  assert.deepEqual([...dropped].map(([, yb]) => yb.length), [3, 3]);
  const [[x0]] = new DataLoader({ X, y }, { batchSize: 2 });
  assert.deepEqual(x0.toNested(), [[[[0, 1], [2, 3]]], [[[4, 5], [6, 7]]]]);
});

Deno.test("DataLoader: seeded shuffle, a new order each epoch, rows stay with their labels", () => {
  const loader = new DataLoader({ X, y }, { batchSize: 4, shuffle: true, rng: new Rng(1) });
  const epoch = () =>
    [...loader].flatMap(([xb, yb]) => {
      yb.forEach((label, i) => assert.equal(xb.get(i, 0, 0, 0), label * 4));
      return [...yb];
    });
  const e1 = epoch(), e2 = epoch();
  assert.deepEqual([...e1].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.notDeepEqual(e1, e2);
  const again = new DataLoader({ X, y }, { batchSize: 4, shuffle: true, rng: new Rng(1) });
  assert.deepEqual([...again].flatMap(([, yb]) => [...yb]), e1);
  assert.throws(() => new DataLoader({ X, y: [1, 2] }), /2 labels but X has 7 examples/);
});

import assert from "node:assert/strict";
import { DataLoader } from "../../lib/data/data_loader.ts";
import { compose, randomCrop, randomHorizontalFlip } from "../../lib/data/transforms.ts";
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

Deno.test("transforms: randomCrop with padding, randomHorizontalFlip, compose", () => {
  const img = Tensor.arange(9).reshape([1, 3, 3]).add(1);
  const rng = new Rng(2);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const out = randomCrop(3, { padding: 1 })(img, rng);
    assert.deepEqual(out.shape, [1, 3, 3]);
    // Every crop is a shifted copy: a value v sits at its place moved by one offset.
    seen.add(JSON.stringify(out.toNested()));
  }
  assert.equal(seen.size, 9, "all 3×3 offsets of a 1-pixel padding occur");
  assert.ok(seen.has(JSON.stringify(img.toNested())));
  let flips = 0;
  for (let i = 0; i < 1000; i++) {
    if (randomHorizontalFlip(0.3)(img, rng) !== img) flips++;
  }
  assert.ok(Math.abs(flips / 1000 - 0.3) < 0.05);
  const both = compose(randomHorizontalFlip(1), randomCrop(2));
  const loader = new DataLoader({ X: img.reshape([1, 1, 3, 3]), y: [0] }, {
    transform: both,
    rng,
  });
  const [[xb]] = loader;
  assert.deepEqual(xb.shape, [1, 1, 2, 2]);
});

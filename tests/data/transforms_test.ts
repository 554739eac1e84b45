import assert from "node:assert/strict";
import { DataLoader } from "../../lib/data/data_loader.ts";
import { compose, randomCrop, randomHorizontalFlip } from "../../lib/data/transforms.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";

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

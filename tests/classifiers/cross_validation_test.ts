import assert from "node:assert/strict";
import { arraySplitRanges, kFoldSplits } from "../../lib/classifiers/cross_validation.ts";
import { Rng } from "../../lib/rng.ts";

Deno.test("arraySplitRanges follows numpy's array_split", () => {
  // np.array_split(range(10), 3) → sizes 4, 3, 3; range(5) in 5 → ones; range(2) in 3 → 1, 1, 0.
  assert.deepEqual(arraySplitRanges(10, 3), [[0, 4], [4, 7], [7, 10]]);
  assert.deepEqual(arraySplitRanges(5, 5), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
  assert.deepEqual(arraySplitRanges(2, 3), [[0, 1], [1, 2], [2, 2]]);
  assert.throws(() => arraySplitRanges(5, 0), /arraySplitRanges: sections must be an integer ≥ 1/);
});

Deno.test("kFoldSplits", async (t) => {
  await t.step("fold i validates on part i and trains on the rest, in order", () => {
    const folds = kFoldSplits(11, 4);
    assert.equal(folds.length, 4);
    assert.deepEqual([...folds[1].val], [3, 4, 5]);
    assert.deepEqual([...folds[1].train], [0, 1, 2, 6, 7, 8, 9, 10]);
    assert.deepEqual([...folds[3].val], [9, 10]);
  });
  await t.step("shuffled folds still cover every example exactly once", () => {
    const folds = kFoldSplits(20, 5, { shuffle: true, rng: new Rng(0) });
    const all = folds.flatMap((f) => [...f.val]).sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual([...folds[0].val], [0, 1, 2, 3]);
    for (const f of folds) assert.equal(f.train.length + f.val.length, 20);
  });
  await t.step("errors", () => {
    assert.throws(() => kFoldSplits(3, 5), /kFoldSplits: numFolds \(5\) is larger than/);
    // @ts-expect-error: an unknown option
    assert.throws(() => kFoldSplits(3, 2, { seed: 1 }), /unknown option "seed"/);
  });
});

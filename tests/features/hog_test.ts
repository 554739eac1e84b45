import assert from "node:assert/strict";
import { hogFeature, rgb2gray } from "../../lib/features/hog.ts";
import { Tensor } from "../../lib/tensor.ts";

/** An H×W image with pixel (r, c) = f(r, c). */
function image(H: number, W: number, f: (r: number, c: number) => number): Tensor {
  return Tensor.zeros([H, W]).map((_, i) => f(Math.floor(i / W), i % W));
}

function bins(values: Partial<Record<number, number>>, cells = 1): number[] {
  const out = new Array(9 * cells).fill(0);
  for (const [i, v] of Object.entries(values)) out[Number(i)] = v;
  return out;
}

Deno.test("hogFeature on hand-made 8×8 images (one cell)", async (t) => {
  await t.step("rightward gradient: 90°, bin 4; the last column has none", () => {
    // 7 columns × 8 rows of magnitude 2, averaged over 64 pixels.
    const f = hogFeature(image(8, 8, (_, c) => 2 * c));
    assert.deepEqual([...f.data], bins({ 4: 56 * 2 / 64 }));
  });
  await t.step("leftward gradient: 270°, outside 0–180°, not counted (as the course)", () => {
    assert.deepEqual([...hogFeature(image(8, 8, (_, c) => 2 * (7 - c))).data], bins({}));
  });
  await t.step("diagonal ramp: 135° inside, 90° on the last row, ~180° on the last column", () => {
    // Pixels with r, c < 7: gradient (1, 1), magnitude √2, orientation 45° + 90° → bin 6.
    // Last row (c < 7): (1, 0) → 90°, bin 4. Last column (r < 7): (0, 1) → atan2(1, 1e-15)
    // = 90° − 6e-14°, plus 90 → just under 180°, bin 8.
    const f = hogFeature(image(8, 8, (r, c) => r + c));
    const expected = bins({ 4: 7 / 64, 6: 49 * Math.SQRT2 / 64, 8: 7 / 64 });
    for (let i = 0; i < 9; i++) assert.ok(Math.abs(f.data[i] - expected[i]) < 1e-15, `bin ${i}`);
  });
  await t.step("an RGB image goes through rgb2gray (weights 0.299, 0.587, 0.144)", () => {
    const rgb = Tensor.zeros([8, 8, 3]).map((_, i) => 2 * (Math.floor(i / 3) % 8));
    const f = hogFeature(rgb);
    // Gray = 1.03 · value, so the gradient is 2.06.
    assert.ok(Math.abs(f.data[4] - 56 * 2 * 1.03 / 64) < 1e-12);
    assert.deepEqual(
      [...rgb2gray(Tensor.fromArray([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]))],
      [0.299, 0.587, 0.144],
    );
  });
});

Deno.test("hogFeature layout and cell size", async (t) => {
  await t.step("28×28 with 8-pixel cells gives 3·3·9 values", () => {
    assert.equal(hogFeature(Tensor.zeros([28, 28])).size, 81);
    assert.equal(hogFeature(Tensor.zeros([28, 28]), { cellSize: 4 }).size, 7 * 7 * 9);
  });
  await t.step(
    "values are laid out (column cell, row cell, bin), as the course's transpose",
    () => {
      // A rightward ramp only in the cell at row-cell 1, column-cell 0 of a 16×16 image.
      // Its last column (c = 7) steps down to 0 (leftward, 270°): not counted.
      const f = hogFeature(image(16, 16, (r, c) => (r >= 8 && c < 8 ? 2 * c : 0)));
      const at = (
        colCell: number,
        rowCell: number,
      ) => [...f.data.subarray((colCell * 2 + rowCell) * 9, (colCell * 2 + rowCell + 1) * 9)];
      assert.deepEqual(at(0, 1), bins({ 4: 1.75 }));
      assert.deepEqual(at(1, 0), bins({}));
      assert.deepEqual(at(1, 1), bins({}));
    },
  );
  await t.step("cellSize 4: 2×2 cells of 16 pixels", () => {
    const f = hogFeature(image(8, 8, (_, c) => 2 * c), { cellSize: 4 });
    // Columns 0–3: 16 pixels of magnitude 2; columns 4–7: 12 (column 7 has none).
    const expected = [
      ...bins({ 4: 2 }),
      ...bins({ 4: 2 }),
      ...bins({ 4: 1.5 }),
      ...bins({ 4: 1.5 }),
    ];
    assert.deepEqual([...f.data], expected);
  });
  await t.step("odd cellSize samples where the course does: round(7/2) = 4, window 1..7", () => {
    // One 7×7 window over rows and columns 1..7: column 7 has no gradient, so 6·7 pixels.
    const f = hogFeature(image(8, 8, (_, c) => 2 * c), { cellSize: 7 });
    assert.ok(Math.abs(f.data[4] - 42 * 2 / 49) < 1e-15);
  });
});

Deno.test("hogFeature errors", () => {
  assert.throws(
    () => hogFeature(Tensor.zeros([8, 8, 4])),
    /hogFeature: im must be \(H, W\) or \(H, W, 3\), got shape \[8,8,4\] \(4 channels\)/,
  );
  assert.throws(() => hogFeature(Tensor.zeros([8])), /got shape \[8\] \(1 dimensions\)/);
  assert.throws(() => hogFeature(Tensor.zeros([6, 6])), /a 6×6 image has no whole cell of 8×8/);
  // @ts-expect-error: an unknown option
  assert.throws(() => hogFeature(Tensor.zeros([8, 8]), { cell: 4 }), /unknown option "cell"/);
  assert.throws(
    () => hogFeature(Tensor.zeros([8, 8]), { cellSize: 0 }),
    /cellSize must be an integer ≥ 1, got 0/,
  );
});

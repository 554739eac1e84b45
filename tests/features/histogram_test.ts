import assert from "node:assert/strict";
import { colorHistogramHsv, intensityHistogram } from "../../lib/features/histogram.ts";
import { Tensor } from "../../lib/tensor.ts";

Deno.test("colorHistogramHsv", async (t) => {
  await t.step("hue of primary and mixed colours, by hand", () => {
    // Hues (× 255, bins of 25.5): red 0 → 0; yellow: red and green tie, green counts →
    // 1/6 → 42.5 → bin 1; blue 4/6 → 170 → bin 6; magenta: red and blue tie, blue counts →
    // 5/6 → 212.5 → bin 8; (255, 0, 128): red is max, g < b → negative, wraps to
    // 1 − 128/255/6 → 233.67 → bin 9; gray: no hue → 0 → bin 0.
    const pixels = [[255, 0, 0], [255, 255, 0], [0, 0, 255], [255, 0, 255], [255, 0, 128], [
      90,
      90,
      90,
    ]];
    const im = Tensor.fromArray([pixels]);
    const h = colorHistogramHsv(im);
    const expected = [2, 1, 0, 0, 0, 0, 1, 0, 1, 1].map((c) => c / 6);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(h.data[i] - expected[i]) < 1e-15, `bin ${i}`);
  });
  await t.step("normalized: false gives counts times the bin width (the course's formula)", () => {
    const im = Tensor.fromArray([[[255, 0, 0], [0, 0, 255]]]);
    const h = colorHistogramHsv(im, { normalized: false, nbin: 3 });
    // Bins of 85: hue 0 → bin 0, hue 170 → bin 2 (the last bin is closed).
    assert.deepEqual([...h.data], [85, 0, 85]);
  });
  await t.step("errors", () => {
    assert.throws(
      () => colorHistogramHsv(Tensor.zeros([4, 4])),
      /colorHistogramHsv: im must be \(H, W, 3\), got shape \[4,4\]/,
    );
    assert.throws(() => colorHistogramHsv(Tensor.zeros([4, 4, 1])), /\(1 channels\)/);
    // @ts-expect-error: an unknown option
    assert.throws(() => colorHistogramHsv(Tensor.zeros([1, 1, 3]), { bins: 3 }), /"bins"/);
  });
});

Deno.test("intensityHistogram", async (t) => {
  await t.step("np.histogram bins: half-open, the last one closed, outside ignored", () => {
    const im = Tensor.fromArray([[0, 25.5, 25.4999, 255], [254.9, 300, -1, 127.5]]);
    const h = intensityHistogram(im);
    // In range: 0 and 25.4999 → bin 0; 25.5 → bin 1; 127.5 → bin 5; 254.9, 255 → bin 9.
    const expected = [2, 1, 0, 0, 0, 1, 0, 0, 0, 2].map((c) => c / 6);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(h.data[i] - expected[i]) < 1e-15, `bin ${i}`);
  });
  await t.step("xmin, xmax and nbin", () => {
    const h = intensityHistogram(Tensor.fromArray([[1, 2, 3, 4]]), { nbin: 2, xmin: 1, xmax: 4 });
    assert.deepEqual([...h.data], [0.5, 0.5]);
    assert.deepEqual([...intensityHistogram(Tensor.fromArray([[[7]], [[9]]]), { nbin: 1 }).data], [
      1,
    ]);
  });
  await t.step("errors", () => {
    assert.throws(
      () => intensityHistogram(Tensor.zeros([2, 2, 3])),
      /intensityHistogram: im must be \(H, W\), got shape \[2,2,3\] \(3 channels\)/,
    );
    assert.throws(
      () => intensityHistogram(Tensor.zeros([2, 2]), { xmin: 5, xmax: 5 }),
      /need finite xmin < xmax, got xmin=5, xmax=5/,
    );
  });
});

import assert from "node:assert/strict";
import { extractFeatures } from "../../lib/features/extract.ts";
import { Tensor } from "../../lib/tensor.ts";

Deno.test("extractFeatures", async (t) => {
  // Three 2×2 images with pixel values 4i, 4i+1, 4i+2, 4i+3.
  const images = Tensor.arange(12).reshape([3, 2, 2]);
  const mean = (im: Tensor) => Tensor.fromArray([im.mean().item()]);
  const corners = (im: Tensor) => Tensor.fromArray([im.get(0, 0), im.get(1, 1)]);

  await t.step("concatenates the functions' outputs in order, one row per image", () => {
    const f = extractFeatures(images, [mean, corners]);
    assert.deepEqual(f.toNested(), [[1.5, 0, 3], [5.5, 4, 7], [9.5, 8, 11]]);
    assert.equal(f.dtype, "float64");
  });
  await t.step("colour images reach the functions as (H, W, C)", () => {
    const shapes: string[] = [];
    extractFeatures(Tensor.zeros([2, 4, 5, 3]), [(im) => {
      shapes.push(im.shape.join("x"));
      return Tensor.zeros([1]);
    }]);
    assert.deepEqual(new Set(shapes), new Set(["4x5x3"]));
  });
  await t.step("progress reaches a callback", () => {
    const seen: number[] = [];
    extractFeatures(images, [mean], { progress: (done, total) => seen.push(done * 10 + total) });
    assert.deepEqual(seen, [13, 23, 33]);
  });
  await t.step("errors name the function and the values", () => {
    let calls = 0;
    const varying = () => Tensor.zeros([calls++ === 0 ? 2 : 3]);
    assert.throws(
      () => extractFeatures(images, [mean, varying]),
      /extractFeatures: featureFns\[1\] returned 3 values, but 2 for the first image/,
    );
    assert.throws(
      () => extractFeatures(images, [() => Tensor.zeros([2, 2])]),
      /featureFns\[0\] must return a 1-d Tensor, got shape \[2,2\]/,
    );
    assert.throws(
      () => extractFeatures(Tensor.zeros([4, 4]), [mean]),
      /images must be a Tensor \(N, H, W\) or \(N, H, W, C\), got shape \[4,4\]/,
    );
    // @ts-expect-error: an unknown option
    assert.throws(() => extractFeatures(images, [mean], { verbose: true }), /"verbose"/);
  });
});

/**
 * Fooling images (Szegedy et al., 2014): a small change of an image that makes the model
 * predict a class of our choosing.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import type { Tensor } from "../tensor.ts";
import { checkImages, classScoreGradient, withFrozenModel } from "./_frozen.ts";

/** Options of {@link makeFoolingImage}. */
export interface FoolingOptions {
  /** Length of each step in input space (default 1). */
  learningRate?: number;
  /** The most gradient steps to take (default 100). */
  maxIters?: number;
}

/** What {@link makeFoolingImage} returns. */
export interface FoolingResult {
  /** The changed image `(1, C, H, W)`. */
  image: Tensor;
  /** Gradient steps taken before the model predicted the target. */
  iterations: number;
  /** Whether the model predicts `targetY` for `image` (false only if `maxIters` ran out). */
  fooled: boolean;
}

/**
 * Gradient ascent on the target class score until the model predicts `targetY`: starting
 * from `X` `(1, C, H, W)`, each step adds `learningRate · g / ‖g‖₂` to the image, `g` the
 * gradient of the score `s[targetY]` with respect to the image; it stops as soon as the
 * model's prediction is `targetY` (before any step if it already is) or after `maxIters`
 * steps. The model is put in eval mode, its parameters get no gradient, `X` is not modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import * as nn from "../nn/mod.ts";
 * import { makeFoolingImage } from "./fooling.ts";
 * const fc = new nn.Linear(4, 2);
 * fc.weight.data.set([1, 1, 1, 1, -1, -1, -1, -1]);
 * fc.bias!.data.set([0, 0]);
 * const model = new nn.Sequential(new nn.Flatten(), fc);
 * const X = Tensor.full([1, 1, 2, 2], 1, "float32"); // predicted class 0
 * const { image, iterations, fooled } = makeFoolingImage(X, 1, model, { learningRate: 1 });
 * assert.ok(fooled && iterations === 3); // each step lowers every pixel by 0.5
 * assert.equal(model.forward(image).argmax(1)[0], 1);
 * ```
 */
export function makeFoolingImage(
  X: Tensor,
  targetY: number,
  model: Module,
  options: FoolingOptions = {},
): FoolingResult {
  const fn = "makeFoolingImage";
  checkImages(fn, "X", X, 1);
  const learningRate = options.learningRate ?? 1;
  const maxIters = options.maxIters ?? 100;
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new Error(`${fn}: learningRate must be a finite number > 0, got ${learningRate}`);
  }
  if (!Number.isInteger(maxIters) || maxIters < 0) {
    throw new Error(`${fn}: maxIters must be an integer ≥ 0, got ${maxIters}`);
  }
  return withFrozenModel(fn, model, () => {
    const image = X.detach().clone();
    for (let it = 0;; it++) {
      const { grad, scores } = classScoreGradient(fn, model, image, [targetY], "targetY");
      if (scores.argmax(1)[0] === targetY) return { image, iterations: it, fooled: true };
      if (it === maxIters) return { image, iterations: it, fooled: false };
      const g = grad.data;
      let norm = 0;
      for (let i = 0; i < g.length; i++) norm += g[i] * g[i];
      norm = Math.sqrt(norm);
      if (norm === 0) return { image, iterations: it, fooled: false }; // no direction to go
      const step = learningRate / norm;
      for (let i = 0; i < g.length; i++) image.data[i] += step * g[i];
    }
  });
}

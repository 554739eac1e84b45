/**
 * Class visualization (Simonyan et al., 2014; Yosinski et al., 2015): synthesise an image
 * the model scores highly for one class, by regularised gradient ascent on the image.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import { getGlobalRng, type Rng } from "../rng.ts";
import { Tensor } from "../tensor.ts";
import { checkImages, classScoreGradient, withFrozenModel } from "./_frozen.ts";
import { blurImage, jitter } from "./image_ops.ts";

/**
 * One step of class visualization, **in place** on `img` `(1, C, H, W)`, which it returns:
 * with `g` the gradient of `s[targetY](img) − l2Reg · ‖img‖₂²` with respect to `img`,
 * `img ← img + learningRate · g / ‖g‖₂`. The model is put in eval mode and its parameters
 * get no gradient.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import * as nn from "../nn/mod.ts";
 * import { classVisualizationUpdateStep } from "./class_visualization.ts";
 * const fc = new nn.Linear(2, 2);
 * fc.weight.data.set([3, 4, 0, 0]);
 * const model = new nn.Sequential(new nn.Flatten(), fc);
 * const img = Tensor.zeros([1, 1, 1, 2], "float32");
 * classVisualizationUpdateStep(img, model, 0, 0, 10); // g = (3, 4), ‖g‖ = 5
 * assert.deepEqual(Array.from(img.data), [6, 8]);
 * ```
 */
export function classVisualizationUpdateStep(
  img: Tensor,
  model: Module,
  targetY: number,
  l2Reg: number,
  learningRate: number,
): Tensor {
  const fn = "classVisualizationUpdateStep";
  checkImages(fn, "img", img, 1);
  for (const [name, v] of [["l2Reg", l2Reg], ["learningRate", learningRate]] as const) {
    if (!Number.isFinite(v)) throw new Error(`${fn}: ${name} must be a finite number, got ${v}`);
  }
  return withFrozenModel(fn, model, () => {
    const { grad } = classScoreGradient(fn, model, img, [targetY], "targetY");
    const g = grad.data, x = img.data;
    // ∂(−λ‖x‖²)/∂x = −2λx, added by hand: the regulariser needs no graph.
    const full = new Float64Array(g.length);
    let norm = 0;
    for (let i = 0; i < g.length; i++) {
      full[i] = g[i] - 2 * l2Reg * x[i];
      norm += full[i] * full[i];
    }
    norm = Math.sqrt(norm);
    if (norm > 0) {
      const step = learningRate / norm;
      for (let i = 0; i < x.length; i++) x[i] += step * full[i];
    }
    return img;
  });
}

/** Options of {@link createClassVisualization}. */
export interface ClassVisualizationOptions {
  /** Weight of the L2 penalty `l2Reg · ‖img‖²` (default 1e-3). */
  l2Reg?: number;
  /** Length of each normalised step (default 25). */
  learningRate?: number;
  /** Gradient steps (default 100). */
  numIterations?: number;
  /** Blur the image every this many steps, at steps 0, blurEvery, ... (default 10). */
  blurEvery?: number;
  /** Largest random shift in pixels per step, each axis drawn from 0..maxJitter (default 16). */
  maxJitter?: number;
  /** Standard deviation of the blur in pixels (default 0.5). */
  blurSigma?: number;
  /** The image shape `(C, H, W)` the model takes (default `[3, 224, 224]`, SqueezeNet's). */
  inputShape?: readonly number[];
  /**
   * Per-channel mean and standard deviation the model's inputs were normalised with; pixels
   * are kept in the range of normalised values of 0..1 pixels, `[−mean/std, (1 − mean)/std]`
   * (defaults: ImageNet's, `[0.485, 0.456, 0.406]` and `[0.229, 0.224, 0.225]`; a model that
   * reads 0..1 pixels directly takes `mean: [0], std: [1]`).
   */
  mean?: readonly number[];
  /** See `mean`. */
  std?: readonly number[];
  /** The starting image `(1, C, H, W)` (copied; default: standard normal pixels from `rng`). */
  init?: Tensor;
  /**
   * Draws the initial image (in the dtype of the model's first parameter) and the jitter
   * (default: the global generator).
   */
  rng?: Rng;
  /** Called after every step with the step index and the current image. */
  onStep?: (t: number, img: Tensor) => void;
}

/**
 * Generates an image `(1, C, H, W)` that the model classifies as `targetY`: from random
 * normal pixels, `numIterations` times: roll the image by a random `(ox, oy)` in
 * `0..maxJitter` ({@link jitter}), take one {@link classVisualizationUpdateStep}, roll it
 * back, clamp every channel to the range of valid pixels, and every `blurEvery` steps
 * blur it ({@link blurImage}, σ = `blurSigma`). Returns the image in the model's input
 * space. The model is put in eval mode and its parameters get no gradient.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import * as nn from "../nn/mod.ts";
 * import { createClassVisualization } from "./class_visualization.ts";
 * const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(16, 3, { rng: new Rng(1) }));
 * const img = createClassVisualization(2, model, {
 *   inputShape: [1, 4, 4], mean: [0], std: [1], maxJitter: 0, numIterations: 20,
 *   learningRate: 0.5, rng: new Rng(0),
 * });
 * assert.deepEqual(img.shape, [1, 1, 4, 4]);
 * assert.equal(model.forward(img).argmax(1)[0], 2);
 * ```
 */
export function createClassVisualization(
  targetY: number,
  model: Module,
  options: ClassVisualizationOptions = {},
): Tensor {
  const fn = "createClassVisualization";
  const l2Reg = options.l2Reg ?? 1e-3;
  const learningRate = options.learningRate ?? 25;
  const numIterations = options.numIterations ?? 100;
  const blurEvery = options.blurEvery ?? 10;
  const maxJitter = options.maxJitter ?? 16;
  const blurSigma = options.blurSigma ?? 0.5;
  const inputShape = options.inputShape ?? [3, 224, 224];
  const C = inputShape[0];
  const mean = options.mean ?? [0.485, 0.456, 0.406];
  const std = options.std ?? [0.229, 0.224, 0.225];
  const rng = options.rng ?? getGlobalRng();
  const counts = { numIterations, blurEvery, maxJitter } as const;
  for (const [name, v] of Object.entries(counts)) {
    if (!Number.isInteger(v) || v < (name === "blurEvery" ? 1 : 0)) {
      throw new Error(
        `${fn}: ${name} must be an integer ≥ ${name === "blurEvery" ? 1 : 0}, got ${v}`,
      );
    }
  }
  if (inputShape.length !== 3 || !inputShape.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(
      `${fn}: inputShape must be [C, H, W] of positive integers, got [${inputShape}]`,
    );
  }
  if (mean.length !== C || std.length !== C || !std.every((s) => s > 0)) {
    throw new Error(
      `${fn}: mean and std need one value per channel (${C}), std > 0; got mean [${mean}], ` +
        `std [${std}]`,
    );
  }
  return withFrozenModel(fn, model, () => {
    let img: Tensor;
    if (options.init !== undefined) {
      checkImages(fn, "init", options.init, 1);
      if (options.init.shape.slice(1).join() !== inputShape.join()) {
        throw new Error(
          `${fn}: init has shape [${options.init.shape}], expected [1,${inputShape}] (inputShape)`,
        );
      }
      img = options.init.detach().clone();
    } else {
      img = Tensor.randn([1, ...inputShape], rng, model.parameters()[0]?.dtype ?? "float32");
    }
    const plane = inputShape[1] * inputShape[2];
    for (let t = 0; t < numIterations; t++) {
      const ox = rng.randint(0, maxJitter + 1), oy = rng.randint(0, maxJitter + 1);
      img = jitter(img, ox, oy);
      classVisualizationUpdateStep(img, model, targetY, l2Reg, learningRate);
      img = jitter(img, -ox, -oy);
      for (let c = 0; c < C; c++) {
        const lo = -mean[c] / std[c], hi = (1 - mean[c]) / std[c];
        const d = img.data;
        for (let i = c * plane; i < (c + 1) * plane; i++) d[i] = Math.min(hi, Math.max(lo, d[i]));
      }
      if (t % blurEvery === 0) blurImage(img, blurSigma);
      options.onStep?.(t, img);
    }
    return img;
  });
}

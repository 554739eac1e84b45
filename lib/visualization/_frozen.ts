/**
 * Running a model as a fixed function of its input: eval mode, parameters frozen.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import { Tensor } from "../tensor.ts";

/**
 * Puts `model` in eval mode (it stays there, as the course's notebook leaves it) and runs
 * `fn` with every parameter's `requiresGrad` off, so a backward pass fills only the input's
 * gradient; the parameters' flags are restored afterwards and their `.grad` is never touched.
 */
export function withFrozenModel<T>(fn: string, model: Module, body: () => T): T {
  if (model === null || typeof model !== "object" || typeof model.forward !== "function") {
    throw new Error(`${fn}: model must be a Module, got ${model}`);
  }
  model.eval();
  const params = model.parameters();
  const flags = params.map((p) => p.requiresGrad);
  for (const p of params) p.requiresGrad = false;
  try {
    return body();
  } finally {
    params.forEach((p, i) => (p.requiresGrad = flags[i]));
  }
}

/** Checks that `x` is an image batch `(N, C, H, W)` of floats, naming the function. */
export function checkImages(fn: string, name: string, x: unknown, n?: number): Tensor {
  if (!(x instanceof Tensor) || x.ndim !== 4) {
    throw new Error(
      `${fn}: ${name} must be a Tensor of shape (N, C, H, W), got ${
        x instanceof Tensor ? `shape [${x.shape}]` : String(x)
      }`,
    );
  }
  if (n !== undefined && x.shape[0] !== n) {
    throw new Error(`${fn}: ${name} must hold ${n} image(s), got shape [${x.shape}]`);
  }
  return x;
}

/** Checks a class index against the model's scores `(N, K)`. */
export function checkClass(fn: string, name: string, y: number, numClasses: number): void {
  if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
    throw new Error(`${fn}: ${name} must be a class index in [0, ${numClasses}), got ${y}`);
  }
}

/** The input's gradient of `Σ_i scores[i, classes[i]]` (one class per example). */
export function classScoreGradient(
  fn: string,
  model: Module,
  x: Tensor,
  classes: ArrayLike<number>,
  className: string,
): { grad: Tensor; scores: Tensor } {
  const leaf = x.detach().clone();
  leaf.requiresGrad = true;
  const scores = model.forward(leaf);
  if (scores.ndim !== 2 || scores.shape[0] !== x.shape[0]) {
    throw new Error(
      `${fn}: the model must map (N, C, H, W) to scores (N, K); got [${scores.shape}] for ` +
        `input [${x.shape}]`,
    );
  }
  const [N, K] = scores.shape;
  // Selecting the chosen scores is a product with a one-hot mask: d(Σ mask·s)/ds = mask.
  const mask = Tensor.zeros([N, K], scores.dtype);
  for (let i = 0; i < N; i++) {
    checkClass(fn, className, classes[i], K);
    mask.data[i * K + classes[i]] = 1;
  }
  scores.mul(mask).sum().backward();
  return { grad: leaf.grad!, scores: scores.detach() };
}

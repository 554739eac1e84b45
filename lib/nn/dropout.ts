/**
 * `nn.Dropout`.
 *
 * @module
 */

import type { Rng } from "../rng.ts";
import type { Tensor } from "../tensor.ts";
import { dropout } from "./functional/dropout.ts";
import { Module, type ModuleOptions } from "./module.ts";

/**
 * Zeroes each element with probability `p` (PyTorch's meaning: the **drop** probability)
 * in training mode; the identity in evaluation mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { Tensor } from "../tensor.ts";
 * import { Dropout } from "./dropout.ts";
 * const drop = new Dropout(0.5, { rng: new Rng(0) });
 * const x = Tensor.ones([100]);
 * assert.ok(drop.forward(x).data.some((v) => v === 0));
 * drop.eval();
 * assert.equal(drop.forward(x), x);
 * ```
 */
export class Dropout extends Module {
  /** Drop probability. */
  readonly p: number;
  readonly #rng: Rng | undefined;

  /** Dropout with drop probability `p` (default 0.5), masks drawn from `rng`. */
  constructor(p = 0.5, options: ModuleOptions = {}) {
    super();
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new Error(`Dropout: p (drop probability) must be in [0, 1], got ${p}`);
    }
    this.p = p;
    this.#rng = options.rng;
  }

  /** Applies `F.dropout` with `training` from the module's mode. */
  override forward(x: Tensor): Tensor {
    return dropout(x, { p: this.p, training: this.training, rng: this.#rng });
  }

  override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
}

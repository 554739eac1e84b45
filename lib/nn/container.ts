/**
 * `nn.Sequential`.
 *
 * @module
 */

import { isGradEnabled } from "../autograd/grad_mode.ts";
import { issueCount } from "../buffer_pool.ts";
import { releaseStorage, type Tensor } from "../tensor.ts";
import { LeakyReLU, ReLU } from "./activation.ts";
import { Conv2d, ConvTranspose2d } from "./conv.ts";
import { Dropout } from "./dropout.ts";
import { Linear } from "./linear.ts";
import { Module } from "./module.ts";
import { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm } from "./normalization.ts";
import { AvgPool2d, MaxPool2d } from "./pooling.ts";
import { Flatten, Identity } from "./shape.ts";

/**
 * The library's modules whose `forward` keeps no reference to its input or output beyond
 * the autograd graph: between two of them, an activation is reachable by nothing but
 * that graph, so `Sequential` may recycle it once a backward pass has freed the graph.
 * Subclasses are not in it (their `forward` may keep anything).
 */
const KEEPS_NOTHING = new Set<unknown>([
  ReLU,
  LeakyReLU,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Linear,
  BatchNorm1d,
  BatchNorm2d,
  LayerNorm,
  GroupNorm,
  MaxPool2d,
  AvgPool2d,
  Flatten,
  Identity,
]);

/** Whether `m` is an instance of exactly `cls` (not of a subclass). */
function isExactly(m: Module, cls: abstract new (...args: never[]) => Module): boolean {
  return Object.getPrototypeOf(m) === cls.prototype;
}

/** Whether `m` is a library `MaxPool2d` of 2×2 windows, stride 2 and no padding. */
function isPool2x2(m: Module | undefined): boolean {
  if (m === undefined || !isExactly(m, MaxPool2d)) return false;
  const pool = m as MaxPool2d;
  return pool.kernelSize === 2 && pool.stride === 2 && pool.padding === 0;
}

/**
 * Modules applied one after the other. Children are named `0`, `1`, ... (or by the keys
 * of a record), which gives the state-dict keys `0.weight`, `1.bias`, ... as in PyTorch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { ReLU } from "./activation.ts";
 * import { Sequential } from "./container.ts";
 * import { Linear } from "./linear.ts";
 * const model = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2));
 * assert.deepEqual(Object.keys(model.stateDict()), ["0.weight", "0.bias", "2.weight", "2.bias"]);
 * assert.deepEqual(model.forward(Tensor.zeros([3, 4], "float32")).shape, [3, 2]);
 * const named = new Sequential({ fc: new Linear(4, 2) });
 * assert.deepEqual(Object.keys(named.stateDict()), ["fc.weight", "fc.bias"]);
 * ```
 */
export class Sequential extends Module {
  readonly #layers: [string, Module][];

  /** The modules in order, or a record of named modules. */
  constructor(...modules: Module[] | [Record<string, Module>]) {
    super();
    const entries: [string, Module][] = modules.length === 1 && !(modules[0] instanceof Module)
      ? Object.entries(modules[0] as Record<string, Module>)
      : (modules as Module[]).map((m, i) => [String(i), m]);
    for (const [name, m] of entries) {
      if (!(m instanceof Module)) {
        throw new Error(`Sequential: entry "${name}" is not a Module (got ${m})`);
      }
    }
    this.#layers = entries;
  }

  override namedChildren(): [string, Module][] {
    return [...this.#layers];
  }

  /** Number of modules. */
  get length(): number {
    return this.#layers.length;
  }

  /** The module at position `i` (negative counts from the end). */
  at(i: number): Module {
    const m = this.#layers.at(i);
    if (m === undefined) {
      throw new Error(`Sequential.at: index ${i} out of range (${this.length} modules)`);
    }
    return m[1];
  }

  /**
   * Feeds `x` through every module in order.
   *
   * When every module is one of the library's own (not a subclass, `forward` not
   * replaced; nested `Sequential`s of them count too), the activations between the modules
   * are memory this call made and handed to no one: they go back to the buffer pool once
   * the backward pass through them has freed the graph (at once when no graph was
   * recorded), so that a training step in the steady state touches no fresh memory. Their
   * tensors stay reachable only through `gradFn.inputs` of the graph before that; reading
   * one afterwards throws. `x` and the result are never recycled.
   *
   * In such a container a `ReLU` followed by a `MaxPool2d` runs as the pooling followed by
   * the ReLU, in one op (`MaxPool2d.forwardRelu`): ReLU is monotonic, so
   * `relu(max(window)) = max(relu(window))` and the output is bitwise the same, while the
   * ReLU touches a quarter of the values (2×2 windows), inside the pooling's pass. The
   * gradients are the same values too: a window whose maximum is positive sends its
   * gradient to the same first maximum either way, one whose maximum is ≤ 0 sends none
   * (only the sign of that zero, or where a NaN or infinite upstream gradient lands in
   * such a window, can differ).
   *
   * A `MaxPool2d` followed by a `ReLU` runs as that same one op, and so bitwise as the
   * two modules.
   *
   * And in such a container a `BatchNorm2d` followed by a `MaxPool2d` of 2×2 windows with
   * stride 2 and no padding (and by a `ReLU` after them, or between them, which then runs
   * after the pooling as above; either way inside the same op) runs as one op,
   * `BatchNorm2d.forwardMaxPool2x2`, where that fuses
   * (`BatchNorm2d.fusesMaxPool2x2`: training mode, float32, even height and width, the
   * WebAssembly kernels): bitwise the same output, running statistics and gradients as the
   * modules with the ReLU after the pooling, for any number of threads, without storing the
   * normalized activation in either pass. With the `ReLU` written between them, the
   * gradients equal those of the written order up to the caveat above: the sign of a zero,
   * and where a NaN or infinite gradient lands in a window with no positive value.
   * Elsewhere the modules run one by one.
   */
  override forward(x: Tensor): Tensor {
    if (!this.keepsNothing()) {
      for (const [, m] of this.#layers) x = m.forward(x);
      return x;
    }
    const since = issueCount();
    const input = x;
    const intermediates: Tensor[] = [];
    const layers = this.#layers;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i][1];
      if (x !== input) intermediates.push(x);
      const next = layers[i + 1]?.[1];
      const after = layers[i + 2]?.[1];
      const fuses = isExactly(m, BatchNorm2d) && (m as BatchNorm2d).fusesMaxPool2x2(x);
      if (fuses && isPool2x2(next)) {
        // BatchNorm2d → MaxPool2d(2), and the ReLU after them if there is one.
        const relu = after !== undefined && isExactly(after, ReLU);
        x = (m as BatchNorm2d).forwardMaxPool2x2(x, relu);
        i += relu ? 2 : 1;
      } else if (fuses && next !== undefined && isExactly(next, ReLU) && isPool2x2(after)) {
        // BatchNorm2d → ReLU → MaxPool2d(2): the ReLU after the pooling, as below.
        x = (m as BatchNorm2d).forwardMaxPool2x2(x, true);
        i += 2;
      } else if (isExactly(m, ReLU) && next !== undefined && isExactly(next, MaxPool2d)) {
        x = (next as MaxPool2d).forwardRelu(x);
        i++;
      } else if (isExactly(m, MaxPool2d) && next !== undefined && isExactly(next, ReLU)) {
        x = (m as MaxPool2d).forwardRelu(x);
        i++;
      } else {
        x = m.forward(x);
      }
    }
    const output = x;
    const recycle = () => {
      // Only once every node that saved them has run and been freed.
      for (const t of intermediates) if (t.gradFn !== null && !t.gradFn.released) return;
      releaseStorage(intermediates, [input, output], since);
    };
    if (output.gradFn !== null) output.gradFn.afterRelease(recycle);
    else if (!isGradEnabled() || intermediates.every((t) => t.gradFn === null)) recycle();
    return output;
  }

  /**
   * Whether every module is one of the library's own that keeps no reference to its
   * input or output (so the activations between them are this container's to recycle).
   */
  keepsNothing(): boolean {
    for (const [, m] of this.#layers) {
      if (Object.hasOwn(m, "forward")) return false;
      if (m instanceof Sequential) {
        if (Object.getPrototypeOf(m) !== Sequential.prototype || !m.keepsNothing()) return false;
      } else if (!KEEPS_NOTHING.has(Object.getPrototypeOf(m).constructor)) return false;
    }
    return true;
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.#layers.map(([, m]) => m)[Symbol.iterator]();
  }
}

/**
 * `Module`: the base class of layers and models (PyTorch's `nn.Module`).
 *
 * A module's parameters, buffers and submodules are its own fields, found by looking at
 * them: a field holding a {@link Parameter} is a parameter, a field holding a `Module` (or
 * an array of modules, named `name.0`, `name.1`, ...) is a submodule, and a tensor
 * registered with {@link Module.registerBuffer} is a buffer (state that is saved but not
 * trained, such as batchnorm's running statistics). Buffer keys are written in PyTorch's
 * snake_case (`runningMean` → `running_mean`), so state dicts match PyTorch's.
 *
 * @module
 */

import type { DType } from "../storage.ts";
import { sameShape, Tensor } from "../tensor.ts";
import { Parameter } from "./parameter.ts";

/** Options every module constructor takes. */
export interface ModuleOptions {
  /** dtype of the parameters and buffers (default `"float32"`). */
  dtype?: DType;
  /** Generator of the initial weights (default: the library's global one, see `setSeed`). */
  rng?: import("../rng.ts").Rng;
}

/** What {@link Module.loadStateDict} reports (after a non-strict load). */
export interface LoadStateDictResult {
  /** Keys the module expects that the dict lacks. */
  missingKeys: string[];
  /** Keys of the dict the module does not have. */
  unexpectedKeys: string[];
}

/**
 * Base class of all layers and models. Subclasses create their parameters and submodules
 * as fields in the constructor and implement `forward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { Linear } from "./linear.ts";
 * import { Module } from "./module.ts";
 * import { relu } from "./functional/activation.ts";
 * class TwoLayerFC extends Module {
 *   fc1 = new Linear(4, 8);
 *   fc2 = new Linear(8, 3);
 *   override forward(x: Tensor): Tensor {
 *     return this.fc2.forward(relu(this.fc1.forward(x)));
 *   }
 * }
 * const model = new TwoLayerFC();
 * assert.deepEqual(model.namedParameters().map(([n]) => n),
 *   ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
 * assert.equal(model.numParameters(), 4 * 8 + 8 + 8 * 3 + 3);
 * assert.deepEqual(model.forward(Tensor.zeros([2, 4], "float32")).shape, [2, 3]);
 * ```
 */
export class Module {
  /** Training mode (true, the default) or evaluation mode; see {@link Module.train}. */
  training = true;
  #buffers = new Set<string>();

  /** The computation; subclasses override it. */
  forward(_x: Tensor, ..._rest: unknown[]): Tensor {
    throw new Error(`${this.constructor.name}.forward is not implemented`);
  }

  /**
   * Makes the field `name` a buffer holding `tensor` (saved in `stateDict`, not trained).
   * Returns the tensor.
   */
  registerBuffer(name: string, tensor: Tensor): Tensor {
    this.#buffers.add(name);
    (this as unknown as Record<string, Tensor>)[name] = tensor;
    return tensor;
  }

  /** The direct submodules with their names (array fields give `name.0`, `name.1`, ...). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([name, value]);
      else if (
        Array.isArray(value) && value.length > 0 && value.every((v) => v instanceof Module)
      ) {
        value.forEach((m, i) => out.push([`${name}.${i}`, m]));
      }
    }
    return out;
  }

  /** The direct submodules. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and all its descendants, depth first, each once, with dotted names. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [child, c] of m.namedChildren()) {
        visit(c, name === "" ? child : `${name}.${child}`);
      }
    };
    visit(this, prefix);
    return out;
  }

  /** This module and all its descendants. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** The module's own parameters (fields holding a `Parameter`), not its children's. */
  ownParameters(): [string, Parameter][] {
    return Object.entries(this).filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  /** The module's own buffers, keyed as in the state dict (snake_case). */
  ownBuffers(): [string, Tensor][] {
    const self = this as unknown as Record<string, Tensor | null>;
    const out: [string, Tensor][] = [];
    for (const name of this.#buffers) {
      const t = self[name];
      if (t instanceof Tensor) out.push([snakeCase(name), t]);
    }
    return out;
  }

  /** All parameters with dotted names (`fc1.weight`), each shared parameter once. */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix === "" ? name : `${prefix}.${name}`, p]);
      }
    }
    return out;
  }

  /** All parameters (what an optimizer takes). */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** All buffers with dotted names (`bn.running_mean`). */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m.ownBuffers()) {
        out.push([prefix === "" ? name : `${prefix}.${name}`, b]);
      }
    }
    return out;
  }

  /** All buffers. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * Sets training mode (`true`) or evaluation mode (`false`) on this module and all its
   * descendants: batchnorm and dropout behave differently. Returns `this`.
   */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`. Returns `this`. */
  eval(): this {
    return this.train(false);
  }

  /** Clears the gradient of every parameter (sets `.grad` to `null`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Parameters and buffers by PyTorch's keys (`0.weight`, `bn.running_mean`), in PyTorch's
   * order: each module's parameters, then its buffers, then its children. The tensors
   * share storage with the module (like PyTorch's); save them with `saveParams`.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [prefix, m] of this.namedModules()) {
      const key = (name: string) => prefix === "" ? name : `${prefix}.${name}`;
      for (const [name, p] of m.ownParameters()) out[key(name)] = p.detach();
      for (const [name, b] of m.ownBuffers()) out[key(name)] = b.detach();
    }
    return out;
  }

  /**
   * Copies `dict` into the parameters and buffers (converting dtypes). With `strict`
   * (the default), missing or unexpected keys are an error; a wrong shape always is. The
   * error lists every problem, as PyTorch's does.
   */
  loadStateDict(
    dict: Record<string, Tensor>,
    options: { strict?: boolean } = {},
  ): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(dict, k));
    const unexpectedKeys = Object.keys(dict).filter((k) => !Object.hasOwn(own, k));
    const problems: string[] = [];
    if (strict && unexpectedKeys.length > 0) {
      problems.push(
        `Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(", ")}.`,
      );
    }
    if (strict && missingKeys.length > 0) {
      problems.push(
        `Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(", ")}.`,
      );
    }
    for (const [key, target] of Object.entries(own)) {
      const source = dict[key];
      if (!Object.hasOwn(dict, key)) continue;
      if (!(source instanceof Tensor)) {
        problems.push(`${key} is not a Tensor (got ${typeof source}).`);
      } else if (!sameShape(source.shape, target.shape)) {
        problems.push(
          `size mismatch for ${key}: copying a param with shape [${source.shape}] from ` +
            `checkpoint, the shape in current model is [${target.shape}].`,
        );
      }
    }
    if (problems.length > 0) {
      throw new Error(
        `Error(s) in loading state_dict for ${this.constructor.name}:\n\t${problems.join("\n\t")}`,
      );
    }
    for (const [key, target] of Object.entries(own)) {
      if (Object.hasOwn(dict, key)) target.data.set(dict[key].data);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** The part inside the parentheses of this module's line (PyTorch's `extra_repr`). */
  extraRepr(): string {
    return "";
  }

  /**
   * The model as PyTorch prints it, then its parameter count:
   *
   * ```text
   * Sequential(
   *   (0): Linear(in_features=784, out_features=10, bias=True)
   * )
   * Parameters: 7,850
   * ```
   */
  toString(): string {
    return `${this.#repr()}\nParameters: ${this.numParameters().toLocaleString("en-US")}`;
  }

  #repr(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    const lines = children.map(([name, m]) => `  (${name}): ${m.#repr().replaceAll("\n", "\n  ")}`);
    return `${head}\n${lines.join("\n")}\n)`;
  }

  /**
   * An Error saying that this module got an input of the wrong shape, naming the module
   * (`Linear(in=784, out=10) got input of shape [50, 100]`) and what it expects.
   */
  protected shapeError(x: Tensor, expected: string): Error {
    return new Error(`${this.describe()} got input of shape [${x.shape}]; expected ${expected}`);
  }

  /** A short name of the module for error messages, e.g. `Linear(in=784, out=10)`. */
  describe(): string {
    return `${this.constructor.name}(${this.extraRepr()})`;
  }
}

/** `runningMean` → `running_mean`. */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

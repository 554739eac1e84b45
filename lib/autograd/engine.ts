/**
 * The autograd engine: a graph of {@link GradNode}s recorded by operations on tensors
 * whose inputs require grad, walked backwards by {@link runBackward}.
 *
 * Each non-leaf tensor points to the node that made it (`tensor.gradFn`); the node holds
 * the inputs and a closure over what the forward pass saved (the layers' `cache`). The
 * backward pass visits tensors in reverse topological order, so every node runs once with
 * the sum of the gradients of all its consumers, and accumulates into `.grad` of the leaves
 * (tensors without `gradFn`) that require grad. Afterwards each node drops its closure and
 * inputs, so the saved activations can be garbage-collected.
 *
 * This file sits at the tensor floor and imports `Tensor` for its type only: `tensor.ts`
 * imports the engine, not the other way round.
 *
 * @module
 */

import { issueCount } from "../buffer_pool.ts";
import type { Tensor } from "../tensor.ts";
import { isGradEnabled, setGradEnabled } from "./grad_mode.ts";

/**
 * A node's backward function: given the gradient of the loss with respect to the node's
 * output, returns one gradient per input (shaped like that input), or `null` for an input
 * that needs none.
 */
export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

/**
 * One recorded operation: its name (for error messages and `toString`), its inputs and
 * its backward function. PyTorch calls this the tensor's `grad_fn`.
 */
export class GradNode {
  /** Name of the operation, e.g. `"mul"` or `"conv2d"`. */
  readonly name: string;
  /**
   * Whether the backward function keeps no reference to the gradient it is given once it
   * returns, so that the engine may recycle that gradient's memory. True for the library's
   * own operations ({@link recordOp}); false for {@link record}, whose callers' closures
   * may keep anything.
   */
  readonly keepsNoGradient: boolean;
  #inputs: Tensor[];
  #backward: BackwardFn | null;
  #afterRelease: (() => void)[] = [];

  /** Records `name` with its `inputs` and `backward` function. */
  constructor(name: string, inputs: Tensor[], backward: BackwardFn, keepsNoGradient = false) {
    this.name = name;
    this.#inputs = inputs;
    this.#backward = backward;
    this.keepsNoGradient = keepsNoGradient;
  }

  /**
   * Runs `fn` at the end of the backward pass that releases this node (after every node
   * of that pass has run). `nn.Sequential` recycles its intermediate activations this way.
   */
  afterRelease(fn: () => void): void {
    this.#afterRelease.push(fn);
  }

  /** Takes the functions registered with {@link afterRelease} (once). */
  takeAfterRelease(): (() => void)[] {
    const fns = this.#afterRelease;
    this.#afterRelease = [];
    return fns;
  }

  /** The inputs of the operation (empty once the node is released). */
  get inputs(): readonly Tensor[] {
    return this.#inputs;
  }

  /** Whether a backward pass has freed this node (its saved tensors are gone). */
  get released(): boolean {
    return this.#backward === null;
  }

  /** Runs the backward function; throws a clear error once the node is released. */
  apply(grad: Tensor): (Tensor | null)[] {
    if (this.#backward === null) {
      throw new Error(
        `Tensor.backward: trying to backward through the graph a second time: the saved ` +
          `tensors of "${this.name}" were freed by an earlier backward(). Pass ` +
          "{ retainGraph: true } to the first backward() if you need to call it twice.",
      );
    }
    return this.#backward(grad);
  }

  /** Drops the backward closure and the inputs (what `backward()` does when it is done). */
  release(): void {
    this.#backward = null;
    this.#inputs = [];
  }
}

/**
 * Whether an operation on `inputs` must be recorded: recording is on and at least one
 * input requires grad. Operations check this first, so that a forward pass on tensors
 * that need no gradient costs nothing extra.
 */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t != null && t.requiresGrad) return true;
  return false;
}

/**
 * Makes `out` the result of a recorded operation: sets `out.gradFn` to a new node over
 * `inputs`. Call it only when {@link needsGrad} says so. Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tensor } from "../tensor.ts";
 * import { needsGrad, record } from "./engine.ts";
 * // A custom op: y = 3x, with its backward.
 * const x = Tensor.fromArray([1, 2], undefined, { requiresGrad: true });
 * const y = x.detach().mul(3);
 * if (needsGrad(x)) record(y, "triple", [x], (g) => [g.mul(3)]);
 * y.sum().backward();
 * assert.deepEqual(x.grad?.toNested(), [3, 3]);
 * ```
 */
export function record(
  out: Tensor,
  name: string,
  inputs: Tensor[],
  backward: BackwardFn,
): Tensor {
  out.gradFn = new GradNode(name, inputs, backward);
  return out;
}

/**
 * {@link record} for the library's own operations, whose backward functions keep no
 * reference to the gradient they are given: the engine recycles that gradient's memory
 * once it is used up (see {@link runBackward}).
 */
export function recordOp(
  out: Tensor,
  name: string,
  inputs: Tensor[],
  backward: BackwardFn,
): Tensor {
  out.gradFn = new GradNode(name, inputs, backward, true);
  return out;
}

/**
 * Gives the storage of dead tensors back to the buffer pool: `tensors`, except storage
 * shared with `keep`, and only buffers issued after `since` (`releaseStorage` in
 * `tensor.ts`, passed in because this file only knows `Tensor` as a type).
 */
export type StorageReleaser = (
  tensors: Iterable<Tensor>,
  keep: Iterable<Tensor>,
  since: number,
) => number;

/** Options of {@link runBackward} (and `Tensor.backward`). */
export interface BackwardOptions {
  /** Keep the graph so that backward can run through it again (default false). */
  retainGraph?: boolean;
}

/**
 * Backpropagates `gradient` (shaped like `root`) from `root` through the recorded graph,
 * adding the result into `.grad` of every leaf that requires grad. Gradients are computed
 * with recording off. Unless `retainGraph`, every node visited is released afterwards.
 *
 * With `release`, a gradient used up by a node of the library's own ({@link recordOp})
 * goes back to the buffer pool, unless it shares storage with the `gradient` passed in, a
 * leaf's `.grad`, a gradient still pending, or anything a {@link record} node's backward
 * function was given or returned; only gradients made during this pass qualify. PyTorch
 * frees them the same way; nothing outside the engine ever sees them.
 */
export function runBackward(
  root: Tensor,
  gradient: Tensor,
  options: BackwardOptions = {},
  release?: StorageReleaser,
): void {
  const since = issueCount();
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, gradient]]);
  // Gradients that must outlive the pass: the one passed in and those given to leaves.
  const escaped: Tensor[] = [gradient];
  const afterwards: (() => void)[] = [];
  const wasEnabled = isGradEnabled();
  setGradEnabled(false);
  try {
    for (const t of order) {
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (node === null) {
        // A leaf: accumulate, as PyTorch does (never in place: a gradient may be shared).
        if (t.requiresGrad) {
          if (t.grad === null) escaped.push(t.grad = g);
          else t.grad = t.grad.add(g);
        }
        continue;
      }
      const inputs = node.inputs;
      const inputGrads = node.apply(g);
      if (!node.keepsNoGradient) {
        // A user's backward function may keep what it was given or returned (or views of
        // them): none of it is ever recycled.
        escaped.push(g);
        for (const gi of inputGrads) if (gi != null) escaped.push(gi);
      }
      for (let k = 0; k < inputs.length; k++) {
        const input = inputs[k];
        const gi = inputGrads[k];
        if (gi == null || !input.requiresGrad) continue;
        if (
          gi.shape.length !== input.shape.length || gi.shape.some((d, i) => d !== input.shape[i])
        ) {
          throw new Error(
            `Tensor.backward: "${node.name}" returned a gradient of shape [${gi.shape}] for ` +
              `its input ${k} of shape [${input.shape}]`,
          );
        }
        const previous = grads.get(input);
        grads.set(input, previous === undefined ? gi : previous.add(gi));
      }
      if (release !== undefined && node.keepsNoGradient) {
        release([g], [...escaped, ...grads.values()], since);
      }
      if (!options.retainGraph) {
        node.release();
        for (const fn of node.takeAfterRelease()) afterwards.push(fn);
      }
    }
  } finally {
    setGradEnabled(wasEnabled);
  }
  for (const fn of afterwards) fn();
}

/** Tensors reachable from `root` through `gradFn` inputs, each after all its consumers. */
function topologicalOrder(root: Tensor): Tensor[] {
  const postOrder: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  // Iterative depth-first search: deep graphs (long training loops of small ops) must not
  // overflow the call stack.
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      postOrder.push(top[0]);
      stack.pop();
    }
  }
  return postOrder.reverse();
}

/**
 * Model files that describe themselves: a safetensors file holding an `nn.Sequential`'s state
 * dict (PyTorch's keys and layouts) plus, in `__metadata__`, the list of layers that rebuilds
 * the network, what input it expects and the class names. `fashion_cnn.ts` writes them,
 * `evaluate.ts` and `network_visualization.ts` read them.
 *
 * Metadata entries (all strings, as safetensors requires):
 * - `format`: `"cs231n-ts/sequential-v1"`;
 * - `architecture`: JSON list of layers, in `nn.Sequential` order (index `i` owns the keys
 *   `i.weight`, `i.bias`, `i.running_mean`, ...), e.g.
 *   `{"type":"Conv2d","inChannels":1,"outChannels":32,"kernelSize":3,"padding":1}`,
 *   `{"type":"BatchNorm2d","numFeatures":32}`, `{"type":"MaxPool2d","kernelSize":2}`,
 *   `{"type":"ReLU"}`, `{"type":"Flatten"}`, `{"type":"Linear","inFeatures":3136,
 *   "outFeatures":256}`, `{"type":"Dropout","p":0.3}`;
 * - `input`: JSON `{"shape":[1,28,28],"scale":0.00392156862745098}`: the network reads raw
 *   pixels (0..255) multiplied by `scale`, nothing subtracted (torchvision's `ToTensor`);
 * - `classes`: JSON list of class names; other entries (accuracies, the command) are notes.
 *
 * @module
 */

import { loadParams, saveParams } from "../lib/io/safetensors.ts";
import * as nn from "../lib/nn/mod.ts";
import type { Module } from "../lib/nn/module.ts";
import type { Rng } from "../lib/rng.ts";
import type { Tensor } from "../lib/tensor.ts";

/** The value of the `format` metadata entry. */
export const MODEL_FORMAT = "cs231n-ts/sequential-v1";

/** One layer of a self-describing sequential model. */
export type LayerSpec =
  | { type: "Conv2d"; inChannels: number; outChannels: number; kernelSize: number; padding: number }
  | { type: "BatchNorm2d"; numFeatures: number }
  | { type: "BatchNorm1d"; numFeatures: number }
  | { type: "MaxPool2d"; kernelSize: number }
  | { type: "ReLU" }
  | { type: "Flatten" }
  | { type: "Dropout"; p: number }
  | { type: "Linear"; inFeatures: number; outFeatures: number };

/** What the network expects as input. */
export interface InputSpec {
  /** One example's shape `(C, H, W)`. */
  shape: number[];
  /** Raw pixel values (0..255) are multiplied by this. */
  scale: number;
}

/** A model read from a file, with its description. */
export interface LoadedModel {
  model: nn.Sequential;
  architecture: LayerSpec[];
  input: InputSpec;
  classes: string[];
  metadata: Record<string, string>;
}

/**
 * The compact architecture strings of `fashion_cnn.ts --arch` as layer lists: `cN` is a 3×3
 * convolution (padding 1) with N channels, batchnorm and ReLU; `p` a 2×2 max pool; `fN` a
 * hidden linear layer of N units with ReLU and dropout `dropout`; a final linear layer to
 * `numClasses` ends the net. After a conv, `p` goes before the ReLU: max pooling and ReLU
 * commute, and the ReLU then runs on a quarter of the values.
 */
export function parseArchitecture(
  arch: string,
  input: number[],
  numClasses: number,
  dropout: number,
): LayerSpec[] {
  const layers: LayerSpec[] = [];
  let [c, h, w] = input;
  let flat = false;
  const tokens = arch.split(",").map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const n = Number(tok.slice(1));
    if (tok[0] === "c" && Number.isInteger(n) && n > 0 && !flat) {
      layers.push({ type: "Conv2d", inChannels: c, outChannels: n, kernelSize: 3, padding: 1 });
      layers.push({ type: "BatchNorm2d", numFeatures: n });
      c = n;
      if (tokens[i + 1] === "p") {
        layers.push({ type: "MaxPool2d", kernelSize: 2 });
        [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
        i++;
      }
      layers.push({ type: "ReLU" });
    } else if (tok === "p" && !flat) {
      layers.push({ type: "MaxPool2d", kernelSize: 2 });
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    } else if (tok[0] === "f" && Number.isInteger(n) && n > 0) {
      if (!flat) layers.push({ type: "Flatten" });
      const inFeatures = flat ? c : c * h * w;
      layers.push({ type: "Linear", inFeatures, outFeatures: n });
      layers.push({ type: "ReLU" });
      if (dropout > 0) layers.push({ type: "Dropout", p: dropout });
      flat = true;
      c = n;
    } else {
      throw new Error(
        `parseArchitecture: cannot read ${JSON.stringify(tok)} in ${JSON.stringify(arch)} ` +
          `(expected cN, p or fN, convolutions before linear layers)`,
      );
    }
  }
  if (!flat) layers.push({ type: "Flatten" });
  layers.push({ type: "Linear", inFeatures: flat ? c : c * h * w, outFeatures: numClasses });
  return layers;
}

/** Builds the `nn.Sequential` a layer list describes (PyTorch's default initialisation). */
export function buildModel(layers: LayerSpec[], rng?: Rng): nn.Sequential {
  const modules: Module[] = layers.map((l, i) => {
    const need = (...keys: string[]) => {
      for (const k of keys) {
        const v = (l as Record<string, unknown>)[k];
        if (typeof v !== "number" || !Number.isFinite(v)) {
          throw new Error(
            `buildModel: layer ${i} (${l.type}) needs a number "${k}", got ${JSON.stringify(v)}`,
          );
        }
      }
    };
    switch (l.type) {
      case "Conv2d":
        need("inChannels", "outChannels", "kernelSize", "padding");
        return new nn.Conv2d(l.inChannels, l.outChannels, l.kernelSize, {
          padding: l.padding,
          rng,
        });
      case "BatchNorm2d":
        need("numFeatures");
        return new nn.BatchNorm2d(l.numFeatures);
      case "BatchNorm1d":
        need("numFeatures");
        return new nn.BatchNorm1d(l.numFeatures);
      case "MaxPool2d":
        need("kernelSize");
        return new nn.MaxPool2d(l.kernelSize);
      case "ReLU":
        return new nn.ReLU();
      case "Flatten":
        return new nn.Flatten();
      case "Dropout":
        need("p");
        return new nn.Dropout(l.p, { rng });
      case "Linear":
        need("inFeatures", "outFeatures");
        return new nn.Linear(l.inFeatures, l.outFeatures, { rng });
      default:
        throw new Error(
          `buildModel: layer ${i} has unknown type ${
            JSON.stringify((l as { type: unknown }).type)
          } (known: Conv2d, BatchNorm2d, BatchNorm1d, MaxPool2d, ReLU, Flatten, Dropout, Linear)`,
        );
    }
  });
  return new nn.Sequential(...modules);
}

/** Writes `model`'s state dict and its description to `path`. */
export function saveModel(
  path: string,
  model: Module,
  description: {
    architecture: LayerSpec[];
    input: InputSpec;
    classes: string[];
    notes?: Record<string, string>;
  },
): void {
  saveParams(path, model.stateDict(), {
    format: MODEL_FORMAT,
    architecture: JSON.stringify(description.architecture),
    input: JSON.stringify(description.input),
    classes: JSON.stringify(description.classes),
    ...description.notes,
  });
}

/**
 * Reads a model file, rebuilds the network from its metadata and loads its weights (strict
 * keys and shapes). Any problem ends in an error that names the file and what is wrong with
 * it (unreadable bytes, a missing or malformed metadata entry, a missing, unexpected or
 * wrongly shaped tensor). The model comes back in eval mode.
 */
export function loadModel(path: string): LoadedModel {
  const fail = (what: string): never => {
    throw new Error(`loadModel: ${path}: ${what}`);
  };
  let params: Record<string, Tensor>, metadata: Record<string, string>;
  try {
    ({ params, metadata } = loadParams(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail("no such file");
    return fail(`not a readable safetensors file (${(e as Error).message})`);
  }
  if (metadata.format !== MODEL_FORMAT) {
    fail(
      `__metadata__ "format" is ${JSON.stringify(metadata.format)}, expected ` +
        `${JSON.stringify(MODEL_FORMAT)} (a file written by fashion_cnn.ts)`,
    );
  }
  const json = (key: string): unknown => {
    if (metadata[key] === undefined) fail(`__metadata__ has no "${key}" entry`);
    try {
      return JSON.parse(metadata[key]);
    } catch (e) {
      return fail(`__metadata__ "${key}" is not valid JSON (${(e as Error).message})`);
    }
  };
  const architecture = json("architecture");
  if (!Array.isArray(architecture) || architecture.length === 0) {
    fail(`__metadata__ "architecture" must be a non-empty list of layers`);
  }
  const input = json("input") as InputSpec;
  if (
    !Array.isArray(input?.shape) || input.shape.length !== 3 ||
    !input.shape.every((v) => Number.isInteger(v) && v > 0) || !(input.scale > 0)
  ) {
    fail(`__metadata__ "input" must be {"shape":[C,H,W],"scale":s}, got ${metadata.input}`);
  }
  const classes = json("classes") as string[];
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === "string")) {
    fail(`__metadata__ "classes" must be a list of names, got ${metadata.classes}`);
  }
  let model: nn.Sequential;
  try {
    model = buildModel(architecture as LayerSpec[]);
  } catch (e) {
    return fail(`cannot rebuild the architecture: ${(e as Error).message}`);
  }
  try {
    model.loadStateDict(params);
  } catch (e) {
    fail(`the weights do not match the architecture in its metadata: ${(e as Error).message}`);
  }
  model.eval();
  return { model, architecture: architecture as LayerSpec[], input, classes, metadata };
}

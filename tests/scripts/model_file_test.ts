import assert from "node:assert/strict";
import { loadParams, saveParams } from "../../lib/io/safetensors.ts";
import { Tensor } from "../../lib/tensor.ts";
import { buildModel, loadModel, parseArchitecture, saveModel } from "../../scripts/_model_file.ts";
import { Rng } from "../../lib/rng.ts";

const DIR = "out/tests/model_file";
const COMMITTED = "data/models/fashion_cnn.safetensors";

Deno.test("parseArchitecture: cN, p and fN become PyTorch-ordered Sequential layers", () => {
  const layers = parseArchitecture("c4,p,c8,p,f16", [1, 28, 28], 10, 0.25);
  assert.deepEqual(layers.map((l) => l.type), [
    "Conv2d",
    "BatchNorm2d",
    "MaxPool2d",
    "ReLU",
    "Conv2d",
    "BatchNorm2d",
    "MaxPool2d",
    "ReLU",
    "Flatten",
    "Linear",
    "ReLU",
    "Dropout",
    "Linear",
  ]);
  assert.deepEqual(layers[9], { type: "Linear", inFeatures: 8 * 7 * 7, outFeatures: 16 });
  assert.throws(() => parseArchitecture("c4,x", [1, 8, 8], 10, 0), /cannot read "x"/);
});

Deno.test("saveModel / loadModel round trip: same keys, same outputs, eval mode", async () => {
  await Deno.mkdir(DIR, { recursive: true });
  const architecture = parseArchitecture("c3,p,f5", [1, 6, 6], 4, 0.5);
  const model = buildModel(architecture, new Rng(0));
  const path = `${DIR}/round_trip.safetensors`;
  saveModel(path, model, {
    architecture,
    input: { shape: [1, 6, 6], scale: 1 / 255 },
    classes: ["a", "b", "c", "d"],
  });
  const loaded = loadModel(path);
  assert.deepEqual(Object.keys(loaded.model.stateDict()), Object.keys(model.stateDict()));
  assert.ok(Object.keys(loaded.model.stateDict()).includes("1.num_batches_tracked"));
  assert.equal(loaded.model.training, false);
  model.eval();
  const x = Tensor.randn([2, 1, 6, 6], new Rng(1), "float32");
  assert.deepEqual(loaded.model.forward(x).data, model.forward(x).data);
  assert.deepEqual(loaded.classes, ["a", "b", "c", "d"]);
});

Deno.test("loadModel: a corrupt or mismatched file names the file and the key or shape", async () => {
  await Deno.mkdir(DIR, { recursive: true });
  const bytes = await Deno.readFile(COMMITTED);
  const truncated = `${DIR}/truncated.safetensors`;
  await Deno.writeFile(truncated, bytes.subarray(0, 1000));
  assert.throws(() => loadModel(truncated), (e: Error) => {
    assert.match(
      e.message,
      /loadModel: out\/tests\/model_file\/truncated\.safetensors: not a readable safetensors file/,
    );
    return true;
  });
  assert.throws(
    () => loadModel(`${DIR}/missing.safetensors`),
    /missing\.safetensors: no such file/,
  );

  const { params, metadata } = loadParams(COMMITTED);
  const arch = JSON.parse(metadata.architecture);
  const last = arch[arch.length - 1];

  // The metadata says 9 classes, the tensors hold 10.
  const wrongShape = `${DIR}/wrong_shape.safetensors`;
  const archNine = arch.map((l: { type: string }, i: number) =>
    i === arch.length - 1 ? { ...last, outFeatures: 9 } : l
  );
  saveParams(wrongShape, params, { ...metadata, architecture: JSON.stringify(archNine) });
  assert.throws(() => loadModel(wrongShape), (e: Error) => {
    assert.match(e.message, /wrong_shape\.safetensors: the weights do not match/);
    assert.match(
      e.message,
      new RegExp(
        `size mismatch for ${
          arch.length - 1
        }\\.weight: .*\\[10,${last.inFeatures}\\].*\\[9,${last.inFeatures}\\]`,
      ),
    );
    return true;
  });

  // A tensor missing.
  const missingKey = `${DIR}/missing_key.safetensors`;
  const fewer = { ...params };
  delete fewer["1.running_var"];
  saveParams(missingKey, fewer, metadata);
  assert.throws(
    () => loadModel(missingKey),
    /missing_key\.safetensors: .*Missing key\(s\) in state_dict: "1\.running_var"/s,
  );

  // No architecture, or a broken one.
  const noArch = `${DIR}/no_arch.safetensors`;
  const { architecture: _, ...rest } = metadata;
  saveParams(noArch, params, rest);
  assert.throws(
    () => loadModel(noArch),
    /no_arch\.safetensors: __metadata__ has no "architecture" entry/,
  );
  const badLayer = `${DIR}/bad_layer.safetensors`;
  saveParams(badLayer, params, { ...metadata, architecture: JSON.stringify([{ type: "Conv3d" }]) });
  assert.throws(
    () => loadModel(badLayer),
    /bad_layer\.safetensors: cannot rebuild .*layer 0 has unknown type "Conv3d"/,
  );
  const plain = `${DIR}/plain.safetensors`;
  saveParams(plain, params);
  assert.throws(() => loadModel(plain), /plain\.safetensors: __metadata__ "format" is undefined/);
});

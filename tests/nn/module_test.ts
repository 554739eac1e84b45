import assert from "node:assert/strict";
import { loadParams, saveParams } from "../../lib/io/safetensors.ts";
import { convForwardFast } from "../../lib/layers/conv_fast.ts";
import { spatialBatchnormForward } from "../../lib/layers/spatial_batchnorm.ts";
import * as F from "../../lib/nn/functional.ts";
import * as nn from "../../lib/nn/mod.ts";
import { noGrad } from "../../lib/autograd/grad_mode.ts";
import { Rng } from "../../lib/rng.ts";
import { Tensor } from "../../lib/tensor.ts";
import { checkGradients, leaf } from "./_grad_check.ts";

const f64 = (rng: Rng) => ({ dtype: "float64" as const, rng });

function convNet(rng: Rng) {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1, ...f64(rng) }),
    new nn.BatchNorm2d(4, { dtype: "float64" }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Dropout(0.25, { rng }),
    new nn.Linear(4 * 3 * 3, 5, f64(rng)),
  );
}

Deno.test("Module: parameters, buffers and children are found in the fields, with dotted names", () => {
  class Net extends nn.Module {
    stem = new nn.Conv2d(1, 2, 3);
    blocks = [new nn.Linear(3, 3), new nn.Linear(3, 3, { bias: false })];
    head = new nn.Sequential(new nn.BatchNorm1d(3), new nn.Linear(3, 2));
    scale = new nn.Parameter(Tensor.ones([1], "float32"));
    note = "not a module";
  }
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), [
    "scale",
    "stem.weight",
    "stem.bias",
    "blocks.0.weight",
    "blocks.0.bias",
    "blocks.1.weight",
    "head.0.weight",
    "head.0.bias",
    "head.1.weight",
    "head.1.bias",
  ]);
  assert.deepEqual(net.namedBuffers().map(([n]) => n), [
    "head.0.running_mean",
    "head.0.running_var",
    "head.0.num_batches_tracked",
  ]);
  assert.deepEqual(net.namedChildren().map(([n]) => n), ["stem", "blocks.0", "blocks.1", "head"]);
  assert.equal(net.modules().length, 7);
  const tracked = net.stateDict()["head.0.num_batches_tracked"];
  assert.ok(tracked.isInt64 && tracked.ndim === 0 && tracked.item() === 0);
});

Deno.test("Module: toString prints like PyTorch, with the parameter count", () => {
  const model = new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(6272, 10),
  );
  assert.equal(
    model.toString(),
    `Sequential(
  (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Linear(in_features=6272, out_features=10, bias=True)
)
Parameters: 63,114`,
  );
  assert.equal(model.numParameters(), 32 * 9 + 32 + 64 + 62720 + 10);
});

Deno.test("Module: shape errors name the module", () => {
  assert.throws(
    () => new nn.Linear(784, 10).forward(Tensor.zeros([50, 100], "float32")),
    (e: Error) => e.message.startsWith("Linear(in=784, out=10) got input of shape [50,100]"),
  );
  assert.throws(
    () => new nn.Conv2d(3, 8, 3).forward(Tensor.zeros([2, 1, 8, 8], "float32")),
    /Conv2d\(in=3, out=8\) got input of shape \[2,1,8,8\]; expected \(N, 3, H, W\)/,
  );
});

Deno.test("Module: default initialisation is PyTorch's (uniform within ±1/√fan_in)", () => {
  const fc = new nn.Linear(400, 300, { rng: new Rng(0) });
  const bound = 1 / Math.sqrt(400);
  assert.ok(fc.weight.data.every((v) => Math.abs(v) <= bound));
  assert.ok(fc.bias!.data.every((v) => Math.abs(v) <= bound));
  const std = Math.sqrt(fc.weight.square().mean().item());
  assert.ok(Math.abs(std - bound / Math.sqrt(3)) < 1e-3 * bound * 10);
  const conv = new nn.Conv2d(6, 4, 3, { groups: 2, rng: new Rng(1) });
  const cb = 1 / Math.sqrt(3 * 9);
  assert.ok(conv.weight.data.every((v) => Math.abs(v) <= cb));
  assert.ok(conv.weight.data.some((v) => Math.abs(v) > 0.9 * cb));
  assert.equal(conv.weight.dtype, "float32");
});

Deno.test("Module: each module's forward matches its layer, gradients match numeric ones", () => {
  const rng = new Rng(20);
  const conv = new nn.Conv2d(2, 3, 3, { padding: 1, stride: 2, ...f64(rng) });
  const x = leaf([2, 2, 5, 5], rng);
  const [ref] = convForwardFast(x.detach(), conv.weight.detach(), conv.bias!.detach(), {
    stride: 2,
    pad: 1,
  });
  assert.deepEqual([...conv.forward(x).data], [...ref.data]);
  const bn = new nn.BatchNorm2d(2, { dtype: "float64" });
  bn.weight!.data.set([1.5, -0.5]);
  const [bnRef] = spatialBatchnormForward(x.detach(), bn.weight!.detach(), bn.bias!.detach(), {
    mode: "train",
  });
  assert.deepEqual([...bn.forward(x).data], [...bnRef.data]);
  const modules: [nn.Module, Tensor][] = [
    [conv, x],
    [bn, x],
    [new nn.BatchNorm1d(4, { dtype: "float64" }), leaf([5, 4], rng)],
    [new nn.BatchNorm1d(2, { dtype: "float64" }), leaf([3, 2, 4], rng)],
    [new nn.LayerNorm([5, 5], { dtype: "float64" }), x],
    [new nn.GroupNorm(1, 2, { dtype: "float64" }), x],
    [new nn.ConvTranspose2d(2, 4, 2, { stride: 2, ...f64(rng) }), x],
    [new nn.AvgPool2d(2, { stride: 1 }), x],
    [new nn.LeakyReLU(0.1), x],
    [new nn.Identity(), x],
  ];
  for (const [m, input] of modules) {
    checkGradients(() => m.forward(input), [input, ...m.parameters()]);
  }
  const net = convNet(rng).eval();
  const img = leaf([3, 1, 6, 6], rng);
  checkGradients(() => net.forward(img), [img, ...net.parameters()]);
});

Deno.test("Module: train() and eval() switch batchnorm statistics and dropout", () => {
  const rng = new Rng(21);
  const net = convNet(rng);
  const x = Tensor.randn([8, 1, 6, 6], rng, "float64");
  const bn = net.at(1) as nn.BatchNorm2d;
  assert.ok(net.training && bn.training);
  const a = noGrad(() => net.forward(x)), b = noGrad(() => net.forward(x));
  assert.notDeepEqual([...a.data], [...b.data], "dropout draws a new mask in training");
  assert.equal(bn.numBatchesTracked!.item(), 2);
  const runningMean = [...bn.runningMean!.data];
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  const c = noGrad(() => net.forward(x)), d = noGrad(() => net.forward(x));
  assert.deepEqual([...c.data], [...d.data], "no dropout, fixed statistics in evaluation");
  assert.deepEqual([...bn.runningMean!.data], runningMean, "evaluation leaves running stats alone");
  assert.equal(bn.numBatchesTracked!.item(), 2);
  // In evaluation, one example's output does not depend on the rest of the batch.
  const single = noGrad(() => net.forward(x.sliceRows(0, 1).clone()));
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(single.get(0, i) - c.get(0, i)) < 1e-12);
  net.train();
  assert.ok(bn.training);
});

Deno.test("Module: zeroGrad clears every parameter's gradient", () => {
  const net = convNet(new Rng(22));
  net.forward(Tensor.randn([2, 1, 6, 6], new Rng(0), "float64")).sum().backward();
  assert.ok(net.parameters().every((p) => p.grad !== null));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
});

Deno.test("Module: stateDict round trip through a safetensors file", () => {
  const rng = new Rng(23);
  const a = convNet(rng);
  noGrad(() => a.forward(Tensor.randn([4, 1, 6, 6], rng, "float64"))); // move the running stats
  a.eval();
  const path = "out/test/nn_state_dict.safetensors";
  saveParams(path, a.stateDict());
  const b = convNet(new Rng(99)).eval();
  b.loadStateDict(loadParams(path).params);
  const x = Tensor.randn([3, 1, 6, 6], rng, "float64");
  assert.deepEqual([...noGrad(() => b.forward(x)).data], [...noGrad(() => a.forward(x)).data]);
  const loaded = loadParams(path).params["1.num_batches_tracked"];
  assert.ok(loaded.isInt64 && loaded.item() === 1);
});

Deno.test("Module: loads a safetensors file written byte by byte to the spec", () => {
  // Linear(2, 1): weight F32 [1, 2] = [0.5, -2], bias F64 [1] = [0.25] (converted on load).
  const header = '{"weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
    '"bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}';
  const padded = header + " ".repeat((8 - header.length % 8) % 8);
  const bytes: number[] = [];
  let n = padded.length;
  for (let i = 0; i < 8; i++, n = Math.floor(n / 256)) bytes.push(n % 256); // u64 LE
  for (const ch of padded) bytes.push(ch.charCodeAt(0));
  bytes.push(0x00, 0x00, 0x00, 0x3f); // 0.5f
  bytes.push(0x00, 0x00, 0x00, 0xc0); // -2.0f
  bytes.push(0, 0, 0, 0, 0, 0, 0xd0, 0x3f); // 0.25 as float64
  const path = "out/test/by_hand.safetensors";
  Deno.mkdirSync("out/test", { recursive: true });
  Deno.writeFileSync(path, Uint8Array.from(bytes));
  const fc = new nn.Linear(2, 1);
  fc.loadStateDict(loadParams(path).params);
  assert.deepEqual([...fc.weight.data], [0.5, -2]);
  assert.deepEqual([...fc.bias!.data], [0.25]);
  assert.equal(fc.forward(Tensor.fromArray([[2, 1]], undefined, "float32")).item(), -0.75);
});

Deno.test("Module: loadStateDict lists missing, unexpected and wrong-shape keys", () => {
  const model = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
  const good = model.stateDict();
  const { "2.bias": _dropped, ...missing } = good;
  assert.throws(
    () => model.loadStateDict({ ...missing, "3.weight": Tensor.zeros([1]) }),
    (e: Error) =>
      e.message ===
        "Error(s) in loading state_dict for Sequential:\n" +
          '\tUnexpected key(s) in state_dict: "3.weight".\n' +
          '\tMissing key(s) in state_dict: "2.bias".',
  );
  assert.throws(
    () => model.loadStateDict({ ...good, "0.weight": Tensor.zeros([3, 5]) }),
    /size mismatch for 0\.weight: copying a param with shape \[3,5\] from checkpoint, the shape in current model is \[3,4\]/,
  );
  const result = model.loadStateDict({ ...missing, extra: Tensor.zeros([1]) }, { strict: false });
  assert.deepEqual(result, { missingKeys: ["2.bias"], unexpectedKeys: ["extra"] });
});

Deno.test("Sequential runs ReLU then MaxPool2d as the pooling then the ReLU: same output bits, same gradient values", () => {
  const rng = new Rng(31);
  const make = () => {
    const r = new Rng(32);
    return [
      new nn.Conv2d(2, 4, 3, { padding: 1, dtype: "float64", rng: r }),
      new nn.BatchNorm2d(4, { dtype: "float64" }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.ReLU(),
      new nn.MaxPool2d(3, { stride: 1, padding: 1 }),
    ];
  };
  const fusedLayers = make(), plainLayers = make();
  const fused = new nn.Sequential(...fusedLayers);
  // Shift the input down so that many 2×2 windows hold no positive value.
  const x = Tensor.randn([3, 2, 8, 8], rng).sub(Tensor.fromArray([0.8]));
  const dout = Tensor.randn([3, 4, 4, 4], rng);

  const out = fused.forward(x);
  assert.equal(out.gradFn?.name, "maxPool2dRelu", "the last pair ran pooling first, in one op");
  out.backward(dout);
  let y = x;
  for (const m of plainLayers) y = m.forward(y);
  assert.equal(y.gradFn?.name, "maxPool2d");
  y.backward(dout);

  assert.deepEqual(out.data, y.data, "output, bitwise");
  const params = (layers: nn.Module[]) => layers.flatMap((m) => m.parameters());
  const [a, b] = [params(fusedLayers), params(plainLayers)];
  assert.equal(a.length, 4);
  let zeroWindows = 0;
  for (let k = 0; k < a.length; k++) {
    const ga = a[k].grad!.data, gb = b[k].grad!.data;
    for (let i = 0; i < ga.length; i++) {
      assert.ok(ga[i] === gb[i], `parameter ${k}, element ${i}: ${ga[i]} and ${gb[i]}`);
    }
  }
  // The case the ordering matters for did occur: windows with no positive input.
  const pre = plainLayers[1].forward(plainLayers[0].forward(x)).data;
  for (let n = 0; n < 3 * 4; n++) {
    for (let i = 0; i < 8; i += 2) {
      for (let j = 0; j < 8; j += 2) {
        const at = n * 64 + i * 8 + j;
        if (Math.max(pre[at], pre[at + 1], pre[at + 8], pre[at + 9]) <= 0) zeroWindows++;
      }
    }
  }
  assert.ok(zeroWindows > 10, `windows with no positive input: ${zeroWindows}`);
});

Deno.test("Sequential runs a training BatchNorm2d → (ReLU →) MaxPool2d(2) as one op: same bits as the layers apart", () => {
  const make = (dtype: "float32" | "float64") => {
    const r = new Rng(41);
    const bn = (c: number) => {
      const m = new nn.BatchNorm2d(c, { dtype });
      // Scales of both signs, so the pooling after batchnorm is not the pooling before it.
      m.weight!.data.set(Array.from({ length: c }, () => r.uniform(-1.5, 1.5)));
      m.bias!.data.set(Array.from({ length: c }, () => r.uniform(-1, 1)));
      return m;
    };
    return [
      new nn.Conv2d(2, 5, 3, { padding: 1, dtype, rng: r }),
      bn(5),
      new nn.ReLU(),
      new nn.MaxPool2d(2), // 16×20 → 8×10: fused, then the ReLU
      bn(5),
      new nn.MaxPool2d(2), // 8×10 → 4×5: fused
      bn(5),
      new nn.ReLU(),
      new nn.MaxPool2d(2), // 4×5 (odd): batchnorm apart, then pooling before the ReLU
    ];
  };
  const names = (t: Tensor) => {
    const seen: string[] = [];
    for (let node = t.gradFn; node !== null; node = node.inputs[0]?.gradFn ?? null) {
      seen.push(node.name);
    }
    return seen.reverse().join(" ");
  };
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(42);
    const x = Tensor.randn([6, 2, 16, 20], rng, dtype);
    const dout = Tensor.randn([6, 5, 2, 2], rng, dtype);
    const [seqLayers, refLayers, apartLayers] = [make(dtype), make(dtype), make(dtype)];
    const run = (forward: (x: Tensor) => Tensor, layers: nn.Module[]) => {
      const input = x.detach();
      input.requiresGrad = true;
      const out = forward(input);
      const graph = names(out);
      out.backward(dout);
      const bns = layers.filter((m) => m instanceof nn.BatchNorm2d) as nn.BatchNorm2d[];
      return {
        graph,
        values: [
          out.data,
          input.grad!.data,
          ...layers.flatMap((m) => m.parameters().map((p) => p.grad!.data)),
          ...bns.flatMap((m) => [m.runningMean!.data, m.runningVar!.data]),
          ...bns.map((m) => m.numBatchesTracked!.data),
        ],
      };
    };
    const seq = run((t) => new nn.Sequential(...seqLayers).forward(t), seqLayers);
    // What the container promises: pooling before each ReLU that precedes it.
    const [c, bn1, , , bn2, pool2, bn3, relu3, pool3] = refLayers as [
      nn.Conv2d,
      nn.BatchNorm2d,
      nn.ReLU,
      nn.MaxPool2d,
      nn.BatchNorm2d,
      nn.MaxPool2d,
      nn.BatchNorm2d,
      nn.ReLU,
      nn.MaxPool2d,
    ];
    const ref = run((t) => {
      const a = relu3.forward(pool2.forward(bn1.forward(c.forward(t))));
      return relu3.forward(pool3.forward(bn3.forward(pool2.forward(bn2.forward(a)))));
    }, refLayers);
    const apart = run((t) => apartLayers.reduce((y, m) => m.forward(y), t), apartLayers);

    // The 4×5 maps are cropped to 4×4 ("pad" with negative amounts) before their pooling.
    const fusedGraph =
      "conv2d batchNormMaxPool2dRelu batchNormMaxPool2d batchNorm pad maxPool2dRelu";
    // Float64: batchnorm apart, each ReLU → MaxPool2d pair one op.
    const float64Graph =
      "conv2d batchNorm maxPool2dRelu batchNorm maxPool2d batchNorm pad maxPool2dRelu";
    const unfusedGraph =
      "conv2d batchNorm maxPool2d relu batchNorm maxPool2d batchNorm pad maxPool2d relu";
    assert.equal(seq.graph, dtype === "float32" ? fusedGraph : float64Graph, dtype);
    assert.equal(ref.graph, unfusedGraph);
    assert.equal(seq.values.length, ref.values.length);
    for (let k = 0; k < seq.values.length; k++) {
      const [a, b, c] = [seq.values[k], ref.values[k], apart.values[k]];
      for (let i = 0; i < a.length; i++) {
        if (!Object.is(a[i], b[i])) {
          assert.fail(`${dtype} value ${k}[${i}]: ${a[i]}, apart ${b[i]}`);
        }
        // Against the ReLU before the pooling: the same values (a zero's sign may differ).
        if (a[i] !== c[i]) assert.fail(`${dtype} value ${k}[${i}]: ${a[i]}, ReLU first ${c[i]}`);
      }
    }
  }
});

Deno.test("Sequential runs BatchNorm2d → MaxPool2d(2) → ReLU and MaxPool2d → ReLU as one op each: the modules' bits", () => {
  const make = (dtype: "float32" | "float64") => {
    const r = new Rng(51);
    const bn = new nn.BatchNorm2d(4, { dtype });
    bn.weight!.data.set([1.2, -0.7, 0.5, -1.5]);
    bn.bias!.data.set([-0.2, 0.3, 0, 0.1]);
    return [
      new nn.Conv2d(2, 4, 3, { padding: 1, dtype, rng: r }),
      bn,
      new nn.MaxPool2d(2), // 12×12 → 6×6, then the ReLU: one op when float32
      new nn.ReLU(),
      new nn.Conv2d(4, 3, 3, { padding: 1, dtype, rng: r }),
      new nn.MaxPool2d(3, { stride: 2, padding: 1 }), // 6×6 → 3×3, then the ReLU: one op
      new nn.ReLU(),
    ];
  };
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(52);
    const x0 = Tensor.randn([5, 2, 12, 12], rng, dtype);
    const dout = Tensor.randn([5, 3, 3, 3], rng, dtype);
    dout.data[4] = NaN;
    const run = (sequential: boolean) => {
      const layers = make(dtype);
      const x = x0.detach();
      x.requiresGrad = true;
      const out = sequential
        ? new nn.Sequential(...layers).forward(x)
        : layers.reduce((y, m) => m.forward(y), x);
      const names: string[] = [];
      for (let node = out.gradFn; node !== null; node = node.inputs[0]?.gradFn ?? null) {
        names.push(node.name);
      }
      out.backward(dout);
      const bn = layers[1] as nn.BatchNorm2d;
      const values = [
        out.data,
        x.grad!.data,
        ...layers.flatMap((m) => m.parameters().map((p) => p.grad!.data)),
        bn.runningMean!.data,
        bn.runningVar!.data,
      ];
      return { graph: names.reverse().join(" "), values };
    };
    const [seq, modules] = [run(true), run(false)];
    const first = dtype === "float32" ? "batchNormMaxPool2dRelu" : "batchNorm maxPool2dRelu";
    assert.equal(seq.graph, `conv2d ${first} conv2d pad maxPool2dRelu`, dtype);
    assert.equal(modules.graph, "conv2d batchNorm maxPool2d relu conv2d pad maxPool2d relu");
    for (let k = 0; k < seq.values.length; k++) {
      for (let i = 0; i < seq.values[k].length; i++) {
        const [a, b] = [seq.values[k][i], modules.values[k][i]];
        if (!Object.is(a, b)) assert.fail(`${dtype} value ${k}[${i}]: ${a}, modules ${b}`);
      }
    }
  }
});

Deno.test("Sequential fuses BatchNorm2d with MaxPool2d only in training mode, for 2×2 windows of stride 2", () => {
  const x = Tensor.randn([4, 3, 8, 8], new Rng(43), "float32");
  const lastOp = (...modules: nn.Module[]) => {
    const input = x.detach();
    input.requiresGrad = true;
    return new nn.Sequential(...modules).forward(input).gradFn!.name;
  };
  const trained = () => new nn.BatchNorm2d(3);
  assert.equal(lastOp(trained(), new nn.MaxPool2d(2)), "batchNormMaxPool2d");
  assert.equal(lastOp(trained(), new nn.ReLU(), new nn.MaxPool2d(2)), "batchNormMaxPool2dRelu");
  const evaluated = new nn.BatchNorm2d(3);
  evaluated.eval();
  assert.equal(lastOp(evaluated, new nn.MaxPool2d(2)), "maxPool2d");
  assert.equal(lastOp(trained(), new nn.MaxPool2d(2, { stride: 1 })), "maxPool2d");
  assert.equal(lastOp(trained(), new nn.MaxPool2d(3)), "maxPool2d");
  assert.equal(lastOp(trained(), new nn.MaxPool2d(2, { padding: 1 })), "maxPool2d");
  class MyNorm extends nn.BatchNorm2d {}
  assert.equal(lastOp(new MyNorm(3), new nn.MaxPool2d(2)), "maxPool2d");
  // Evaluation mode through the method itself: the two layers apart, same bits.
  const bn = new nn.BatchNorm2d(3);
  bn.forward(x);
  bn.eval();
  const viaMethod = bn.forwardMaxPool2x2(x);
  assert.deepEqual(viaMethod.data, new nn.MaxPool2d(2).forward(bn.forward(x)).data);
  assert.equal(bn.numBatchesTracked!.data[0], 1);
});

Deno.test("F.batchNormMaxPool2d with relu: the bits of relu(maxPool2d(batchNorm(x))), fused or not", () => {
  for (const dtype of ["float32", "float64"] as const) {
    const rng = new Rng(47);
    const x0 = Tensor.randn([5, 4, 8, 6], rng, dtype);
    const dout = Tensor.randn([5, 4, 4, 3], rng, dtype);
    dout.data[7] = NaN; // lands in a window or not: either way as the ReLU layer puts it
    const run = (fusedOp: boolean) => {
      const x = x0.detach();
      x.requiresGrad = true;
      const weight = Tensor.fromArray([1.5, -0.5, 1, -2], [4], { dtype, requiresGrad: true });
      const bias = Tensor.fromArray([-0.3, 0.2, 0, 0.5], [4], { dtype, requiresGrad: true });
      const [rm, rv] = [Tensor.zeros([4], dtype), Tensor.ones([4], dtype)];
      const options = { weight, bias, momentum: 0.3 };
      const out = fusedOp
        ? F.batchNormMaxPool2d(x, rm, rv, { ...options, relu: true })
        : F.relu(F.maxPool2d(F.batchNorm(x, rm, rv, { ...options, training: true }), 2));
      const name = out.gradFn!.name;
      out.backward(dout);
      return { name, values: [out, x.grad!, weight.grad!, bias.grad!, rm, rv].map((t) => t.data) };
    };
    const [a, b] = [run(true), run(false)];
    assert.equal(a.name, dtype === "float32" ? "batchNormMaxPool2dRelu" : "relu", dtype);
    for (let k = 0; k < a.values.length; k++) {
      for (let i = 0; i < a.values[k].length; i++) {
        const [p, q] = [a.values[k][i], b.values[k][i]];
        if (!Object.is(p, q)) assert.fail(`${dtype} value ${k}[${i}]: ${p}, apart ${q}`);
      }
    }
    // The ReLU acted: some outputs are zero, and none is negative.
    assert.ok(a.values[0].some((v) => v === 0) && a.values[0].every((v) => !(v < 0)));
  }
  const [rm, rv] = [Tensor.zeros([3], "float32"), Tensor.ones([3], "float32")];
  const x = Tensor.randn([2, 3, 4, 4], new Rng(48), "float32");
  assert.throws(
    // @ts-expect-error: a string where a boolean belongs
    () => F.batchNormMaxPool2d(x, rm, rv, { relu: "yes" }),
    /F\.batchNormMaxPool2d: options\.relu must be true or false, got "yes"/,
  );
  assert.throws(
    // @ts-expect-error: a number where a boolean belongs
    () => new nn.BatchNorm2d(3).forwardMaxPool2x2(x, 1),
    /BatchNorm2d\.forwardMaxPool2x2: relu must be true or false, got 1/,
  );
  assert.deepEqual([...rm.data, ...rv.data], [0, 0, 0, 1, 1, 1]);
  // The module's method in evaluation mode: the composition, ReLU included.
  const bn = new nn.BatchNorm2d(3);
  bn.eval();
  assert.deepEqual(
    bn.forwardMaxPool2x2(x, true).data,
    F.relu(new nn.MaxPool2d(2).forward(bn.forward(x))).data,
  );
});

Deno.test("F.batchNormMaxPool2d checks its arguments before any running statistic changes", () => {
  const x = Tensor.randn([2, 3, 4, 4], new Rng(44), "float32");
  const runningMean = Tensor.zeros([3], "float32"), runningVar = Tensor.ones([3], "float32");
  const cases: [Tensor, number, RegExp][] = [
    [x, 0, /F\.batchNormMaxPool2d: eps must be a finite number > 0, got 0/],
    [x, NaN, /F\.batchNormMaxPool2d: eps must be a finite number > 0, got NaN/],
    [x.reshape([2, 3, 16]), 1e-5, /F\.batchNormMaxPool2d: x must be \(N, C, H, W\).*\[2,3,16\]/],
    [x.reshape([2, 3, 16, 1]), 1e-5, /H and W at least 2 .*\[2,3,16,1\]/],
  ];
  for (const [input, eps, message] of cases) {
    assert.throws(() => F.batchNormMaxPool2d(input, runningMean, runningVar, { eps }), message);
    assert.deepEqual([...runningMean.data, ...runningVar.data], [0, 0, 0, 1, 1, 1]);
  }
  // The module rejects such settings when it is built.
  for (
    const [options, message] of [
      [{ eps: 0 }, /BatchNorm2d: eps must be a finite number > 0, got 0/],
      [{ eps: -1e-5 }, /BatchNorm2d: eps must be a finite number > 0, got -0.00001/],
      [{ momentum: 1.5 }, /BatchNorm2d: momentum must be a number in \[0, 1\], got 1.5/],
      [{ momentum: NaN }, /BatchNorm2d: momentum must be a number in \[0, 1\], got NaN/],
    ] as const
  ) {
    assert.throws(() => new nn.BatchNorm2d(3, options), message);
  }
  // A call of forwardMaxPool2x2 that throws changes no state: statistics and the batch
  // count stay put. (A Sequential runs its modules one by one: the batchnorm before a
  // pooling that throws has run, as in PyTorch.)
  const bn = new nn.BatchNorm2d(3);
  const state = () => [
    ...bn.runningMean!.data,
    ...bn.runningVar!.data,
    bn.numBatchesTracked!.data[0],
  ];
  const before = state();
  for (const input of [x.reshape([2, 3, 16, 1]), Tensor.zeros([0, 3, 4, 4], "float32")]) {
    assert.throws(() => bn.forwardMaxPool2x2(input), /BatchNorm2d\(3\)|at least one value/);
    assert.deepEqual(state(), before);
    const seq = new nn.Sequential(new nn.BatchNorm2d(3), new nn.MaxPool2d(2));
    assert.throws(() => seq.forward(input));
  }
  // A forward replaced on the instance is honoured: no fusing past it.
  const spied = new nn.BatchNorm2d(3);
  let calls = 0;
  const plain = spied.forward.bind(spied);
  spied.forward = (t: Tensor) => (calls++, plain(t));
  assert.equal(spied.fusesMaxPool2x2(x), false);
  spied.forwardMaxPool2x2(x);
  assert.equal(calls, 1);
});

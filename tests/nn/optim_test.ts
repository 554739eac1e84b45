import assert from "node:assert/strict";
import * as optim from "../../lib/nn/optim/mod.ts";
import { Tensor } from "../../lib/tensor.ts";

/** Gradients of three successive steps for a 2-element parameter. */
const GRADS = [[0.5, -1], [0.25, 2], [-1.5, 0.75]];
const START = [1, -2];

/** Runs `opt` for the three steps and returns the parameter after each. */
function run(make: (p: Tensor) => optim.Optimizer): number[][] {
  const p = Tensor.fromArray(START, undefined, { requiresGrad: true });
  const opt = make(p);
  return GRADS.map((g) => {
    p.grad = Tensor.fromArray(g);
    opt.step();
    return [...p.data];
  });
}

function near(actual: number[][], expected: number[][], tol = 1e-12) {
  actual.forEach((row, s) =>
    row.forEach((v, i) =>
      assert.ok(Math.abs(v - expected[s][i]) < tol, `step ${s} [${i}]: ${v} vs ${expected[s][i]}`)
    )
  );
}

/** PyTorch's SGD written out elementwise (torch/optim/sgd.py's formulas). */
function sgdReference(
  lr: number,
  momentum: number,
  dampening: number,
  nesterov: boolean,
  wd: number,
) {
  const p = [...START];
  const buf: number[] = [];
  return GRADS.map((g, step) => {
    for (let i = 0; i < 2; i++) {
      let d = g[i] + wd * p[i];
      if (momentum !== 0) {
        buf[i] = step === 0 ? d : momentum * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
    return [...p];
  });
}

Deno.test("optim.SGD: PyTorch's steps with momentum, dampening, Nesterov and weight decay", () => {
  for (
    const [momentum, dampening, nesterov, weightDecay] of [
      [0, 0, false, 0],
      [0, 0, false, 0.1],
      [0.9, 0, false, 0],
      [0.9, 0.5, false, 0.01],
      [0.8, 0, true, 0.05],
    ] as const
  ) {
    near(
      run((p) => new optim.SGD([p], { lr: 0.1, momentum, dampening, nesterov, weightDecay })),
      sgdReference(0.1, momentum, dampening, nesterov, weightDecay),
    );
  }
  assert.throws(
    () => new optim.SGD([Tensor.zeros([1], { requiresGrad: true })], { lr: 0.1, nesterov: true }),
    /Nesterov momentum requires a momentum > 0/,
  );
  assert.throws(() => new optim.SGD([Tensor.zeros([1])], { lr: 0.1 }), /does not require grad/);
});

Deno.test("optim.RMSprop: PyTorch's steps", () => {
  const [lr, alpha, eps, wd] = [0.01, 0.9, 1e-8, 0.1];
  const p = [...START], sq = [0, 0];
  const expected = GRADS.map((g) => {
    for (let i = 0; i < 2; i++) {
      const d = g[i] + wd * p[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * d * d;
      p[i] -= lr * d / (Math.sqrt(sq[i]) + eps);
    }
    return [...p];
  });
  near(run((q) => new optim.RMSprop([q], { lr, alpha, eps, weightDecay: wd })), expected);
});

/** PyTorch's Adam / AdamW step, written out (torch/optim/adam.py, adamw.py). */
function adamReference(
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  wd: number,
  decoupled: boolean,
) {
  const p = [...START], m = [0, 0], v = [0, 0];
  return GRADS.map((g, step) => {
    const t = step + 1;
    for (let i = 0; i < 2; i++) {
      let d = g[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else d += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * d;
      v[i] = b2 * v[i] + (1 - b2) * d * d;
      const stepSize = lr / (1 - b1 ** t);
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= stepSize * m[i] / denom;
    }
    return [...p];
  });
}

Deno.test("optim.Adam and optim.AdamW: PyTorch's steps", () => {
  near(
    run((p) => new optim.Adam([p], { lr: 0.01 })),
    adamReference(0.01, 0.9, 0.999, 1e-8, 0, false),
  );
  near(
    run((p) => new optim.Adam([p], { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 })),
    adamReference(0.05, 0.8, 0.99, 1e-6, 0.1, false),
  );
  near(
    run((p) => new optim.AdamW([p], { lr: 0.01 })),
    adamReference(0.01, 0.9, 0.999, 1e-8, 0.01, true),
  );
});

Deno.test("optim: float32 parameters stay float32; step skips parameters without a gradient", () => {
  const a = Tensor.ones([3], { dtype: "float32", requiresGrad: true });
  const b = Tensor.ones([2], { dtype: "float32", requiresGrad: true });
  const opt = new optim.Adam([a, b], { lr: 0.1 });
  a.grad = Tensor.ones([3], "float32");
  opt.step();
  assert.ok(a.data instanceof Float32Array && Math.abs(a.get(0) - 0.9) < 1e-6);
  assert.deepEqual([...b.data], [1, 1]);
  opt.zeroGrad();
  assert.equal(a.grad, null);
});

Deno.test("optim.lrScheduler: StepLR and CosineAnnealingLR set optimizer.lr", () => {
  const p = Tensor.zeros([1], { requiresGrad: true });
  const opt = new optim.SGD([p], { lr: 0.1 });
  const step = new optim.lrScheduler.StepLR(opt, { stepSize: 3, gamma: 0.1 });
  const rates: number[] = [];
  for (let e = 0; e < 7; e++) {
    rates.push(opt.lr);
    step.step();
  }
  near([rates], [[0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001]], 1e-15);
  const opt2 = new optim.Adam([p], { lr: 1 });
  const cos = new optim.lrScheduler.CosineAnnealingLR(opt2, { tMax: 4, etaMin: 0.2 });
  const got: number[] = [];
  for (let e = 0; e < 4; e++) {
    cos.step();
    got.push(opt2.lr);
  }
  const expected = [1, 2, 3, 4].map((e) => 0.2 + 0.8 * (1 + Math.cos(Math.PI * e / 4)) / 2);
  near([got], [expected], 1e-15);
});

import assert from "node:assert/strict";
import {
  adam,
  getUpdateRule,
  type OptimConfig,
  rmsprop,
  sgd,
  sgdMomentum,
  UPDATE_RULES,
} from "../lib/optim.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";

/** cs231n's `rel_error`: max |a - b| / max(1e-8, |a| + |b|). */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(
      worst,
      Math.abs(a[i] - b[i]) / Math.max(1e-8, Math.abs(a[i]) + Math.abs(b[i])),
    );
  }
  return worst;
}

// The notebook's inputs: N, D = 4, 5 and np.linspace(lo, hi, num=N*D).reshape(N, D).
const N = 4, D = 5;
const grid = (lo: number, hi: number) => Tensor.linspace(lo, hi, N * D).reshape([N, D]);

Deno.test("sgd: w - lr * dw, default learning rate 1e-2", () => {
  const w = Tensor.fromArray([1, -2, 0.5]);
  const dw = Tensor.fromArray([2, 4, -10]);
  const config: OptimConfig = {};
  const [next, out] = sgd(w, dw, config);
  assert.equal(out, config, "the same config object is returned");
  assert.equal(config.learningRate, 1e-2);
  assert.deepEqual(Array.from(next.data), [1 - 0.02, -2 - 0.04, 0.5 + 0.1]);
  // With an explicit learning rate and no config at all.
  assert.deepEqual(Array.from(sgd(w, dw, { learningRate: 0.5 })[0].data), [0, -4, 5.5]);
  assert.equal(sgd(w, dw)[1].learningRate, 1e-2);
});

Deno.test("sgdMomentum: the notebook check, expected values computed per element", () => {
  const w = grid(-0.4, 0.6);
  const dw = grid(-0.6, 0.4);
  const v = grid(0.6, 0.9);
  const config: OptimConfig = { learningRate: 1e-3, velocity: v };
  const [nextW] = sgdMomentum(w, dw, config);

  const expectedW: number[] = [];
  const expectedV: number[] = [];
  for (let i = 0; i < N * D; i++) {
    const vi = 0.9 * v.data[i] - 1e-3 * dw.data[i];
    expectedV.push(vi);
    expectedW.push(w.data[i] + vi);
  }
  assert.deepEqual(nextW.shape, [N, D]);
  assert.ok(relError(nextW.data, expectedW) < 1e-8);
  assert.ok(relError(config.velocity!.data, expectedV) < 1e-8);
  assert.equal(config.momentum, 0.9, "default momentum filled in");
});

Deno.test("sgdMomentum: defaults, zero initial velocity and state carried across calls", () => {
  const w = Tensor.fromArray([1, 2]);
  const dw = Tensor.fromArray([1, -3]);
  let config: OptimConfig = {};
  let next: Tensor;
  [next, config] = sgdMomentum(w, dw, config);
  assert.equal(config.learningRate, 1e-2);
  assert.equal(config.momentum, 0.9);
  // Zero initial velocity: the first step is plain SGD.
  assert.deepEqual(Array.from(config.velocity!.data), [-0.01, 0.03]);
  assert.deepEqual(Array.from(next.data), [1 - 0.01, 2 + 0.03]);
  [next, config] = sgdMomentum(next, dw, config);
  const v2 = [0.9 * -0.01 - 0.01, 0.9 * 0.03 + 0.03];
  assert.deepEqual(Array.from(config.velocity!.data), v2);
  assert.deepEqual(Array.from(next.data), [1 - 0.01 + v2[0], 2 + 0.03 + v2[1]]);
});

Deno.test("rmsprop: the notebook check, expected values computed per element", () => {
  const w = grid(-0.4, 0.6);
  const dw = grid(-0.6, 0.4);
  const cache = grid(0.6, 0.9);
  const config: OptimConfig = { learningRate: 1e-2, cache };
  const [nextW] = rmsprop(w, dw, config);

  const expectedW: number[] = [];
  const expectedCache: number[] = [];
  for (let i = 0; i < N * D; i++) {
    const c = 0.99 * cache.data[i] + (1 - 0.99) * dw.data[i] ** 2;
    expectedCache.push(c);
    expectedW.push(w.data[i] - (1e-2 * dw.data[i]) / (Math.sqrt(c) + 1e-8));
  }
  assert.ok(relError(nextW.data, expectedW) < 1e-8);
  assert.ok(relError(config.cache!.data, expectedCache) < 1e-8);
  assert.equal(config.decayRate, 0.99);
  assert.equal(config.epsilon, 1e-8);
});

Deno.test("rmsprop: first step from a zero cache is ≈ 0.1·sign(dw) with the defaults", () => {
  // cache = 0.01·dw², so lr·dw / sqrt(cache) = 1e-2 / 0.1 = 0.1 per unit sign.
  const w = Tensor.zeros([4]);
  const dw = Tensor.fromArray([5, -0.3, 100, -2]);
  const [next, config] = rmsprop(w, dw);
  assert.equal(config.learningRate, 1e-2);
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(next.data[i] + 0.1 * Math.sign(dw.data[i])) < 1e-7, `element ${i}`);
  }
});

Deno.test("adam: the notebook check (t = 5 → 6), expected values computed per element", () => {
  const w = grid(-0.4, 0.6);
  const dw = grid(-0.6, 0.4);
  const m = grid(0.6, 0.9);
  const v = grid(0.7, 0.5);
  const config: OptimConfig = { learningRate: 1e-2, m, v, t: 5 };
  const [nextW] = adam(w, dw, config);

  const t = 6;
  const expectedW: number[] = [];
  const expectedM: number[] = [];
  const expectedV: number[] = [];
  for (let i = 0; i < N * D; i++) {
    const mi = 0.9 * m.data[i] + 0.1 * dw.data[i];
    const vi = 0.999 * v.data[i] + 0.001 * dw.data[i] ** 2;
    const mHat = mi / (1 - 0.9 ** t);
    const vHat = vi / (1 - 0.999 ** t);
    expectedM.push(mi);
    expectedV.push(vi);
    expectedW.push(w.data[i] - (1e-2 * mHat) / (Math.sqrt(vHat) + 1e-8));
  }
  assert.equal(config.t, 6, "t incremented before the bias correction");
  assert.ok(relError(nextW.data, expectedW) < 1e-8);
  assert.ok(relError(config.m!.data, expectedM) < 1e-8);
  assert.ok(relError(config.v!.data, expectedV) < 1e-8);
});

Deno.test("adam: defaults, and the first step moves each weight by ≈ lr·sign(dw)", () => {
  const w = Tensor.fromArray([1, 1, 1, 1, 1]);
  const dw = Tensor.fromArray([1e-3, -0.5, 7, -1e3, 0]);
  const [next, config] = adam(w, dw);
  assert.equal(config.learningRate, 1e-3);
  assert.equal(config.beta1, 0.9);
  assert.equal(config.beta2, 0.999);
  assert.equal(config.epsilon, 1e-8);
  assert.equal(config.t, 1);
  // Bias correction undoes the zero initialisation: m̂ = dw and v̂ = dw², so the step is
  // lr·dw / (|dw| + ε); ε shifts it by at most lr·ε/|dw| ≤ 1e-8 here.
  const moved = Array.from(next.data, (x) => x - 1);
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(moved[i] + 1e-3 * Math.sign(dw.data[i])) < 1e-8, `element ${i}`);
  }
  assert.equal(moved[4], 0, "a zero gradient does not move the weight");
});

Deno.test("adam: t increments and state carries across calls, matching a scalar loop", () => {
  const grads = [0.3, -1.2, 0.05];
  let w = Tensor.fromArray([0.5]);
  let config: OptimConfig = { learningRate: 0.1 };
  let ref = 0.5, m = 0, v = 0;
  for (let step = 1; step <= grads.length; step++) {
    [w, config] = adam(w, Tensor.fromArray([grads[step - 1]]), config);
    assert.equal(config.t, step);
    const g = grads[step - 1];
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    ref -= (0.1 * (m / (1 - 0.9 ** step))) / (Math.sqrt(v / (1 - 0.999 ** step)) + 1e-8);
    assert.ok(relError(w.data, [ref]) < 1e-12, `step ${step}`);
    assert.ok(relError(config.m!.data, [m]) < 1e-12 && relError(config.v!.data, [v]) < 1e-12);
  }
});

Deno.test("rules never modify w, dw or the state tensors they were given", () => {
  const w = grid(-0.4, 0.6);
  const dw = grid(-0.6, 0.4);
  const snapshot = (t: Tensor) => Array.from(t.data);
  const before = [snapshot(w), snapshot(dw)];
  const velocity = grid(0.6, 0.9);
  const cache = grid(0.6, 0.9);
  const m = grid(0.6, 0.9);
  const v = grid(0.7, 0.5);
  const states = [velocity, cache, m, v].map(snapshot);
  const results = [
    sgd(w, dw, {}),
    sgdMomentum(w, dw, { velocity }),
    rmsprop(w, dw, { cache }),
    adam(w, dw, { m, v }),
  ];
  assert.deepEqual([snapshot(w), snapshot(dw)], before);
  assert.deepEqual([velocity, cache, m, v].map(snapshot), states);
  for (const [next] of results) assert.notEqual(next, w);
  assert.notEqual(results[1][1].velocity, velocity);
});

Deno.test("rules keep float32 and compute the same update as float64 up to rounding", () => {
  const w64 = grid(-0.4, 0.6);
  const dw64 = grid(-0.6, 0.4);
  const w32 = w64.astype("float32");
  const dw32 = dw64.astype("float32");
  for (const name of ["sgd", "sgd_momentum", "rmsprop", "adam"] as const) {
    const rule = UPDATE_RULES[name];
    const [next32, config32] = rule(w32, dw32, {});
    const [next64] = rule(w64, dw64, {});
    assert.equal(next32.dtype, "float32", name);
    for (const key of ["velocity", "cache", "m", "v"] as const) {
      if (config32[key]) assert.equal(config32[key]!.dtype, "float32", `${name} ${key}`);
    }
    // Float32 inputs differ from the float64 ones by ≤ 2^-24 relative.
    assert.ok(relError(next32.data, next64.data) < 1e-6, name);
  }
});

Deno.test("validation: mismatched w/dw shapes or dtypes name the rule and both shapes", () => {
  const w = Tensor.zeros([4, 5]);
  assert.throws(
    () => sgdMomentum(w, Tensor.zeros([5, 4])),
    /sgdMomentum: .*w float64 \[4,5\] and dw float64 \[5,4\]/,
  );
  assert.throws(() => adam(w, Tensor.zeros([4, 5], "float32")), /adam: .*\[4,5\].*float32 \[4,5\]/);
  assert.throws(() => sgd(w, Tensor.zeros([20])), /sgd: .*\[4,5\].*\[20\]/);
  assert.throws(() => rmsprop(w, Tensor.zeros([4])), /rmsprop: .*\[4,5\].*\[4\]/);
});

Deno.test("validation: config fields, hyperparameter ranges and state shapes", () => {
  const w = Tensor.zeros([2]);
  const dw = Tensor.ones([2]);
  assert.throws(
    () => sgd(w, dw, { learning_rate: 1 } as unknown as OptimConfig),
    /sgd: unknown config field "learning_rate" \(did you mean "learningRate"\?\)/,
  );
  assert.throws(() => sgd(w, dw, { learningRate: NaN }), /sgd: config.learningRate .* got NaN/);
  assert.throws(() => adam(w, dw, { beta1: 1 }), /adam: config.beta1 must be in \[0, 1\), got 1/);
  assert.throws(() => adam(w, dw, { t: -1 }), /adam: config.t must be a non-negative integer/);
  assert.throws(() => rmsprop(w, dw, { decayRate: 1.5 }), /rmsprop: config.decayRate/);
  assert.throws(() => rmsprop(w, dw, { epsilon: -1 }), /rmsprop: config.epsilon/);
  assert.throws(
    () => sgdMomentum(w, dw, { velocity: Tensor.zeros([3]) }),
    /sgdMomentum: config.velocity must be a Tensor like w \(float64 \[2\]\), got float64 \[3\]/,
  );
  assert.throws(() => adam(w, dw, { m: Tensor.zeros([2], "float32") }), /adam: config.m/);
});

Deno.test("getUpdateRule and UPDATE_RULES: cs231n and camelCase names", () => {
  assert.equal(getUpdateRule("sgd"), sgd);
  assert.equal(getUpdateRule("sgd_momentum"), sgdMomentum);
  assert.equal(getUpdateRule("sgdMomentum"), sgdMomentum);
  assert.equal(getUpdateRule("rmsprop"), rmsprop);
  assert.equal(getUpdateRule("adam"), adam);
  assert.deepEqual(Object.keys(UPDATE_RULES).sort(), [
    "adam",
    "rmsprop",
    "sgd",
    "sgdMomentum",
    "sgd_momentum",
  ]);
  assert.throws(
    () => getUpdateRule("adagrad"),
    /getUpdateRule: unknown update rule "adagrad"; valid: "sgd", "sgd_momentum", "sgdMomentum", "rmsprop", "adam"/,
  );
  assert.throws(() => getUpdateRule("toString"), /unknown update rule "toString"/);
});

Deno.test("update rules: state given in config is never modified; their own state is updated in place", async (t) => {
  const rng = new Rng(5);
  const rules = [
    ["sgdMomentum", sgdMomentum, "velocity"],
    ["rmsprop", rmsprop, "cache"],
    ["adam", adam, "m"],
    ["adam", adam, "v"],
  ] as const;
  for (const [name, rule, key] of rules) {
    await t.step(`${name} config.${key}`, () => {
      const w = Tensor.randn([3000], rng, "float32"); // long enough for the WebAssembly path
      const dw1 = Tensor.randn([3000], rng, "float32"), dw2 = Tensor.randn([3000], rng, "float32");
      const given = Tensor.randn([3000], rng, "float32").abs();
      const givenCopy = Array.from(given.data);
      const config: OptimConfig = { [key]: given };
      const [w1] = rule(w, dw1, config);
      assert.deepEqual(Array.from(given.data), givenCopy, "the caller's tensor is untouched");
      const own = config[key]!;
      assert.notEqual(own, given, "the first step stores a fresh tensor");
      // Reference for step 2: the same state, but handed in as a caller's (fresh output).
      const reference: OptimConfig = { ...config, [key]: own.clone() };
      for (const other of ["velocity", "cache", "m", "v"] as const) {
        if (other !== key && config[other]) reference[other] = config[other]!.clone();
      }
      const [wRef] = rule(w1, dw2, reference);
      const [w2] = rule(w1, dw2, config);
      assert.equal(config[key], own, "the rule's own state tensor is reused");
      assert.deepEqual(Array.from(own.data), Array.from(reference[key]!.data));
      assert.deepEqual(Array.from(w2.data), Array.from(wRef.data));
    });
  }
});

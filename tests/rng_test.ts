import assert from "node:assert/strict";
import { dropoutMask } from "../lib/kernels/dropout.ts";
import { fillUniform, getGlobalRng, Rng, setSeed } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";

/**
 * An independent BigInt transcription of xoshiro128** (from the published algorithm),
 * started from the state our Rng derives, to show the stream is the specified one.
 */
function referenceXoshiro(state: bigint[], n: number): number[] {
  const mask = 0xffffffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & mask;
  const s = [...state];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(Number(rotl((s[1] * 5n) & mask, 7n) * 9n & mask));
    const t = (s[1] << 9n) & mask;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
  }
  return out;
}

/** splitmix32 seeding, transcribed independently with BigInt. */
function referenceSeed(seed: number): bigint[] {
  const mask = 0xffffffffn;
  let x = BigInt(seed >>> 0);
  const mul = (a: bigint, b: bigint) => (a * b) & mask;
  const state: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & mask;
    let z = x;
    z = mul(z ^ (z >> 16n), 0x85ebca6bn);
    z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
    state.push(z ^ (z >> 16n));
  }
  return state;
}

Deno.test("Rng", async (t) => {
  await t.step("the raw stream is xoshiro128** seeded by splitmix32", () => {
    for (const seed of [0, 1, 42, 123456789]) {
      const rng = new Rng(seed);
      const ours = Array.from({ length: 50 }, () => rng.nextUint32());
      assert.deepEqual(ours, referenceXoshiro(referenceSeed(seed), 50));
    }
  });
  await t.step("fillRandom gives the values of successive random() calls and their state", () => {
    for (const n of [0, 1, 7, 1000]) {
      const a = new Rng(21), b = new Rng(21);
      b.normal(); // a spare normal kept in b must not matter: random() does not use it
      a.normal();
      const filled = a.fillRandom(new Float64Array(n));
      assert.deepEqual([...filled], Array.from({ length: n }, () => b.random()), `n=${n}`);
      assert.equal(a.nextUint32(), b.nextUint32(), `n=${n}: state after the fill`);
      assert.equal(a.normal(), b.normal(), `n=${n}: the spare normal`);
    }
  });
  await t.step("fillUniform honours an overridden random() and any object with one", () => {
    class Half extends Rng {
      override random(): number {
        return 0.5;
      }
    }
    assert.deepEqual([...fillUniform(new Half(1), new Float64Array(3))], [0.5, 0.5, 0.5]);
    assert.deepEqual([...Tensor.rand([2], new Half(1)).data], [0.5, 0.5]);
    const source = new Rng(9), copy = new Rng(9);
    const duck = { random: () => source.random() };
    assert.deepEqual(
      [...fillUniform(duck, new Float64Array(4))],
      [0, 1, 2, 3].map(() => copy.random()),
    );
    // @ts-expect-error: an object with random() only, as dropout accepts
    assert.equal(Tensor.rand([3], duck).size, 3);
    const mask = new Float32Array(5);
    dropoutMask(
      new (class extends Rng {
        override random(): number {
          return 0;
        }
      })(2),
      0.5,
      mask,
    );
    assert.deepEqual([...mask], [2, 2, 2, 2, 2]);
  });
  await t.step("same seed gives the same stream, different seeds differ", () => {
    const a = new Rng(7), b = new Rng(7), c = new Rng(8);
    const xs = Array.from({ length: 10 }, () => a.random());
    assert.deepEqual(xs, Array.from({ length: 10 }, () => b.random()));
    assert.notDeepEqual(xs, Array.from({ length: 10 }, () => c.random()));
    assert.notEqual(new Rng(2 ** 32 + 1).nextUint32(), new Rng(1).nextUint32());
  });
  await t.step("random is uniform in [0, 1) and normal is standard", () => {
    const rng = new Rng(11);
    let sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    const n = 50000;
    for (let i = 0; i < n; i++) {
      const u = rng.random();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      sum2 += u * u;
      const z = rng.normal();
      nsum += z;
      nsum2 += z * z;
    }
    assert.ok(Math.abs(sum / n - 0.5) < 0.01);
    assert.ok(Math.abs(sum2 / n - 1 / 3) < 0.01);
    assert.ok(Math.abs(nsum / n) < 0.02);
    assert.ok(Math.abs(nsum2 / n - 1) < 0.03);
  });
  await t.step("randint covers [lo, hi) evenly", () => {
    const rng = new Rng(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[rng.randint(-2, 4) + 2]++;
    for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `counts ${counts}`);
    assert.throws(() => rng.randint(3, 3), /need integers lo < hi/);
  });
  await t.step("permutation and choice", () => {
    const rng = new Rng(9);
    const p = rng.permutation(100);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    const c = rng.choice(50, 50, { replace: false });
    assert.equal(new Set(c).size, 50);
    const r = rng.choice(3, 1000);
    assert.ok(r.every((v) => v >= 0 && v < 3));
    assert.equal(new Set(r).size, 3);
    assert.throws(
      () => rng.choice(3, 4, { replace: false }),
      /cannot draw k=4 distinct values from n=3/,
    );
  });
  await t.step("setSeed reseeds the global generator", () => {
    setSeed(123);
    const a = getGlobalRng().normal();
    setSeed(123);
    assert.equal(getGlobalRng().normal(), a);
    assert.throws(() => new Rng(1.5), /seed must be a safe integer/);
  });
});

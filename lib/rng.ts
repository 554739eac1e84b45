/**
 * Seeded pseudo-random numbers that give the same stream on every machine.
 *
 * The generator is xoshiro128** (32-bit state words, so every step is exact in
 * JavaScript's 32-bit integer ops and never depends on float rounding); the seed is
 * expanded with splitmix32 so that nearby seeds give unrelated streams.
 *
 * @module
 */

/** Options of {@link Rng.choice}. */
export interface ChoiceOptions {
  /** Draw with replacement (numpy's default). */
  replace?: boolean;
}

/**
 * A reproducible random generator: `new Rng(seed)` always yields the same stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./rng.ts";
 * const rng = new Rng(42);
 * const u = rng.random(); // uniform in [0, 1)
 * const order = rng.permutation(10); // Int32Array, a shuffle of 0..9
 * assert.ok(u >= 0 && u < 1);
 * assert.equal(order.length, 10);
 * ```
 */
export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;
  /** The second Box–Muller value, kept for the next `normal()` call. */
  #spareNormal: number | null = null;

  /** Creates a generator from an integer seed (any safe integer; fractions are rejected). */
  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`Rng: seed must be a safe integer, got ${seed}`);
    }
    // splitmix32 on the low and high halves, so seeds above 2^32 still matter.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x9e3779b9);
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** Next raw 32-bit unsigned integer of the xoshiro128** stream. */
  nextUint32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.#s1 = s1 ^ n2;
    this.#s0 = s0 ^ n3;
    this.#s2 = n2 ^ t;
    this.#s3 = rotl(n3, 11);
    return r;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Fills `out` with uniform doubles in [0, 1): exactly what `out.length` calls of
   * {@link Rng.random} would return, in order, and the generator ends in the same state.
   * The loop keeps the state in local variables rather than in the private fields, which
   * makes a draw ~9× cheaper (16,384 values: 0.34 → 0.04 ms); dropout draws its masks so.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "./rng.ts";
   * const [a, b] = [new Rng(3), new Rng(3)];
   * const u = a.fillRandom(new Float64Array(3));
   * assert.deepEqual([...u], [b.random(), b.random(), b.random()]);
   * assert.equal(a.random(), b.random());
   * ```
   */
  fillRandom(out: Float64Array): Float64Array {
    let s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    for (let i = 0; i < out.length; i++) {
      // Two steps of nextUint32, written out: the high 27 and the low 26 bits of random().
      let r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      let t = s1 << 9, n2 = s2 ^ s0, n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ t;
      s3 = rotl(n3, 11);
      const hi = r >>> 5;
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      t = s1 << 9, n2 = s2 ^ s0, n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ t;
      s3 = rotl(n3, 11);
      out[i] = (hi * 67108864 + (r >>> 6)) / 9007199254740992;
    }
    this.#s0 = s0;
    this.#s1 = s1;
    this.#s2 = s2;
    this.#s3 = s3;
    return out;
  }

  /** Uniform double in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** Standard normal sample (Box–Muller; the second value of each pair is kept). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const v = this.#spareNormal;
      this.#spareNormal = null;
      return v;
    }
    // 1 - random() is in (0, 1], so the log is finite.
    const u1 = 1 - this.random();
    const u2 = this.random();
    const radius = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Uniform integer in [lo, hi) (numpy's `randint`; `randint(n)` means [0, n)). */
  randint(lo: number, hi?: number): number {
    if (hi === undefined) [lo, hi] = [0, lo];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi <= lo) {
      throw new Error(`Rng.randint: need integers lo < hi, got lo=${lo}, hi=${hi}`);
    }
    return lo + this.#below(hi - lo);
  }

  /** A random ordering of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    checkCount("Rng.permutation", "n", n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    this.shuffle(out);
    return out;
  }

  /** Shuffles an array in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.#below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /**
   * `k` indices drawn from 0..n-1, like `numpy.random.choice(n, k, replace)`.
   * Without replacement the indices are distinct (a partial Fisher–Yates shuffle).
   */
  choice(n: number, k: number, options: ChoiceOptions = {}): Int32Array {
    checkCount("Rng.choice", "n", n);
    checkCount("Rng.choice", "k", k);
    const replace = options.replace ?? true;
    const out = new Int32Array(k);
    if (replace) {
      if (n === 0 && k > 0) throw new Error(`Rng.choice: cannot draw ${k} from n=0`);
      for (let i = 0; i < k; i++) out[i] = this.#below(n);
      return out;
    }
    if (k > n) {
      throw new Error(
        `Rng.choice: cannot draw k=${k} distinct values from n=${n} without replacement`,
      );
    }
    const pool = new Int32Array(n);
    for (let i = 0; i < n; i++) pool[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + this.#below(n - i);
      const t = pool[i];
      pool[i] = pool[j];
      pool[j] = t;
      out[i] = pool[i];
    }
    return out;
  }

  /** Unbiased integer in [0, n) by rejection (n ≤ 2^32). */
  #below(n: number): number {
    if (n > 4294967296) throw new Error(`Rng: range ${n} exceeds 2^32`);
    const limit = 4294967296 - (4294967296 % n);
    let r = this.nextUint32();
    while (r >= limit) r = this.nextUint32();
    return r % n;
  }
}

/**
 * Fills `out` with successive `rng.random()` draws: through {@link Rng.fillRandom} when
 * `rng` is an `Rng` whose `random` and `fillRandom` are the class's own (the same values,
 * faster), else one `random()` call at a time, so that a subclass overriding `random` or
 * any object with a `random()` method is honoured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fillUniform, Rng } from "./rng.ts";
 * const halves = fillUniform({ random: () => 0.5 }, new Float64Array(2));
 * assert.deepEqual([...halves], [0.5, 0.5]);
 * const [a, b] = [new Rng(1), new Rng(1)];
 * assert.deepEqual([...fillUniform(a, new Float64Array(2))], [b.random(), b.random()]);
 * ```
 */
export function fillUniform(rng: { random(): number }, out: Float64Array): Float64Array {
  if (
    rng instanceof Rng && rng.random === Rng.prototype.random &&
    rng.fillRandom === Rng.prototype.fillRandom
  ) {
    return rng.fillRandom(out);
  }
  for (let i = 0; i < out.length; i++) out[i] = rng.random();
  return out;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function checkCount(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new Error(`${fn}: ${name} must be a non-negative integer, got ${v}`);
  }
}

let globalRng = new Rng(0);

/** The library's global generator (used when a model is given no `rng`). */
export function getGlobalRng(): Rng {
  return globalRng;
}

/**
 * Re-seeds the library's global generator, like `torch.manual_seed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGlobalRng, setSeed } from "./rng.ts";
 * setSeed(1);
 * const a = getGlobalRng().random();
 * setSeed(1);
 * assert.equal(getGlobalRng().random(), a);
 * ```
 */
export function setSeed(seed: number): void {
  globalRng = new Rng(seed);
}

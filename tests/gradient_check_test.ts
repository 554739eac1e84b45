import assert from "node:assert/strict";
import {
  evalNumericalGradient,
  evalNumericalGradientArray,
  gradCheckSparse,
  relError,
} from "../lib/gradient_check.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";

/** Runs `fn` with console.log captured; returns the printed lines. */
function captureLog(fn: () => void): string[] {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    fn();
  } finally {
    console.log = original;
  }
  return lines;
}

const sumOfSquares = (t: Tensor): number => {
  let s = 0;
  for (const v of t.data) s += v * v;
  return s;
};

Deno.test("relError", async (t) => {
  await t.step("is |a - b| / (|a| + |b|) for numbers", () => {
    assert.equal(relError(1, 1.1), Math.abs(1 - 1.1) / 2.1);
    assert.equal(relError(-3, 3), 1);
    assert.equal(relError(0, 0), 0);
  });
  await t.step("floors the denominator at 1e-8 so tiny values do not blow up", () => {
    assert.equal(relError(1e-10, -1e-10), 2e-10 / 1e-8);
  });
  await t.step("takes the maximum over elements; dtypes may differ", () => {
    const a = Tensor.fromArray([1, 2, 4]);
    const b = Tensor.fromArray([1, 3, 4], undefined, "float32");
    assert.equal(relError(a, b), 0.2);
    assert.equal(relError(a, 1), 3 / 5);
  });
  await t.step("NaN is reported, not skipped", () => {
    assert.ok(Number.isNaN(relError(Tensor.fromArray([1, NaN, 1]), Tensor.fromArray([1, 1, 1]))));
  });
  await t.step("shape mismatch is an error", () => {
    assert.throws(
      () => relError(Tensor.zeros([2, 3]), Tensor.zeros([3, 2])),
      /relError: shapes differ: a \[2,3\] vs b \[3,2\]/,
    );
    assert.throws(() => relError(Tensor.zeros([0]), Tensor.zeros([0])), /empty/);
  });
});

Deno.test("evalNumericalGradient", async (t) => {
  const x = Tensor.randn([3, 4], new Rng(5));
  await t.step("of Σx² is 2x", () => {
    const grad = evalNumericalGradient(sumOfSquares, x);
    assert.deepEqual(grad.shape, [3, 4]);
    assert.ok(relError(grad, x.mul(2)) < 1e-8, `${relError(grad, x.mul(2))}`);
  });
  await t.step("restores x exactly and calls f with x itself", () => {
    const before = x.clone();
    let calls = 0;
    evalNumericalGradient((v) => {
      assert.equal(v, x);
      calls++;
      return v.data[0];
    }, x);
    assert.deepEqual(x.data, before.data);
    assert.equal(calls, 2 * x.size);
  });
  await t.step("f may ignore its argument and read the tensor elsewhere", () => {
    const holder = { w: x };
    const grad = evalNumericalGradient(() => 3 * holder.w.data[5], x);
    assert.ok(Math.abs(grad.data[5] - 3) < 1e-9);
    assert.equal(grad.data[4], 0);
  });
  await t.step("honours h and prints indices when verbose", () => {
    const v = Tensor.fromArray([[1, 2]]);
    const lines = captureLog(() =>
      evalNumericalGradient((u) => u.data[1] ** 3, v, { h: 0.5, verbose: true })
    );
    // ((2.5)^3 - (1.5)^3) / 1 = 12.25, i.e. 3·2² plus the h² term.
    assert.deepEqual(lines, ["(0, 0) 0", "(0, 1) 12.25"]);
  });
  await t.step("rejects a bad step or a non-number f", () => {
    assert.throws(() => evalNumericalGradient(sumOfSquares, x, { h: 0 }), /h must be a positive/);
    assert.throws(
      () => evalNumericalGradient(() => x as unknown as number, x),
      /f must return a number, got object/,
    );
  });
});

Deno.test("evalNumericalGradientArray", async (t) => {
  const rng = new Rng(9);
  const x = Tensor.randn([4, 3], rng);
  const dout = Tensor.randn([4, 3], rng);
  await t.step("of sin(x) with upstream dout is cos(x)·dout", () => {
    const grad = evalNumericalGradientArray((v) => v.map(Math.sin), x, dout);
    const expected = x.map(Math.cos).mul(dout);
    assert.ok(relError(grad, expected) < 1e-8, `${relError(grad, expected)}`);
  });
  await t.step("copes with an f that reuses one output buffer", () => {
    const out = Tensor.zeros([4, 3]);
    const f = (v: Tensor) => {
      for (let i = 0; i < v.size; i++) out.data[i] = 2 * v.data[i];
      return out;
    };
    const grad = evalNumericalGradientArray(f, x, dout);
    assert.ok(relError(grad, dout.mul(2)) < 1e-9);
  });
  await t.step("handles outputs of a different shape than x", () => {
    // f(x) = row sums, so d(Σ f ⊙ dout)/dx[i, j] = dout[i].
    const d = Tensor.fromArray([1, -2, 3, 0.5]);
    const grad = evalNumericalGradientArray((v) => v.sum(1), x, d);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(grad.get(i, j) - d.get(i)) < 1e-9);
    }
  });
  await t.step("rejects an f whose output does not match dout", () => {
    assert.throws(
      () => evalNumericalGradientArray((v) => v.sum(0), x, dout),
      /f\(x\) must be a Tensor of dout's shape \[4,3\], got shape \[3\]/,
    );
  });
});

Deno.test("gradCheckSparse", async (t) => {
  const x = Tensor.randn([5, 6], new Rng(3));
  await t.step("returns one small error per check and prints cs231n lines", () => {
    let errors: number[] = [];
    const lines = captureLog(() => {
      errors = gradCheckSparse(sumOfSquares, x, x.mul(2), 4, 1e-5, new Rng(1));
    });
    assert.equal(errors.length, 4);
    assert.ok(Math.max(...errors) < 1e-8, `${errors}`);
    assert.equal(lines.length, 4);
    for (const line of lines) {
      assert.match(
        line,
        /^numerical: -?\d+\.\d{6} analytic: -?\d+\.\d{6}, relative error: \d\.\d{6}e-\d\d$/,
      );
    }
  });
  await t.step("a wrong analytic gradient shows up as a large error", () => {
    let errors: number[] = [];
    captureLog(() => {
      errors = gradCheckSparse(sumOfSquares, x, x.mul(3), 3, 1e-5, new Rng(1));
    });
    // |2x - 3x| / (|2x| + |3x|) = 1/5 wherever x ≠ 0.
    for (const e of errors) assert.ok(Math.abs(e - 0.2) < 1e-8, `${e}`);
  });
  await t.step("draws its coordinates from rng, reproducibly, and restores x", () => {
    const before = x.clone();
    // An analytic gradient that is off by a different amount at every coordinate.
    const analytic = x.mul(2).add(Tensor.arange(1, 31).reshape([5, 6]));
    const run = (seed: number) => {
      let e: number[] = [];
      captureLog(() => {
        e = gradCheckSparse(sumOfSquares, x, analytic, 6, 1e-5, new Rng(seed));
      });
      return e;
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
    assert.deepEqual(x.data, before.data);
  });
  await t.step("rejects a gradient of the wrong shape", () => {
    assert.throws(
      () => gradCheckSparse(sumOfSquares, x, Tensor.zeros([6, 5])),
      /gradCheckSparse: analyticGrad must have the shape of x \[5,6\], got \[6,5\]/,
    );
  });
});

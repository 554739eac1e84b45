import assert from "node:assert/strict";
import { relError } from "../../lib/gradient_check.ts";
import { softmaxLossNaive, softmaxLossVectorized } from "../../lib/classifiers/softmax.ts";
import { Tensor } from "../../lib/tensor.ts";
import { testLossPair } from "./_loss_checks.ts";

testLossPair("softmax", softmaxLossNaive, softmaxLossVectorized, 2);

Deno.test("softmax loss by hand: zero weights give log C and p − onehot", () => {
  const X = Tensor.fromArray([[1, 2], [3, 4]]);
  for (const fn of [softmaxLossNaive, softmaxLossVectorized]) {
    const [loss, dW] = fn(Tensor.zeros([2, 4]), X, [0, 3], 0);
    assert.ok(Math.abs(loss - Math.log(4)) < 1e-15);
    // dW[d, j] = (1/N) Σ_i X[i, d] (1/4 − [j = y_i]).
    const expected = [[(1 + 3) / 8 - 0.5, 0.5, 0.5, 0.5 - 1.5], [
      (2 + 4) / 8 - 1,
      0.75,
      0.75,
      -1.25,
    ]];
    assert.ok(relError(dW, Tensor.fromArray(expected)) < 1e-15);
  }
});

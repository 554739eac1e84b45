import assert from "node:assert/strict";
import { svmLossNaive, svmLossVectorized } from "../../lib/classifiers/linear_svm.ts";
import { Tensor } from "../../lib/tensor.ts";
import { testLossPair } from "./_loss_checks.ts";

testLossPair("svm", svmLossNaive, svmLossVectorized, 1);

Deno.test("svm loss by hand", () => {
  // One example of class 1, scores X·W = [1, 2, 4]: margins 1 − 2 + 1 = 0 (not counted)
  // and 4 − 2 + 1 = 3.
  const W = Tensor.fromArray([[1, 2, 4]]);
  const X = Tensor.fromArray([[1]]);
  for (const fn of [svmLossNaive, svmLossVectorized]) {
    const [loss, dW] = fn(W, X, [1], 0);
    assert.equal(loss, 3);
    assert.deepEqual(dW.toNested(), [[0, -1, 1]]);
  }
});

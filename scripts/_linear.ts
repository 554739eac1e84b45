/**
 * The body of the SVM and softmax notebooks, which differ only in the loss: checks of the
 * naive and vectorized losses (values, sparse gradient checks, timings), a learning-rate ×
 * regularization search on the validation set, then the best setting trained longer and
 * evaluated on the test set, with its weights drawn as class templates.
 *
 * @module
 */

import { join } from "node:path";
import { LinearSVM, Softmax } from "../lib/classifiers/linear_classifier.ts";
import { svmLossNaive, svmLossVectorized } from "../lib/classifiers/linear_svm.ts";
import { softmaxLossNaive, softmaxLossVectorized } from "../lib/classifiers/softmax.ts";
import { gradCheckSparse, relError } from "../lib/gradient_check.ts";
import { Rng } from "../lib/rng.ts";
import { Tensor } from "../lib/tensor.ts";
import { figure, writeSvg } from "../lib/vis/plot.ts";
import {
  datasetSummary,
  type FlagSpec,
  isInteger,
  isListOf,
  isNumber,
  listFlag,
  loadData,
  MarkdownReport,
  round,
  section,
  startScript,
  writeResults,
} from "./_cli.ts";
import { accuracy, flattenSplits, timed, withBias, writeClassTemplates } from "./_a1.ts";

/** Which notebook. */
export type LinearKind = "svm" | "softmax";

const LOSSES = {
  svm: { naive: svmLossNaive, vectorized: svmLossVectorized, title: "Multiclass SVM" },
  softmax: { naive: softmaxLossNaive, vectorized: softmaxLossVectorized, title: "Softmax" },
};

const SECTIONS = ["checks", "search", "test"] as const;

/** Runs the whole notebook for one loss. */
export async function runLinearNotebook(kind: LinearKind): Promise<void> {
  const losses = LOSSES[kind];
  const extra: Record<string, FlagSpec> = {
    lrs: {
      type: "string",
      default: "1e-7,1e-6,1e-5,3e-5",
      value: "LIST",
      help: "learning rates of the search (quick: 1e-6,1e-5)",
      check: isListOf(isNumber({ above: 0 })),
    },
    regs: {
      type: "string",
      default: "0.1,10,1000,25000",
      value: "LIST",
      help: "regularization strengths of the search (quick: 0.1,1000)",
      check: isListOf(isNumber({ atLeast: 0 })),
    },
    iters: {
      type: "string",
      default: "1500",
      value: "N",
      help: "SGD steps per search run, batch 200 (notebook: 1500; quick: 200)",
      check: isInteger(1),
    },
    "final-iters": {
      type: "string",
      default: "4000",
      value: "N",
      help: "SGD steps of each of the 4 stages of the final run (quick: 200)",
      check: isInteger(1),
    },
    "final-batch": {
      type: "string",
      default: "500",
      value: "N",
      help: "minibatch of the final run (quick: 200)",
      check: isInteger(1),
    },
  };
  const ctx = await startScript({
    script: kind,
    description: `Reproduces the cs231n '${losses.title}' notebook (assignment 1) on ` +
      "Fashion-MNIST: naive vs\nvectorized loss, gradient checks, a learning-rate × " +
      "regularization search, the best\nsetting on the test set and its weights as class " +
      "templates.",
    sections: SECTIONS,
    extra,
  });
  const { flags, quick, seed, only, dir } = ctx;
  const list = (name: string, quickValue: number[]) =>
    quick && !ctx.given.has(name) ? quickValue : listFlag(flags, name);
  const lrs = list("lrs", [1e-6, 1e-5]);
  const regs = list("regs", [0.1, 1000]);
  const iters = ctx.int("iters", 200);
  const finalIters = ctx.int("final-iters", 200);
  const finalBatch = ctx.int("final-batch", 200);
  const loaded = await loadData(
    ctx,
    quick ? { numTraining: 1500, numValidation: 500, numTest: 500 } : {},
  );
  const data = flattenSplits(loaded);
  const imageShape = loaded.XTrain.shape.slice(1);
  const X = { train: withBias(data.XTrain), val: withBias(data.XVal), test: withBias(data.XTest) };
  const report = new MarkdownReport();
  const results: Record<string, unknown> = {};
  const make = () => (kind === "svm" ? new LinearSVM() : new Softmax());

  if (only.has("checks")) results.checks = runChecks();
  let best = { learningRate: 1e-5, reg: 0.1 };
  if (only.has("search")) {
    const search = await runSearch();
    results.search = search;
    best = search.best;
  }
  if (only.has("test")) results.test = await runTest(best);
  const merged = await writeResults(ctx, {
    mode: quick ? "quick" : "full",
    dataset: datasetSummary(data),
    seed,
    biasTrick: "a column of ones appended to every image row",
    about: `data: ${data.dataset}${data.isMini ? " (mini subset)" : ""}, ${data.yTrain.length} ` +
      `training, ${data.yVal.length} validation, ${data.yTest.length} test images, mean image ` +
      `subtracted, bias column appended; seed ${seed}`,
  }, results);
  await report.write(
    dir,
    `${losses.title} (${quick ? "quick run" : "full run"})`,
    merged,
    ["checks", "search", "test"],
  );

  // -------------------------------------------------------------------------------------

  /** The notebook's checks on a development set of 500 training images, in float64. */
  function runChecks(): Record<string, unknown> {
    const numDev = Math.min(500, data.yTrain.length);
    section(`Naive vs vectorized on ${numDev} training images (float64)`);
    report.begin("checks");
    const rng = new Rng(seed);
    const devIdx = rng.choice(data.yTrain.length, numDev, { replace: false });
    const Xdev = X.train.take(devIdx).astype("float64");
    const ydev = Int32Array.from(devIdx, (i) => data.yTrain[i]);
    const [D, C] = [Xdev.shape[1], 10];
    const W = Tensor.randn([D, C], rng).mul(0.0001);
    const [lossNaive] = losses.naive(W, Xdev, ydev, 0.000005);
    console.log(`loss (naive, reg 5e-6): ${lossNaive}`);
    if (kind === "softmax") {
      console.log(`sanity check: loss should be close to -log(0.1) = ${-Math.log(0.1)}`);
    }
    const gradChecks: Record<string, number> = {};
    for (const reg of [0, 5e1]) {
      for (
        const [name, fn] of [["naive", losses.naive], ["vectorized", losses.vectorized]] as const
      ) {
        console.log(`gradient check, ${name}, reg ${reg}:`);
        const [, grad] = fn(W, Xdev, ydev, reg);
        const errors = gradCheckSparse((w) => fn(w, Xdev, ydev, reg)[0], W, grad, 10, 1e-5, rng);
        gradChecks[`${name}, reg ${reg}`] = Math.max(...errors);
      }
    }
    const reg = 0.000005;
    const [[lNaive, gNaive], tNaive] = timed(() => losses.naive(W, Xdev, ydev, reg));
    const [[lVec, gVec], tVec] = timed(() => losses.vectorized(W, Xdev, ydev, reg));
    let gradDiff = 0;
    for (let i = 0; i < gNaive.size; i++) gradDiff += (gNaive.data[i] - gVec.data[i]) ** 2;
    gradDiff = Math.sqrt(gradDiff);
    report.table(
      "Naive vs vectorized",
      ["quantity", "value"],
      [
        ["loss (naive), reg 5e-6", lNaive.toFixed(6)],
        ["loss difference naive − vectorized", (lNaive - lVec).toExponential(2)],
        ["gradient difference (Frobenius)", gradDiff.toExponential(2)],
        ["naive seconds", tNaive.toFixed(4)],
        ["vectorized seconds", tVec.toFixed(4)],
        ["speed-up", `${(tNaive / tVec).toFixed(1)}×`],
        ...Object.entries(gradChecks).map(([k, v]) => [
          `max relative error of 10 sparse gradient checks, ${k}`,
          v.toExponential(2),
        ]),
      ],
      `W = 0.0001·randn(${D}, ${C}), ${numDev} development images (float64).`,
    );
    return {
      numDev,
      loss: lNaive,
      lossDifference: lNaive - lVec,
      relErrorLoss: relError(lNaive, lVec),
      gradientDifferenceFrobenius: gradDiff,
      seconds: { naive: tNaive, vectorized: tVec },
      maxGradCheckError: gradChecks,
    };
  }

  /** Learning rate × regularization on the validation set. */
  async function runSearch() {
    section(`Search: ${lrs.length} learning rates × ${regs.length} strengths, ${iters} steps`);
    report.begin("search");
    const rows: (string | number)[][] = [];
    const runs: Record<string, unknown>[] = [];
    let best = { learningRate: lrs[0], reg: regs[0], valAcc: -1 };
    for (const lr of lrs) {
      for (const reg of regs) {
        const clf = make();
        const [history, seconds] = timed(() =>
          clf.train(X.train, data.yTrain, {
            learningRate: lr,
            reg,
            numIters: iters,
            batchSize: 200,
            rng: new Rng(seed),
          })
        );
        const trainAcc = accuracy(clf.predict(X.train), data.yTrain);
        const valAcc = accuracy(clf.predict(X.val), data.yVal);
        console.log(
          `lr ${lr.toExponential(0)} reg ${reg.toExponential(1)} train accuracy: ` +
            `${trainAcc.toFixed(4)} val accuracy: ${valAcc.toFixed(4)} (${seconds.toFixed(1)} s)`,
        );
        runs.push({ learningRate: lr, reg, trainAcc, valAcc, finalLoss: history.at(-1), seconds });
        rows.push([
          lr.toExponential(0),
          reg,
          trainAcc.toFixed(4),
          valAcc.toFixed(4),
          (history.at(-1) ?? NaN).toFixed(3),
        ]);
        if (valAcc > best.valAcc) best = { learningRate: lr, reg, valAcc };
      }
    }
    const svg = figure(
      ["valAcc", "trainAcc"].map((key) => ({
        title: key === "valAcc" ? "Validation accuracy" : "Training accuracy",
        xLabel: "Regularization strength",
        yLabel: "Accuracy",
        logX: true,
        series: lrs.map((lr) => ({
          name: `lr ${lr.toExponential(0)}`,
          x: regs,
          y: runs.filter((r) => r.learningRate === lr).map((r) => r[key] as number),
          style: "both" as const,
        })),
      })),
      { title: `${losses.title}: learning rate × regularization (${iters} SGD steps)` },
    );
    const path = join(dir, "search.svg");
    await writeSvg(path, svg);
    console.log(`Wrote ${path}`);
    report.table(
      "Learning rate × regularization",
      ["learning rate", "reg", "train acc", "val acc", "final loss"],
      rows,
      `${iters} SGD steps of batch 200 (drawn with replacement), seed ${seed}. Best: lr ` +
        `${best.learningRate}, reg ${best.reg}, val ${best.valAcc.toFixed(4)}. Plot: search.svg.`,
    );
    return { iters, runs, best };
  }

  /**
   * The best setting trained longer: `LinearClassifier.train` called four times with the
   * step divided by about 3 each time (W carries over), the minibatch larger, as a simple
   * step decay; the loss history and the class templates are saved.
   */
  async function runTest(best: { learningRate: number; reg: number }) {
    const stages = [1, 1 / 3, 1 / 10, 1 / 30].map((f) => best.learningRate * f);
    section(`Test: lr ${stages.map((s) => s.toExponential(1)).join(" → ")}, reg ${best.reg}`);
    report.begin("test");
    const clf = make();
    const rng = new Rng(seed);
    const history: number[] = [];
    const rows: (string | number)[][] = [];
    const stageResults: Record<string, number>[] = [];
    const t0 = performance.now();
    for (const lr of stages) {
      history.push(...clf.train(X.train, data.yTrain, {
        learningRate: lr,
        reg: best.reg,
        numIters: finalIters,
        batchSize: finalBatch,
        rng,
      }));
      const r = {
        learningRate: lr,
        trainAcc: accuracy(clf.predict(X.train), data.yTrain),
        valAcc: accuracy(clf.predict(X.val), data.yVal),
        testAcc: accuracy(clf.predict(X.test), data.yTest),
      };
      stageResults.push(r);
      console.log(
        `after lr ${lr.toExponential(1)}: train ${r.trainAcc.toFixed(4)}, val ` +
          `${r.valAcc.toFixed(4)}, test ${r.testAcc.toFixed(4)}`,
      );
      rows.push([
        lr.toExponential(1),
        r.trainAcc.toFixed(4),
        r.valAcc.toFixed(4),
        r.testAcc.toFixed(4),
      ]);
    }
    const seconds = (performance.now() - t0) / 1000;
    const lossPath = join(dir, "loss.svg");
    await writeSvg(
      lossPath,
      figure([{
        title: `${losses.title}: training loss`,
        xLabel: "Iteration number",
        yLabel: "Loss value",
        series: [{ name: "loss", y: history }],
      }]),
    );
    console.log(`Wrote ${lossPath}`);
    await writeClassTemplates(join(dir, "weights.png"), clf.W as Tensor, imageShape);
    const final = stageResults[stageResults.length - 1];
    report.table(
      "Final training and test accuracy",
      ["stage learning rate", "train acc", "val acc", "test acc"],
      rows,
      `reg ${best.reg}, ${finalIters} SGD steps of batch ${finalBatch} per stage ` +
        `(${seconds.toFixed(1)} s). Test accuracy ${final.testAcc.toFixed(4)}. Loss: loss.svg; ` +
        "weights as class templates (all scaled alike): weights.png.",
    );
    return {
      ...best,
      stages: stageResults,
      finalIters,
      finalBatch,
      seconds,
      testAcc: final.testAcc,
      finalLoss: round(history.at(-1) ?? NaN),
    };
  }
}

/**
 * cs231n assignment 1, "Softmax exercise", on Fashion-MNIST: naive vs vectorized loss and
 * gradient (values, sparse gradient checks, timings), a learning-rate × regularization
 * search on the validation set, the best setting on the test set, and the learned weights
 * as class templates. Outputs go to `out/softmax/`.
 *
 * @module
 */

import { runLinearNotebook } from "./_linear.ts";

await runLinearNotebook("softmax");

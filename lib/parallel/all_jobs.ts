/**
 * Imports every module that registers pool jobs, so that a worker knows all of them.
 * Add a module here when it calls `registerJob` at its top level.
 *
 * @module
 */

import "./jobs.ts";
import "../kernels/gemm_parallel.ts";
import "../kernels/gemm_parallel_in_place.ts";
import "../kernels/optim_kernels.ts";
import "../layers/conv_fast.ts";
import "../layers/pool.ts";

/**
 * Imports every module that registers pool jobs, so that a worker knows all of them.
 * Add a module here when it calls `registerJob` at its top level.
 *
 * @module
 */

import "./jobs.ts";
import "../layers/conv_fast.ts";

/** A small fixed-weight (seeded) float64 conv net shared by the visualization tests. */

import * as nn from "../../lib/nn/mod.ts";
import { Rng } from "../../lib/rng.ts";

/** conv3×3 (2→3) – BN – ReLU – max pool – linear(3·2·2 → 4), float64, weights from `seed`. */
export function tinyConvNet(seed = 0): nn.Sequential {
  const rng = new Rng(seed);
  const opts = { dtype: "float64" as const, rng };
  const bn = new nn.BatchNorm2d(3, { dtype: "float64" });
  // Running statistics away from their defaults, so eval mode is visibly not train mode.
  bn.runningMean!.data.set([0.1, -0.2, 0.3]);
  bn.runningVar!.data.set([0.5, 2, 1.5]);
  bn.weight!.data.set([1.5, 0.7, -1.1]);
  bn.bias!.data.set([0.2, -0.1, 0.05]);
  return new nn.Sequential(
    new nn.Conv2d(2, 3, 3, { padding: 1, ...opts }),
    bn,
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(3 * 2 * 2, 4, opts),
  );
}

/**
 * The two networks of the training-speed comparison with PyTorch (`bench/epoch.ts`, whose
 * PyTorch side `bench/epoch_torch.py` builds the same layers), shared with the other benches
 * and with the test that checks a training step is bitwise the same on any thread count.
 *
 * @module
 */
import * as nn from "../lib/nn/mod.ts";
import { ThreeLayerConvNet } from "../lib/models/cnn.ts";
import { Rng } from "../lib/rng.ts";

/**
 * cs231n's ThreeLayerConvNet on Fashion-MNIST-sized inputs: conv 7×7×32 (pad 3) – ReLU –
 * 2×2 max pool – affine 100 – ReLU – affine 10, float32.
 */
export function threeLayerConvNet(seed = 1): ThreeLayerConvNet {
  return new ThreeLayerConvNet({
    inputDim: [1, 28, 28],
    numFilters: 32,
    filterSize: 7,
    hiddenDim: 100,
    weightScale: 1e-3,
    dtype: "float32",
    rng: new Rng(seed),
  });
}

/**
 * The network PyTorch users write for Fashion-MNIST, in the module API:
 * conv3×3×32-BN-ReLU-pool-conv3×3×64-BN-ReLU-pool-fc128-ReLU-dropout-fc10, float32.
 */
export function convBnNet(seed = 5): nn.Sequential {
  const r = new Rng(seed);
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1, rng: r }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1, rng: r }),
    new nn.BatchNorm2d(64),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(64 * 7 * 7, 128, { rng: r }),
    new nn.ReLU(),
    new nn.Dropout(0.5, { rng: r }),
    new nn.Linear(128, 10, { rng: r }),
  );
}

"""PyTorch's side of bench/epoch.ts: times training steps of one network and prints
one JSON object on stdout. Run by the Deno bench (which also sets the allocator's
environment); by hand:

  /usr/bin/python3 bench/epoch_torch.py --net cnn --threads 1 --steps 100

Networks (float32, Adam lr 1e-3, synthetic inputs, batches drawn from 5,000 images):
- cnn: cs231n's ThreeLayerConvNet, conv7x7x32 pad 3 - ReLU - 2x2 max pool - fc100 - ReLU -
  fc10, batch 50, minibatches sampled with replacement like the Solver.
- bn: conv3x3x32-BN-ReLU-pool-conv3x3x64-BN-ReLU-pool-fc128-ReLU-dropout-fc10, batch 128,
  consecutive slices like a DataLoader.
"""

import argparse
import json
import resource
import sys
import time

import torch
from torch import nn

POOL = 5000


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 14 * 14, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def bn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=["cnn", "bn"], required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    X = torch.randn(POOL, 1, 28, 28)
    y = torch.randint(0, 10, (POOL,))
    model = cnn() if args.net == "cnn" else bn()
    batch = 50 if args.net == "cnn" else 128
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        if args.net == "cnn":
            idx = torch.randint(0, POOL, (batch,))
            xb, yb = X[idx], y[idx]
        else:
            start = int(torch.randint(0, POOL - batch, ()).item())
            xb, yb = X[start:start + batch], y[start:start + batch]
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    json.dump({
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "ms": times,
        "faultsPerStep": faults / args.steps,
        "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, sys.stdout)


if __name__ == "__main__":
    main()

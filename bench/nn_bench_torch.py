"""PyTorch's seconds per epoch on the network of bench/nn_bench.ts, part 2:
conv3x3x32-BN-ReLU-pool-conv3x3x64-BN-ReLU-pool-fc128-ReLU-dropout-fc10, float32,
batch 128, Adam, 461 steps per 59,000-image epoch, at 1 and 2 threads; synthetic inputs.

Run: /usr/bin/python3 bench/nn_bench_torch.py
(FACTS.md: on these VMs glibc returning freed memory to the OS costs PyTorch a lot; set
MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 to measure it
keeping freed memory, as our library does with its scratch buffers.)
"""

import time

import torch
from torch import nn

STEPS_PER_EPOCH = 461
TIMED_STEPS = 40


def net():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def main():
    torch.manual_seed(0)
    X = torch.randn(5000, 1, 28, 28)
    y = torch.randint(0, 10, (5000,))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            start = int(torch.randint(0, 5000 - 128, ()).item())
            xb, yb = X[start:start + 128], y[start:start + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()

        for _ in range(5):
            step()
        t0 = time.perf_counter()
        for _ in range(TIMED_STEPS):
            step()
        per_step = (time.perf_counter() - t0) / TIMED_STEPS
        print(f"PyTorch {torch.__version__}, {threads} thread(s): {per_step * 1000:.1f} ms/step, "
              f"{per_step * STEPS_PER_EPOCH:.2f} s/epoch")


if __name__ == "__main__":
    main()

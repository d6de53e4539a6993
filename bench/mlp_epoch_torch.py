#!/usr/bin/python3
"""bench/mlp_epoch.lua in PyTorch 1.13 (CPU): the reference for bench/run.

    /usr/bin/python3 bench/mlp_epoch_torch.py THREADS [INTEROP_THREADS]

One training epoch of an MLP 784-256-10 (ReLU, CrossEntropyLoss, SGD lr 0.1, batch 100) over
60000 random N(0, 1) inputs with random labels 0..9 (generation not timed). Each epoch draws
its order with torch.randperm from a seeded generator and indexes the rows of every minibatch,
then forward, loss, zero_grad, backward, step. One warm-up epoch, then the median of 3 timed
epochs. torch.set_num_threads(THREADS); torch.set_num_interop_threads(INTEROP_THREADS) when
given (it must come before any parallel work). Prints one "key=value ..." line.
"""
import statistics
import sys
import time

import torch
from torch import nn

N, D, H, C, B, EPOCHS = 60000, 784, 256, 10, 100, 3


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    interop = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if interop:
        torch.set_num_interop_threads(interop)
    torch.set_num_threads(threads)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    order = torch.Generator().manual_seed(1)

    def epoch():
        t0 = time.perf_counter()
        perm = torch.randperm(N, generator=order)
        for i in range(0, N, B):
            idx = perm[i:i + B]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, loss.item()

    epoch()  # warm-up
    times, loss = [], 0.0
    for _ in range(EPOCHS):
        dt, loss = epoch()
        times.append(dt)
    flops = 2 * (D * H * 2 + H * C * 3) * N
    med = statistics.median(times)
    print(f"mlp_epoch_torch threads={torch.get_num_threads()} "
          f"interop={torch.get_num_interop_threads()} seconds={med:.6f} min={min(times):.6f} "
          f"max={max(times):.6f} gflops={flops / 1e9 / med:.3f} last_batch_loss={loss:.4f}")


if __name__ == "__main__":
    main()

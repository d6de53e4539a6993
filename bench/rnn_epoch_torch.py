#!/usr/bin/python3
"""bench/rnn_epoch.lua in PyTorch 1.13 (CPU): the reference for bench/run.

    /usr/bin/python3 bench/rnn_epoch_torch.py MODEL THREADS [INTEROP_THREADS] [--n N] [--warmup W]

MODEL is lstm (2 layers), gru (2 layers) or rnn (1 layer, tanh): nn.LSTM/GRU/RNN(28, 128,
batch_first=True) and nn.Linear(128, 10) on out[:, -1], CrossEntropyLoss, Adam lr 1e-3, batch
100, over N (default 6000) random N(0, 1) sequences (28 steps x 28 features) with random labels
0..9 (generation not timed). One pass = one training epoch (order from torch.randperm on a seeded
generator, rows of each minibatch indexed, then forward, loss, zero_grad, backward, step)
followed by one inference pass over the same samples in order (eval mode, torch.no_grad,
forward and loss, batch 100). One warm-up pass over the first W samples (default N), then the
median of 3 timed passes, each part timed on its own. torch.set_num_threads(THREADS);
torch.set_num_interop_threads(INTEROP_THREADS) when given (it must come before any parallel
work). Prints one "key=value ..." line.
"""
import argparse
import statistics
import time

import torch
from torch import nn

T, D, H, C, B, PASSES = 28, 28, 128, 10, 100, 3
CELLS = {"lstm": (nn.LSTM, 2), "gru": (nn.GRU, 2), "rnn": (nn.RNN, 1)}


class Classifier(nn.Module):
    def __init__(self, cell, layers):
        super().__init__()
        self.rnn = cell(D, H, num_layers=layers, batch_first=True)
        self.head = nn.Linear(H, C)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def main():
    ap = argparse.ArgumentParser(description="bench/rnn_epoch.lua in PyTorch")
    ap.add_argument("model", choices=sorted(CELLS))
    ap.add_argument("threads", type=int)
    ap.add_argument("interop", type=int, nargs="?", default=0)
    ap.add_argument("--n", type=int, default=6000, help="samples per timed pass")
    ap.add_argument("--warmup", type=int, default=0, help="samples in the warm-up pass (0: N)")
    args = ap.parse_args()
    kind, threads, interop, n = args.model, args.threads, args.interop, args.n
    warmup = args.warmup or n
    if n % B or warmup % B or warmup > n:
        ap.error(f"--n and --warmup must be multiples of {B}, warm-up at most N")
    if interop:
        torch.set_num_interop_threads(interop)
    torch.set_num_threads(threads)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, T, D, generator=gen)
    y = torch.randint(0, C, (n,), generator=gen)
    torch.manual_seed(1)
    cell, layers = CELLS[kind]
    net = Classifier(cell, layers)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(1)

    def one_pass(m):
        """Train on the first m samples, then infer on them: (train s, infer s, losses)."""
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(m, generator=order)
        for i in range(0, m, B):
            idx = perm[i:i + B]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        t1 = time.perf_counter()
        net.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, m, B):
                total += loss_fn(net(x[i:i + B]), y[i:i + B]).item() * B
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, loss.item(), total / m

    one_pass(warmup)
    train, infer = [], []
    for _ in range(PASSES):
        tr, inf, loss, eval_loss = one_pass(n)
        train.append(tr)
        infer.append(inf)
    tr, inf = statistics.median(train), statistics.median(infer)
    print(f"rnn_epoch_torch model={kind} layers={layers} threads={torch.get_num_threads()} "
          f"interop={torch.get_num_interop_threads()} n={n} train_seconds={tr:.6f} "
          f"train_min={min(train):.6f} train_max={max(train):.6f} train_sps={n / tr:.1f} "
          f"infer_seconds={inf:.6f} infer_min={min(infer):.6f} infer_max={max(infer):.6f} "
          f"infer_sps={n / inf:.1f} last_batch_loss={loss:.4f} "
          f"eval_loss={eval_loss:.4f}")


if __name__ == "__main__":
    main()

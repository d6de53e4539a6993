#!/usr/bin/python3
"""experiments/poly_fit.lua in PyTorch 1.13 (CPU, one thread): the reference for bench/run.

    /usr/bin/python3 bench/poly_fit_torch.py [--loader]

The same study: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + N(0, 0.01^2), x ~ N(0, 1), 200 samples split
100/100; three fits of nn.Linear (normal: x, x^2, x^3 on 100 samples; underfit: x on 100;
overfit: x, x^2, x^3 on 2) by torch.optim.SGD lr 0.01 on the loss 1/2 (pred - y)^2 summed over
outputs and averaged over the batch, batch min(10, n), 100 epochs, train and test loss
evaluated (no_grad, one full-set forward each) after every epoch and kept as a history, as
moonlab's model:fit does with eval = {train =, test =}.

Batches: by default manual shuffled batches (torch.randperm with a seeded generator, index the
rows), the same work as moonlab's C batcher. With --loader, a DataLoader(TensorDataset,
shuffle=True) as d2l's load_array does. Random values differ from moonlab's (different
generators); the shapes and the amount of work are the same.
"""
import sys
import time

import torch
from torch import nn

EPOCHS, LR, BATCH, N_TRAIN, N_TEST, NOISE = 100, 0.01, 10, 100, 100, 0.01
TRUE_W, TRUE_B = [1.2, -3.4, 5.6], 5.0


def half_squared(pred, y):
    return 0.5 * ((pred - y) ** 2).sum(dim=1).mean()


def batches_manual(x, y, batch, gen):
    perm = torch.randperm(x.shape[0], generator=gen)
    for i in range(0, x.shape[0], batch):
        idx = perm[i:i + batch]
        yield x[idx], y[idx]


def evaluate(net, x, y):
    with torch.no_grad():
        return half_squared(net(x), y).item()


def fit(name, seed, k, n, x_train, y_train, x_test, y_test, use_loader):
    xtr, ytr = x_train[:n, :k], y_train[:n]
    xte = x_test[:, :k]
    torch.manual_seed(seed)
    net = nn.Linear(k, 1)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    batch = min(BATCH, n)
    gen = torch.Generator().manual_seed(1)
    if use_loader:
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr),
                                             batch_size=batch, shuffle=True, generator=gen)
    history = []
    for epoch in range(EPOCHS):
        t0 = time.perf_counter()
        it = loader if use_loader else batches_manual(xtr, ytr, batch, gen)
        for xb, yb in it:
            loss = half_squared(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        history.append({"epoch": epoch + 1, "train_loss": evaluate(net, xtr, ytr),
                        "test_loss": evaluate(net, xte, y_test),
                        "seconds": time.perf_counter() - t0})
    w = [f"{v:.4f}" for v in net.weight.detach()[0].tolist()]
    print(f"{name:<9} {k:>2} features {n:>5}  [{', '.join(w)}]  {net.bias.item():8.4f}  "
          f"{evaluate(net, xtr, ytr):11.4g}  {evaluate(net, xte, y_test):11.4g}")
    return history


def main():
    use_loader = "--loader" in sys.argv[1:]
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(N_TRAIN + N_TEST, 1, generator=gen)
    feats = torch.cat([raw ** (i + 1) for i in range(len(TRUE_W))], dim=1)
    y = feats @ torch.tensor(TRUE_W).reshape(-1, 1) + TRUE_B
    y += NOISE * torch.randn(y.shape, generator=gen)
    x_train, y_train = feats[:N_TRAIN], y[:N_TRAIN]
    x_test, y_test = feats[N_TRAIN:], y[N_TRAIN:]
    print(f"poly_fit (torch {torch.__version__}, {'DataLoader' if use_loader else 'manual'} batches)")
    t0 = time.perf_counter()
    for seed, (name, k, n) in enumerate((("normal", 3, N_TRAIN), ("underfit", 1, N_TRAIN),
                                         ("overfit", 3, 2)), start=1):
        fit(name, seed, k, n, x_train, y_train, x_test, y_test, use_loader)
    # The three fits alone, without interpreter start and `import torch`: for bench/run.
    print(f"poly_fit_torch fits_seconds={time.perf_counter() - t0:.6f}")


if __name__ == "__main__":
    main()

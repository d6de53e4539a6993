"""PyTorch twin of experiments/rnn_fmnist.lua for the accuracy comparison (bench/run's
`accuracy` section, BENCH_ONLY=accuracy): the same data (Fashion-MNIST from Debian's
dataset-fashion-mnist, pixels /255, each image's 28 rows as 28 steps), the same model (2-layer
LSTM/GRU/RNN, 128 hidden, a linear head on the last step), Adam lr 1e-3, batch 100,
cross-entropy, shuffled each epoch. Prints one line per epoch:
`epoch E test_accuracy A seconds S`. --smoke trains on the experiment's smoke subsets (the first
2000 training and 1000 test images).
Usage: /usr/bin/python3 bench/rnn_fmnist_torch.py [cell] [epochs] [threads] [seed] [--smoke]"""
import gzip
import sys
import time

import numpy as np
import torch

D = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{D}/{name}", "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    args = [a for a in sys.argv[1:] if a != "--smoke"]
    smoke = len(args) < len(sys.argv) - 1
    cell = args[0] if len(args) > 0 else "lstm"
    epochs = int(args[1]) if len(args) > 1 else 3
    torch.set_num_threads(int(args[2]) if len(args) > 2 else 1)
    torch.manual_seed(int(args[3]) if len(args) > 3 else 0)
    xtr = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
    ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xte = torch.tensor(idx("t10k-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
    yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    if smoke:
        xtr, ytr, xte, yte = xtr[:2000], ytr[:2000], xte[:1000], yte[:1000]
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        28, 128, num_layers=2, batch_first=True)
    head = torch.nn.Linear(128, 10)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        rnn.train()
        for b in torch.randperm(len(xtr)).split(100):
            out, _ = rnn(xtr[b])
            loss = torch.nn.functional.cross_entropy(head(out[:, -1]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        rnn.eval()
        with torch.no_grad():
            correct = 0
            for b in torch.arange(len(xte)).split(500):
                out, _ = rnn(xte[b])
                correct += (head(out[:, -1]).argmax(1) == yte[b]).sum().item()
        print(f"epoch {epoch} test_accuracy {correct / len(xte):.4f} seconds {time.time() - t0:.1f}",
              flush=True)


if __name__ == "__main__":
    main()

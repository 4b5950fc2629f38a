#!/usr/bin/python3
"""PyTorch reference for bench_train: the GD network of docs/training.md written as a plain nn.Module
(per-token Linear layers, as in the authors' one-shot image classification code), trained with the same
loss and optimiser on random episodes. Prints one line: "torch <precision> threads <n>: <episodes/s>".
  /usr/bin/python3 tests/bench/bench_train_torch.py --threads 1 --precision float32 --steps 5
"""
import argparse
import math
import time

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, n0, width, g, heads):
        super().__init__()
        self.g, self.heads = g, heads
        self.q = nn.ModuleList([nn.Linear(n0, g, bias=False) for _ in range(heads)])
        self.k = nn.ModuleList([nn.Linear(n0, g, bias=False) for _ in range(heads)])
        self.v = nn.ModuleList([nn.Linear(width, width, bias=False) for _ in range(heads)])

    def forward(self, x, z):  # x [B, T, N0] (attention input), z [B, T, w]
        out = 0
        for h in range(self.heads):
            scores = torch.einsum("bsg,btg->bst", self.k[h](x), self.q[h](x)) / math.sqrt(self.g)
            omega = scores.softmax(dim=1)  # over the keys s
            out = out + self.v[h](torch.einsum("bsw,bst->btw", z, omega))
        return out / math.sqrt(self.heads)


class Net(nn.Module):
    def __init__(self, n0=192, width=512, g=128, heads=4, layers=2):
        super().__init__()
        self.v0 = nn.Linear(n0, width, bias=False)
        self.layers = nn.ModuleList([Layer(n0, width, g, heads) for _ in range(layers)])
        self.a = nn.Linear(width, 1, bias=False)

    def forward(self, x):
        z = self.v0(x)
        for layer in self.layers:
            z = layer(x, z)
        return self.a(z.mean(dim=1)).squeeze(-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="float32", choices=["float32", "float64"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.precision == "float32" else torch.float64
    torch.manual_seed(1)
    net = Net().to(dtype)
    assert sum(t.numel() for t in net.parameters()) == 2589184
    opt = torch.optim.Adam(net.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-5)
    x = torch.randn(a.batch, 48, 192, dtype=dtype)
    y = torch.sign(torch.randn(a.batch, dtype=dtype))

    def step():
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0, n = time.perf_counter(), 0
    while n < a.steps or (time.perf_counter() - t0 < a.seconds and n < 10 * a.steps):
        step()
        n += 1
        if time.perf_counter() - t0 > a.seconds and n >= 2:
            break
    dt = time.perf_counter() - t0
    print(f"torch {a.precision} threads {a.threads}: {n * a.batch / dt:.2f} episodes/s ({n} steps in {dt:.1f} s)")


if __name__ == "__main__":
    main()

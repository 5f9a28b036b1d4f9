#!/usr/bin/python3
"""Test accuracy of the paper CNN after one epoch of Adam (lr 1e-3, batch 64)
on Fashion-MNIST in the 3x32x32 layout, in PyTorch, for seeds argv[1:]
(default 0 1 2). The reference for bench_quality (modsweep)."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from torch_ref import CNN, fashion_split  # noqa: E402

torch.set_num_threads(2)
xtr, ytr = fashion_split('train')
xte, yte = fashion_split('test')
for seed in [int(s) for s in sys.argv[1:]] or [0, 1, 2]:
    torch.manual_seed(seed)
    model = CNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(xtr.shape[0])
    for b in range(0, xtr.shape[0], 64):
        i = perm[b:b + 64]
        opt.zero_grad()
        F.cross_entropy(model(xtr[i]), ytr[i]).backward()
        opt.step()
    with torch.no_grad():
        acc = sum((model(xte[b:b + 1000]).argmax(1) == yte[b:b + 1000]).sum().item()
                  for b in range(0, 10000, 1000)) / 10000
    print(f'pytorch seed {seed}: test accuracy {acc:.4f}')

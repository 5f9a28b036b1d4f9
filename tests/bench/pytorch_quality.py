#!/usr/bin/python3
"""Test accuracy of the paper CNN after one epoch of Adam (lr 1e-3, batch 64)
on Fashion-MNIST in the 3x32x32 layout, in PyTorch, for seeds argv[1:]
(default 0 1 2). The reference for bench_quality (modsweep)."""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = '/usr/share/datasets/fashion-mnist'
torch.set_num_threads(2)


def idx(name):
    with gzip.open(os.path.join(DATA, name), 'rb') as f:
        raw = f.read()
    if raw[3] == 3:
        n, r, c = np.frombuffer(raw[4:16], '>u4')
        return np.frombuffer(raw[16:], np.uint8).reshape(n, r, c)
    return np.frombuffer(raw[8:], np.uint8)


def layout(u8):
    pad = np.zeros((u8.shape[0], 32, 32), np.uint8)
    pad[:, 2:30, 2:30] = u8
    return ((torch.from_numpy(pad).float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1).repeat(1, 3, 1, 1)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1)
        self.fc1 = nn.Linear(4096, 64, bias=False)
        self.fc2 = nn.Linear(64, 64, bias=False)
        self.fc3 = nn.Linear(64, 64, bias=False)
        self.fc4 = nn.Linear(64, 10, bias=False)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2).view(-1, 4096)
        return self.fc4(torch.relu(self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))))


xtr, ytr = layout(idx('train-images-idx3-ubyte.gz')), torch.from_numpy(idx('train-labels-idx1-ubyte.gz').astype(np.int64))
xte, yte = layout(idx('t10k-images-idx3-ubyte.gz')), torch.from_numpy(idx('t10k-labels-idx1-ubyte.gz').astype(np.int64))
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

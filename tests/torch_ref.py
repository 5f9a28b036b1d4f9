"""PyTorch references shared by the fixture scripts and benchmarks: seed
000's paper CNN, seed 001's MLP, and Fashion-MNIST loaded exactly as
modsweep's data module does (IDX, 3x32x32 layout: pad 2 with raw 0, x/255,
MNIST mean/std, channel copied three times; all in float32)."""
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION = '/usr/share/datasets/fashion-mnist'


class CNN(nn.Module):
    """Seed 000: conv 3->16 (3x3, pad 1), ReLU, maxpool 2, fc 4096-64-64-64-10 without bias."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1)
        self.fc1 = nn.Linear(4096, 64, bias=False)
        self.fc2 = nn.Linear(64, 64, bias=False)
        self.fc3 = nn.Linear(64, 64, bias=False)
        self.fc4 = nn.Linear(64, 10, bias=False)

    def below_fc3(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2).reshape(x.shape[0], -1)
        return torch.relu(self.fc2(torch.relu(self.fc1(x))))

    def forward(self, x):
        return self.fc4(torch.relu(self.fc3(self.below_fc3(x))))


class MLP(nn.Module):
    """Seed 001: 784-128-128-10 without bias."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128, bias=False)
        self.fc2 = nn.Linear(128, 128, bias=False)
        self.fc3 = nn.Linear(128, 10, bias=False)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def idx(name, folder=FASHION):
    """An IDX file (gzip) as a numpy array: images (n, rows, cols) or labels (n)."""
    with gzip.open(os.path.join(folder, name), 'rb') as f:
        raw = f.read()
    if raw[3] == 3:
        n, r, c = np.frombuffer(raw[4:16], '>u4')
        return np.frombuffer(raw[16:], np.uint8).reshape(n, r, c)
    return np.frombuffer(raw[8:], np.uint8)


def layout_3x32x32(u8):
    """uint8 (n, 28, 28) -> float32 (n, 3, 32, 32) as modsweep's layout = 3x32x32."""
    pad = np.zeros((u8.shape[0], 32, 32), np.uint8)
    pad[:, 2:30, 2:30] = u8
    t = (torch.from_numpy(pad).float() / 255.0 - 0.1307) / 0.3081
    return t.unsqueeze(1).repeat(1, 3, 1, 1).contiguous()


def fashion_split(split='train'):
    """(x float32 (n, 3, 32, 32), y int64 (n)) of Fashion-MNIST's train or t10k split."""
    pre = 'train' if split == 'train' else 't10k'
    x = layout_3x32x32(idx(f'{pre}-images-idx3-ubyte.gz'))
    y = torch.from_numpy(idx(f'{pre}-labels-idx1-ubyte.gz').astype(np.int64))
    return x, y

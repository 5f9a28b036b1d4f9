#!/usr/bin/python3
"""Weights/s of seed 000's pruning loop in PyTorch (prune_model with
fast_label_perf: two forward passes of the whole CNN per weight, float32),
on the same cores as modsweep (torch threads = argv[2], default 2), on 1000
Fashion-MNIST test images of one class in the 3x32x32 layout. Runs the loop
from fc4 on for a time budget (argv[1] seconds, default 60) and prints the
rate and the projected time of one full label (all 270,976 fc weights)."""
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
DATA = '/usr/share/datasets/fashion-mnist'


def idx(name):
    with gzip.open(os.path.join(DATA, name), 'rb') as f:
        raw = f.read()
    if raw[3] == 3:
        n, r, c = np.frombuffer(raw[4:16], '>u4')
        return np.frombuffer(raw[16:], np.uint8).reshape(n, r, c)
    return np.frombuffer(raw[8:], np.uint8)


class CNN(nn.Module):  # seed 000's CNN
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


def fast_label_perf(model, x, label):  # seed 000
    with torch.no_grad():
        output = model(x)
        target = torch.tensor([label] * x.size(0))
        loss = nn.CrossEntropyLoss()(output, target)
    return loss, 0


def main():
    label = 8
    u8 = idx('t10k-images-idx3-ubyte.gz')[idx('t10k-labels-idx1-ubyte.gz') == label][:1000]
    pad = np.zeros((u8.shape[0], 32, 32), np.uint8)
    pad[:, 2:30, 2:30] = u8
    x = ((torch.from_numpy(pad).float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1).repeat(1, 3, 1, 1)
    torch.manual_seed(0)
    model = CNN().eval()
    pruned = CNN().eval()
    pruned.load_state_dict(model.state_dict())
    done, t0 = 0, time.time()
    for layer in (pruned.fc4, pruned.fc3, pruned.fc2, pruned.fc1):  # the seed's order
        w = layer.weight
        for o in range(w.shape[0]):
            for i in range(w.shape[1]):
                original = w[o, i].item()
                layer.weight.data[o, i] = 0
                loss_pruned, _ = fast_label_perf(pruned, x, label)
                loss_original, _ = fast_label_perf(model, x, label)
                if (loss_pruned - loss_original) > 0:
                    layer.weight.data[o, i] = original
                done += 1
                if time.time() - t0 > budget:
                    rate = done / (time.time() - t0)
                    print(f'pytorch seed loop: {done} weights in {time.time() - t0:.1f} s = '
                          f'{rate:.1f} weights/s; one full label (270976 weights) ~ '
                          f'{270976 / rate / 3600:.1f} h')
                    return


if __name__ == '__main__':
    main()

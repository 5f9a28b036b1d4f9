#!/usr/bin/python3
"""Training throughput (images/s) of the same model in PyTorch on the same
cores: preloaded random tensors, batch 64, Adam, torch threads = argv[2].
    pytorch_train.py [cnn|mlp] [threads] [steps]"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

model_name = sys.argv[1] if len(sys.argv) > 1 else 'cnn'
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300


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


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128, bias=False)
        self.fc2 = nn.Linear(128, 128, bias=False)
        self.fc3 = nn.Linear(128, 10, bias=False)

    def forward(self, x):
        x = x.view(-1, 784)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


torch.manual_seed(1)
model = CNN() if model_name == 'cnn' else MLP()
shape = (3, 32, 32) if model_name == 'cnn' else (1, 28, 28)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
X = torch.randn(steps * 64, *shape)
Y = torch.randint(0, 10, (steps * 64,))
best = 0.0
for rep in range(3):
    t0 = time.time()
    for b in range(steps):
        x, y = X[b * 64:(b + 1) * 64], Y[b * 64:(b + 1) * 64]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    best = max(best, steps * 64 / (time.time() - t0))
print(f'pytorch {model_name} threads={torch.get_num_threads()}: {best:.0f} images/s '
      f'(best of 3 epochs of {steps} steps)')

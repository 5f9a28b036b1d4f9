#!/usr/bin/python3
"""Training throughput (images/s) of the same model in PyTorch on the same
cores: preloaded random tensors, batch 64, Adam, torch threads = argv[2].
    pytorch_train.py [cnn|mlp] [threads] [steps]"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from torch_ref import CNN, MLP  # noqa: E402

model_name = sys.argv[1] if len(sys.argv) > 1 else 'cnn'
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300

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

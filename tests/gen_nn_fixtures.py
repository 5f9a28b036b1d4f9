#!/usr/bin/python3
"""Writes tests/fixtures/nn_*.msfx: PyTorch's forward outputs, loss, every
parameter gradient, and the losses of ten SGD and ten Adam steps, for the
models modsweep implements. Run with Debian's python3-torch:

    /usr/bin/python3 tests/gen_nn_fixtures.py

The C test tests/test_nn_pytorch.c loads the same weights and inputs and
compares. Regenerate after changing a model definition here."""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
torch.set_num_threads(1)


class Net(nn.Module):
    """conv blocks (conv, ReLU, maxpool 2) then fc layers with ReLU between."""

    def __init__(self, in_c, convs, k, pad, conv_bias, fc_sizes, fc_bias):
        super().__init__()
        self.convs = nn.ModuleList()
        c = in_c
        for f in convs:
            self.convs.append(nn.Conv2d(c, f, k, 1, pad, bias=conv_bias))
            c = f
        self.fcs = nn.ModuleList(
            [nn.Linear(fc_sizes[i], fc_sizes[i + 1], bias=fc_bias) for i in range(len(fc_sizes) - 1)])

    def forward(self, x):
        for conv in self.convs:
            x = F.max_pool2d(torch.relu(conv(x)), 2)
        x = x.reshape(x.shape[0], -1)
        for i, fc in enumerate(self.fcs):
            x = fc(x)
            if i < len(self.fcs) - 1:
                x = torch.relu(x)
        return x

    def named_for_c(self):
        """Parameters under modsweep's names (conv1.weight, fc1.weight, ...)."""
        out = {}
        for i, conv in enumerate(self.convs):
            out[f'conv{i + 1}.weight'] = conv.weight
            if conv.bias is not None:
                out[f'conv{i + 1}.bias'] = conv.bias
        for i, fc in enumerate(self.fcs):
            out[f'fc{i + 1}.weight'] = fc.weight
            if fc.bias is not None:
                out[f'fc{i + 1}.bias'] = fc.bias
        return out


def penalty(net, l1, l2):
    p = torch.zeros((), dtype=torch.float64)
    for name, t in net.named_for_c().items():
        if name.endswith('.weight'):
            p = p + l1 * t.abs().sum().double() + l2 * (t * t).sum().double()
    return p


def make(name, seed, net, in_shape, batch, pool, sgd_lr, momentum, l1, l2, adam_lr, keep_final):
    torch.manual_seed(seed)
    fx = {}
    params0 = {k: v.detach().clone() for k, v in net.named_for_c().items()}
    for k, v in params0.items():
        fx['param.' + k] = v
    x = torch.randn(batch, *in_shape)
    y = torch.randint(0, 10, (batch,))
    fx['x'] = x
    fx['y'] = y.to(torch.uint8)
    out = net(x)
    loss = F.cross_entropy(out, y)
    net.zero_grad()
    loss.backward()
    fx['logits'] = out.detach()
    fx['loss'] = loss.detach().double().reshape(1)
    for k, v in net.named_for_c().items():
        fx['grad.' + k] = v.grad.detach().clone()

    # Ten optimiser steps on batches cycling through a pool of images.
    px = torch.randn(pool, *in_shape)
    py = torch.randint(0, 10, (pool,))
    fx['pool_x'] = px
    fx['pool_y'] = py.to(torch.uint8)
    for opt_name in ('sgd', 'adam'):
        with torch.no_grad():
            for k, v in net.named_for_c().items():
                v.copy_(params0[k])
        if opt_name == 'sgd':
            opt = torch.optim.SGD(net.parameters(), lr=sgd_lr, momentum=momentum)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=adam_lr)
        losses = []
        for t in range(10):
            idx = torch.arange(t * batch, (t + 1) * batch) % pool
            opt.zero_grad()
            ce = F.cross_entropy(net(px[idx]), py[idx])
            total = ce + penalty(net, l1, l2).float() if opt_name == 'sgd' else ce
            total.backward()
            opt.step()
            losses.append(total.item())
        fx[f'{opt_name}.losses'] = torch.tensor(losses, dtype=torch.float64)
        if keep_final:
            for k, v in net.named_for_c().items():
                fx[f'{opt_name}.final.{k}'] = v.detach().clone()
    fx['hyper'] = torch.tensor([sgd_lr, momentum, l1, l2, adam_lr, batch], dtype=torch.float64)
    write_fixture(os.path.join(OUT, f'nn_{name}.msfx'), fx)
    print(f'wrote nn_{name}.msfx: loss {loss.item():.6f}')


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(42)
    # The paper CNN of seed 000 on 3x32x32 input.
    cnn = Net(3, [16], 3, 1, True, [4096, 64, 64, 64, 10], False)
    make('cnn', 1, cnn, (3, 32, 32), 8, 24, 0.05, 0.0, 0.0, 0.0, 1e-3, False)
    # The MLP of seed 001/002 with biases; SGD with momentum and L1/L2 penalties.
    mlp = Net(1, [], 3, 1, True, [784, 128, 128, 10], True)
    make('mlp', 2, mlp, (1, 28, 28), 8, 24, 0.05, 0.9, 1e-4, 1e-3, 1e-3, False)
    # Two conv blocks, a 5x5 kernel and fc biases: the general paths.
    deep = Net(3, [4, 6], 5, 2, True, [6 * 4 * 4, 20, 10], True)
    make('deep', 3, deep, (3, 16, 16), 8, 24, 0.05, 0.5, 0.0, 1e-3, 1e-3, True)


if __name__ == '__main__':
    main()

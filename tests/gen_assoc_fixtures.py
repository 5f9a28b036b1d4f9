#!/usr/bin/python3
"""Writes tests/fixtures/assoc_mlp.msfx: the unit associations of seed 003
(Lange, Rolnick and Kording 2022) of a small MLP, computed by PyTorch
autograd in float64, sample by sample, straight from their definitions:

    forward_cov    Cov(h)                      population covariance of the ReLU outputs h
    forward_jac    E[J J^T], J = dh/dx         torch.autograd.functional.jacobian
    backward_jac   E[G^T G], G = dlogits/dh    jacobian of the downstream network
    backward_hess  E[d2 CE / dh dh]            torch.autograd.functional.hessian

and each one's _norm (|M_ij| / sqrt(M_ii M_jj), 0 for a zero diagonal) and
abs. The model is 12 -> 7 -> 6 -> 4 with bias, PyTorch's default
initialisation scaled by 2, with fc1's unit 3 made dead by a bias of -100.
Run with Debian's python3-torch:

    /usr/bin/python3 tests/gen_assoc_fixtures.py

tests/test_assoc.c loads the weights and inputs, runs ms_assoc_compute and
compares."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
torch.set_num_threads(1)
torch.manual_seed(7)

SIZES = [12, 7, 6, 4]
N = 40

layers = [torch.nn.Linear(SIZES[i], SIZES[i + 1]) for i in range(len(SIZES) - 1)]
with torch.no_grad():
    for lin in layers:
        lin.weight.mul_(2.0)
        lin.bias.mul_(2.0)
    layers[0].bias[3] = -100.0  # a dead unit
x32 = torch.randn(N, SIZES[0])
y = torch.randint(0, SIZES[-1], (N,))

W = [lin.weight.detach().double() for lin in layers]
B = [lin.bias.detach().double() for lin in layers]


def hidden(x, upto):
    """ReLU output of hidden layer `upto` (0-based) for one input x."""
    h = x
    for k in range(upto + 1):
        h = torch.relu(W[k] @ h + B[k])
    return h


def downstream(h, frm):
    """Logits from the ReLU output h of hidden layer `frm`."""
    for k in range(frm + 1, len(W)):
        h = W[k] @ h + B[k]
        if k < len(W) - 1:
            h = torch.relu(h)
    return h


def norm(m):
    d = torch.diagonal(m)
    out = torch.zeros_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[0]):
            if d[i] > 0 and d[j] > 0:
                out[i, j] = m[i, j] / torch.sqrt(d[i] * d[j])
    return out.abs()


fx = {}
for k, lin in enumerate(layers):
    fx[f'param.fc{k + 1}.weight'] = lin.weight.detach().float()
    fx[f'param.fc{k + 1}.bias'] = lin.bias.detach().float()
fx['x'] = x32
fx['y'] = y.to(torch.uint8)
x = x32.double()
for l in range(len(SIZES) - 2):
    U = SIZES[l + 1]
    hs = torch.stack([hidden(x[n], l) for n in range(N)])
    mu = hs.mean(0)
    cov = (hs - mu).T @ (hs - mu) / N
    fjac = torch.zeros(U, U, dtype=torch.float64)
    bjac = torch.zeros(U, U, dtype=torch.float64)
    bhess = torch.zeros(U, U, dtype=torch.float64)
    for n in range(N):
        J = torch.autograd.functional.jacobian(lambda v: hidden(v, l), x[n])  # (U, I0)
        fjac += J @ J.T / N
        G = torch.autograd.functional.jacobian(lambda h: downstream(h, l), hs[n])  # (C, U)
        bjac += G.T @ G / N
        H = torch.autograd.functional.hessian(
            lambda h: F.cross_entropy(downstream(h, l)[None], y[n:n + 1]), hs[n])
        bhess += H / N
    for name, m in [('forward_cov', cov), ('forward_jac', fjac), ('backward_jac', bjac),
                    ('backward_hess', bhess)]:
        fx[f'fc{l + 1}.{name}'] = m
        fx[f'fc{l + 1}.{name}_abs'] = ((m + m.T) / 2).abs()
        fx[f'fc{l + 1}.{name}_norm'] = norm((m + m.T) / 2)

os.makedirs(OUT, exist_ok=True)
write_fixture(os.path.join(OUT, 'assoc_mlp.msfx'), fx)
print('wrote', os.path.join(OUT, 'assoc_mlp.msfx'))

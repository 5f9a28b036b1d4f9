#!/usr/bin/python3
"""Weights/s of seed 000's pruning loop in PyTorch (prune_model with
fast_label_perf: two forward passes of the whole CNN per weight, float32),
on the same cores as modsweep (torch threads = argv[2], default 2), on 1000
Fashion-MNIST test images of one class in the 3x32x32 layout. Runs the loop
from fc4 on for a time budget (argv[1] seconds, default 60) and prints the
rate and the projected time of one full label (all 270,976 fc weights)."""
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from torch_ref import CNN, idx, layout_3x32x32  # noqa: E402

budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)


def fast_label_perf(model, x, label):  # seed 000
    with torch.no_grad():
        output = model(x)
        target = torch.tensor([label] * x.size(0))
        loss = nn.CrossEntropyLoss()(output, target)
    return loss, 0


def main():
    label = 8
    u8 = idx('t10k-images-idx3-ubyte.gz')[idx('t10k-labels-idx1-ubyte.gz') == label][:1000]
    x = layout_3x32x32(u8)
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

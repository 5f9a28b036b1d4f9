#!/usr/bin/python3
"""Writes tests/fixtures/prune_cnn.msfx: a paper CNN trained in PyTorch on
Fashion-MNIST (3x32x32 layout, 12800 images, one epoch of Adam), the first
200 test images of class 8 (uint8, 28x28), and the masks of fc4 and fc3
produced by seed 000's greedy loop (prune_model: last layer first, row by
row; zero a weight, restore it if the label's mean cross-entropy rises above
the trained model's) run by PyTorch in float64.

    /usr/bin/python3 tests/gen_prune_fixture.py

Only fc4 and fc3 are pruned, so the layers below fc3 cannot change: their
output is computed once (the seed recomputes it; the values are the same).
tests/test_prune_pytorch.c loads the model and images and compares masks."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import write_fixture  # noqa: E402
from torch_ref import CNN, idx, layout_3x32x32  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'prune_cnn.msfx')
LABEL, N_IMAGES, N_TRAIN = 8, 200, 12800
torch.set_num_threads(2)


def main():
    torch.manual_seed(0)
    xtr = layout_3x32x32(idx('train-images-idx3-ubyte.gz')[:N_TRAIN])
    ytr = torch.from_numpy(idx('train-labels-idx1-ubyte.gz')[:N_TRAIN].astype(np.int64))
    model = CNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(N_TRAIN)
    for b in range(0, N_TRAIN, 64):
        i = perm[b:b + 64]
        opt.zero_grad()
        F.cross_entropy(model(xtr[i]), ytr[i]).backward()
        opt.step()
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    te_u8 = idx('t10k-images-idx3-ubyte.gz')
    te_y = idx('t10k-labels-idx1-ubyte.gz')
    imgs = te_u8[te_y == LABEL][:N_IMAGES]
    x = layout_3x32x32(imgs).double()
    m = model.double()
    target = torch.full((N_IMAGES,), LABEL, dtype=torch.int64)
    with torch.no_grad():
        h2 = m.below_fc3(x)

        def loss():
            return F.cross_entropy(m.fc4(torch.relu(m.fc3(h2))), target).item()

        l0 = loss()
        masks = []
        for layer in (m.fc4, m.fc3):  # reversed(children), fc layers only, down to fc3
            w = layer.weight.data
            for o in range(w.shape[0]):
                for i in range(w.shape[1]):
                    keep = w[o, i].item()
                    w[o, i] = 0.0
                    if loss() - l0 > 0:
                        w[o, i] = keep
            masks.append((w != 0).to(torch.uint8))
        lf = loss()
    fx = {'param.' + k: v for k, v in trained.items()}
    fx['images_u8'] = torch.from_numpy(imgs.copy())
    fx['label'] = torch.tensor([LABEL], dtype=torch.int32)
    fx['mask.fc4'] = masks[0]
    fx['mask.fc3'] = masks[1]
    fx['loss0'] = torch.tensor([l0], dtype=torch.float64)
    fx['loss_final'] = torch.tensor([lf], dtype=torch.float64)
    write_fixture(OUT, fx)
    print(f'wrote {OUT}: L0 {l0:.9f} -> {lf:.9f}, fc4 keeps {int(masks[0].sum())}/640, '
          f'fc3 keeps {int(masks[1].sum())}/4096')


if __name__ == '__main__':
    main()

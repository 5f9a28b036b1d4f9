#!/usr/bin/python3
"""Writes tests/fixtures/data_norm.txt: the float32 value PyTorch gives every
pixel value 0..255 under torchvision's ToTensor and Normalize, for the
reference of test_data.c's normalisation checks.

torchvision is not needed: its two transforms are reproduced with the same
tensor operations its source uses (ToTensor: `img.to(torch.float32).div(255)`
on a uint8 tensor; Normalize: `tensor.sub_(mean).div_(std)` with mean and std
converted by `torch.as_tensor(..., dtype=tensor.dtype)`).

Each line: pixel value, then the IEEE-754 bits (hex) of
  unit   = ToTensor(p)
  mnist  = Normalize(0.1307, 0.3081)(ToTensor(p))
  cifar  = Normalize(0.4914, 0.2470)(ToTensor(p))
Run: /usr/bin/python3 tests/gen_data_fixture.py (from the repository root).
"""
import os
import struct

import torch


def bits(x: float) -> str:
    return "%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def normalize(t: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    m = torch.as_tensor([mean], dtype=t.dtype)
    s = torch.as_tensor([std], dtype=t.dtype)
    return t.clone().sub_(m).div_(s)


def main() -> None:
    pixels = torch.arange(256, dtype=torch.uint8)
    unit = pixels.to(dtype=torch.float32).div(255)
    mnist = normalize(unit, 0.1307, 0.3081)
    cifar = normalize(unit, 0.4914, 0.2470)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "data_norm.txt")
    with open(out, "w") as f:
        f.write("# pixel unit mnist(0.1307,0.3081) cifar(0.4914,0.2470): float32 bits, "
                "from tests/gen_data_fixture.py (torch %s)\n" % torch.__version__)
        for v in range(256):
            f.write("%d %s %s %s\n" % (v, bits(unit[v].item()), bits(mnist[v].item()),
                                       bits(cifar[v].item())))


if __name__ == "__main__":
    main()

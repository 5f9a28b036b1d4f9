#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Run from anywhere with any Python 3: python3 tests/fuzz/make_seeds.py
The seeds are small valid inputs of each target's input format (see the
comment at the top of each fuzz_<target>.c), plus a few near-misses, so the
fuzzer starts from inputs that reach deep into the code under test."""
import gzip
import os
import shutil
import struct

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- grid: the shipped grids and a few short ones ---------------------------------------
os.makedirs(os.path.join(here, "corpus", "grid"), exist_ok=True)
for f in sorted(os.listdir(os.path.join(root, "sweeps"))):
    if f.endswith(".ini"):
        shutil.copy(os.path.join(root, "sweeps", f), os.path.join(here, "corpus", "grid", f))
grids = {
    "mlp.ini": "[model]\narch = mlp\nhidden = 32, 16\n[train]\nseeds = 0..3\nlr = 0.1, 0.01\n"
    "[cluster]\nlambda = 0, 5\nk = 2, 4\ncurve_k = 2, 4\n[prune]\nlabels = all\n",
    "cnn.ini": "[data]\ndataset = cifar10\ndir = /d\n[model]\narch = cnn\nconv = 8, 16\nhidden = 32\n"
    "[train]\noptimizer = adam\nepochs = 2\n[prune]\nlabels = 0..9:3\n",
    "measures.ini": "[model]\narch = mlp\nhidden = 16, 16\n[measures]\nuntrained = true\n"
    "info_layers = fc1, fc2\nassoc_layers = fc1\nablate_layer = 1\ndirections = 4\n",
    "sweep.ini": "[sweep]\nname = s-1\noutput = /tmp/x.h5\nretries = 2\nteam = 3\n"
    "threads = 2\ndevice = auto\nstore_weights = false\n",
    "bad.ini": "[cluster]\nlamda = 1\n",
    "ranges.ini": "[train]\nseed = 0..9:4\nl1 = 0, 1e-5\nl2 = 0, 1e-4\n[model]\n"
    "dropout = 0, 0.25\n[cluster]\nlambda = 0..20:10\npartition = spectral\nwarmup_epochs = 1\n",
}
for name, text in grids.items():
    write("grid", name, text.encode())


# ---- idx: mode, length of the image file, image file, label file -------------------------
def idx_images(n, r, c, fill=7):
    return struct.pack(">IIII", 0x803, n, r, c) + bytes((fill + i) % 256 for i in range(n * r * c))


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def idx_input(mode, img, lab):
    return bytes([mode]) + struct.pack("<H", len(img)) + img + lab


write("idx", "raw_2x2x3", idx_input(0, idx_images(2, 2, 3), idx_labels(2)))
write("idx", "gz_by_harness_split", idx_input(3 | 4, idx_images(3, 4, 4), idx_labels(3)))
write("idx", "mnist_shape", idx_input(4, idx_images(1, 28, 28), idx_labels(1)))
write("idx", "gz_in_input", idx_input(0, gzip.compress(idx_images(2, 3, 3)),
                                      gzip.compress(idx_labels(2))))
write("idx", "swapped", idx_input(0, idx_labels(2), idx_images(2, 1, 1)))
write("idx", "truncated", idx_input(0, idx_images(4, 2, 2)[:-3], idx_labels(4)))


# ---- cifar: mode, lengths of all files but the last, the files ---------------------------
def record(label, fill):
    return bytes([label]) + bytes((fill + i) % 256 for i in range(3072))


write("cifar", "one_file", bytes([0]) + record(3, 1))
write("cifar", "two_files_split", bytes([1 | 4]) + struct.pack("<H", 3073) + record(0, 2)
      + record(9, 3) + record(5, 4))
write("cifar", "three_files", bytes([2]) + struct.pack("<HH", 3073, 3073) + record(1, 5)
      + record(2, 6) + record(3, 7))
write("cifar", "bad_label", bytes([0]) + record(10, 1))

# ---- results: base, then edits (opcode, attribute, arguments) -----------------------------
write("results", "base0", bytes([0]))
write("results", "base1", bytes([1]))
# dim_M (attribute 10) set to a special value; schema_version (0) to 2.
write("results", "dim_m", bytes([0, 0, 10, 2 * 4]))
write("results", "schema", bytes([0, 0, 0, 2 * 3]))
# A status value 7 in labels/status; a dataset removed; one repacked.
write("results", "status7", bytes([0, 9, 0, 0, 2, 5, 7]))
write("results", "del_dset", bytes([1, 5, 0, 3]))
write("results", "repack", bytes([0, 10, 0, 0]))

# ---- results_bytes: base, then edits (opcode, offset, length, bytes) ---------------------
write("results_bytes", "base0", bytes([0]))
write("results_bytes", "base1", bytes([1]))
write("results_bytes", "truncate", bytes([0, 3, 0, 0, 0x40, 0]))
write("results_bytes", "patch_superblock", bytes([0, 0, 0, 8, 0, 3, 0xff, 0xff, 0xff, 0xff]))

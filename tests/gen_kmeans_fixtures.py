#!/usr/bin/python3
"""Writes tests/fixtures/kmeans_sklearn.msfx: point sets and the k-means
objective (inertia) that sklearn's `KMeans(n_clusters=k, n_init=10,
random_state=42)` reaches on them. Run with Debian's python3-sklearn:

    /usr/bin/python3 tests/gen_kmeans_fixtures.py

tests/test_cluster.c checks that modsweep's ms_kmeans (with the default
number of restarts) reaches an inertia no higher than sklearn's on all but
at most one case, and never more than 1 % higher.

The cases mix what BSGC clusters (the top-k singular vectors of the
normalised |W| of Gaussian weight matrices with and without planted blocks,
and of a gradient-similarity-like matrix) with Gaussian blobs and
structureless uniform points, over several sizes, k and dimensions.

sklearn's own inertia_ is measured against the centres of its last
iteration, which its tolerance may stop before the labels' means; the
fixture stores the smaller of inertia_ and the within-cluster sum of
squares of its labels about their means, the stricter reference.

Tensors per case i: x<i> (float64, N x DK), k<i> (int32, 1), inertia<i>
(float64, 1), labels<i> (int32, N; sklearn's labels)."""
import os
import sys
import warnings

import numpy as np
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import gradsim_like, weight_like, write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'kmeans_sklearn.msfx')
warnings.filterwarnings('ignore')


def spectral_embedding(m, k):
    """Rows of U (top k left singular vectors of D_U^-1/2 |M| D_V^-1/2), as BSGC clusters them."""
    a = np.abs(m)
    du = 1 / np.sqrt(a.sum(1))
    dv = 1 / np.sqrt(a.sum(0))
    u, _, _ = np.linalg.svd(du[:, None] * a * dv[None, :])
    return np.ascontiguousarray(u[:, :k])


def blobs(rng, n, k, dk, spread):
    c = rng.uniform(-1, 1, (k, dk))
    lab = rng.integers(k, size=n)
    return c[lab] + spread * rng.normal(0, 1, (n, dk))


def within_ss(x, lab):
    return sum(((x[lab == c] - x[lab == c].mean(0)) ** 2).sum() for c in np.unique(lab))


def main():
    rng = np.random.default_rng(20261207)
    cases = [
        spectral_embedding(weight_like(rng, 64, 64, 4, 0.0), 4),
        spectral_embedding(weight_like(rng, 64, 64, 8, 0.0), 8),
        spectral_embedding(weight_like(rng, 128, 64, 6, 0.5), 6),
        spectral_embedding(weight_like(rng, 256, 128, 10, 0.3), 10),
        spectral_embedding(weight_like(rng, 100, 100, 14, 0.0), 14),
        spectral_embedding(weight_like(rng, 256, 256, 12, 1.0), 12),
        spectral_embedding(gradsim_like(rng, 64, 4, 300, 8), 4),
        spectral_embedding(gradsim_like(rng, 128, 8, 500, 8), 8),
        blobs(rng, 300, 5, 2, 0.15),
        blobs(rng, 500, 10, 3, 0.08),
        rng.uniform(0, 1, (200, 2)),
        rng.uniform(0, 1, (400, 5)),
        rng.normal(0, 1, (150, 3)),
        spectral_embedding(weight_like(rng, 32, 32, 3, 0.2), 3),
    ]
    ks = [4, 8, 6, 10, 14, 12, 4, 8, 5, 10, 7, 9, 6, 3]
    t = {}
    for i, (x, k) in enumerate(zip(cases, ks)):
        km = KMeans(n_clusters=k, n_init=10, random_state=42).fit(x)
        lab = km.labels_.astype(np.int32)
        inertia = min(float(km.inertia_), within_ss(x, lab))
        t[f'x{i}'] = np.ascontiguousarray(x, dtype=np.float64)
        t[f'k{i}'] = np.array([k], dtype=np.int32)
        t[f'inertia{i}'] = np.array([inertia], dtype=np.float64)
        t[f'labels{i}'] = lab
        print(f'case {i}: N {x.shape[0]} DK {x.shape[1]} k {k} inertia {inertia:.10g}')
    write_fixture(OUT, t)
    print('wrote', OUT)


if __name__ == '__main__':
    main()

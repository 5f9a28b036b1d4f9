#!/usr/bin/python3
"""Writes tests/fixtures/bsgc_seed.msfx: matrices and the partitions the seed
algorithm gives them (seed 000 `bipartite_spectral_clustering`: A = |M|,
A~ = D_U^-1/2 A D_V^-1/2, scipy's `svds(A~, k)`, sklearn's
`KMeans(n_clusters=k, random_state=42)` on the rows of U and of V). Run with
Debian's python3-scipy and python3-sklearn:

    /usr/bin/python3 tests/gen_cluster_fixtures.py

tests/test_cluster.c checks that modsweep's BSGC gives the same row and
column partitions up to relabelling. A fixture is only useful when the seed's
answer is not an accident of its k-means start, so every matrix is also
clustered with 20 other random states and must give the same partitions;
and the "hard" cases (unequal row and column scales) must tell the algorithm
from two wrong variants (W^2 instead of |W|, no degree normalisation). The
script fails otherwise.

Tensors per case i: m<i> (float64, O x NI), k<i> (int32, 1), rows<i> (int32,
O), cols<i> (int32, NI)."""
import os
import sys
import warnings

import numpy as np
from scipy.sparse.linalg import svds
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import gradsim_like, weight_like, write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'bsgc_seed.msfx')
warnings.filterwarnings('ignore')  # sklearn 1.2's n_init FutureWarning


def seed_bsgc(m, k, random_state=42):
    """Seed 000's bipartite_spectral_clustering, on a numpy matrix."""
    a = np.abs(m)
    d_u = np.diag(np.sum(a, axis=1))
    d_v = np.diag(np.sum(a, axis=0))
    a_t = np.linalg.inv(np.sqrt(d_u)) @ a @ np.linalg.inv(np.sqrt(d_v))
    np.random.seed(0)  # svds' ARPACK start vector
    u, _, vt = svds(a_t, k=k)
    rows = KMeans(n_clusters=k, random_state=random_state).fit(u).labels_
    cols = KMeans(n_clusters=k, random_state=random_state).fit(vt.T).labels_
    return rows.astype(np.int32), cols.astype(np.int32)


def same_partition(a, b):
    """Equal up to relabelling."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def planted(rng, o, ni, k, noise):
    """Block structure with random block sizes, permuted rows and columns."""
    rs = np.sort(rng.choice(np.arange(1, o), k - 1, replace=False))
    cs = np.sort(rng.choice(np.arange(1, ni), k - 1, replace=False))
    rl = np.searchsorted(rs, np.arange(o), side='right')
    cl = np.searchsorted(cs, np.arange(ni), side='right')
    m = (rl[:, None] == cl[None, :]) * rng.uniform(0.5, 1.5, (o, ni))
    m = m + noise * rng.uniform(0, 1, (o, ni))
    m = m * rng.choice([-1.0, 1.0], (o, ni))
    return m[rng.permutation(o)][:, rng.permutation(ni)]


def scaled(rng, m, spread):
    """Rows and columns scaled by log-normal factors: unequal degrees, so the
    D_U^-1/2 A D_V^-1/2 normalisation changes the answer."""
    o, ni = m.shape
    return m * np.exp(rng.normal(0, spread, (o, 1))) * np.exp(rng.normal(0, spread, (1, ni)))


def variant(m, k, kind):
    """Wrong algorithms a test must tell apart: W^2 instead of |W|
    ('square'), or no degree normalisation ('plain')."""
    a = m * m if kind == 'square' else np.abs(m)
    if kind != 'plain':
        a = a / np.sqrt(a.sum(1))[:, None] / np.sqrt(a.sum(0))[None, :]
    np.random.seed(0)
    u, _, vt = svds(a, k=k)
    return (KMeans(n_clusters=k, random_state=42).fit(u).labels_,
            KMeans(n_clusters=k, random_state=42).fit(vt.T).labels_)


def main():
    rng = np.random.default_rng(2024)
    # (matrix, k, hard): a hard case's partition differs from both wrong variants.
    cases = [
        (planted(rng, 30, 40, 3, 0.6), 3, False),
        (planted(rng, 64, 64, 5, 0.5), 5, False),
        (weight_like(rng, 64, 64, 4, 2.0), 4, False),
        (gradsim_like(rng, 48, 4, 300, 48), 4, False),
        (scaled(rng, planted(rng, 64, 64, 4, 0.5), 0.7), 4, True),
        (scaled(rng, planted(rng, 40, 60, 3, 0.5), 0.7), 3, True),
        (scaled(rng, planted(rng, 30, 50, 2, 0.8), 0.7), 2, True),
        (scaled(rng, weight_like(rng, 64, 64, 4, 2.0), 0.5), 4, True),
        (scaled(rng, weight_like(rng, 40, 60, 3, 2.0), 0.5), 3, True),
    ]
    tensors = {}
    for i, (m, k, hard) in enumerate(cases):
        rows, cols = seed_bsgc(m, k)
        for rs in range(20):
            r2, c2 = seed_bsgc(m, k, random_state=rs)
            if not (same_partition(rows, r2) and same_partition(cols, c2)):
                sys.exit(f'case {i}: the seed partition depends on the k-means start; change it')
        if hard:
            for kind in ('square', 'plain'):
                r2, c2 = variant(m, k, kind)
                if same_partition(rows, r2) and same_partition(cols, c2):
                    sys.exit(f'case {i}: the {kind} variant gives the same partitions; change it')
        tensors[f'm{i}'] = np.ascontiguousarray(m, dtype=np.float64)
        tensors[f'k{i}'] = np.array([k], dtype=np.int32)
        tensors[f'rows{i}'] = rows
        tensors[f'cols{i}'] = cols
        print(f'case {i}: {m.shape[0]} x {m.shape[1]}, k = {k}, {"hard" if hard else "plain"}, '
              f'row sizes {np.bincount(rows).tolist()}, column sizes {np.bincount(cols).tolist()}')
    write_fixture(OUT, tensors)
    print('wrote', OUT)


if __name__ == '__main__':
    main()

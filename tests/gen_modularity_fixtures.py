#!/usr/bin/python3
"""Writes tests/fixtures/modularity_louvain.msfx: association matrices and
the best Newman Q that networkx's Louvain maximiser finds on them
(`louvain_communities(G, weight='weight', seed=s)` for seeds 0..19, Q by
`networkx.algorithms.community.modularity`). Run with Debian's
python3-networkx:

    /usr/bin/python3 tests/gen_modularity_fixtures.py

tests/test_modularity.c checks that ms_mod_maximise reaches at least that
Q on every matrix (less 1e-12), that no single unit's move raises its Q,
and that the over-split case (where Newman's spectral bisection, written
out below as modsweep does it, ends with more clusters than Louvain's best)
is merged back to fewer clusters than the spectral start.

Cases: random blocky matrices (planted groups, in-group weights larger,
noise, some units nearly dead), a dense "real-looking" one (absolute
correlations of random activations driven by a few shared factors), and
over-split ones (found by search here; the script fails if none is found).

Tensors per case i: a<i> (float64, n x n, symmetric, zero diagonal),
q<i> (float64, 1: Louvain's best Q), k<i> (int32, 1: its clusters),
ks<i> (int32, 1: clusters of the spectral bisection; 0 when not an
over-split case)."""
import os
import sys

import networkx as nx
import numpy as np
from networkx.algorithms.community import louvain_communities, modularity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_lib import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures',
                   'modularity_louvain.msfx')


def louvain_best(a):
    g = nx.from_numpy_array(a)
    best = (-np.inf, 0)
    for s in range(20):
        comms = louvain_communities(g, weight='weight', seed=s)
        q = modularity(g, comms, weight='weight')
        if q > best[0]:
            best = (q, len(comms))
    return best


def q_of(a, lab):
    k = a.sum(1)
    m2 = k.sum()
    q = 0.0
    for c in set(lab.tolist()):
        idx = lab == c
        q += a[np.ix_(idx, idx)].sum() / m2 - (k[idx].sum() / m2) ** 2
    return q


def spectral(a):
    """Newman's repeated spectral bisection as modsweep's ms_mod_spectral runs it."""
    n = a.shape[0]
    k = a.sum(1)
    m2 = k.sum()
    b = a / m2 - np.outer(k, k) / m2 ** 2
    lab = np.zeros(n, dtype=int)
    q = q_of(a, lab)
    queue, nxt = [0], 1
    while queue:
        c = queue.pop(0)
        mem = np.flatnonzero(lab == c)
        if len(mem) < 2:
            continue
        bg = b[np.ix_(mem, mem)].copy()
        bg -= np.diag(bg.sum(1))
        w, v = np.linalg.eigh(bg)
        if not w[-1] > 0:
            continue
        z = v[:, -1]
        neg = z < 0
        if neg.all() or not neg.any():
            continue
        lab[mem[neg]] = nxt
        qn = q_of(a, lab)
        if qn > q:
            q = qn
            queue += [c, nxt]
            nxt += 1
        else:
            lab[mem[neg]] = c
    return len(set(lab.tolist())), q


def blocky(rng, n, k, inside, noise, dead=0):
    grp = rng.integers(k, size=n)
    a = noise * rng.uniform(0, 1, (n, n)) + inside * (grp[:, None] == grp[None, :]) * \
        rng.uniform(0.5, 1.5, (n, n))
    a = np.triu(a, 1)
    a = a + a.T
    for i in rng.choice(n, dead, replace=False):
        a[i, :] = a[:, i] = 0.0
    return a


def dense_real(rng, n, factors, samples):
    load = rng.normal(0, 1, (factors, n)) * (rng.uniform(0, 1, (factors, n)) < 0.4)
    x = rng.normal(0, 1, (samples, factors)) @ load + rng.normal(0, 1, (samples, n))
    a = np.abs(np.corrcoef(x.T))
    np.fill_diagonal(a, 0.0)
    return a


def main():
    rng = np.random.default_rng(3003)
    cases = [blocky(rng, 40, 4, 1.0, 0.3), blocky(rng, 60, 5, 0.6, 0.5, dead=2),
             blocky(rng, 80, 3, 0.3, 0.6), blocky(rng, 100, 8, 1.0, 0.2),
             blocky(rng, 64, 6, 0.2, 0.5), dense_real(rng, 64, 5, 200),
             dense_real(rng, 96, 8, 150)]
    over = []
    for trial in range(400):
        n = int(rng.integers(30, 90))
        a = blocky(rng, n, int(rng.integers(2, 5)), float(rng.uniform(0.05, 0.4)),
                   float(rng.uniform(0.3, 1.0))) if trial % 2 else \
            dense_real(rng, n, int(rng.integers(2, 6)), int(rng.integers(60, 200)))
        ks, _ = spectral(a)
        ql, kl = louvain_best(a)
        if ks > kl:
            over.append(a)
            print(f'over-split candidate at trial {trial}: n {n}, spectral {ks}, louvain {kl}')
            if len(over) == 2:
                break
    if not over:
        sys.exit('no over-split case found')
    t = {}
    for i, a in enumerate(cases + over):
        ql, kl = louvain_best(a)
        ks, qs = spectral(a)
        is_over = i >= len(cases)
        t[f'a{i}'] = np.ascontiguousarray(a, dtype=np.float64)
        t[f'q{i}'] = np.array([ql])
        t[f'k{i}'] = np.array([kl], dtype=np.int32)
        t[f'ks{i}'] = np.array([ks if is_over else 0], dtype=np.int32)
        print(f'case {i}: n {a.shape[0]} louvain Q {ql:.10f} k {kl}; spectral Q {qs:.10f} '
              f'k {ks}{" (over-split)" if is_over else ""}')
    write_fixture(OUT, t)
    print('wrote', OUT)


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""Compares modsweep's k-means objective with sklearn's on the BSGC
embeddings of trained models (the check the issue's held-back comparison
made), from a results file of the paper CNN (conv 16, fc 4096-64-64-64-10,
no fc bias; bsgc_layers fc2, fc3; gradsim fc2, fc3), such as the one of
sweeps/null_fashion.ini:

    /usr/bin/python3 tests/bench/kmeans_vs_sklearn.py null_fashion.h5

For each model, basis (weights, gradient similarity), curve k and side
clustered by k-means (fc2 rows and columns, fc3 rows: its columns are
chained from fc2; for the symmetric gradient similarity the one clustering),
it recomputes the embedding (the top-k singular vectors of
D_U^-1/2 |M| D_V^-1/2: the within-cluster sum of squares does not depend on
the signs LAPACK gives them), the objective of modsweep's stored labels,
and the best of sklearn's KMeans(n_init=10, random_state=42) (the smaller
of inertia_ and the sum of squares of its labels), and prints how often and
by how much modsweep's objective is higher."""
import sys, warnings
import h5py, numpy as np
from sklearn.cluster import KMeans
warnings.filterwarnings('ignore')
f = h5py.File(sys.argv[1], 'r'); m = f['models']
ks = m['cl_curve_k'][0]
# Paper CNN parameter layout: conv1.w (16,3,3,3), conv1.b (16), fc1 (64,4096), fc2, fc3 (64,64), fc4 (10,64).
off = 16 * 27 + 16
shapes = [(64, 4096), (64, 64), (64, 64), (10, 64)]
offs = []
for o, i in shapes:
    offs.append(off); off += o * i
uin = [0, 4160, 4288, 4416]; uout = [4096, 4224, 4352, 4426]

def emb(M, k):
    A = np.abs(M); du = A.sum(1); dv = A.sum(0)
    du = np.where(du > 0, 1 / np.sqrt(du), 0); dv = np.where(dv > 0, 1 / np.sqrt(dv), 0)
    U, s, VT = np.linalg.svd(du[:, None] * A * dv[None, :], full_matrices=False)
    return U[:, :k], VT[:k].T

def wss(x, lab):
    return sum(((x[lab == c] - x[lab == c].mean(0)) ** 2).sum() for c in np.unique(lab) if c >= 0)

res = {'w': [], 'g': []}
for i in range(m['params'].shape[0]):
    p = m['params'][i]
    gs = m['gradsim'][i]
    for basis in ('w', 'g'):
        pc = m['part_curve_' + basis][i]
        for ki, k in enumerate(ks):
            for l in (1, 2):
                o, n = shapes[l]
                if basis == 'w':
                    M = p[offs[l]:offs[l] + o * n].reshape(o, n).astype(np.float64)
                else:
                    if l != 1: continue  # gradsim of fc2 only in this grid (fc2, fc3 default: both square)
                    M = gs[:64 * 64].reshape(64, 64)
                U, V = emb(M, k)
                sides = [('rows', U, pc[ki][uout[l]:uout[l] + o])]
                if l == 1: sides.append(('cols', V, pc[ki][uin[l]:uin[l] + n]))
                for side, x, lab in sides:
                    if basis == 'g' and side == 'rows': continue  # symmetric: rows = cols
                    ours = wss(x, lab)
                    sk = KMeans(n_clusters=k, n_init=10, random_state=42).fit(x)
                    skw = min(sk.inertia_, wss(x, sk.labels_))
                    res[basis].append((ours - skw) / skw)
for b, r in res.items():
    r = np.array(r)
    print(f'{b}: {len(r)} clusterings; modsweep objective above sklearn (rel > 1e-9) at {(r > 1e-9).sum()}, '
          f'median {np.median(r) * 100:+.2f} %, worst {r.max() * 100:+.2f} %, best {r.min() * 100:+.2f} %')

#!/usr/bin/python3
"""Figures and tables of the cluster analysis from a modsweep results file
(the analysis package; Debian's h5py, numpy, pandas, matplotlib):

    /usr/bin/python3 scripts/cluster_figures.py RESULTS.h5 OUTDIR

writes OUTDIR/cluster_training.png (per-step cross-entropy, test accuracy
per epoch and clusterability), OUTDIR/cluster_curve.png (clusterability vs
k, weight- and gradient-based BSGC, with the 1/k baseline: seed 000's
figure), OUTDIR/cluster_onoff.png (class-wise accuracy with each cluster of
the training partition ON alone and OFF, per model: seed 000's grid), each
also as PDF, and prints the ON/OFF tables as Markdown. The whole report:
`/usr/bin/python3 -m analysis.report RESULTS.h5 -o OUTDIR`."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from analysis import figures, open_results  # noqa: E402


def main(path, out):
    res = open_results(path)
    parts = [figures.training_curves(res, out, name='cluster_training'),
             figures.clusterability_curve(res, out, name='cluster_curve'),
             figures.cluster_onoff(res, out, name='cluster_onoff')]
    for p in parts:
        print(f'{p.name}: {"skipped: " + p.skipped if p.skipped else ", ".join(p.files)}',
              file=sys.stderr)
    for title, table in parts[2].tables:
        print(f'\n{title}:\n')
        print(figures.markdown(table))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

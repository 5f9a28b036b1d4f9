"""Post-analysis of modsweep results files (h5py, numpy, pandas, matplotlib).

    from analysis import open_results
    res = open_results('sweep.h5')
    res.models, res.labels, res.model(0).train_loss, res.mask(0, label=3)

Command line: `/usr/bin/python3 -m analysis.report RESULTS.h5 -o OUTDIR`
(figures and report.html), `... status RESULTS.h5`, `... tables RESULTS.h5 -o DIR`."""
from .results import ASSOC_METHODS, CLASS_NAMES, SETTINGS, ModelView, Results, open_results

__all__ = ['open_results', 'Results', 'ModelView', 'SETTINGS', 'CLASS_NAMES', 'ASSOC_METHODS']

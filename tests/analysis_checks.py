"""What the Python drivers of the analysis tests share (tests/test_analysis.py,
tests/test_analysis_null.py): the check function and its list of failures,
a NaN-aware array comparison and an h5py reader that takes no file lock.
Importing it also puts the source tree (MS_SOURCE_DIR, else this folder's
parent) first on sys.path, so that `analysis` is the package under test,
and turns off HDF5's file locking before h5py is loaded."""
import os
import sys

os.environ.setdefault('HDF5_USE_FILE_LOCKING', 'FALSE')
import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.environ.get('MS_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..')))

FAILS = []


def check(cond, what):
    """Prints 'ok   what' or 'FAIL what'; a failure is kept in FAILS."""
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        FAILS.append(what)


def same(a, b):
    """Equal arrays, NaN equal to NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def h5(path):
    """The file opened read-only with h5py, without a file lock where h5py can."""
    try:
        return h5py.File(path, 'r', locking=False)
    except TypeError:
        return h5py.File(path, 'r')

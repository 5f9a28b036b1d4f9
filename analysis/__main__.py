"""python3 -m analysis [report|status|tables] ... (see analysis/report.py)."""
import sys

import numpy as np

from .report import main

np.seterr(all='ignore')
sys.exit(main())

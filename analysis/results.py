"""Reading a modsweep results file into pandas tables and numpy arrays.

    from analysis import open_results
    res = open_results('sweep.h5')
    res.models            # one row per model: settings, status, accuracy, clusterability
    res.labels            # one row per (model, label): ECS, kept counts, losses, pruned accuracy
    res.model(3).train_loss          # any /models/<column> row of model 3
    res.model(3).params['fc2.weight']  # parameter tensors, split by the 'tensors' attribute
    res.mask(3, label=7)             # the circuit of label 7: {fc layer: bool (out, in)}
    res.partition(3, 'train')        # per fc layer: (input labels, output labels)
    res.progress()                   # done / failed / pending tasks

The file is opened read-only without HDF5 file locking, so a file that a
sweep is still writing (or one an interrupted sweep left behind) can be
read: every dataset exists at full size from the start, NaN (floats) or 0
(integers, status) marks what is not written yet, and a task's status is
written after its data. The tables therefore blank (NaN) every value of a
row whose task is not done: training columns by models/status_train,
analysis columns by models/status_analyse, label columns by labels/status.
The arrays returned by model(m) are the raw rows (check the status).

One snapshot: the three status columns are read once, when the file is
opened (and again by refresh()), before any data column. Every table,
progress() and mask() use that snapshot, so a task that finishes while the
report is made counts as not done everywhere, and every row the snapshot
marks done has all its data in the file (a status is written after the
data). `partial` says whether the snapshot has tasks not done yet."""
import os

# HDF5 reads this when a file is opened; set it before h5py is imported, for
# an h5py too old for File(locking=...). A sweep holds the file open.
os.environ.setdefault('HDF5_USE_FILE_LOCKING', 'FALSE')

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SETTINGS = ['seed', 'lambda', 'k', 'lr', 'l1', 'l2', 'dropout']
"""The swept axes, stored per model (models/<name>), in the grid's nesting order."""

STATUS = {0: 'pending', 1: 'done', 2: 'failed'}

CLASS_NAMES = {
    'fashion-mnist': ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                      'Sneaker', 'Bag', 'Boot'],
    'cifar10': ['airplane', 'auto.', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship',
                'truck'],
}

ASSOC_METHODS = ['forward_cov', 'forward_jac', 'backward_jac', 'backward_hess',
                 'forward_cov_norm', 'forward_jac_norm', 'backward_jac_norm',
                 'backward_hess_norm']
"""The association methods of models/assoc_* (measures.c), in column order."""

# Model columns produced by each stage (the rest of /models is settings or
# bookkeeping). Used to blank values whose task is not done.
_TRAIN_PREFIXES = ('train_', 'epoch_', 'test_', 'classwise_acc', 'params', 'part_train',
                   'gradsim', 'time_train', 'sparse_')
_BOOKKEEPING = ('status_', 'attempts_', 'reason_', 'host', 'rank')


def _open_h5(path):
    """h5py.File read-only without file locking (h5py >= 3.5 takes locking=;
    older ones rely on HDF5_USE_FILE_LOCKING set above)."""
    try:
        return h5py.File(path, 'r', locking=False)
    except TypeError:
        return h5py.File(path, 'r')


def _decode(a):
    """Fixed-length byte strings (NUL-padded) to Python str."""
    a = np.asarray(a)
    if a.dtype.kind == 'S':
        return np.array([x.decode('utf-8', 'replace').rstrip('\0') for x in a.ravel()],
                        dtype=object).reshape(a.shape)
    return a


def _attr_str(v):
    if isinstance(v, bytes):
        return v.decode('utf-8', 'replace')
    if isinstance(v, np.ndarray) and v.shape == ():
        return _attr_str(v[()])
    return v


def parse_resolved(text):
    """'section.key = value' lines of the grid_resolved attribute to a dict."""
    out = {}
    for line in text.splitlines():
        if '=' not in line:
            continue
        key, _, value = line.partition('=')
        out[key.strip()] = value.strip()
    return out


def _int_list(text):
    try:
        return [int(x) for x in text.replace(',', ' ').split()]
    except ValueError:
        return []


def _stage_of(name):
    """'train', 'analyse' or None (settings, bookkeeping) for a /models column."""
    if name in SETTINGS or name.startswith(_BOOKKEEPING):
        return None
    if name.startswith(_TRAIN_PREFIXES):
        return 'train'
    return 'analyse'


class ModelView:
    """The arrays of one model: attribute access reads /models/<name>[m]
    (e.g. train_loss, cl_curve_w_mean, ablate_train_on, assoc_q), plus the
    parameters split into tensors, the partitions and the settings."""

    def __init__(self, res, m):
        self._res = res
        self.index = int(m)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        g = self._res.h5['models']
        if name not in g:
            raise AttributeError(f'no column models/{name} (see modsweep --schema)')
        return _decode(g[name][self.index])

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._res.h5['models'].keys()))

    def __getitem__(self, name):
        return self.__getattr__(name)

    @property
    def settings(self):
        """The model's swept settings as a dict."""
        return {k: self._res.models_raw[k][self.index] for k in SETTINGS
                if k in self._res.models_raw}

    @property
    def status(self):
        """{'train': ..., 'analyse': ...} as 'pending' / 'done' / 'failed'."""
        snap = self._res._snap
        return {t: STATUS.get(int(snap[f'models/status_{t}'][self.index]), 'pending')
                for t in ('train', 'analyse')}

    @property
    def params(self):
        """Trained parameters: {tensor name: array}, fc and conv weights reshaped
        to PyTorch's shapes where the grid tells them, else flat."""
        return self._res.split_params(self._res.h5['models/params'][self.index])

    def partition(self, kind='train'):
        return self._res.partition(self.index, kind)

    def ablation(self, kind='train'):
        return self._res.ablation(self.index, kind)


def _putter(d, done):
    """A function put(name, v) that stores v (as floats, NaN where not done)
    in d under name when some value is finite."""
    def put(name, v):
        v = np.asarray(v, dtype=float).copy()
        v[~done] = np.nan
        if np.isfinite(v).any():
            d[name] = v
    return put


class Results:
    """A results file opened read-only. Tables are read when first used and
    cached; call refresh() to re-read a file a sweep is still writing."""

    def __init__(self, path):
        self.path = str(path)
        self.h5 = _open_h5(self.path)
        a = self.h5.attrs
        self.attrs = {k: _attr_str(a[k]) for k in a.keys()}
        self.dims = {k[4:]: int(v) for k, v in self.attrs.items() if k.startswith('dim_')}
        self.M = self.dims.get('M', self.h5['models/status_train'].shape[0])
        self.L = self.dims.get('L', 0)
        self.settings = parse_resolved(self.attrs.get('grid_resolved', ''))
        self.grid_text = self.attrs.get('grid_text', '')
        self.grid_hash = self.attrs.get('grid_hash', '')
        self.version = self.attrs.get('modsweep_version', '')
        self.label_values = (np.asarray(self.h5['labels/label'][:], dtype=int)
                             if 'labels/label' in self.h5 else np.zeros(0, dtype=int))
        self.tensors = self._parse_tensors(self.attrs.get('tensors', ''))
        self._fc_shapes()
        self._cache = {}
        self._snapshot()

    _STATUS_COLS = ('models/status_train', 'models/status_analyse', 'labels/status')

    def _snapshot(self):
        """Reads the three status columns (before any data column)."""
        self._snap = {c: np.asarray(self.h5[c][()], dtype=np.int8)
                      for c in self._STATUS_COLS if c in self.h5}

    @property
    def partial(self):
        """True when the snapshot has tasks neither done nor failed (a sweep
        still running, or stopped before its end)."""
        return any(bool(((s != 1) & (s != 2)).any()) for s in self._snap.values())

    # ---- basics ------------------------------------------------------------------

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        p = self.progress()
        return (f'<Results {self.path}: {self.M} models x {self.L} labels; train '
                f'{p["train"]["done"]}/{self.M} done, prune {p["prune"]["done"]}/'
                f'{self.M * self.L} done>')

    def refresh(self):
        """Forget cached tables (the file may have been written since)."""
        self._cache.clear()
        self.h5.close()
        self.h5 = _open_h5(self.path)
        self._snapshot()

    @property
    def dataset(self):
        return self.settings.get('data.dataset', '')

    @property
    def class_names(self):
        nc = self.dims.get('NC', 10)
        names = CLASS_NAMES.get(self.dataset)
        return names if names and len(names) == nc else [str(c) for c in range(nc)]

    def label_name(self, label):
        names = self.class_names
        return names[label] if 0 <= label < len(names) else str(label)

    # ---- layout --------------------------------------------------------------------

    @staticmethod
    def _parse_tensors(text):
        out = []
        for item in text.split():
            name, off, n = item.rsplit(':', 2)
            out.append((name, int(off), int(n)))
        return out

    def _fc_shapes(self):
        """Shapes of the tensors from the resolved grid: fc weights are
        (out, in) with out from model.hidden and the class count, conv weights
        (F, C, K, K). The fc names give the fc layers (fc1, fc2, ...)."""
        s = self.settings
        hidden = _int_list(s.get('model.hidden', ''))
        convs = _int_list(s.get('model.conv', ''))
        kernel = _int_list(s.get('model.kernel', '3')) or [3]
        nc = self.dims.get('NC', 10)
        fc_out = hidden + [nc]
        self.fc_names, self.fc_in, self.fc_out = [], [], []
        self.shapes = {}
        for name, _, n in self.tensors:
            layer, _, kind = name.partition('.')
            if layer.startswith('fc') and kind == 'weight':
                i = int(layer[2:]) - 1
                out = fc_out[i] if i < len(fc_out) else None
                if out and n % out == 0:
                    self.shapes[name] = (out, n // out)
                self.fc_names.append(layer)
                self.fc_out.append(out if out else 0)
                self.fc_in.append(n // out if out else 0)
            elif layer.startswith('conv') and kind == 'weight':
                i = int(layer[4:]) - 1
                f = convs[i] if i < len(convs) else None
                k = kernel[0]
                if f and n % (f * k * k) == 0:
                    self.shapes[name] = (f, n // (f * k * k), k, k)
            else:
                self.shapes[name] = (n,)
        if 'NFC' in self.dims and len(self.fc_names) != self.dims['NFC']:
            self.fc_names = [f'fc{i + 1}' for i in range(self.dims['NFC'])]

    def split_params(self, flat):
        """A flat parameter row to {tensor name: array} (reshaped where known)."""
        flat = np.asarray(flat)
        out = {}
        for name, off, n in self.tensors:
            t = flat[off:off + n]
            shape = self.shapes.get(name)
            out[name] = t.reshape(shape) if shape and int(np.prod(shape)) == n else t
        return out

    def split_fc(self, row, reshape=True):
        """A row over all fc weights (labels/mask: fc1 first, row-major) to
        {fc layer: (out, in) array}."""
        row = np.asarray(row)
        out, off = {}, 0
        for name, o, i in zip(self.fc_names, self.fc_out, self.fc_in):
            n = o * i
            part = row[off:off + n]
            out[name] = part.reshape(o, i) if reshape else part
            off += n
        return out

    def split_units(self, row):
        """A row in the unit layout of cluster.h (per fc layer its input
        units' labels, then its output units') to {fc layer: (in, out)}."""
        row = np.asarray(row)
        out, off = {}, 0
        for name, o, i in zip(self.fc_names, self.fc_out, self.fc_in):
            out[name] = (row[off:off + i], row[off + i:off + i + o])
            off += i + o
        return out

    # ---- arrays by model -------------------------------------------------------------

    def model(self, m):
        """ModelView of model m: res.model(m).train_loss, .params, ..."""
        if not 0 <= m < self.M:
            raise IndexError(f'model {m} out of range (0..{self.M - 1})')
        return ModelView(self, m)

    def label_index(self, label):
        hits = np.nonzero(self.label_values == label)[0]
        if hits.size == 0:
            raise KeyError(f'label {label} was not pruned in this sweep '
                           f'(labels {list(self.label_values)})')
        return int(hits[0])

    def mask(self, m, label=None, li=None, split=True):
        """Circuit of model m for a label value (or label index li):
        {fc layer: bool array (out, in)}, or the flat row with split=False.
        Returns None while the prune task is not done."""
        if li is None:
            li = self.label_index(label)
        if int(self._snap['labels/status'][m, li]) != 1:
            return None
        row = self.h5['labels/mask'][m, li].astype(bool)
        return self.split_fc(row) if split else row

    def partition(self, m, kind='train'):
        """A partition of model m: kind 'train' (the regulariser's), 'w' / 'g'
        (BSGC of weights / gradients at the model's k) as {fc layer: (input
        labels, output labels)}; -1 = in no cluster."""
        col = {'train': 'part_train', 'w': 'part_w', 'g': 'part_g'}[kind]
        return self.split_units(self.h5['models/' + col][m])

    def ablation(self, m, kind='train'):
        """Cluster ablation tables of model m for partition kind: dict
        {'on': (NFC, KMAX, NC), 'off': ...}: class-wise accuracy with cluster
        c alone ON / c OFF in each fc layer (NaN where not computed)."""
        g = self.h5['models']
        return {s: g[f'ablate_{kind}_{s}'][m] for s in ('on', 'off')}

    def column(self, path):
        """A whole dataset ('models/test_acc', 'labels/ecs', ...), strings decoded."""
        return _decode(self.h5[path][()])

    # ---- tables ----------------------------------------------------------------------------

    def _col(self, path):
        if path not in self._cache:
            self._cache[path] = _decode(self.h5[path][()]) if path in self.h5 else None
        return self._cache[path]

    @property
    def models_raw(self):
        return {k: self._col('models/' + k) for k in SETTINGS if 'models/' + k in self.h5}

    def _status(self, col):
        s = self._snap.get(col)
        return np.zeros(0, dtype=np.int8) if s is None else s

    @property
    def models(self):
        """One row per model (index: model): the settings, status / attempts /
        reasons of the training and analysis tasks, accuracy, final loss and
        clusterability, the clusterability at the model's k (mean over the
        analysed layers and per layer), search-space reduction, the mean ECS
        of its done labels, timings. Values of tasks not done are NaN."""
        if 'models' in self._cache:
            return self._cache['models']
        M, g = self.M, self.h5['models']
        st_tr, st_an = self._status('models/status_train'), self._status('models/status_analyse')
        done_tr, done_an = st_tr == 1, st_an == 1
        d = {'model': np.arange(M)}
        for k in SETTINGS:
            if k in g:
                d[k] = self._col('models/' + k)
        for t, st in (('train', st_tr), ('analyse', st_an)):
            d[f'status_{t}'] = [STATUS.get(int(x), 'pending') for x in st]
            if f'attempts_{t}' in g:
                d[f'attempts_{t}'] = self._col(f'models/attempts_{t}')
            if f'reason_{t}' in g:
                d[f'reason_{t}'] = self._col(f'models/reason_{t}')

        def blank(values, done):
            v = np.asarray(values, dtype=float).copy()
            v[~done] = np.nan
            return v

        for name in ('test_acc', 'test_loss', 'time_train'):
            if name in g:
                d[name] = blank(self._col('models/' + name), done_tr)
        if 'train_loss' in g and g['train_loss'].shape[1] > 0:
            # mean cross-entropy of the last epoch's steps
            S, E = g['train_loss'].shape[1], max(self.dims.get('E', 1), 1)
            tl = g['train_loss'][:, S - max(S // E, 1):]
            with np.errstate(all='ignore'):
                d['final_train_loss'] = blank(_nanmean(tl, axis=1), done_tr)
        if 'train_extra' in g and g['train_extra'].shape[1] > 0:
            d['final_train_cl'] = blank(g['train_extra'][:, -1], done_tr)
        for name in ('cl_train', 'cl_w', 'cl_g'):
            if name not in g:
                continue
            v = self._col('models/' + name)
            d[name] = blank(_nanmean(v, axis=1), done_an)
            for li, fc in enumerate(self.fc_names):
                if li < v.shape[1] and np.isfinite(v[:, li]).any():
                    d[f'{name}_{fc}'] = blank(v[:, li], done_an)
        for name in ('ssr_train', 'ssr_w', 'ssr_g'):
            if name in g:
                d[name] = blank(_nanmean(self._col('models/' + name), axis=1), done_an)
        if 'meas_test_acc' in g and g['meas_test_acc'].shape[1] > 0:
            v = self._col('models/meas_test_acc')
            d['meas_test_acc'] = blank(v[:, 0], done_an)
            if v.shape[1] > 1:
                d['meas_test_acc_untrained'] = blank(v[:, 1], done_an)
        if self.L > 0:
            lab = self.labels
            d['labels_done'] = lab.groupby('model')['status'].apply(
                lambda s: int((s == 'done').sum())).reindex(range(M)).values
            d['labels_failed'] = lab.groupby('model')['status'].apply(
                lambda s: int((s == 'failed').sum())).reindex(range(M)).values
            d['ecs_mean'] = lab.groupby('model')['ecs'].mean().reindex(range(M)).values
        d.update(self._null_columns(done_an))
        d.update(self._planted_columns(done_an))
        for name in ('time_analyse', 'time_measures'):
            if name in g:
                d[name] = blank(self._col('models/' + name), done_an)
        for name in ('host', 'rank'):
            if name in g:
                d[name] = self._col('models/' + name)
        df = pd.DataFrame(d).set_index('model', drop=False)
        df.index.name = None
        self._cache['models'] = df
        return df

    def _null_columns(self, done):
        """The z-scores and p-values of the shuffle nulls ([null] shuffles) as
        flat columns, only for the cells computed for some model:
        null_cl_w_{z,p}_k<k>_<fc> (weight-based clusterability at curve k of
        an fc layer) and null_assoc_q_{z,p}_<fc>_<method> (Newman Q of an
        association; the untrained variant ends in _untrained). NaN for
        models not analysed."""
        g, d = self.h5['models'], {}

        put = _putter(d, done)

        if 'null_cl_w_z' in g and 'cl_curve_k' in g and g['null_cl_w_z'].shape[1] > 0:
            ks = np.asarray(self._col('models/cl_curve_k'))
            k0 = ks[int(np.argmax(done))] if done.any() else ks[0]
            for stat in ('z', 'p'):
                v = np.asarray(self._col(f'models/null_cl_w_{stat}'), dtype=float)
                for ki in range(v.shape[1]):
                    for li, fc in enumerate(self.fc_names[:v.shape[2]]):
                        put(f'null_cl_w_{stat}_k{int(k0[ki])}_{fc}', v[:, ki, li])
        if 'null_assoc_q_z' in g and 'assoc_layers' in g and g['null_assoc_q_z'].shape[1] > 0:
            layers = np.asarray(self._col('models/assoc_layers'))
            l0 = layers[int(np.argmax(done))] if done.any() else layers[0]
            for stat in ('z', 'p'):
                v = np.asarray(self._col(f'models/null_assoc_q_{stat}'), dtype=float)
                for vi in range(v.shape[1]):
                    for li in range(v.shape[2]):
                        for j, meth in enumerate(ASSOC_METHODS[:v.shape[3]]):
                            tail = '_untrained' if vi == 1 else ''
                            put(f'null_assoc_q_{stat}_fc{int(l0[li])}_{meth}{tail}',
                                v[:, vi, li, j])
        return d

    def _planted_columns(self, done):
        """dataset = planted: the recovery scores as flat columns, only where
        some model has a finite value: planted_ari_w (BSGC fc1 inputs against
        the strips), planted_ari_hidden_w (BSGC fc1 output units against the
        hidden units' planted modules), planted_ari_assoc_<fc>_<method> (each
        Newman partition; the untrained variant ends in _untrained) and
        planted_circuit_share (mean over the model's done labels). NaN for
        models not analysed."""
        g, d = self.h5['models'], {}

        put = _putter(d, done)

        for name in ('planted_ari_w', 'planted_ari_hidden_w'):
            if name in g:
                put(name, self._col('models/' + name))
        if 'planted_ari_assoc' in g and 'assoc_layers' in g and g['planted_ari_assoc'].shape[1] > 0:
            layers = np.asarray(self._col('models/assoc_layers'))
            l0 = layers[int(np.argmax(done))] if done.any() else layers[0]
            v = np.asarray(self._col('models/planted_ari_assoc'), dtype=float)
            for vi in range(v.shape[1]):
                for li in range(v.shape[2]):
                    for j, meth in enumerate(ASSOC_METHODS[:v.shape[3]]):
                        tail = '_untrained' if vi == 1 else ''
                        put(f'planted_ari_assoc_fc{int(l0[li])}_{meth}{tail}', v[:, vi, li, j])
        if 'planted_circuit_share' in self.h5['labels'] and self.L > 0:
            sh = np.asarray(self._col('labels/planted_circuit_share'), dtype=float)
            st = self._status('labels/status')
            if st.shape == sh.shape:
                sh = np.where(st == 1, sh, np.nan)
            with np.errstate(all='ignore'):
                put('planted_circuit_share',
                    [np.nanmean(r) if np.isfinite(r).any() else np.nan for r in sh])
        return d

    @property
    def labels(self):
        """One row per (model, label index): the model's settings, the label
        value and name, the prune task's status / attempts / reason, ECS, kept
        weights per fc layer (kept_fc1, ...), L0 and final loss, near ties,
        images used, the pruned model's test accuracy and its accuracy on the
        label's own class, states evaluated, seconds, team size. Values of
        tasks not done are NaN."""
        if 'labels' in self._cache:
            return self._cache['labels']
        M, L, g = self.M, self.L, self.h5['labels']
        mm, li = np.meshgrid(np.arange(M), np.arange(L), indexing='ij')
        mm, li = mm.ravel(), li.ravel()
        st = self._status('labels/status').reshape(-1) if L else np.zeros(0, np.int8)
        done = st == 1
        d = {'model': mm, 'label_index': li}
        for k in SETTINGS:
            if 'models/' + k in self.h5:
                d[k] = self._col('models/' + k)[mm]
        d['label'] = self.label_values[li] if L else np.zeros(0, int)
        d['label_name'] = [self.label_name(int(x)) for x in d['label']]
        d['status'] = [STATUS.get(int(x), 'pending') for x in st]
        for name in ('attempts', 'reason'):
            if name in g:
                d[name] = self._col('labels/' + name).reshape(-1)

        def blank(values):
            v = np.asarray(values, dtype=float).reshape(M * L, -1).copy()
            v[~done] = np.nan
            return v

        if 'ecs' in g:
            d['ecs'] = blank(self._col('labels/ecs'))[:, 0]
        if 'kept' in g:
            kept = blank(self._col('labels/kept'))
            for i, fc in enumerate(self.fc_names):
                if i < kept.shape[1]:
                    d[f'kept_{fc}'] = kept[:, i]
            d['kept'] = kept.sum(axis=1)
        for name in ('loss0', 'loss_final', 'ties', 'n_images', 'pruned_test_acc', 'states',
                     'time', 'team'):
            if name in g:
                d[name] = blank(self._col('labels/' + name))[:, 0]
        if 'pruned_classwise_acc' in g:
            cw = blank(self._col('labels/pruned_classwise_acc'))
            lab = np.asarray(d['label'], dtype=int)
            ok = (lab >= 0) & (lab < cw.shape[1])
            own = np.full(M * L, np.nan)
            own[ok] = cw[np.nonzero(ok)[0], lab[ok]]
            d['pruned_label_acc'] = own
        for name in ('rank', 'host'):
            if name in g:
                d[name] = self._col('labels/' + name).reshape(-1)
        df = pd.DataFrame(d)
        self._cache['labels'] = df
        return df

    # ---- progress --------------------------------------------------------------------------

    def progress(self):
        """Tasks by state: {'train'|'analyse'|'prune': {'done': n, 'failed': n,
        'pending': n, 'total': n}, 'failed': [(task, model, label or None,
        reason)], 'pending': {'train': [m...], 'analyse': [m...], 'prune':
        [(m, label)...]}}."""
        out = {'failed': [], 'pending': {}}
        kinds = [('train', 'models/status_train', 'models/reason_train'),
                 ('analyse', 'models/status_analyse', 'models/reason_analyse'),
                 ('prune', 'labels/status', 'labels/reason')]
        for kind, scol, rcol in kinds:
            st = self._status(scol)
            if kind == 'prune' and self.L == 0:
                st = np.zeros((self.M, 0), np.int8)
            flat = st.reshape(-1)
            out[kind] = {'done': int((flat == 1).sum()), 'failed': int((flat == 2).sum()),
                         'pending': int(((flat != 1) & (flat != 2)).sum()),
                         'total': int(flat.size)}
            reasons = _decode(self.h5[rcol][()]) if rcol in self.h5 else None
            for idx in zip(*np.nonzero(st == 2)):
                m = int(idx[0])
                lab = int(self.label_values[idx[1]]) if kind == 'prune' else None
                out['failed'].append((kind, m, lab, reasons[idx] if reasons is not None else ''))
            pend = np.nonzero((st != 1) & (st != 2))
            if kind == 'prune':
                out['pending'][kind] = [(int(m), int(self.label_values[i]))
                                        for m, i in zip(*pend)]
            else:
                out['pending'][kind] = [int(m) for m in pend[0]]
        tt = self._col('models/time_train')
        st = self._status('models/status_train')
        if tt is not None and st.size:
            t = np.asarray(tt, float)[(st == 1) & np.isfinite(tt)]
            out['train_seconds_mean'] = float(t.mean()) if t.size else None
        return out

    def group_keys(self, exclude=('seed',)):
        """The swept settings that vary in this grid, minus exclude."""
        df = self.models
        return [k for k in SETTINGS if k in df and k not in exclude and df[k].nunique() > 1]


def _nanmean(a, axis):
    a = np.asarray(a, dtype=float)
    n = np.isfinite(a).sum(axis=axis)
    s = np.where(np.isfinite(a), a, 0.0).sum(axis=axis)
    with np.errstate(all='ignore'):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def open_results(path):
    """Opens a results file read-only (see Results)."""
    return Results(path)

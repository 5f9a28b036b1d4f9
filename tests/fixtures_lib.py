"""Writer of MSFX fixture files read by tests/fixture.c, and the generated
matrices that several fixture scripts cluster (weight_like, gradsim_like).

Format "MSFX0001", little-endian: uint32 count, then per tensor: uint16 name
length, name, uint8 dtype (0 f32, 1 f64, 2 i32, 3 u8, 4 i64), uint8 ndim,
int64 shape[ndim], raw data (C order)."""
import struct

import numpy as np

_DTYPES = {np.dtype('float32'): 0, np.dtype('float64'): 1, np.dtype('int32'): 2,
           np.dtype('uint8'): 3, np.dtype('int64'): 4}


def write_fixture(path, tensors):
    """tensors: dict name -> numpy array (or torch tensor)."""
    with open(path, 'wb') as f:
        f.write(b'MSFX0001')
        f.write(struct.pack('<I', len(tensors)))
        for name, arr in tensors.items():
            if hasattr(arr, 'detach'):
                arr = arr.detach().cpu().numpy()
            arr = np.ascontiguousarray(arr)
            if arr.dtype not in _DTYPES:
                raise TypeError(f'{name}: unsupported dtype {arr.dtype}')
            nb = name.encode()
            f.write(struct.pack('<H', len(nb)))
            f.write(nb)
            f.write(struct.pack('<BB', _DTYPES[arr.dtype], arr.ndim))
            for d in arr.shape:
                f.write(struct.pack('<q', d))
            f.write(arr.tobytes())


def weight_like(rng, o, ni, k, boost):
    """A Gaussian weight matrix whose k contiguous blocks are `boost` times larger."""
    rl = np.minimum(np.arange(o) // (o // k), k - 1)
    cl = np.minimum(np.arange(ni) // (ni // k), k - 1)
    m = rng.normal(0, 1, (o, ni)) * (1 + boost * (rl[:, None] == cl[None, :]))
    return m[rng.permutation(o)][:, rng.permutation(ni)]


def gradsim_like(rng, d, k, steps, rows):
    """sum_t g^T g / ||g||^2 of rows x d gradients whose columns move in k groups."""
    group = rng.permutation(np.minimum(np.arange(d) // (d // k), k - 1))
    s = np.zeros((d, d))
    for _ in range(steps):
        c = rng.integers(k)
        g = rng.normal(0, 0.3, (rows, d))
        g[:, group == c] += rng.normal(0, 1, (rows, 1))
        s += g.T @ g / np.sum(g * g)
    return s


def read_fixture(path):
    out = {}
    inv = {v: k for k, v in _DTYPES.items()}
    with open(path, 'rb') as f:
        assert f.read(8) == b'MSFX0001'
        (n,) = struct.unpack('<I', f.read(4))
        for _ in range(n):
            (ln,) = struct.unpack('<H', f.read(2))
            name = f.read(ln).decode()
            dt, nd = struct.unpack('<BB', f.read(2))
            shape = struct.unpack('<' + 'q' * nd, f.read(8 * nd))
            dtype = inv[dt]
            cnt = int(np.prod(shape)) if nd else 1
            out[name] = np.frombuffer(f.read(cnt * dtype.itemsize), dtype=dtype).reshape(shape)
    return out

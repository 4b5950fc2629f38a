"""An independent Python implementation of the dataset content checksum of docs/files.md
("Data checksum", `xxh64-content-v2:`), written from that text with numpy and h5py only: the e2e tests
compare it with the checksum the binary records. XXH64 (seed 0) in pure Python; the files it is used on
are a few MB."""
import struct

import h5py
import numpy as np

_M = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def xxh64(data):
    """XXH64 of `data` (bytes), seed 0, as `xxhsum -H1`."""
    n, p = len(data), 0
    if n >= 32:
        v = [(_P1 + _P2) & _M, _P2, 0, (-_P1) & _M]
        for a, b, c, d in np.frombuffer(data[:n // 32 * 32], dtype='<u8').reshape(-1, 4).tolist():
            v = [_round(v[0], a), _round(v[1], b), _round(v[2], c), _round(v[3], d)]
        p = n // 32 * 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for x in v:
            h = ((h ^ _round(0, x)) * _P1 + _P4) & _M
    else:
        h = _P5
    h = (h + n) & _M
    while p + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from('<Q', data, p)[0]), 27) * _P1 + _P4) & _M
        p += 8
    if p + 4 <= n:
        h = (_rotl(h ^ ((struct.unpack_from('<I', data, p)[0] * _P1) & _M), 23) * _P2 + _P3) & _M
        p += 4
    while p < n:
        h = (_rotl(h ^ ((data[p] * _P5) & _M), 11) * _P1) & _M
        p += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    return h ^ (h >> 32)


def content_checksum(path):
    """`xxh64-content-v2:<16 hex>` of the HDF5 file at `path`."""
    out = bytearray()

    def text(s):
        s = s if isinstance(s, bytes) else s.encode()
        out.extend(struct.pack('<Q', len(s)) + s)

    def values(v):
        v = np.asarray(v, dtype='<f8').ravel()
        out.extend(struct.pack('<Q', v.size) + v.tobytes())

    def attributes(obj):
        for name in sorted(obj.attrs.keys()):
            text('@' + name)
            a = obj.attrs[name]
            if isinstance(a, (str, bytes)):
                text(a)
            elif isinstance(a, np.ndarray) and a.dtype.kind in 'OSU':
                for s in a.ravel():
                    text(s)
            else:
                values(np.atleast_1d(a))

    def group(g, root):
        attributes(g)
        for name in sorted(g.keys()):
            if root and name in ('config', 'provenance'):
                continue
            obj = g[name]
            if isinstance(obj, h5py.Group):
                text('G' + name)
                group(obj, False)
                continue
            text('D' + name)
            values(list(obj.shape))
            if obj.dtype.kind not in 'fiu':
                continue
            width = '<f4' if obj.dtype.kind == 'f' and obj.dtype.itemsize == 4 else '<f8'
            rows = np.asarray(obj[()], dtype=width).reshape(obj.shape[0] if obj.shape else 1, -1)
            chunk = max(1, (2 << 20) // rows.itemsize // max(rows.shape[1], 1))
            out.extend(struct.pack('<Q', rows.size))
            for lo in range(0, rows.shape[0], chunk):
                out.extend(struct.pack('<Q', xxh64(rows[lo:lo + chunk].tobytes())))

    with h5py.File(path, 'r') as f:
        group(f, True)
    return 'xxh64-content-v2:%016x' % xxh64(bytes(out))


assert xxh64(b'abc') == 0x44bc2cf5ad770999

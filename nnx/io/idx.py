"""IDX files (MNIST's format: a big-endian header, then unsigned bytes), and fetching a file
over HTTP with its MD5 checked before it replaces anything."""
import gzip
import hashlib
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .reading import open_regular

_MAGIC = {1: 2049, 3: 2051}  # IDX magic by number of dimensions (unsigned-byte data)
_FLOAT32 = 0x0D00  # the same with float32 data (type code 0x0D, big-endian values)


MAX_BYTES = 1 << 34  # 16 GiB: larger IDX payloads are refused before anything is read


def read_idx(path, ndim):
    """Parse one IDX file of unsigned bytes (or float32) with ``ndim`` (1 or 3) dimensions,
    gzip-compressed or raw; returns uint8 (or float32) of the declared shape. The payload is read
    in one bounded step: never more than the header declares (plus one byte to notice extra data),
    so a forged header or a gzip bomb cannot make it inflate more.

    Raises
    ------
    ValueError
        Naming the file, when it is not gzip, is truncated, has the wrong magic number or
        dimension count, declares more than 16 GiB, or holds fewer or more bytes than declared.
    """
    if ndim not in _MAGIC:
        raise ValueError(f"read_idx: ndim: expected one of {sorted(_MAGIC)}, got {ndim!r}")
    raw, _ = open_regular(path, "read_idx", "IDX file")
    path = Path(path)
    with raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        return _read_idx(raw, gzipped, path, ndim)


def _read_idx(raw, gzipped, path, ndim):
    head = 4 + 4 * ndim
    try:
        with (gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw) as f:
            header = f.read(head)
            if len(header) < head:
                raise ValueError(f"read_idx: {path}: truncated header ({len(header)} bytes)")
            magic = int.from_bytes(header[:4], "big")
            dtype = np.dtype(">f4") if magic == _FLOAT32 | ndim else np.dtype(np.uint8)
            if magic not in (_MAGIC[ndim], _FLOAT32 | ndim):
                raise ValueError(f"read_idx: {path}: bad magic number {magic}, expected {_MAGIC[ndim]} "
                                 f"(an IDX file of unsigned bytes with {ndim} dimensions)")
            shape = tuple(int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
            size = dtype.itemsize
            for d in shape:  # Python ints: a product that would overflow int64 is just large
                size *= d
            if size > MAX_BYTES:
                raise ValueError(f"read_idx: {path}: header declares shape {shape} ({size} bytes), more "
                                 f"than the {MAX_BYTES} this reader accepts")
            data = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"read_idx: {path}: not a readable gzip file ({exc})") from exc
    if len(data) != size:
        held = "more than that" if len(data) > size else f"{len(data)}"
        raise ValueError(f"read_idx: {path}: header declares shape {shape} ({size} data bytes) but the "
                         f"file holds {held} (truncated or corrupt)")
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def md5(path):
    """The MD5 hex digest of the regular file ``path``."""
    h = hashlib.md5()
    f, _ = open_regular(path, "md5", "data file")
    with f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url, target, expected_md5, timeout=60):
    """Download ``url`` to ``target`` atomically; a wrong MD5 raises ``OSError`` and leaves
    ``target`` as it was. Network errors are ``OSError`` too (URLError, HTTPError, timeouts)."""
    h = hashlib.md5()
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=timeout) as resp:
        for block in iter(lambda: resp.read(1 << 20), b""):
            out.write(block)
            h.update(block)
        if h.hexdigest() != expected_md5:
            raise OSError(f"{url}: MD5 {h.hexdigest()} != published {expected_md5}")

"""IDX files (MNIST's format: a big-endian header, then unsigned bytes), and fetching a file
over HTTP with its MD5 checked before it replaces anything."""
import gzip
import hashlib
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_write

_MAGIC = {1: 2049, 3: 2051}  # IDX magic by number of dimensions (unsigned-byte data)


def read_idx(path, ndim):
    """Parse one IDX file of unsigned bytes with ``ndim`` dimensions (gzip-compressed or raw).

    Raises
    ------
    ValueError
        Naming the file, when it is not gzip, is truncated, has the wrong magic number or
        dimension count, or holds fewer or more bytes than its header declares.
    """
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"read_idx: {path}: not a readable gzip file ({exc})") from exc
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError(f"read_idx: {path}: truncated header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != _MAGIC[ndim]:
        raise ValueError(f"read_idx: {path}: bad magic number {magic}, expected {_MAGIC[ndim]} "
                         f"(an IDX file of unsigned bytes with {ndim} dimensions)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expect = head + int(np.prod(shape, dtype=np.int64))
    if len(data) != expect:
        raise ValueError(f"read_idx: {path}: header declares shape {shape} ({expect} bytes) but "
                         f"the file holds {len(data)} bytes (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(shape)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
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

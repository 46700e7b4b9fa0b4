"""One way to open a file nnx reads: a regular file, or an error naming it.

A FIFO, a device (``/dev/zero``), a socket or a directory passed where a file is expected would
block forever or never end (a size limit taken from ``st_size`` is 0 for a device). Every reader
-- checkpoints, IDX, PNG and other pictures, safetensors, ONNX, the MNIST MD5 cache -- opens
through :func:`open_regular`: the descriptor is opened without blocking, checked with ``fstat``
(the file it will read, not a name that could change in between) and bounded before a byte is
read.
"""
import contextlib
import fcntl
import os
import stat


def open_regular(path, where, what="file", limit=None):
    """``(binary file object, size)`` of ``path`` if it is a regular file of at most ``limit``
    bytes. ``FileNotFoundError`` (no such file), ``IsADirectoryError``, or ``ValueError`` (not a
    regular file, or larger than ``limit``), each naming ``where`` and ``path``."""
    if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"{where}: path: expected a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without a writer: no wait here
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file: {path!r}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{where}: {path!r} is a directory, not a {what}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{where}: {path!r} is a directory, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{where}: {path!r} is not a regular file (a pipe, device or socket): nnx reads "
                             f"a {what} only from a file")
        if limit is not None and st.st_size > limit:
            raise ValueError(f"{where}: {path!r} is {st.st_size:,} bytes, more than the {limit:,} a {what} may be")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def read_regular(path, where, what="file", limit=None):
    """The bytes of the regular file ``path`` (see :func:`open_regular`), at most ``limit``."""
    f, size = open_regular(path, where, what, limit)
    with f:  # asks for the file's size (+1 to see growth), not the limit: read(n) reserves n bytes first
        data = f.read() if limit is None else f.read(min(size, limit) + 1)
    if limit is not None and len(data) > limit:  # grew since fstat
        raise ValueError(f"{where}: {path!r} is more than the {limit:,} bytes a {what} may be")
    return data

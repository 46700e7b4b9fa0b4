"""One way to write a file so that a crash never leaves a torn one."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kw):
    """Write ``path`` through a temporary file in the same folder: on success it is flushed,
    ``fsync``\\ ed and ``os.replace``\\ d over ``path`` (then the folder is fsynced), so readers see
    the old file or the new one, never a half-written one; on any exception, Ctrl-C included,
    the temporary file is removed and ``path`` is untouched.

    The new file gets the permissions of the file it replaces, or the usual ``0666 & ~umask``
    for a new one (a bare ``mkstemp`` file would be 0600). A killed process (``kill -9``) leaves
    its ``.<name>.tmp-<pid>-*`` file behind: it never replaces anything, and the next write of
    the same ``path`` removes it once that process is gone.
    """
    path = check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        perms = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        perms = 0o666 & ~umask
    _remove_stale(folder, os.path.basename(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-{os.getpid()}-", dir=folder)
    except OSError as exc:  # named by the user's path, not the temporary file's
        raise type(exc)(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX); folders may not open elsewhere
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _remove_stale(folder, name):
    """Delete the temporary files earlier writes of ``name`` left when their process was killed:
    those whose writer (the pid in the name) no longer runs. A live writer's file is left alone."""
    prefix = f".{name}.tmp-"
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (PermissionError: it runs, as another user)
        return True
    return True


def check_writable(path, what="path"):
    """``path`` (as a str) if a file can be written there, else the error writing it would give,
    naming ``path``: ``ValueError`` for a directory or an empty name, ``FileNotFoundError`` for a
    missing folder, ``PermissionError`` for a folder that cannot be written. Writes nothing: a
    command checks its output paths with it before hours of work."""
    if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"{what}: expected a file path (str or PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{what}: expected a file name, got ''")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: permission denied in {folder}")
    return path

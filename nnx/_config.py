"""Process-wide thread count for the compiled kernels (and NumPy's BLAS, via threadpoolctl).

The setting is process-global (not per thread), like ``torch.set_num_threads``. The choice of
kernel tier lives with the tiers, in :mod:`nnx.kernels`; this module imports nothing of nnx's
but ``_validation``, so every other module may import it.

The default adapts to a busy machine. OpenMP splits each kernel evenly between its threads and
waits for the last: when another process keeps a core busy, the thread sharing that core gets
half of it and every kernel waits for it, so two threads run slower than one (LeNet-5 on 2 CPUs
with a busy loop: 3.1k samples/s at 2 threads, 6.8k at 1). So unless ``set_num_threads`` was
called, the kernels use the usable CPUs minus those other processes kept busy over the last half
second (read from /proc/stat, this process's own CPU time taken out; re-read at most every 0.5 s,
~30 us). The kernels give the same bits at any thread count, so the switch changes nothing but
speed. An explicit setting is kept as it is, with a warning once when others crowd it out.
"""
import contextlib
import os
import time
import warnings

from ._validation import caller_stacklevel, check_positive_int

_state = {"n_threads": None, "explicit": False}
_ADAPT_SECONDS = 0.5  # how often the default looks at the load; short enough to follow a change
_load = {"t": None, "busy": None, "own": None, "n": None, "warned": False}
MAX_THREADS = 1024  # OpenMP allocates per-thread state up front: 10**9 threads end the process


def _check_threads(n, name):
    n = check_positive_int(n, name)
    if n > MAX_THREADS:
        raise ValueError(f"{name}: expected at most {MAX_THREADS} threads, got {n}")
    return n


def _cpus():
    """The CPUs this process may run on."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return set(range(os.cpu_count() or 1))


def _usable_cpus():
    return len(_cpus())


def get_num_threads():
    """The threads the compiled kernels use now: the ``set_num_threads`` setting, else the
    adaptive default (the usable CPUs, fewer while other processes keep some busy). The one
    answer: what the kernels run with is what ``show_config`` and ``fit``'s ``History`` report."""
    return resolve_threads(None)


def set_num_threads(n):
    """Set the threads for the compiled kernels and, through threadpoolctl, NumPy's BLAS.

    Raises
    ------
    TypeError, ValueError
        When ``n`` is not an integer in 1..1024; a ``RuntimeWarning`` above the usable CPUs.
    """
    _blas_limits(_set(n, stacklevel=3))  # applied when made; lasts until the next setting


@contextlib.contextmanager
def threads(n):
    """``set_num_threads(n)`` for a ``with`` block, then everything as it was, NumPy's BLAS
    limit included (``n=None``: change nothing). What nnx.sklearn's ``n_threads`` uses."""
    if n is None:
        yield
        return
    saved = dict(_state)
    n = _set(n, stacklevel=4)
    limits = _blas_limits(n)
    try:
        with limits if limits is not None else contextlib.nullcontext():
            yield
    finally:
        _state.clear()
        _state.update(saved)


def _set(n, stacklevel):
    n = _check_threads(n, "n")
    if n > _usable_cpus():
        warnings.warn(f"nnx.set_num_threads({n}): more threads than the {_usable_cpus()} usable CPUs; "
                      "they will take turns on the cores and run slower", RuntimeWarning, stacklevel=stacklevel)
    _state["n_threads"], _state["explicit"] = n, True
    return n


def _blas_limits(n):
    """threadpoolctl's limit of NumPy's BLAS to ``n`` threads (applied now; a context manager
    whose exit restores the previous limits), or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl is a dependency, but never fail a thread setting on it
        return None
    return threadpool_limits(limits=n, user_api="blas")


def resolve_threads(n_threads):
    """The one place a kernel's ``n_threads`` argument is turned into a count.

    ``None`` means the global setting (the adaptive default unless ``set_num_threads`` was
    called); ``0``, negatives and non-integers raise.
    """
    if n_threads is not None:
        return _check_threads(n_threads, "n_threads")
    n = _adapted()  # also when set explicitly: warns once when other processes crowd the setting out
    return _state["n_threads"] if _state["explicit"] else n


def _busy_seconds(cpus):
    """CPU-seconds the CPUs ``cpus`` have been busy since boot (steal included: a hypervisor
    giving the core to another machine is a busy core too); None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            text = f.read()
    except OSError:
        return None
    ticks = 0
    for line in text.splitlines():
        name, *fields = line.split()
        if name[3:].isdigit() and name.startswith("cpu") and int(name[3:]) in cpus:
            user, nice, system, _, _, irq, softirq, steal = map(int, fields[:8])
            ticks += user + nice + system + irq + softirq + steal
    return ticks / os.sysconf("SC_CLK_TCK")


def _adapted():
    """Usable CPUs minus those other processes kept busy since the last look (at most every
    ``_ADAPT_SECONDS``); warns once when an explicit setting is crowded out."""
    now, load = time.monotonic(), _load
    if load["t"] is not None and now - load["t"] < _ADAPT_SECONDS:
        return load["n"]
    cpus = _cpus()
    busy, own = _busy_seconds(cpus), sum(os.times()[:2])
    n = load["n"] or len(cpus)
    if busy is not None and load["busy"] is not None:
        others = max(0.0, (busy - load["busy"]) - (own - load["own"])) / (now - load["t"])
        n = max(1, min(len(cpus), round(len(cpus) - others)))
        if _state["explicit"] and _state["n_threads"] > n and not load["warned"]:
            load["warned"] = True
            warnings.warn(f"nnx: other processes keep ~{others:.1f} of the {len(cpus)} usable CPUs busy; the "
                          f"{_state['n_threads']} threads set with set_num_threads take turns with them and run "
                          "slower (the default adapts)", RuntimeWarning, stacklevel=caller_stacklevel())
    load.update(t=now, busy=busy, own=own, n=n)
    return n

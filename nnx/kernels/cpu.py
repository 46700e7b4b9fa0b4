"""The CPU level the compiled kernels run at: one CPU model, one cap, one answer.

Levels, each including the ones before it (``include/nnx_cpu.h`` says what each needs of the CPU
and the OS): ``baseline`` (x86-64 SSE2, or any other architecture), ``avx2`` (x86-64-v3),
``avx512`` (x86-64-v4), ``avx512_bf16`` (+ vdpbf16ps), ``amx`` (+ AMX tiles, with the OS's
permission). The compiled tier detects the CPU's level once (CPUID, XGETBV, and for AMX the
``arch_prctl`` permission) when it is imported; ``NNX_CPU_LEVEL=<level>`` caps it for the process,
so a machine can run, and test, the code of every level below its own. An unknown name, or a
level this CPU lacks, is a ``ValueError`` naming the variable, raised when the compiled tier is
imported (``import nnx`` does that), before any kernel runs: never an illegal instruction.

Every kernel family chooses its code from the level in force (``nnx.show_config()`` lists which
variant each runs). Without the compiled tier nothing runs native code and the level is
``baseline``.
"""
import os

__all__ = ["ENV", "LEVELS", "cpu_facts", "cpu_level", "cpu_levels"]

#: The CPU levels nnx dispatches on, lowest first (``cpu_level``).
LEVELS = ("baseline", "avx2", "avx512", "avx512_bf16", "amx")
#: The environment variable that caps the level for the process.
ENV = "NNX_CPU_LEVEL"
_state = {"facts": None, "level": None}


def requested_cap():
    """The level named by ``NNX_CPU_LEVEL`` as an index into LEVELS, or None when it is unset.

    Raises
    ------
    ValueError
        For a name that is not a level.
    """
    name = os.environ.get(ENV, "").strip()
    if not name:
        return None
    if name not in LEVELS:
        raise ValueError(f"{ENV}={name!r}: expected one of {', '.join(LEVELS)} (or unset, for this CPU's "
                         "own level)")
    return LEVELS.index(name)


def register(facts):
    """Record what the compiled tier detected (``_cpu.detect()``) and return the level in force.

    Called once, by ``nnx.kernels.compiled`` as it is imported.

    Raises
    ------
    ValueError
        When ``NNX_CPU_LEVEL`` names an unknown level or one above the detected one.
    """
    cap = requested_cap()
    top = facts["level"]
    if cap is not None and cap > top:
        raise ValueError(
            f"{ENV}={LEVELS[cap]}: this CPU supports only {', '.join(LEVELS[:top + 1])} (its own level is "
            f"{LEVELS[top]}): choose one of those, or unset {ENV}")
    _state["facts"] = dict(facts, cap=None if cap is None else LEVELS[cap])
    _state["level"] = top if cap is None else cap
    return _state["level"]


def _ensure():
    if _state["level"] is None:
        from . import compiled_available  # importing the compiled tier registers its detection

        if not compiled_available():
            cap = requested_cap()  # a bad name is still an error
            _state["facts"] = {"level": 0, "compiled": False, "cap": None if cap is None else LEVELS[cap]}
            _state["level"] = 0
    return _state["level"]


def cpu_level():
    """The level in force: ``"baseline"``, ``"avx2"``, ``"avx512"``, ``"avx512_bf16"`` or ``"amx"``."""
    return LEVELS[_ensure()]


def cpu_levels():
    """The levels this CPU supports, from ``"baseline"`` up to the one in force (a tuple)."""
    return LEVELS[:_ensure() + 1]


def cpu_facts():
    """``{"level": <detected index>, "cap": <NNX_CPU_LEVEL or None>, <cpu feature>: bool, ...}``."""
    _ensure()
    return dict(_state["facts"])

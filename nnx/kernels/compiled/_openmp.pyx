# cython: language_level=3
"""What the compiled tier was built with: OpenMP on/off, thread limits, compiler flags.

The build defines NNX_BUILD_FLAGS; _OPENMP is defined by the compiler when OpenMP is on, so
the answer comes from the compiled code itself, not from a file that could go stale.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define NNX_OPENMP 1
    #define NNX_OMP_MAX_THREADS() omp_get_max_threads()
    #else
    #define NNX_OPENMP 0
    #define NNX_OMP_MAX_THREADS() 1
    #endif
    #ifndef NNX_BUILD_FLAGS
    #define NNX_BUILD_FLAGS "unknown"
    #endif
    """
    int NNX_OPENMP
    int NNX_OMP_MAX_THREADS() nogil
    const char* NNX_BUILD_FLAGS


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(NNX_OPENMP)


def omp_max_threads():
    """OpenMP's default team size (1 without OpenMP)."""
    return NNX_OMP_MAX_THREADS()


def build_flags():
    """The compiler flags the extension was built with."""
    return NNX_BUILD_FLAGS.decode()

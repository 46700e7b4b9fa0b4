# The CPU level in force in a compiled module (include/nnx_cpu.h). nnx.kernels.compiled sets it
# in every module through each module's set_level() before any kernel runs.
cdef extern from "nnx_cpu.h" nogil:
    void nnx_set_level(int level)
    int nnx_level
    int nnx_isa
    const char* nnx_clone_name()

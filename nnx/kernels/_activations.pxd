# The smooth activations the compiled tier's ``unary`` / ``unary_backward`` compute: one enum,
# seen by the Cython code (cimported with this .pxd) and by Python (``_activations.Unary``).
cpdef enum Unary:
    SIGMOID = 0
    TANH = 1
    ELU = 2
    LEAKY_RELU = 3

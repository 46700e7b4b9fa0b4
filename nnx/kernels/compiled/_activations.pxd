# The smooth activations the compiled tier's ``unary`` / ``unary_backward`` compute: one enum,
# defined in nnx_act.h (whose backward loops switch on it), seen by the Cython code (cimported
# with this .pxd) and by Python (``_activations.Unary``).
cdef extern from "nnx_act.h":
    cpdef enum Unary "nnx_unary":
        SIGMOID "NNX_UNARY_SIGMOID"
        TANH "NNX_UNARY_TANH"
        ELU "NNX_UNARY_ELU"
        LEAKY_RELU "NNX_UNARY_LEAKY_RELU"

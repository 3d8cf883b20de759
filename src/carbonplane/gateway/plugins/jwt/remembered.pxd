# Typed declarations for the compiled build of remembered.py (see carbonplane/_accel.py); the
# request context stays a Python object: no engine type is cimported.
cimport cython

cpdef bytes plain_bearer(bytes value)

cdef class RememberedTokens:
    cdef public dict verified
    cdef public bytes header
    cdef public bint check_exp, params, preflight
    @cython.locals(hit=tuple)
    cpdef bint answer(self, object ctx)

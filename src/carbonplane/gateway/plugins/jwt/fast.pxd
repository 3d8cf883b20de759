# Typed declarations for the compiled build of fast.py (see carbonplane/_accel.py).
cimport cython
from carbonplane.http.model cimport RequestHead
from carbonplane.proxy.app cimport RequestContext

cpdef bytes plain_bearer(bytes value)

cdef class CachedTokens:
    cdef public object handler, generic
    cdef public dict verified
    cdef public tuple headers
    cdef public bint usable, check_exp, params, preflight
    @cython.locals(request=RequestHead, hit=tuple)
    cpdef object on_request(self, RequestContext ctx)

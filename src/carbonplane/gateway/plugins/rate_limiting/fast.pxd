# Typed declarations for the compiled build of fast.py (see carbonplane/_accel.py).
cimport cython
from carbonplane.proxy.app cimport RequestContext

cdef class FixedWindows:
    cdef public object handler, clock, identify, store, windows
    cdef public str prefix
    cdef public tuple periods, limits, limit_lines, remaining_names, best_limit_lines
    cdef public dict cells
    @cython.locals(now_ms=cython.longlong, cells=list, shared=dict)
    cpdef object on_request(self, RequestContext ctx)
    cpdef list _cells(self, ident, tuple windows)
    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, best=Py_ssize_t, remaining=cython.longlong,
                   low=cython.longlong, start=cython.longlong, left_ms=cython.longlong,
                   reset=cython.longlong, headers=list, limits=tuple,
                   remaining_names=tuple)
    cpdef list _headers(self, list usages, tuple windows, long long now_ms)

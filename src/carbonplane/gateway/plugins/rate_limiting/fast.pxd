# Typed declarations for the compiled build of fast.py (see carbonplane/_accel.py).
cimport cython
from carbonplane.proxy.app cimport RequestContext

cpdef bytes digits(long long value)
cpdef list window_cells(str base, tuple periods, tuple limits, tuple windows, bint sliding)
@cython.locals(headers=list, best=Py_ssize_t, i=Py_ssize_t, remaining=cython.longlong,
               low=cython.longlong, reset=cython.longlong)
cpdef tuple kong_headers(tuple limit_lines, tuple remaining_names, tuple best_limit_lines,
                         list remainders, tuple windows, long long now_ms, bint sliding)
cpdef add_pending(dict shared, list headers)

cdef class FixedWindows:
    cdef public object handler, clock, identify, store, windows
    cdef public str prefix
    cdef public tuple periods, limits, limit_lines, remaining_names, best_limit_lines
    cdef public dict cells
    @cython.locals(now_ms=cython.longlong, cells=list, limits=tuple, remainders=list,
                   i=Py_ssize_t)
    cpdef object on_request(self, RequestContext ctx)

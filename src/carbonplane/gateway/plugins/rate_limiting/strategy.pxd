# Typed declarations for the compiled build of strategy.py (see carbonplane/_accel.py); the
# request context stays a Python object: no engine type is cimported.
cimport cython

cpdef bytes digits(long long value)
cpdef list window_cells(str base, tuple periods, tuple limits, tuple windows, bint sliding)
cpdef add_pending(dict shared, list headers)

cdef class Limits:
    cdef public tuple periods, limits, limit_lines, remaining_names, best_limit_lines
    cdef public bint sliding, hide
    cdef public object clock, identify, cached_windows, error_message
    cdef public str prefix
    cdef public long long error_code
    cdef public dict cached_cells
    @cython.locals(cells=list)
    cpdef tuple cells(self, object ctx, long long now_ms)
    @cython.locals(limits=tuple, remainders=list, i=Py_ssize_t, stop=Py_ssize_t)
    cpdef object verdict(self, object ctx, bint admitted, list usages, tuple windows,
                         long long now_ms)
    @cython.locals(headers=list, best=Py_ssize_t, i=Py_ssize_t, remaining=cython.longlong,
                   low=cython.longlong, reset=cython.longlong)
    cpdef tuple headers(self, list remainders, tuple windows, long long now_ms)

cdef class StoreFailures:
    cdef public bint fault_tolerant
    cdef public double last_log
    cdef public long long suppressed

cdef class LocalPolicy:
    cdef public Limits limits
    cdef public object store
    cdef public StoreFailures failures
    cpdef object on_request(self, object ctx, long long now_ms)

# Typed declarations for the compiled build of timers.py (see carbonplane/_accel.py); the .py is
# the source and runs as it is without them.
cdef class Deadline:
    cdef object _loop
    cdef object _callback
    cdef public object when
    cdef object _handle
    cdef double _armed_for
    cpdef set(self, double when)
    cpdef clear(self)
    cpdef cancel(self)

# Typed declarations for the compiled build of writes.py (see carbonplane/_accel.py).
cdef class WriteBatch:
    cdef object _loop
    cdef list _pending
    cdef list _logs
    cdef bint _scheduled
    cpdef schedule(self, conn)
    cpdef schedule_log(self, tuple hooks, ctx)

# Typed declarations for the compiled build of layers/pool.py (see carbonplane/_accel.py).
from carbonplane.http.reader cimport ResponseReader
from carbonplane.proxy.timers cimport Deadline
from carbonplane.proxy.writes cimport WriteBatch

cdef class UpstreamConnection:
    cdef public object pool, loop, transport, owner, clock
    cdef public ResponseReader reader
    cdef public Deadline deadline
    cdef public WriteBatch batch
    cdef public Py_ssize_t requests
    cdef public bint closed, writing_paused, reusable
    cdef public double read_timeout, write_timeout
    cdef public list outbuf
    cpdef send(self, owner, data, method, double read_timeout, double write_timeout)
    cpdef _ended(self, bint keep_alive)

cdef class UpstreamPool:
    cdef public object host, port, ssl, server_hostname, loop, parser
    cdef public WriteBatch batch
    cdef public list idle
    cdef public Py_ssize_t max_idle, max_requests
    cdef public double idle_timeout
    cpdef acquire(self)
    cpdef release(self, UpstreamConnection conn)

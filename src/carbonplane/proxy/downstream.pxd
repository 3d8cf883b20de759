# Typed declarations for the compiled build of downstream.py (see carbonplane/_accel.py).
cimport cython

from carbonplane.http.model cimport RequestHead
from carbonplane.http.reader cimport RequestReader
from carbonplane.proxy.app cimport Client, RequestContext
from carbonplane.proxy.config cimport CompiledSettings
from carbonplane.proxy.timers cimport Deadline
from carbonplane.proxy.writes cimport WriteBatch

cdef class ClientConnection:
    cdef public object server, loop, transport, config, exchange, port_bytes, clock
    cdef public CompiledSettings settings
    cdef public Client client
    cdef public RequestReader reader
    cdef public Deadline deadline
    cdef public WriteBatch batch
    cdef public int paused
    cdef public Py_ssize_t served
    cdef public bint closing, draining, head_started, pumping
    cdef public list outbuf
    cdef public double body_since
    cdef public Py_ssize_t body_since_bytes
    cpdef send_bytes(self, data)
    cpdef exchange_done(self, ex)
    cpdef _finished(self, RequestContext ctx, chain, bint close)
    @cython.locals(ctx=RequestContext, client=Client)
    cpdef _start(self, RequestHead head)
    cpdef forwarded(self, RequestContext ctx)
    cpdef upstream_extra(self, RequestContext ctx)
    @cython.locals(req=RequestHead)
    cpdef response_extra(self, RequestContext ctx, int framing, bint reframe)

# Typed declarations for the compiled build of exchange.py (see carbonplane/_accel.py).
from carbonplane.proxy.app cimport FilterChain, RequestContext, Upstream
from carbonplane.proxy.downstream cimport ClientConnection

cdef class Exchange:
    cdef public int state
    cdef public object target, pool, up, pending, task, loop, reader
    cdef public RequestContext ctx
    cdef public Upstream upstream
    cdef public FilterChain chain
    cdef public ClientConnection conn
    cdef public bint reused, out_chunked, close_client, up_paused, relays_whole, fresh_only
    cdef public bint request_done, chunked_request, buffering, upgrading
    cdef public Py_ssize_t pending_size
    cdef public list out
    cpdef start(self)
    cpdef _run_request_hooks(self, Py_ssize_t index)
    cpdef _begin_upstream(self)
    cpdef _try_target(self)
    cpdef _attach(self, up, bint reused)
    cpdef bytes _relayed_head(self, head)
    cpdef upstream_whole(self, head, body)
    cpdef _release_upstream(self)
    cpdef _done(self)
    cpdef _release_target(self, int status, failure)

# Typed declarations for the compiled build of model.py (see carbonplane/_accel.py).
cdef class _HeaderLookup:
    pass

cdef class RequestHead(_HeaderLookup):
    cdef public object method, target, path, query, version, headers, host, connection_tokens
    cdef public object content_length
    cdef public int framing
    cdef public bint keep_alive, expect_continue

cdef class ResponseHead(_HeaderLookup):
    cdef public int status, framing
    cdef public object reason, version, headers, content_length, connection_tokens
    cdef public bint keep_alive

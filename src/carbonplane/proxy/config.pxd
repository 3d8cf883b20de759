# Typed declarations for the compiled build of config.py (see carbonplane/_accel.py).
from carbonplane.proxy.app cimport RequestContext

cdef class CompiledSettings:
    cdef public object head_parser, forwarding, via_line, server_line, request_id_name
    cdef public object request_id_prefix, upstream_latency_name, proxy_latency_name
    cdef public object downstream_request_id_name, response_latency_name, error_default_type
    cdef public bint upstream_request_id
    cdef public int response_mode
    cdef public object upstream_template, response_template
    cdef public object request_drop, response_drop, response_drop_reframed
    cpdef bytes response_lines(self, RequestContext ctx)
    cpdef bytes local_lines(self, RequestContext ctx, double now)

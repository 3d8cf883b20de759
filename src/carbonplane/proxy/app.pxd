# Typed declarations for the compiled build of app.py (see carbonplane/_accel.py).
from carbonplane.http.model cimport RequestHead

cdef class Upstream:
    cdef public object name, picker, ssl, server_hostname, host_header
    cdef public double connect_timeout, read_timeout, write_timeout
    cdef public int retries

cdef class FilterChain:
    cdef public tuple filters, request, request_body, response_head, response_body, log
    cdef public bint request_body_reframes

cdef class RouteDecision:
    cdef public Upstream upstream
    cdef public FilterChain filters
    cdef public object target, host, route, prefix
    cdef public bint buffer_request

cdef class Client:
    cdef public object peer_ip, peer_port, scheme, server_port, forwarded_base, tls, server_ip
    cdef public bint trusted
    cdef public Py_ssize_t serial, requests

cdef class RequestContext:
    cdef public RequestHead request
    cdef public Client client
    cdef public RouteDecision decision
    cdef public object client_ip, request_id, started_ms, upstream_target, upstream_host, target
    cdef public object response, source, error
    cdef public dict vars
    cdef public double started, upstream_started, upstream_answered, finished
    cdef public Py_ssize_t tries, request_bytes, response_bytes
    cdef dict __dict__

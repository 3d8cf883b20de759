# Typed declarations for the compiled build of reader.py (see carbonplane/_accel.py).
from carbonplane.http.headparser cimport RequestHeadParser, ResponseHeadParser

cdef class _MessageReader:
    cdef public object _buf
    cdef public Py_ssize_t _pos
    cdef public int _state
    cdef public Py_ssize_t _scan
    cdef public object _remaining
    cdef public object _chunked
    cdef public object limits
    cdef public bint eof
    cpdef feed(self, data)
    cpdef next_event(self)
    cpdef take_rest(self)
    cpdef take_buffered(self)

cdef class RequestReader(_MessageReader):
    cdef public RequestHeadParser _parser
    cpdef whole_head(self, data)

cdef class ResponseReader(_MessageReader):
    cdef public ResponseHeadParser _parser
    cdef public object _method
    cdef public bint upgrade
    cpdef expect(self, method)

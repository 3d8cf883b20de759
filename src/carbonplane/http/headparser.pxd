# Typed declarations for the compiled build of headparser.py (see carbonplane/_accel.py).
cdef class _Validator:
    cdef public bint complete, message_done

cdef class RequestHeadParser:
    cdef public object limits, escaped_slash, _parser
    cdef public _Validator _validator
    cpdef parse(self, raw)
    cpdef _llhttp(self, raw)

cdef class ResponseHeadParser:
    cdef public object limits
    cpdef parse(self, raw, request_method)

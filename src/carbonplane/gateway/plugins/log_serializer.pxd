# Typed declarations for the compiled build of log_serializer.py (see carbonplane/_accel.py):
# file-log's per-request step reads the request context's fields directly.
cimport cython
from carbonplane.http.model cimport RequestHead
from carbonplane.proxy.app cimport Client, RequestContext

@cython.locals(req=RequestHead, client=Client, shared=dict, started=double, finished=double,
               up_started=double, answered=double)
cpdef object _c_line(RequestContext ctx, object out)

"""Sans-IO HTTP/1.1: the message model and every rule the proxy enforces, with no sockets.

Theory of operation
-------------------
Bytes from a peer go into a *reader* (``RequestReader`` for clients, ``ResponseReader`` for
upstreams). The reader finds a head by its CRLFCRLF, hands exactly those bytes to a head parser,
then frames the body itself, and hands back events one at a time::

    reader.feed(data)
    while (event := reader.next_event()) is not NEED_DATA:
        RequestHead | ResponseHead   -> validated head (framing decided, path normalised)
        bytes                        -> a piece of the decoded body
        END_OF_MESSAGE               -> the message is complete; the next call starts the next
        CONNECTION_CLOSED            -> the peer closed between messages

A head parser (``headparser.py``) runs two independent layers, and both must accept: llhttp
(httptools, strict) as a C-speed validator, then our own splitting and ``rules.py``. Because
bodies never pass through llhttp, the framing the proxy acts on is the one our rules chose.

Rules live as pure functions and tables, each module citing its RFC section:

- ``rules.py``     framing (CL/TE), header syntax, Host, Connection, Expect, versions;
- ``chunked.py``   the strict chunked decoder and the encoder;
- ``path.py``      request-target forms and path normalisation (once, before routing);
- ``hop.py``       hop-by-hop stripping and the serialised heads sent each way;
- ``forwarded.py`` trusted-IPs client address and X-Forwarded-* / X-Real-IP.

Every violation raises ``carbonplane.errors.HttpError(status, reason)``: 400 malformed or
forbidden, 413 body too large, 417 expectation, 431 head too large, 501 transfer coding,
505 version, and 502 for anything wrong in an upstream's response.

The proxy engine (``carbonplane.proxy``) drives these objects from asyncio protocols; tests and
the fuzzer drive the very same objects with raw bytes.
"""

from carbonplane.http.chunked import ChunkedDecoder, encode_chunk
from carbonplane.http.forwarded import Forwarding
from carbonplane.http.headparser import RequestHeadParser, ResponseHeadParser
from carbonplane.http.model import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
    NEED_DATA,
    Headers,
    Limits,
    RequestHead,
    ResponseHead,
)
from carbonplane.http.path import normalize_path, split_target
from carbonplane.http.reader import RequestReader, ResponseReader

__all__ = [
    "CONNECTION_CLOSED",
    "END_OF_MESSAGE",
    "FRAMING_CHUNKED",
    "FRAMING_CLOSE",
    "FRAMING_LENGTH",
    "FRAMING_NONE",
    "NEED_DATA",
    "ChunkedDecoder",
    "Forwarding",
    "Headers",
    "Limits",
    "RequestHead",
    "RequestHeadParser",
    "RequestReader",
    "ResponseHead",
    "ResponseHeadParser",
    "ResponseReader",
    "encode_chunk",
    "normalize_path",
    "split_target",
]

"""Keep an empty upstream body framed when a plugin's body filter makes the engine re-frame.

A response-body filter makes the engine re-frame the response (chunked) and drop the upstream's
framing headers. An upstream response with ``Content-Length: 0`` is parsed as having no body
(``FRAMING_NONE``), so after re-framing it would go out with neither ``Content-Length`` nor
``Transfer-Encoding``: an HTTP/1.1 client then reads until the connection closes. ``keep_framed``
(called from a plugin's header filter) marks such a response as length-framed with length 0, so
the engine sends it as an empty chunked body. Responses that never carry a body (HEAD, 1xx, 204,
304) are left alone.
"""

from __future__ import annotations

from typing import Any

from carbonplane.http.model import FRAMING_LENGTH, FRAMING_NONE


def keep_framed(ctx: Any) -> None:
    response = ctx.response
    status = response.status
    if (
        response.framing == FRAMING_NONE
        and status >= 200
        and status not in (204, 304)
        and ctx.request.method != b"HEAD"
    ):
        response.framing = FRAMING_LENGTH
        response.content_length = 0

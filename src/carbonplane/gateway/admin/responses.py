"""The shape every Admin API endpoint answers with: ``(status, headers, body)``, JSON bodies.

Invariants: bodies are compact UTF-8 JSON (``ensure_ascii=False``), the only header is the JSON
content type, and no framing header is ever set (the server frames the response).
"""

from __future__ import annotations

import json
from typing import Any

from carbonplane.errors import AdminAPIError

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
JSON_CT = (b"content-type", b"application/json; charset=utf-8")


def respond(status: int, payload: Any) -> Response:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return status, [JSON_CT], data


def method_not_allowed() -> AdminAPIError:
    return AdminAPIError(405, {"message": "Method not allowed"})

"""Reading an OAuth 2.0 request (RFC 6749, RFC 7636) the way Kong's oauth2 plugin reads it:
parameters, client credentials, scopes, PKCE challenges and the HTTPS requirement. Sans-IO:
bytes and header lists in, values or Kong's error documents out.

- parameters: the query string, merged with the body on POST/PUT/PATCH
  (``application/x-www-form-urlencoded`` or ``application/json``; body values win); a name
  given twice keeps its first value; anything but a string value is dropped;
- client credentials: ``client_id`` + ``client_secret`` parameters, else HTTP Basic in the
  ``auth_header_name`` header, else a lone ``client_id`` (public clients);
- PKCE: ``code_challenge_method`` ``S256`` only (``s256`` accepted), as Kong; a challenge is
  normalised through base64url decoding (padding dropped); a verifier is 43-128 characters and
  its SHA-256 base64url must equal the challenge (compared in constant time);
- HTTPS: the connection's own scheme, or - with ``accept_http_if_already_terminated`` - a
  single ``X-Forwarded-Proto: https`` from a trusted peer (Kong's ``check_https``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

Params = dict[str, str]
ERROR = "error"

_BASIC = re.compile(rb"^\s*[Bb]asic\s*(.+)$")


def error(code: str, description: str) -> dict[str, str]:
    return {ERROR: code, "error_description": description}


def parse_form(raw: bytes | str) -> Params:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    out: Params = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(name, value)
    return out


def body_params(body: bytes, content_type: bytes | None) -> Params:
    """Parameters of a request body by its content type (nothing for other types)."""
    ctype = (content_type or b"").split(b";", 1)[0].strip().lower()
    if ctype == b"application/x-www-form-urlencoded":
        return parse_form(body)
    if ctype == b"application/json":
        try:
            doc = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        if isinstance(doc, dict):
            return {k: v for k, v in doc.items() if isinstance(v, str)}
    return {}


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def client_credentials(
    params: Params, auth_header: bytes | None
) -> tuple[str | None, str | None, bool]:
    """(client_id, client_secret, taken from the Authorization header)."""
    if params.get("client_id") and params.get("client_secret"):
        return params["client_id"], params["client_secret"], False
    if auth_header is not None:
        match = _BASIC.match(auth_header)
        if match:
            try:
                decoded = base64.b64decode(match.group(1).strip(), validate=True)
            except (binascii.Error, ValueError):
                return None, None, True
            text = decoded.decode("utf-8", "replace")
            client_id, sep, secret = text.partition(":")
            return client_id, (secret if sep else None), True
        return None, None, True
    return params.get("client_id"), None, False


def scope_of(params: Params, scopes: Any, mandatory: bool) -> tuple[str | None, dict | None]:
    """(the granted scope string or None, Kong's invalid_scope error or None)."""
    scope = params.get("scope")
    if scopes and scope is not None:
        granted = []
        for item in scope.split():
            if item not in scopes:
                return None, error("invalid_scope", f'"{item}" is an invalid scope')
            granted.append(item)
        return (" ".join(granted) or None), None
    if scope is None and mandatory:
        return None, error("invalid_scope", "You must specify a scope")
    return None, None


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def code_challenge(params: Params) -> tuple[str | None, str | None, str]:
    """(normalised challenge, error description, method)."""
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if method and not challenge:
        return None, "code_challenge is required when code_method is present", "S256"
    if challenge:
        try:
            decoded = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
            challenge = b64url(decoded)
        except (binascii.Error, ValueError):
            pass
        if method and method != "S256":
            if method != "s256":
                return None, "code_challenge_method is not supported, must be S256", "S256"
            method = "S256"
    return challenge, None, method or "S256"


def verify_pkce(params: Params, challenge: str | None) -> dict | None:
    """None when the request's ``code_verifier`` answers ``challenge``, else Kong's error."""
    verifier = params.get("code_verifier")
    if verifier is None:
        return error("invalid_request", "code_verifier is required for PKCE authorization requests")
    if len(verifier) < 43 or len(verifier) > 128:
        return error("invalid_request", "code_verifier must be between 43 and 128 characters")
    computed = b64url(hashlib.sha256(verifier.encode()).digest()).encode()
    if not challenge or not hmac.compare_digest(computed, challenge.encode()):
        return error("invalid_grant", "Invalid code")
    return None


def is_https(
    scheme: bytes, trusted: bool, headers: list[tuple[bytes, bytes]], allow_terminated: bool
) -> tuple[bool, str | None]:
    """Kong's ``check_https``: (ok, error description when a bad header decided)."""
    if scheme.lower() == b"https":
        return True, None
    if not allow_terminated or not trusted:
        return False, None
    values = [v for n, v in headers if n == b"x-forwarded-proto"]
    if not values:
        return False, None
    if len(values) > 1 or b"," in values[0]:
        return False, "Only one X-Forwarded-Proto header allowed"
    return values[0].strip().lower() == b"https", None


def with_params(uri: str, params: Mapping[str, Any], in_fragment: bool) -> str:
    """``uri`` with ``params`` merged into its query (or fragment), keys sorted, values
    percent-encoded (Kong's ``encode_args``)."""
    parts = urlsplit(uri)
    merged = parse_form(parts.fragment if in_fragment else parts.query)
    merged.update({k: str(v) for k, v in params.items() if v is not None})
    encoded = "&".join(
        f"{quote(k, safe='-._~')}={quote(merged[k], safe='-._~')}" for k in sorted(merged)
    )
    if in_fragment:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, encoded))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))

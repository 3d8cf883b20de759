"""Request-target splitting and path normalisation, done once, before routing.

The normalised path is what the router matches *and* what is sent upstream, so a policy can
never see one path while the upstream serves another (Envoy CVE-2019-9901, Istio
CVE-2021-31920, APISIX CVE-2021-43557).

Normalisation (RFC 3986 §6.2.2, in Kong's order):
1. percent-decode the unreserved characters (ALPHA DIGIT ``-._~``); every other escape stays
   encoded and is uppercased (``%2f`` -> ``%2F``); a malformed escape is rejected;
2. remove ``.`` and ``..`` segments (RFC 3986 §5.2.4) - never above the root;
3. merge repeated slashes.

Decisions (documented in docs/proxy-engine.md):
- an encoded slash or backslash (``%2F``, ``%5C``) is *rejected* with 400 by default, as Envoy
  recommends at the edge; ``escaped_slash="keep"`` keeps it encoded (Kong's behaviour) for
  upstreams that need it. An encoded NUL (``%00``) is always rejected;
- a raw backslash, a fragment (``#``), bytes outside printable ASCII, and a dot segment carrying
  ``;`` parameters (``/..;/admin``, a Tomcat bypass) are rejected with 400;
- the query is not rewritten, only checked for control bytes and non-ASCII.
"""

from __future__ import annotations

import re
import string

from carbonplane.errors import HttpError
from carbonplane.http.rules import flag_table

ESCAPED_SLASH_ACTIONS = ("reject", "keep")
_UNRESERVED = frozenset((string.ascii_letters + string.digits + "-._~").encode())
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Printable ASCII minus space, '#' and '\\': what may appear raw in a path or query.
_TARGET_FLAGS = flag_table(bytes(c for c in range(0x21, 0x7F) if c not in b"#\\"))
_SLASHES = re.compile(rb"//+")
_ENCODED_SLASHES = (0x2F, 0x5C)  # '/', '\\'


def split_target(method: bytes, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """(path, query, authority) of a request target (RFC 9112 §3.2).

    origin-form ``/p?q`` -> authority None; absolute-form ``http://h:1/p?q`` -> authority ``h:1``
    (it then replaces Host); asterisk-form only for OPTIONS. CONNECT's authority-form is refused
    by the engine, not here.
    """
    if target[:1] == b"/":
        authority = None
        if 1 not in target.translate(_TARGET_FLAGS):  # the common case: done in one step
            qpos = target.find(b"?")
            if qpos == -1:
                return target, b"", None
            return target[:qpos], target[qpos:], None
    elif target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        rest = target[target.index(b"//") + 2 :]
        end = len(rest)
        for sep in (b"/", b"?"):
            pos = rest.find(sep)
            if pos != -1 and pos < end:
                end = pos
        authority, target = rest[:end], rest[end:]
        if not authority or b"@" in authority:
            raise HttpError(400, "absolute-form target without a valid authority")
        if target[:1] != b"/":
            target = b"/" + target
    elif target == b"*" and method == b"OPTIONS":
        return b"*", b"", None
    else:
        raise HttpError(400, f"invalid request target {target[:64]!r}")
    if 1 in target.translate(_TARGET_FLAGS):
        raise HttpError(
            400, "request target contains a byte that must be percent-encoded (space, #, \\, CTL)"
        )
    qpos = target.find(b"?")
    if qpos == -1:
        return target, b"", authority
    return target[:qpos], target[qpos:], authority


def normalize_path(path: bytes, escaped_slash: str = "reject") -> bytes:
    """The normalised form of an origin-form path (starting with ``/``); raises HttpError(400)."""
    # int membership and find() avoid the slow buffer-protocol path of ``bytes in bytes``
    if 37 in path:  # '%'
        path = _decode_unreserved(path, escaped_slash)
    elif path.find(b"/.") == -1 and path.find(b"//") == -1:
        return path
    if path.find(b"/.") != -1:
        path = remove_dot_segments(path)
    if path.find(b"//") != -1:
        path = _SLASHES.sub(b"/", path)
    return path


def _decode_unreserved(path: bytes, escaped_slash: str) -> bytes:
    parts = path.split(b"%")
    out = [parts[0]]
    for part in parts[1:]:
        hexdigits = part[:2]
        if len(hexdigits) != 2 or hexdigits[0] not in _HEX or hexdigits[1] not in _HEX:
            raise HttpError(400, f"invalid percent-encoding %{hexdigits!r} in path")
        byte = int(hexdigits, 16)
        if byte in _UNRESERVED:
            out.append(bytes((byte,)))
        elif byte == 0:
            raise HttpError(400, "encoded NUL (%00) in path")
        elif byte in _ENCODED_SLASHES and escaped_slash != "keep":
            raise HttpError(
                400, f"encoded {'slash' if byte == 0x2F else 'backslash'} in path is refused"
            )
        else:
            out.append(b"%" + hexdigits.upper())
        out.append(part[2:])
    return b"".join(out)


def remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4 for an absolute path; ``..`` at the root stays at the root."""
    segments = path.split(b"/")
    kept: list[bytes] = []
    trailing_slash = False
    for segment in segments[1:]:
        if b";" in segment and segment.split(b";", 1)[0] in (b".", b".."):
            raise HttpError(400, f"dot segment with parameters {segment[:32]!r} in path")
        if segment == b".":
            trailing_slash = True
        elif segment == b"..":
            if kept:
                kept.pop()
            trailing_slash = True
        else:
            kept.append(segment)
            trailing_slash = False
    result = b"/" + b"/".join(kept)
    if trailing_slash and not result.endswith(b"/"):
        result += b"/"
    return result

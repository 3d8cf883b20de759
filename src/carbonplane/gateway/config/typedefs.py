"""Reusable field types of the gateway's entity schemas (Kong's ``typedefs``): names, hosts,
ports, paths, router paths, header names, tags, timeouts, ids and timestamps.

Each typedef is a ``Field`` factory so that a schema reads like Kong's
(``("retries", typedefs.integer(default=5, between=(0, 32767)))``). The checks enforce the
same rules as Kong 3.x with the same wording where Kong has one:
- names: alphanumerics and ``. - _ ~`` (UTF-8 letters allowed);
- hosts: a hostname or IP address without port;
- route hosts: one ``*`` wildcard in the leftmost or rightmost label, optional ``:port``;
- service paths: start with ``/``, RFC 3986 path characters, proper percent-encoding, no ``//``;
- router paths: a prefix as above or a ``~`` regex that compiles (PCRE named groups ``(?<n>``
  accepted and translated);
- header names: RFC 9110 tokens.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from carbonplane.gateway.config.schema import Field, Record, is_uuid

_NAME_RE = re.compile(r"^[\w.\-~]+$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PATH_CHARS_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")
_BAD_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_METHOD_RE = re.compile(r"^[A-Z]+$")
_PCRE_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def check_name(value: str) -> str | None:
    if not _NAME_RE.match(value):
        return (
            f"invalid value '{value}': the only accepted ascii characters are alphanumerics "
            "or ., -, _, and ~"
        )
    return None


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def is_hostname(value: str) -> bool:
    if not value or len(value) > 253:
        return False
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    return all(_LABEL_RE.match(label) for label in labels)


def split_host_port(value: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` -> (host, port); None when malformed."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        return value, None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        return None
    return host, int(port_text)


def check_host(value: str) -> str | None:
    if is_ip(value):
        return None
    parts = split_host_port(value)
    if parts is None or not (is_hostname(parts[0]) or is_ip(parts[0])):
        return f"invalid value: {value}"
    if parts[1] is not None:
        return "must not have a port"
    return None


def check_upstream_name(value: str) -> str | None:
    if is_ip(value):
        return f"Invalid name ('{value}'); no ip addresses allowed"
    return check_host(value)


def check_wildcard_host(value: str) -> str | None:
    """A route host: optional ``:port``, at most one ``*`` as the whole leftmost/rightmost label."""
    parts = split_host_port(value)
    if parts is None:
        return f"invalid value: {value}"
    host = parts[0]
    stars = host.count("*")
    if stars > 1:
        return "invalid wildcard: only one wildcard must be specified"
    if stars == 1:
        if not (host.startswith("*.") or host.endswith(".*")):
            return "invalid wildcard: must be placed at leftmost or rightmost label"
        host = host[2:] if host.startswith("*.") else host[:-2]
    if not (is_hostname(host) or is_ip(host)):
        return f"invalid value: {value}"
    return None


def check_target(value: str) -> str | None:
    parts = split_host_port(value)
    if parts is None or not (is_hostname(parts[0]) or is_ip(parts[0])):
        return f"Invalid target ('{value}'); not a valid hostname or ip address"
    return None


def check_path(value: str) -> str | None:
    """A service path (Kong's ``typedefs.path``)."""
    if not value.startswith("/"):
        return "should start with: /"
    if "//" in value:
        return "must not have empty segments"
    if not _PATH_CHARS_RE.match(value):
        return (
            f"invalid path: '{value}' (characters outside of the reserved list of RFC 3986 found)"
        )
    bad = _BAD_PCT_RE.search(value)
    if bad:
        return f"invalid url-encoded value: '{value[bad.start() : bad.start() + 3]}'"
    return None


def pcre_to_python(pattern: str) -> str:
    """Translate PCRE's ``(?<name>`` named groups to Python's ``(?P<name>``."""
    return _PCRE_NAMED_GROUP.sub("(?P<", pattern)


_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _decode_unreserved(path: str, escape_meta: bool) -> str:
    def repl(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        if ch in _UNRESERVED:
            return re.escape(ch) if escape_meta else ch
        return "%" + m.group(1).upper()

    return _PCT.sub(repl, path)


def normalize_route_path(path: str) -> str:
    """A prefix path normalised as requests are (Kong: upper-case escapes, decode unreserved
    characters, remove dot segments, merge slashes), so that ``/fo%6f`` matches ``/foo``."""
    path = re.sub(r"/{2,}", "/", _decode_unreserved(path, False))
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != "." or i == 0:
            out.append(seg)
    joined = "/".join(out)
    if segments[-1] in (".", "..") and not joined.endswith("/"):
        joined += "/"
    return joined or "/"


def normalize_route_regex(pattern: str) -> str:
    """A regex path gets only the escape steps; a decoded metacharacter is escaped."""
    return _decode_unreserved(pattern, True)


def check_router_path(value: str) -> str | None:
    """A route path (Kong 3 ``router_path``): a prefix in normalised form (``/api``) or a regex
    (``~/users/\\d+$``) that compiles; no empty segments; percent-encoding well formed."""
    if not value.startswith(("/", "~/")):
        return "should start with: / (fixed path) or ~/ (regex path)"
    if "//" in value:
        return "must not have empty segments"
    bad = _BAD_PCT_RE.search(value)
    if bad:
        return f"invalid url-encoded value: '{value[bad.start() : bad.start() + 3]}'"
    if value.startswith("~"):
        try:
            re.compile(pcre_to_python(value[1:]))
        except re.error as exc:
            return f"invalid regex: '{value[1:]}' ({exc})"
        return None
    normalized = normalize_route_path(value)
    if normalized != value:
        return f"non-normalized path, consider use '{normalized}' instead"
    return None


def check_header_name(value: str) -> str | None:
    if not _TOKEN_RE.match(value):
        return f"bad header name '{value}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    return None


def check_method(value: str) -> str | None:
    return None if _METHOD_RE.match(value) else f"invalid value: {value}"


def check_tag(value: str) -> str | None:
    if not value or "," in value or "/" in value or not value.isprintable():
        return (
            f"invalid tag '{value}': expected printable ascii (except `,` and `/`) or "
            "valid utf-8 sequences"
        )
    return None


def check_pem_public_key(value: str) -> str | None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        load_pem_public_key(value.encode())
    except (ValueError, TypeError) as exc:
        return f"invalid key: {exc}"
    return None


# -- field factories -------------------------------------------------------------------------


def string(description: str = "", **kw: Any) -> Field:
    return Field("string", description, **kw)


def integer(description: str = "", **kw: Any) -> Field:
    return Field("integer", description, **kw)


def number(description: str = "", **kw: Any) -> Field:
    return Field("number", description, **kw)


def boolean(description: str = "", **kw: Any) -> Field:
    return Field("boolean", description, **kw)


def array(elements: Field, description: str = "", **kw: Any) -> Field:
    return Field("array", description, elements=elements, **kw)


def set_of(elements: Field, description: str = "", **kw: Any) -> Field:
    return Field("set", description, elements=elements, **kw)


def nested(rec: Record, description: str = "", **kw: Any) -> Field:
    kw.setdefault("required", True)
    return Field("record", description, record=rec, **kw)


def foreign(reference: str, description: str = "", **kw: Any) -> Field:
    return Field("foreign", description, reference=reference, **kw)


def uuid() -> Field:
    return Field(
        "string",
        "Unique identifier (UUID); generated when absent.",
        auto=True,
        check=lambda v: None if is_uuid(v) else "expected a valid UUID",
    )


def timestamp_s(description: str) -> Field:
    return Field("integer", description, auto=True, between=(0, 2**53))


def timestamp_ms(description: str) -> Field:
    return Field("number", description, auto=True, between=(0, 2**53))


def name(description: str) -> Field:
    return Field("string", description, check=check_name, unique=True)


def host(description: str, **kw: Any) -> Field:
    return Field("string", description, check=check_host, **kw)


def port(description: str, **kw: Any) -> Field:
    return Field("integer", description, between=(0, 65535), **kw)


def timeout(description: str) -> Field:
    return Field("integer", description, default=60000, between=(1, 2**31 - 2))


def tags() -> Field:
    return Field(
        "set",
        "Optional labels for grouping and filtering (`?tags=a,b`).",
        elements=Field("string", check=check_tag),
    )


def http_statuses(default: list[int], description: str) -> Field:
    return Field(
        "array", description, default=default, elements=Field("integer", between=(100, 999))
    )

"""SPIFFE ids: parse, format and validate ``spiffe://<trust-domain>/<path>``.

Rules enforced (spiffe/spiffe ``standards/SPIFFE-ID.md``):

- the scheme is exactly ``spiffe`` followed by ``://`` (lowercase);
- the trust domain is 1..255 bytes of ``a-z 0-9 . - _`` (lowercase only); a port (``:``),
  userinfo (``@``) or percent-encoding is refused;
- no query (``?``) or fragment (``#``);
- the path is ``/``-separated segments of ``A-Z a-z 0-9 . - _``; no empty segment (``//``), no
  trailing ``/``, no ``.`` or ``..`` segment;
- the whole id is at most 2048 bytes.

The mesh's workload ids follow the Kubernetes convention ``spiffe://<td>/ns/<namespace>/sa/<sa>``
(``WorkloadId``); the namespace and service account are single path segments. Istio's
AuthorizationPolicy ``principals`` are the same id without the scheme (``<td>/ns/<ns>/sa/<sa>``),
available as ``WorkloadId.principal``.

Invariant: every ``SpiffeId``/``WorkloadId`` in memory passed these checks, and ``str(id)`` is its
canonical form (``parse(str(x)) == x``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from carbonplane.mesh.identity.errors import SpiffeIdError

SCHEME = "spiffe://"
MAX_ID_BYTES = 2048
MAX_TRUST_DOMAIN_BYTES = 255
DEFAULT_TRUST_DOMAIN = "cluster.local"  # Istio's default trust domain

_TD_CHARS = frozenset(string.ascii_lowercase + string.digits + ".-_")
_SEGMENT_CHARS = frozenset(string.ascii_letters + string.digits + ".-_")

__all__ = [
    "DEFAULT_TRUST_DOMAIN",
    "SpiffeId",
    "WorkloadId",
    "parse",
    "parse_workload",
    "validate_trust_domain",
    "workload_id",
]


@dataclass(frozen=True, slots=True)
class SpiffeId:
    """A validated SPIFFE id. ``path`` is ``""`` (the trust domain's own id) or starts
    with ``/``."""

    trust_domain: str
    path: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.trust_domain}{self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("/")[1:]) if self.path else ()


@dataclass(frozen=True, slots=True)
class WorkloadId:
    """A mesh workload: ``spiffe://<trust_domain>/ns/<namespace>/sa/<service>``."""

    trust_domain: str
    namespace: str
    service: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.trust_domain}/ns/{self.namespace}/sa/{self.service}"

    @property
    def uri(self) -> str:
        return str(self)

    @property
    def principal(self) -> str:
        """The form Istio's AuthorizationPolicy ``principals`` use (no scheme)."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service}"


def _utf8_len(text: str) -> int:
    # surrogatepass: a lone surrogate must reach the character check (and its clear error)
    return len(text.encode("utf-8", "surrogatepass"))


def _check_segment(value: str, segment: str, where: str) -> None:
    if segment == "":
        raise SpiffeIdError(value, f"{where} is empty (no '//' and no trailing '/')")
    if segment in (".", ".."):
        raise SpiffeIdError(value, f"{where} is {segment!r}; relative segments are not allowed")
    bad = [c for c in segment if c not in _SEGMENT_CHARS]
    if bad:
        raise SpiffeIdError(
            value,
            f"{where} {segment!r} contains {bad[0]!r}; path segments may "
            "only contain letters, digits, '.', '-' and '_'",
        )


def validate_trust_domain(trust_domain: object, *, value: object = None) -> str:
    """Return ``trust_domain`` if it is a valid trust domain name, else raise ``SpiffeIdError``."""
    shown = trust_domain if value is None else value
    if not isinstance(trust_domain, str):
        raise SpiffeIdError(shown, f"trust domain must be a str, not {type(trust_domain).__name__}")
    if not trust_domain:
        raise SpiffeIdError(shown, "the trust domain is empty")
    if _utf8_len(trust_domain) > MAX_TRUST_DOMAIN_BYTES:
        raise SpiffeIdError(
            shown, f"the trust domain is longer than {MAX_TRUST_DOMAIN_BYTES} bytes"
        )
    for c in trust_domain:
        if c in _TD_CHARS:
            continue
        if c == ":":
            raise SpiffeIdError(shown, "the trust domain has a port (':'); ports are not allowed")
        if c == "@":
            raise SpiffeIdError(shown, "the trust domain has userinfo ('@'); it is not allowed")
        if c == "%":
            raise SpiffeIdError(shown, "the trust domain is percent-encoded; it is not allowed")
        if c in string.ascii_uppercase:
            raise SpiffeIdError(
                shown,
                f"the trust domain has an uppercase letter {c!r}; trust domains are lowercase",
            )
        raise SpiffeIdError(
            shown, f"the trust domain contains {c!r}; only a-z, 0-9, '.', '-' and '_' are allowed"
        )
    return trust_domain


def parse(value: object) -> SpiffeId:
    """Parse and validate a SPIFFE id; raise ``SpiffeIdError`` naming the broken rule."""
    if not isinstance(value, str):
        raise SpiffeIdError(value, f"expected a str, not {type(value).__name__}")
    if _utf8_len(value) > MAX_ID_BYTES:
        raise SpiffeIdError(value, f"longer than {MAX_ID_BYTES} bytes")
    if not value.startswith(SCHEME):
        head = value.split(":", 1)[0] if ":" in value else ""
        if head.lower() == "spiffe" and head != "spiffe":
            raise SpiffeIdError(value, "the scheme must be lowercase 'spiffe://'")
        raise SpiffeIdError(value, "it does not start with 'spiffe://'")
    rest = value[len(SCHEME) :]
    if "?" in rest:
        raise SpiffeIdError(value, "it has a query ('?'); SPIFFE ids have none")
    if "#" in rest:
        raise SpiffeIdError(value, "it has a fragment ('#'); SPIFFE ids have none")
    trust_domain, slash, path = rest.partition("/")
    validate_trust_domain(trust_domain, value=value)
    if not slash:
        return SpiffeId(trust_domain, "")
    for i, segment in enumerate(path.split("/")):
        _check_segment(value, segment, f"path segment {i + 1}")
    return SpiffeId(trust_domain, "/" + path)


def parse_workload(value: object, *, trust_domain: str | None = None) -> WorkloadId:
    """Parse a mesh workload id ``spiffe://<td>/ns/<ns>/sa/<sa>``.

    With ``trust_domain``, an id from another trust domain is refused.
    """
    sid = parse(value)
    seg = sid.segments
    if len(seg) != 4 or seg[0] != "ns" or seg[2] != "sa":
        raise SpiffeIdError(
            value,
            "a mesh workload id has the path /ns/<namespace>/sa/<service>, "
            f"not {sid.path or '(none)'}",
        )
    if trust_domain is not None and sid.trust_domain != trust_domain:
        raise SpiffeIdError(
            value, f"trust domain {sid.trust_domain!r} is not this mesh's {trust_domain!r}"
        )
    return WorkloadId(sid.trust_domain, seg[1], seg[3])


def workload_id(trust_domain: str, namespace: str, service: str) -> WorkloadId:
    """Build and validate ``spiffe://<trust_domain>/ns/<namespace>/sa/<service>``."""
    for name, part in (("namespace", namespace), ("service", service)):
        if not isinstance(part, str):
            raise SpiffeIdError(part, f"the {name} must be a str, not {type(part).__name__}")
        if "/" in part:
            raise SpiffeIdError(part, f"the {name} contains '/'; it must be one path segment")
    text = f"{SCHEME}{validate_trust_domain(trust_domain)}/ns/{namespace}/sa/{service}"
    return parse_workload(text)

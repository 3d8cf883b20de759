"""Client address and X-Forwarded-* / X-Real-IP for upstream requests, with Kong's trusted-IPs rule.

A peer is *trusted* when its address is in ``trusted_ips`` (CIDRs; none by default, as Kong's
``trusted_ips = NONE``). Only a trusted peer's X-Forwarded-* and real-IP header are believed:

- client IP: the peer's address; for a trusted peer, the ``real_ip_header`` value instead
  (default ``x-real-ip``; with ``x-forwarded-for`` the last address, or - with
  ``real_ip_recursive`` - the rightmost address that is not itself trusted). Invalid addresses
  are ignored. Resolving right-to-left is what makes XFF unspoofable (Kong PR #7948).
- ``X-Forwarded-For``: trusted peer -> its incoming list + ", " + peer; untrusted -> the peer
  alone. (Kong appends to any incoming list; we overwrite it for untrusted peers so that an
  upstream reading the *first* entry cannot be fooled.)
- ``X-Forwarded-Proto/-Host/-Port/-Path``: trusted peer's values kept, otherwise ours (scheme
  of the listener, Host without port, listener port, normalised path).
- ``X-Real-IP``: the resolved client IP. ``X-Forwarded-Prefix``: the route's stripped prefix,
  when the router gives one.

The proxy drops every incoming field named here before adding its own (``hop.py``), so an
untrusted client can never smuggle one through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from carbonplane.errors import ConfigError
from carbonplane.http.model import RequestHead

FORWARDED_FIELDS = frozenset(
    (
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-path",
        b"x-forwarded-prefix",
        b"x-real-ip",
    )
)
_CACHE_LIMIT = 4096


def host_without_port(host: bytes) -> bytes:
    """``example.com:8000`` -> ``example.com``; ``[::1]:80`` -> ``[::1]``."""
    if 58 not in host:  # ':' - no port
        return host
    if host[:1] == b"[":
        end = host.find(b"]")
        return host[: end + 1] if end != -1 else host
    colon = host.rfind(b":")
    return host if colon == -1 else host[:colon]


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Forwarding:
    """The compiled trusted-IPs policy; one per proxy configuration."""

    __slots__ = ("networks", "real_ip_header", "recursive", "_cache")

    def __init__(
        self,
        trusted_ips: Iterable[str] = (),
        real_ip_header: str = "x-real-ip",
        real_ip_recursive: bool = False,
    ) -> None:
        networks = []
        for cidr in trusted_ips:
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError as exc:
                raise ConfigError(
                    f"{cidr!r} is not an IP address or CIDR ({exc})", where="trusted_ips"
                ) from None
        self.networks = tuple(networks)
        self.real_ip_header = real_ip_header.lower().encode("ascii")
        self.recursive = real_ip_recursive
        self._cache: dict[str, bool] = {}

    def trusts(self, ip: str) -> bool:
        """True when ``ip`` lies in a trusted network (invalid text is never trusted)."""
        if not self.networks:
            return False
        hit = self._cache.get(ip)
        if hit is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            hit = any(address in net for net in self.networks)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[ip] = hit
        return hit

    def client_ip(self, peer_ip: str, trusted: bool, head: RequestHead) -> str:
        """The client's address after the real-IP rule (see the module docstring)."""
        if not trusted:
            return peer_ip
        values = head.get_all(self.real_ip_header)
        if not values:
            return peer_ip
        if self.real_ip_header != b"x-forwarded-for":
            text = values[-1].strip().decode("latin-1")
            return text if _valid_ip(text) else peer_ip
        chain = [a.strip().decode("latin-1") for v in values for a in v.split(b",")]
        if not self.recursive:
            return chain[-1] if chain and _valid_ip(chain[-1]) else peer_ip
        for address in reversed(chain):
            if not _valid_ip(address):
                return peer_ip
            if not self.trusts(address):
                return address
        return chain[0] if chain else peer_ip

    def fields(
        self,
        head: RequestHead,
        peer_ip: str,
        client_ip: str,
        trusted: bool,
        scheme: bytes,
        port: bytes,
        prefix: bytes | None = None,
    ) -> bytes:
        """The X-Forwarded-* and X-Real-IP header lines (serialised) for the upstream request."""
        if not trusted:
            return self.untrusted_fields(self.untrusted_base(peer_ip, scheme, port), head, prefix)
        peer = peer_ip.encode("ascii")
        incoming = head.get_all(b"x-forwarded-for")
        xff = b", ".join(incoming) + b", " + peer if incoming else peer
        lines = [
            b"x-forwarded-for: ",
            xff,
            b"\r\nx-forwarded-proto: ",
            head.get(b"x-forwarded-proto") or scheme,
            b"\r\nx-forwarded-host: ",
            head.get(b"x-forwarded-host") or host_without_port(head.host),
            b"\r\nx-forwarded-port: ",
            head.get(b"x-forwarded-port") or port,
            b"\r\nx-forwarded-path: ",
            head.get(b"x-forwarded-path") or head.path,
            b"\r\nx-real-ip: ",
            client_ip.encode("ascii"),
            b"\r\n",
        ]
        prefix = head.get(b"x-forwarded-prefix") or prefix
        if prefix:
            lines += (b"x-forwarded-prefix: ", prefix, b"\r\n")
        return b"".join(lines)

    @staticmethod
    def untrusted_base(peer_ip: str, scheme: bytes, port: bytes) -> bytes:
        """The lines that are the same for every request of an untrusted connection."""
        peer = peer_ip.encode("ascii")
        return (
            b"x-forwarded-for: %s\r\nx-forwarded-proto: %s\r\nx-forwarded-port: %s\r\n"
            b"x-real-ip: %s\r\n" % (peer, scheme, port, peer)
        )

    @staticmethod
    def untrusted_fields(base: bytes, head: RequestHead, prefix: bytes | None) -> bytes:
        """``base`` (see ``untrusted_base``) plus this request's host, path and prefix lines."""
        if prefix:
            return (
                b"%sx-forwarded-host: %s\r\nx-forwarded-path: %s\r\nx-forwarded-prefix: %s\r\n"
                % (base, host_without_port(head.host), head.path, prefix)
            )
        return b"%sx-forwarded-host: %s\r\nx-forwarded-path: %s\r\n" % (
            base,
            host_without_port(head.host),
            head.path,
        )

"""The ip-restriction plugin's handler (``kong/plugins/ip-restriction/handler.lua``).

The address checked is ``ctx.client_ip``: the engine's resolution of the client through
``trusted_ips`` and the real-IP header (Kong's ``binary_remote_addr`` after the realip module),
never a raw X-Forwarded-For entry - so a client cannot talk its way in by sending a header.
An IPv4-mapped IPv6 client (``::ffff:10.0.0.1``) is checked as its IPv4 address.

Order, as Kong: a client in ``deny`` is refused; then, if ``allow`` is set, a client not in it
is refused. Refusal: ``status`` (default 403) with ``message`` (default ``IP address not
allowed: <ip>``) in Kong's error body. An address that cannot be parsed (a Unix socket peer) is
refused with 403 "Cannot identify the client IP address, unix domain sockets are not
supported.".

Lists compile to one set of network numbers per prefix length: a check costs one shift and one
set lookup per distinct prefix length, whatever the list's size. Verdicts are remembered per
client address string (bounded).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.proxy.app import LocalResponse

_REMEMBERED = 65536


class NetworkSet:
    """A set of IPv4 and IPv6 networks answering membership by prefix-length buckets."""

    __slots__ = ("v4", "v6")

    def __init__(self, entries: Any) -> None:
        buckets: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        for entry in entries or ():
            net = ipaddress.ip_network(entry.strip(), strict=False)
            if (
                net.version == 6
                and net.network_address.ipv4_mapped is not None
                and net.prefixlen >= 96
            ):
                net = ipaddress.ip_network(
                    f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}"
                )
            bits = net.max_prefixlen - net.prefixlen
            buckets[net.version].setdefault(bits, set()).add(int(net.network_address) >> bits)
        self.v4 = tuple(sorted(buckets[4].items()))
        self.v6 = tuple(sorted(buckets[6].items()))

    def __bool__(self) -> bool:
        return bool(self.v4 or self.v6)

    def contains(self, address: Any) -> bool:
        value = int(address)
        for bits, networks in self.v4 if address.version == 4 else self.v6:
            if value >> bits in networks:
                return True
        return False


def client_address(text: str) -> Any:
    """The client's address object (IPv4 for IPv4-mapped IPv6), or None."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Handler(PluginHandler):
    NAME = "ip-restriction"
    PRIORITY = 990
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.allow = NetworkSet(config.get("allow"))
        self.deny = NetworkSet(config.get("deny"))
        self.status = config.get("status") or 403
        self.message = config.get("message")
        self.verdicts: dict[str, bool] = {}

    def on_request(self, ctx: Any) -> LocalResponse | None:
        ip = ctx.client_ip
        admitted = self.verdicts.get(ip)
        if admitted is None:
            address = client_address(ip)
            if address is None:
                return LocalResponse.error(
                    403,
                    "Cannot identify the client IP address, unix domain sockets are not supported.",
                )
            admitted = self.admits(address)
            if len(self.verdicts) >= _REMEMBERED:
                self.verdicts.clear()
            self.verdicts[ip] = admitted
        if admitted:
            return None
        return LocalResponse.error(self.status, self.message or f"IP address not allowed: {ip}")

    def admits(self, address: Any) -> bool:
        if self.deny and self.deny.contains(address):
            return False
        return not self.allow or self.allow.contains(address)

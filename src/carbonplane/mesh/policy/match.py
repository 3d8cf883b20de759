"""Istio's value matching, compiled: strings with a leading or trailing ``*``, and IP blocks.

Istio's rule for string fields of an AuthorizationPolicy (istio/api ``authorization_policy.proto``,
``Rule``): ``abc`` is exact, ``abc*`` a prefix, ``*abc`` a suffix, and ``*`` alone a presence
match, true for any **non-empty** value. So an absent value (no peer certificate, no header)
matches nothing, and a ``not*`` field matches it. A ``*`` anywhere else is refused when the
policy is loaded (``wildcard_problem``), since Istio would compare it literally and never match.

A ``StringMatcher`` holds a frozenset for exact values and tuples for prefixes and suffixes, so
``matches`` does no parsing; ``IpMatcher`` holds parsed networks. Both are immutable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def wildcard_problem(value: str) -> str | None:
    """Why ``value`` is not a valid Istio match string, or None."""
    if value == "*":
        return None
    inner = value[1:-1] if len(value) > 1 else ""
    if "*" in inner or value == "**":
        return "'*' is allowed only as the first or last character (prefix, suffix, presence)"
    return None


class StringMatcher:
    """Matches a value against a list of Istio match strings (any one suffices)."""

    __slots__ = ("exact", "prefixes", "suffixes", "presence", "fold")

    def __init__(self, values: Iterable[str], *, fold: bool = False) -> None:
        exact, prefixes, suffixes, presence = set(), [], [], False
        for value in values:
            if fold:
                value = value.lower()
            if value == "*":
                presence = True
            elif value.endswith("*"):
                prefixes.append(value[:-1])
            elif value.startswith("*"):
                suffixes.append(value[1:])
            else:
                exact.add(value)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.presence = presence
        self.fold = fold

    def matches(self, value: str | None) -> bool:
        if not value:
            return False
        if self.fold:
            value = value.lower()
        return (
            self.presence
            or value in self.exact
            or (bool(self.prefixes) and value.startswith(self.prefixes))
            or (bool(self.suffixes) and value.endswith(self.suffixes))
        )


class IpMatcher:
    """Matches an address against IP blocks (single addresses or CIDRs)."""

    __slots__ = ("networks",)

    def __init__(self, blocks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(b, strict=False) for b in blocks
        )

    def matches(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        if address is None:
            return False
        return any(address in net for net in self.networks)


def ip_problem(value: str) -> str | None:
    """Why ``value`` is not an IP address or CIDR block, or None."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        return f"not an IP address or CIDR block ({exc})"
    return None


def parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None

"""The Admin API's handling of a certificate's ``snis`` shorthand (Kong's
``kong/db/dao/certificates.lua``): ``POST``/``PUT``/``PATCH /certificates`` may carry
``snis: [name, ...]``; the certificate and exactly those SNI entities are written in one config
change (a PATCH without ``snis`` leaves them alone), and every certificate the Admin API shows
carries ``snis``: the sorted names of its SNI entities.

Invariants: SNI entities keep their id and ``created_at`` when a name is kept; a name another
certificate holds is a 409 unique violation from the config compile, as for any unique field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.config.entities import fill_auto
from carbonplane.gateway.config.entities.certificates import check_sni_name
from carbonplane.gateway.config.schema import thaw


def split_snis(kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """``body`` without ``snis`` and the names it gave (None when absent). Raises a problem
    list (field path, message) when ``snis`` is malformed."""
    if kind != "certificates" or "snis" not in body:
        return body, None
    body = dict(body)
    names = body.pop("snis")
    if names is None:
        return body, []
    if not isinstance(names, list):
        raise SNIProblems([(("snis",), "expected an array")])
    problems = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            problems.append((("snis", i), "expected a string"))
        elif (message := check_sni_name(name)) is not None:
            problems.append((("snis", i), message))
    if len(set(names)) != len(names) and not problems:
        problems.append((("snis",), "duplicate SNI names in this certificate"))
    if problems:
        raise SNIProblems(problems)
    return body, list(names)


class SNIProblems(Exception):
    def __init__(self, problems: list) -> None:
        super().__init__(problems)
        self.problems = problems


def replace_snis(
    current: list[Mapping[str, Any]], certificate_id: str, names: list[str], now: float
) -> list[Mapping[str, Any]]:
    """The SNI list with ``certificate_id``'s names set to exactly ``names``."""
    mine = {s["name"]: s for s in current if s["certificate"]["id"] == certificate_id}
    kept = [s for s in current if s["certificate"]["id"] != certificate_id]
    for name in names:
        old = mine.get(name)
        if old is not None:
            kept.append(old)
            continue
        entity = {"name": name, "certificate": {"id": certificate_id}, "tags": None}
        kept.append(fill_auto("snis", entity, now))
    return kept


def show_certificate(config: Any, certificate: Mapping[str, Any]) -> dict[str, Any]:
    """A certificate as the Admin API shows it: with ``snis`` (sorted names)."""
    out = thaw(certificate)
    out["snis"] = sorted(s["name"] for s in config.children("snis", "certificate", out["id"]))
    return out

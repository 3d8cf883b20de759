"""Errors of the mesh identity layer, all under ``carbonplane.errors.CarbonplaneError``::

    CarbonplaneError
    └── IdentityError                 anything the identity layer refuses
        ├── SpiffeIdError             a malformed SPIFFE id (``value`` and ``problem``)
        ├── CAStateError              the CA's data directory is unusable (``path``): loose key
        │                             permissions, cert/key mismatch, unreadable state
        ├── CSRRejectedError          a CSR the CA will not sign (bad signature, wrong identity,
        │                             unsupported key, extra requests)
        ├── TokenRejectedError        a join token that is unknown, expired, already redeemed
        │                             or malformed (``reason``)
        └── PeerIdentityError         a verified TLS peer whose certificate does not carry the
                                      expected SPIFFE identity

Each message says what was wrong, where (file, field, id) and, when there is one, how to fix it.
"""

from __future__ import annotations

from carbonplane.errors import CarbonplaneError


class IdentityError(CarbonplaneError):
    """Base of the mesh identity layer's errors."""


class SpiffeIdError(IdentityError, ValueError):
    """``value`` is not a valid SPIFFE id; ``problem`` says which rule it breaks."""

    def __init__(self, value: object, problem: str) -> None:
        self.value = value
        self.problem = problem
        shown = value if not isinstance(value, str) or len(value) <= 120 else value[:117] + "..."
        super().__init__(f"invalid SPIFFE id {shown!r}: {problem}")


class CAStateError(IdentityError):
    """The CA cannot start from ``path``; the message says how to fix it."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CSRRejectedError(IdentityError):
    """A certificate signing request the CA refuses to sign."""


class TokenRejectedError(IdentityError):
    """A join token was refused. ``reason`` is one of ``malformed``, ``unknown``, ``expired``,
    ``redeemed``; the message never contains the token's secret."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"join token refused ({reason}): {detail}")


class PeerIdentityError(IdentityError):
    """The peer's verified certificate does not carry the SPIFFE identity that was expected."""

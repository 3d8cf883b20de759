"""When a workload should renew its certificate: at half-life, with jitter.

Istio's agent asks for 24 h certificates (``SECRET_TTL``) and renews once the remaining life falls
to ``SECRET_GRACE_PERIOD_RATIO`` = 0.5 of the lifetime; since 1.24 that ratio is jittered by
``SECRET_GRACE_PERIOD_RATIO_JITTER`` = 0.01, because proxies started together would otherwise all
hit the CA at once (Istio 1.24.0 change notes; pilot-agent options). For a 24 h certificate
that is 12 h after issue, +-14.4 min.

``RenewalSchedule.renew_at(not_before, not_after)`` picks the instant once per certificate
(uniform in ``lifetime * [ratio - jitter, ratio + jitter]`` after ``not_before``) and
``due``/``seconds_until`` answer against an injected clock, so tests never sleep.

Invariants: the renewal instant always lies strictly inside the certificate's validity;
``ratio`` is in (0, 1) and ``jitter`` in [0, min(ratio, 1 - ratio)).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Callable

from cryptography import x509

GRACE_PERIOD_RATIO = 0.5  # Istio SECRET_GRACE_PERIOD_RATIO
GRACE_PERIOD_RATIO_JITTER = 0.01  # Istio SECRET_GRACE_PERIOD_RATIO_JITTER (1.24)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class RenewalSchedule:
    """Renewal instants for certificates; ``clock`` and ``rng`` are injectable for tests."""

    ratio: float = GRACE_PERIOD_RATIO
    jitter: float = GRACE_PERIOD_RATIO_JITTER
    clock: Callable[[], dt.datetime] = _utcnow
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"renewal ratio {self.ratio} must be between 0 and 1 (exclusive)")
        if not 0.0 <= self.jitter < min(self.ratio, 1.0 - self.ratio):
            raise ValueError(
                f"renewal jitter {self.jitter} must be >= 0 and below "
                f"{min(self.ratio, 1.0 - self.ratio)} so renewal stays inside the "
                "certificate's life"
            )

    def renew_at(self, not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
        """A jittered instant at ``ratio`` of the way from ``not_before`` to ``not_after``."""
        lifetime = not_after - not_before
        if lifetime <= dt.timedelta(0):
            raise ValueError(
                f"certificate validity is empty: not_before {not_before} is not "
                f"before not_after {not_after}"
            )
        fraction = self.ratio + self.rng.uniform(-self.jitter, self.jitter)
        return not_before + lifetime * fraction

    def renew_at_cert(self, cert: x509.Certificate) -> dt.datetime:
        return self.renew_at(cert.not_valid_before_utc, cert.not_valid_after_utc)

    def seconds_until(self, renew_at: dt.datetime) -> float:
        """Seconds from the clock's now to ``renew_at`` (0 when already due)."""
        return max(0.0, (renew_at - self.clock()).total_seconds())

    def due(self, renew_at: dt.datetime) -> bool:
        return self.clock() >= renew_at

"""The renewal schedule: half-life with Istio's 1 % jitter, against an injected clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from carbonplane.mesh.identity import RenewalSchedule

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(hours=24)


def test_without_jitter_renewal_is_at_half_life():
    assert RenewalSchedule(jitter=0.0).renew_at(T0, T0 + DAY) == T0 + dt.timedelta(hours=12)


def test_jitter_spreads_renewals_over_plus_minus_one_percent_of_the_lifetime():
    schedule = RenewalSchedule(rng=random.Random(7))
    times = [schedule.renew_at(T0, T0 + DAY) for _ in range(2000)]
    lo, hi = T0 + dt.timedelta(hours=12, minutes=-14.4), T0 + dt.timedelta(hours=12, minutes=14.4)
    assert all(lo <= t <= hi for t in times)
    # the spread is real: proxies started together do not all renew in the same minute
    assert min(times) < T0 + dt.timedelta(hours=11, minutes=50)
    assert max(times) > T0 + dt.timedelta(hours=12, minutes=10)
    assert len({t.replace(second=0, microsecond=0) for t in times}) > 20


def test_the_same_seed_gives_the_same_schedule():
    a = RenewalSchedule(rng=random.Random(1)).renew_at(T0, T0 + DAY)
    b = RenewalSchedule(rng=random.Random(1)).renew_at(T0, T0 + DAY)
    assert a == b


def test_due_and_seconds_until_follow_the_injected_clock():
    now = [T0]
    schedule = RenewalSchedule(jitter=0.0, clock=lambda: now[0])
    at = schedule.renew_at(T0, T0 + dt.timedelta(hours=2))
    assert schedule.seconds_until(at) == 3600.0 and not schedule.due(at)
    now[0] = T0 + dt.timedelta(minutes=59, seconds=59)
    assert schedule.seconds_until(at) == 1.0 and not schedule.due(at)
    now[0] = at
    assert schedule.due(at) and schedule.seconds_until(at) == 0.0
    now[0] = at + dt.timedelta(hours=5)
    assert schedule.due(at) and schedule.seconds_until(at) == 0.0


def test_a_short_test_ttl_scales_the_same_way():
    at = RenewalSchedule(jitter=0.0).renew_at(T0, T0 + dt.timedelta(seconds=10))
    assert at == T0 + dt.timedelta(seconds=5)


def test_renew_at_cert_reads_the_certificate_validity(tmp_path):
    from carbonplane.mesh.identity import CertificateAuthority, build_csr, generate_key, workload_id

    ca = CertificateAuthority(tmp_path)
    wid = workload_id(ca.trust_domain, "default", "orders")
    cert = ca.issue(build_csr(generate_key(), wid), wid).certificate
    at = RenewalSchedule(jitter=0.0).renew_at_cert(cert)
    assert (
        at - cert.not_valid_before_utc == (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2
    )


@pytest.mark.parametrize(
    "kw,problem",
    [
        ({"ratio": 0.0}, "between 0 and 1"),
        ({"ratio": 1.0}, "between 0 and 1"),
        ({"jitter": -0.1}, "jitter"),
        ({"ratio": 0.9, "jitter": 0.2}, "inside the certificate"),
    ],
)
def test_bad_parameters_are_refused(kw, problem):
    with pytest.raises(ValueError, match=problem):
        RenewalSchedule(**kw)


def test_an_empty_validity_is_refused():
    with pytest.raises(ValueError, match="validity is empty"):
        RenewalSchedule().renew_at(T0, T0)

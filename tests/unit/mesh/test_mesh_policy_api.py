"""The public surface of carbonplane.mesh.policy, and its layering: importing it loads neither
the gateway (the mesh never imports it) nor the proxy engine (policy code is sans-IO)."""

from __future__ import annotations

import subprocess
import sys

import carbonplane.mesh.policy as policy


def test_public_names_are_pinned():
    assert sorted(policy.__all__) == sorted(
        [
            "DEFAULT_ROOT_NAMESPACE",
            "RBAC_DENIED_BODY",
            "RBAC_DENIED_STATUS",
            "AuthorizationEngine",
            "BundleChanges",
            "Decision",
            "Issue",
            "MtlsDecision",
            "PeerAuthenticationIndex",
            "PolicyBundle",
            "PolicyError",
            "Request",
            "Resource",
            "WorkloadAuthorizer",
            "load_bundle",
            "load_texts",
        ]
    )
    for name in policy.__all__:
        assert getattr(policy, name) is not None


def test_policy_error_is_a_config_error():
    from carbonplane.errors import CarbonplaneError, ConfigError

    assert issubclass(policy.PolicyError, ConfigError)
    assert issubclass(policy.PolicyError, CarbonplaneError)


def test_import_loads_no_gateway_and_no_engine():
    code = (
        "import sys, carbonplane.mesh.policy\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('carbonplane.gateway', "
        "'carbonplane.proxy')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

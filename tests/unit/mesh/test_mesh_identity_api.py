"""The identity layer's public surface and its place in the layering."""

from __future__ import annotations

import ast
from pathlib import Path

import carbonplane.mesh.identity as identity

PACKAGE = Path(identity.__file__).parent


def test_the_public_names_are_pinned():
    assert sorted(identity.__all__) == sorted(
        [
            "CAStateError",
            "CSRRejectedError",
            "CertificateAuthority",
            "Credentials",
            "DEFAULT_MAX_TTL",
            "DEFAULT_TRUST_DOMAIN",
            "DEFAULT_WORKLOAD_TTL",
            "IdentityError",
            "IssuedCertificate",
            "JoinTokens",
            "MeshServer",
            "MeshTLS",
            "PeerIdentityError",
            "RenewalSchedule",
            "Root",
            "SpiffeId",
            "SpiffeIdError",
            "SuppliedRoot",
            "TokenRejectedError",
            "WorkloadId",
            "build_csr",
            "client_context",
            "fingerprint",
            "generate_key",
            "key_pem",
            "parse",
            "parse_workload",
            "peer_identity",
            "server_context",
            "spiffe_id_of",
            "workload_id",
            "write_token_file",
        ]
    )
    for name in identity.__all__:
        assert hasattr(identity, name), name


def test_identity_imports_neither_the_gateway_nor_the_engine_nor_the_cli():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith(
                    ("carbonplane.gateway", "carbonplane.proxy", "carbonplane.cli")
                ), f"{path.name} imports {name}"


def test_every_module_opens_with_a_docstring_and_stays_small():
    for path in [*PACKAGE.glob("*.py"), PACKAGE.parent / "__init__.py"]:
        text = path.read_text()
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no docstring"
        assert len(text.splitlines()) <= 420, f"{path.name} is too long"

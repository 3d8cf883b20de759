"""The TLS entities (certificates, snis, ca_certificates): declarative loading with file:line
errors, the Admin API's CRUD and ``snis`` shorthand, and certificate selection by SNI."""

from __future__ import annotations

import logging
import textwrap

import pytest
import yaml
from gwtools import AdminClient
from tests.tlskit import TestCA

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.config.loader import load_config_data, load_config_text
from carbonplane.gateway.runtime.sni import CertificateSelector, context_for, wildcard_names

CA = TestCA()
A = CA.issue("a.example.com")
B = CA.issue("b.example.com", kind="rsa")
EXPIRED = CA.issue("old.example.com", expired=True)


def _yaml(doc: dict) -> str:
    return yaml.safe_dump({"_format_version": "3.0", **doc}, sort_keys=False, width=1000)


def problems(doc: dict) -> list[str]:
    with pytest.raises(GatewayConfigError) as info:
        load_config_text(_yaml(doc), source="kong.yml")
    return [str(p) for p in info.value.problems]


def test_certificates_with_nested_and_shorthand_snis_load():
    cfg = load_config_text(
        _yaml(
            {
                "certificates": [
                    {"cert": A.cert, "key": A.key, "snis": ["a.example.com", {"name": "*.a.test"}]},
                    {"cert": B.cert, "key": B.key, "tags": ["rsa"]},
                ]
            }
        )
    )
    names = sorted(s["name"] for s in cfg.entities("snis"))
    assert names == ["*.a.test", "a.example.com"]
    cert_id = cfg.entities("certificates")[0]["id"]
    assert {s["certificate"]["id"] for s in cfg.entities("snis")} == {cert_id}


def test_top_level_sni_references_a_certificate_by_id():
    cert_id = "8e4b2c1a-3d5f-4a6b-9c7d-0e1f2a3b4c5d"
    cfg = load_config_data(
        {
            "_format_version": "3.0",
            "certificates": [{"id": cert_id, "cert": A.cert, "key": A.key}],
            "snis": [{"name": "x.example.com", "certificate": cert_id}],
        }
    )
    assert cfg.entities("snis")[0]["certificate"]["id"] == cert_id


def test_unparsable_pem_and_mismatched_key_name_file_and_line():
    found = problems(
        {
            "certificates": [
                {
                    "cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
                    "key": A.key,
                },
                {"cert": A.cert, "key": B.key},
                {"cert": A.cert, "key": "not a key"},
            ]
        }
    )
    assert found[0].startswith(
        "kong.yml:3: certificates[0].cert: invalid certificate: cannot parse"
    )
    assert any(
        p.startswith("kong.yml:") and "certificates[1]: certificate does not match key" in p
        for p in found
    )
    assert any("certificates[2].key: invalid key" in p for p in found)


def test_alternative_certificate_must_be_another_key_type_and_come_with_its_key():
    other_ec = CA.issue("c.example.com")
    found = problems(
        {
            "certificates": [
                {"cert": A.cert, "key": A.key, "cert_alt": other_ec.cert, "key_alt": other_ec.key},
                {"cert": A.cert, "key": A.key, "cert_alt": B.cert},
            ]
        }
    )
    assert "both of the same type" in found[0]
    assert "all or none of these fields must be set: 'cert_alt', 'key_alt'" in found[1]
    ok = load_config_data(
        {
            "_format_version": "3.0",
            "certificates": [{"cert": A.cert, "key": A.key, "cert_alt": B.cert, "key_alt": B.key}],
        }
    )
    assert len(ok.entities("certificates")) == 1


def test_duplicate_sni_is_refused_with_its_place():
    found = problems(
        {
            "certificates": [
                {"cert": A.cert, "key": A.key, "snis": ["dup.example.com"]},
                {"cert": B.cert, "key": B.key, "snis": ["dup.example.com"]},
            ]
        }
    )
    assert len(found) == 1
    assert "uniqueness violation: 'snis'" in found[0] and "dup.example.com" in found[0]
    assert found[0].startswith("kong.yml:")


@pytest.mark.parametrize(
    "name,message",
    [
        ("a.*.example.com", "invalid wildcard"),
        ("*.a.*", "only one wildcard"),
        ("a.example.com:443", "without a port"),
    ],
)
def test_bad_sni_names(name, message):
    found = problems({"certificates": [{"cert": A.cert, "key": A.key, "snis": [name]}]})
    assert message in found[0], found


def test_expired_certificate_is_a_warning_naming_file_and_line(caplog):
    text = _yaml({"certificates": [{"cert": EXPIRED.cert, "key": EXPIRED.key}]})
    with caplog.at_level(logging.WARNING, logger="carbonplane.gateway"):
        cfg = load_config_text(text, source="kong.yml")
    assert len(cfg.entities("certificates")) == 1
    assert any(
        r.getMessage().startswith("kong.yml:3: certificates[0].cert: certificate expired on")
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_ca_certificates_checks_and_digest():
    cfg = load_config_data({"_format_version": "3.0", "ca_certificates": [{"cert": CA.cert}]})
    digest = cfg.entities("ca_certificates")[0]["cert_digest"]
    assert len(digest) == 64 and int(digest, 16) >= 0
    found = problems({"ca_certificates": [{"cert": A.cert}, {"cert": CA.cert + CA.cert}]})
    assert 'missing the "CA" basic constraint' in found[0]
    assert "please submit only one certificate at a time" in found[1]


def test_service_ca_certificates_must_exist():
    found = problems(
        {
            "services": [
                {
                    "name": "s",
                    "url": "https://u.example.com",
                    "ca_certificates": ["0b3c1a2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
                }
            ]
        }
    )
    assert "is not the id of a ca_certificate" in found[0]


def test_client_certificate_only_on_https_services():
    found = problems(
        {
            "certificates": [
                {"id": "8e4b2c1a-3d5f-4a6b-9c7d-0e1f2a3b4c5d", "cert": A.cert, "key": A.key}
            ],
            "services": [
                {
                    "name": "s",
                    "url": "http://u",
                    "client_certificate": "8e4b2c1a-3d5f-4a6b-9c7d-0e1f2a3b4c5d",
                }
            ],
        }
    )
    assert "only allowed when 'protocol' is 'https'" in found[0]


# -- selection -------------------------------------------------------------------------------


def test_wildcard_forms_are_kongs():
    assert wildcard_names("api.example.com") == ("*.example.com", "api.example.*")
    assert wildcard_names("example.com") == (None, "example.*")
    assert wildcard_names("localhost") == (None, None)


def test_selection_order_exact_then_prefix_then_suffix_then_star_then_default():
    exact, prefix, suffix, star = (CA.issue(n) for n in ("e", "p", "s", "star"))
    cfg = load_config_data(
        {
            "_format_version": "3.0",
            "certificates": [
                {"cert": exact.cert, "key": exact.key, "snis": ["api.example.com"]},
                {"cert": prefix.cert, "key": prefix.key, "snis": ["*.example.com"]},
                {"cert": suffix.cert, "key": suffix.key, "snis": ["api.example.*"]},
            ],
        }
    )
    sel = CertificateSelector(cfg)
    assert sel.select("API.example.com.") is context_for({"cert": exact.cert, "key": exact.key})
    assert sel.select("web.example.com") is context_for({"cert": prefix.cert, "key": prefix.key})
    assert sel.select("api.example.org") is context_for({"cert": suffix.cert, "key": suffix.key})
    assert sel.select("other.test") is sel.default
    assert sel.select(None) is sel.default
    with_star = load_config_data(
        {
            "_format_version": "3.0",
            "certificates": [{"cert": star.cert, "key": star.key, "snis": ["*"]}],
        }
    )
    star_sel = CertificateSelector(with_star)
    assert star_sel.select("anything.test") is context_for({"cert": star.cert, "key": star.key})
    assert star_sel.select(None) is star_sel.default


# -- Admin API -------------------------------------------------------------------------------


@pytest.fixture
def api():
    return AdminClient(AdminAPI())


def test_admin_crud_with_snis_shorthand(api):
    status, cert = api.post(
        "/certificates", json_body={"cert": A.cert, "key": A.key, "snis": ["a.example.com"]}
    )
    assert status == 201, cert
    assert cert["snis"] == ["a.example.com"]
    status, listed = api.get("/snis")
    assert [s["name"] for s in listed["data"]] == ["a.example.com"]
    sni_id = listed["data"][0]["id"]
    status, got = api.get(f"/certificates/{cert['id']}")
    assert status == 200 and got["snis"] == ["a.example.com"] and got["key"] == A.key
    status, patched = api.patch(
        f"/certificates/{cert['id']}", json_body={"snis": ["a.example.com", "*.a.example.com"]}
    )
    assert status == 200 and patched["snis"] == ["*.a.example.com", "a.example.com"]
    assert api.get("/snis/a.example.com")[1]["id"] == sni_id  # a kept name keeps its entity
    status, nested = api.get(f"/certificates/{cert['id']}/snis")
    assert status == 200 and len(nested["data"]) == 2
    status, body = api.post(
        "/certificates", json_body={"cert": B.cert, "key": B.key, "snis": ["a.example.com"]}
    )
    assert status == 409 and "a.example.com" in body["message"], body
    assert len(api.get("/certificates")[1]["data"]) == 1  # nothing of the refused change stays
    assert api.delete(f"/certificates/{cert['id']}")[0] == 204
    assert api.get("/snis")[1]["data"] == []  # the SNIs went with their certificate


def test_admin_refuses_bad_pem_and_mismatched_key(api):
    status, body = api.post("/certificates", json_body={"cert": "garbage", "key": A.key})
    assert status == 400
    assert body["fields"]["cert"].startswith("invalid certificate")
    status, body = api.post("/certificates", json_body={"cert": A.cert, "key": B.key})
    assert status == 400 and body["fields"]["@entity"] == ["certificate does not match key"]
    status, body = api.post("/certificates", json_body={"cert": A.cert, "key": A.key, "snis": "x"})
    assert status == 400 and body["fields"]["snis"] == "expected an array"


def test_admin_ca_certificates_and_sni_endpoint(api):
    status, ca = api.post("/ca_certificates", json_body={"cert": CA.cert})
    assert status == 201 and len(ca["cert_digest"]) == 64
    status, body = api.post("/ca_certificates", json_body={"cert": CA.cert})
    assert status == 409, body
    status, body = api.post("/ca_certificates", json_body={"cert": A.cert})
    assert status == 400 and "basic constraint" in body["fields"]["cert"]
    status, cert = api.post("/certificates", json_body={"cert": A.cert, "key": A.key})
    status, sni = api.post(
        "/snis", json_body={"name": "z.example.com", "certificate": {"id": cert["id"]}}
    )
    assert status == 201, sni
    assert api.get(f"/certificates/{cert['id']}")[1]["snis"] == ["z.example.com"]
    status, svc = api.post(
        "/services",
        json_body={
            "name": "s",
            "url": "https://u.example.com",
            "tls_verify": True,
            "ca_certificates": [ca["id"]],
            "client_certificate": {"id": cert["id"]},
        },
    )
    assert status == 201, svc
    status, body = api.delete(f"/certificates/{cert['id']}")
    assert status == 400 and body["name"] == "foreign key violation"  # a service presents it


def test_declarative_text_example_from_docs_loads():
    text = textwrap.dedent(
        """\
        _format_version: "3.0"
        certificates:
          - cert: |
        {cert}
            key: |
        {key}
            snis:
              - name: a.example.com
        """
    ).format(cert=textwrap.indent(A.cert, "      "), key=textwrap.indent(A.key, "      "))
    cfg = load_config_text(text, source="kong.yml")
    assert cfg.entities("snis")[0]["name"] == "a.example.com"

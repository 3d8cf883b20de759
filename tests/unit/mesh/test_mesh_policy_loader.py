"""The policy loader: multi-document files, directories, the resource envelope, and refusals
(aliases, deep nesting, duplicate keys, oversized files) reported with file and line."""

from __future__ import annotations

import time

import pytest
from policytools import authz, bundle, issues

from carbonplane.mesh.policy import PolicyError, load_bundle, load_texts
from carbonplane.mesh.policy.yamldocs import MAX_FILE_BYTES, MAX_NESTING

PA = """\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: {name}
  namespace: {ns}
spec:
  mtls:
    mode: STRICT
"""


def test_multi_document_file_and_empty_documents():
    text = "---\n" + PA.format(name="a", ns="x") + "---\n---\n" + PA.format(name="b", ns="x")
    b = bundle(text)
    assert [r.name for r in b.resources] == ["a", "b"]
    assert [r.line for r in b.resources] == [2, 12]
    assert b.resources[1].where == "a.yaml:12"


def test_every_accepted_api_version_loads():
    docs = []
    for i, api in enumerate(("security.istio.io/v1beta1", "security.istio.io/v1")):
        docs.append(PA.format(name=f"p{i}", ns="x").replace("security.istio.io/v1beta1", api))
    for i, api in enumerate(
        ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1")
    ):
        docs.append(
            f"apiVersion: {api}\nkind: DestinationRule\nmetadata: {{name: d{i}}}\n"
            f"spec: {{host: a.b.svc.cluster.local}}\n"
        )
    b = bundle("---\n".join(docs))
    assert len(b.resources) == 5
    assert b.get("DestinationRule", "default", "d0") is not None  # no namespace -> default


def test_envelope_problems_have_lines():
    text = (
        "apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
        "  name: Bad_Name\n  namespace: x\n  uid: 123\nspec: {}\nstatus: {}\n"
    )
    found = issues(text)
    assert (
        1,
        "apiVersion",
        "PeerAuthentication is served as security.istio.io/v1beta1 or "
        "security.istio.io/v1, not 'networking.istio.io/v1'",
    ) in found
    assert any(line == 4 and path == "metadata.name" for line, path, _ in found)
    assert (6, "metadata.uid", "unknown field 'uid'") in found
    assert any(line == 8 and "unsupported" in msg for line, path, msg in found)


@pytest.mark.parametrize(
    "kind, word",
    [
        ("RequestAuthentication", "unsupported"),
        ("Gateway", "unsupported"),
        ("ConfigMap", "not an Istio policy kind"),
    ],
)
def test_other_kinds_are_reported(kind, word):
    text = f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: x}}\n"
    [(line, path, msg)] = issues(text)
    assert (line, path) == (2, "kind") and word in msg


def test_dry_run_annotation_is_refused():
    text = authz("rules: [{}]").replace(
        "  namespace: foo\n", '  namespace: foo\n  annotations:\n    istio.io/dry-run: "true"\n'
    )
    [(line, path, msg)] = issues(text)
    assert line == 7 and path == "metadata.annotations.istio.io/dry-run"
    assert "dry-run" in msg


def test_alias_is_refused_with_its_line():
    text = authz("""\
        rules:
        - from:
          - source: &src
              principals: ["cluster.local/ns/a/sa/b"]
        - from:
          - source: *src
        """)
    [(line, _, msg)] = issues(text)
    assert "aliases" in msg and "anchor at line 9" in msg and line == 12


def test_billion_laughs_is_refused_quickly():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    [(_, _, msg)] = issues(text)
    assert "aliases" in msg
    assert time.perf_counter() - started < 0.5


def test_merge_key_is_refused():
    text = "base: &b {x: 1}\nother:\n  <<: *b\n"
    [(line, _, msg)] = issues(text)
    assert "merge keys" in msg or "aliases" in msg


def test_deep_nesting_is_refused_with_line():
    depth = MAX_NESTING + 5
    text = authz("rules:\n- when: " + "[" * depth + "]" * depth)
    [(line, _, msg)] = issues(text)
    assert f"deeper than {MAX_NESTING}" in msg and line == 8


def test_libyaml_limit_beyond_ours_still_reports():
    text = "[" * 5000 + "]" * 5000
    [(_, _, msg)] = issues(text)
    assert "could not parse YAML" in msg or "deeper" in msg


def test_duplicate_key_is_refused():
    text = authz("""\
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/a/sa/b"]
            source:
              principals: ["cluster.local/ns/a/sa/c"]
        """)
    [(line, _, msg)] = issues(text)
    assert line == 11 and "duplicate key 'source' (first at line 9)" in msg


def test_syntax_error_names_file_and_line():
    with pytest.raises(PolicyError) as info:
        load_texts([("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")])
    [issue] = info.value.issues
    assert (
        issue.file == "bad.yaml" and issue.line is not None and "could not parse" in issue.message
    )
    assert str(issue).startswith("bad.yaml:")


def test_oversized_and_non_utf8_files():
    big = b"#" * (MAX_FILE_BYTES + 1)
    with pytest.raises(PolicyError, match="limit"):
        load_texts([("big.yaml", big)])
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_texts([("bin.yaml", b"\xff\xfe\x00")])


def test_not_a_mapping_document():
    [(line, _, msg)] = issues("- a\n- b\n")
    assert "must be a mapping" in msg and line == 1


def test_duplicate_resource_across_files_names_both_places():
    found = issues(PA.format(name="a", ns="x"), PA.format(name="a", ns="x"))
    [(line, path, msg)] = found
    assert line == 1 and "already defined at a.yaml:1" in msg


def test_all_problems_of_all_files_are_reported_together():
    bad1 = authz("rules: [{from: [{source: {principalz: [x]}}]}]")
    bad2 = authz("action: PERMIT", name="q")
    with pytest.raises(PolicyError) as info:
        bundle(bad1, bad2)
    assert [(i.file, i.line) for i in info.value.issues] == [("a.yaml", 7), ("b.yaml", 7)]
    assert "2 problems" in str(info.value)


def test_directory_is_loaded_by_file_name_without_subfolders(tmp_path):
    (tmp_path / "b.yaml").write_text(PA.format(name="b", ns="x"))
    (tmp_path / "a.yml").write_text(PA.format(name="a", ns="x"))
    (tmp_path / "notes.md").write_text("not policy")
    (tmp_path / ".hidden.yaml").write_text("garbage: [")
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "c.yaml").write_text(PA.format(name="c", ns="x"))
    b = load_bundle(tmp_path)
    assert [r.name for r in b.resources] == ["a", "b"]
    b2 = load_bundle([tmp_path, tmp_path / "staged" / "c.yaml"])
    assert [r.name for r in b2.resources] == ["a", "b", "c"]
    with pytest.raises(PolicyError, match="no such file"):
        load_bundle(tmp_path / "missing")

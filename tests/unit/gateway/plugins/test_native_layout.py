"""The layout constants have one source (``_native/layout.py``): the C header generated from it
is checked in unchanged, the Python code uses the same values, and the built C modules work on
tables and records laid out with them."""

from __future__ import annotations

from carbonplane.gateway.plugins.pdk import counters, log_serializer
from carbonplane.gateway.plugins.pdk._native import layout


def test_the_checked_in_header_is_what_layout_py_generates():
    with open(layout.HEADER_PATH, encoding="ascii") as f:
        assert f.read() == layout.header_text(), (
            "gateway/plugins/pdk/_native/layout.h differs from layout.py: regenerate it with "
            "python -m carbonplane.gateway.plugins.pdk._native.layout"
        )


def test_the_python_code_reads_the_same_constants():
    assert counters.HEADER.size == layout.HEADER_SIZE and counters.VALUE.size == layout.VALUE_SIZE
    assert log_serializer.WORKSPACE_ID == layout.WORKSPACE_ID
    table = counters.LocalCounters(slots=16, impl="python")
    assert len(table._mm) == layout.HEADER_SIZE + (16 + layout.PROBE - 1) * (
        layout.KEY_SIZE + layout.VALUE_SIZE
    )
    assert table._mm[:8] == layout.MAGIC


def test_the_native_modules_agree_on_a_table_written_by_python(tmp_path, native_plugins):
    path = str(tmp_path / "t.counters")
    python = counters.HostCounters.open(path, slots=16, impl="python")
    native = counters.HostCounters.open(path, slots=16, impl="native")
    cells = [(b"a", 10_000, 3, None, 0.0), (b"b", 10_000, 3, None, 0.0)]
    assert python.take(cells, 0) == (True, [0, 0])
    assert native.take(cells, 0) == (True, [1, 1])  # found where Python put them
    assert python.take(cells, 0) == (True, [2, 2])
    assert native.take(cells, 0) == (False, [3, 3])
    python.close()
    native.close()


def test_the_build_record_hashes_the_generated_header():
    """An edited layout.h makes the compiled build stale like an edited .c does."""
    import os

    from carbonplane import _accel

    root = os.path.dirname(_accel.__file__)  # the carbonplane package folder
    sources = _accel.source_files(root)
    assert "gateway/plugins/pdk/_native/layout.h" in sources
    assert (
        "gateway/plugins/pdk/_native/counters.c" in sources
        and "gateway/plugins/pdk/_native/records.c" in sources
    )

"""Layout constants shared by the plugins' Python code and their C versions: the one source.

``layout.h`` beside this file is generated from these values (run this module to rewrite it);
``tests/unit/gateway/plugins/test_native_layout.py`` fails when the checked-in header differs
from what ``header_text()`` gives, so a constant is changed here and nowhere else.

Counter table (``counters.py``): a ``HEADER_SIZE``-byte header (``MAGIC``, slot count, probe
window), then ``slots + PROBE - 1`` keys of ``KEY_SIZE`` bytes, then as many values of
``VALUE_SIZE`` bytes (``expires_ms: i64, count: i64``, little-endian). A ``take`` counts at
most ``MAX_CELLS`` windows. Log record (``log_serializer.py``): Kong's default workspace id.
"""

from __future__ import annotations

import os

MAGIC = b"CPCTRS01"
HEADER_SIZE = 64
KEY_SIZE = 16
VALUE_SIZE = 16  # == KEY_SIZE: a value sits at the same offset in its region as its key
PROBE = 16
MAX_CELLS = 16
WORKSPACE_ID = "00000000-0000-0000-0000-000000000000"

HEADER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layout.h")


def header_text() -> str:
    """The C header with these constants (what ``layout.h`` must contain)."""
    return "\n".join(
        [
            "/* Generated from layout.py by "
            "`python -m carbonplane.gateway.plugins.pdk._native.layout`:",
            " * edit layout.py, not this file (a test compares them). */",
            "#ifndef CARBONPLANE_PLUGINS_LAYOUT_H",
            "#define CARBONPLANE_PLUGINS_LAYOUT_H",
            f'#define COUNTERS_MAGIC "{MAGIC.decode("ascii")}"',
            f"#define HEADER_SIZE {HEADER_SIZE}",
            f"#define KEY_SIZE {KEY_SIZE}",
            f"#define VALUE_SIZE {VALUE_SIZE}",
            f"#define PROBE {PROBE}",
            f"#define MAX_CELLS {MAX_CELLS}",
            f'#define WORKSPACE_ID "{WORKSPACE_ID}"',
            "#endif",
            "",
        ]
    )


if __name__ == "__main__":
    with open(HEADER_PATH, "w", encoding="ascii") as f:
        f.write(header_text())
    print(f"wrote {HEADER_PATH}")

"""The exchange's states as the modules split off it (attempts.py, local.py) know them: a
renumbering in exchange.py that forgot them would make a failure answer twice or never."""

from __future__ import annotations

from carbonplane.proxy import attempts, exchange, local


def test_split_modules_agree_on_the_exchange_states():
    assert attempts._DONE == exchange.DONE
    assert attempts._RESPONDING == exchange.RESPONDING
    assert local._RESPONDING == exchange.RESPONDING

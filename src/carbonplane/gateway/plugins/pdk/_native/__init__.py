"""The gateway plugins' native (C) code: one place, one set of layout constants.

- ``counters.c`` (``carbonplane.gateway.plugins.pdk._native.counters``): the rate-limit counter
  table's check-and-count step, native version of ``counters.CounterTable._take_locked``;
- ``records.c`` (``..._native.records``): Kong's log record line, native version of
  ``log_serializer.serialize`` + ``encode``;
- ``layout.h``: the constants both languages must agree on, generated from ``layout.py``
  (``python -m carbonplane.gateway.plugins.pdk._native.layout``); a test fails when it drifts.

Every module here is optional (setup.py builds it where a C compiler exists); the Python code
beside each is the specification and runs where it is absent.
"""

"""Real-socket tests of the gateway plugins. A package, so that its modules do not collide
with the unit tests of the same names (``tests/unit/gateway/plugins/test_<name>.py``)."""

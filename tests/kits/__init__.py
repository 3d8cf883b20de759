"""Kits shared by several test suites, imported as ``tests.kits.<name>`` (pytest puts the
repository root on ``sys.path``). Each kit is real code over real sockets, written independently
of the code under test, and is the one place its purpose lives:

- ``standin``: the local upstream every proxy and gateway test sends its traffic to;
- ``plugins``: plugin handlers, configs and schema problems, built the way the gateway builds them;
- ``jwts``: compact JWS tokens signed with real keys (HMAC secrets, RSA, EC, Ed25519);
- ``net``: free loopback ports and polling for state a test cannot await;
- ``procs``: the first line a child server prints, and stopping the child.
"""

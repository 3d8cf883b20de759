"""The plugin development kit: everything the bundled plugins share, and nothing else.

- ``base``: the plugin seam (``PluginHandler``, ``PluginDef``, ``register``, ``PluginServices``);
- ``plugin_services``: the ``PluginServices`` one gateway process hands its handlers;
- ``authn``: consumer and credential lookups and Kong's identity headers (jwt, key-auth, acl);
- ``counters``: the host-wide rate-limit counter table (``_native/counters.c`` its C version);
- ``log_serializer``: Kong's log record (``_native/records.c`` its C version);
- ``reqparts``: query strings, cookies and request targets as plugins read and rewrite them.

Invariant: nothing here imports a plugin folder; plugins import from here.
"""

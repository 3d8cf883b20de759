"""A Flask service that emits an AuditAPICallEvent per request and ServiceHealthEvents at start
and exit, through ``carbonplane.integrations.flask.instrument``.

    .venv/bin/python examples/flask_app.py            # http://127.0.0.1:8081 (PORT to change)
    curl -H 'X-User: alice' 127.0.0.1:8081/items/42
    .venv/bin/carbonplane events tail audit-api-calls --from-beginning

Events go to the embedded log under $CARBONPLANE_HOME (default ~/.carbonplane), or to Kafka when
KAFKA_BOOTSTRAP_SERVERS is set. /health is not recorded (the default exclusions).
"""

from __future__ import annotations

import os
import signal
import sys

from flask import Flask, jsonify

from carbonplane.integrations.flask import instrument

app = Flask("pricing-flask")


@app.get("/items/<int:item_id>")
def read_item(item_id):
    return jsonify(id=item_id, price=42.5)


@app.get("/health")
def health():
    return "ok"


instrument(
    app,
    service="pricing-flask",
    namespace="examples",
    trusted_proxies=["127.0.0.1"],
    # demo auth: the X-User header names the user (use your real authentication here)
    user_getter=lambda request: request.headers.get("X-User"),
)

if __name__ == "__main__":
    # SIGTERM's default ends the process without exit hooks: exit normally instead, so that the
    # "stopping" ServiceHealthEvent is sent and the queued events are flushed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8081")), threaded=True)

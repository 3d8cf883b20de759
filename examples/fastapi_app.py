"""A FastAPI service that emits an AuditAPICallEvent per request and ServiceHealthEvents at start
and stop, through ``CarbonplaneASGIMiddleware``.

    .venv/bin/python examples/fastapi_app.py          # http://127.0.0.1:8080 (PORT to change)
    curl -H 'Authorization: Bearer alice' 127.0.0.1:8080/items/42
    .venv/bin/carbonplane events tail audit-api-calls --from-beginning

Events go to the embedded log under $CARBONPLANE_HOME (default ~/.carbonplane), or to Kafka when
KAFKA_BOOTSTRAP_SERVERS is set. /health is not recorded (the default exclusions).
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware

from carbonplane.integrations.asgi import CarbonplaneASGIMiddleware


class BearerName(AuthenticationBackend):
    """Demo auth: ``Authorization: Bearer <name>`` is user <name> (use a real one in production)."""

    async def authenticate(self, conn):
        auth = conn.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:]:
            return AuthCredentials(["authenticated"]), SimpleUser(auth[7:])
        return None


app = FastAPI(title="pricing-api")


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    return {"id": item_id, "price": 42.5}


@app.get("/health")
async def health():
    return {"status": "ok"}


app.add_middleware(AuthenticationMiddleware, backend=BearerName())
app.add_middleware(
    CarbonplaneASGIMiddleware,  # added last: outermost, so it times everything inside
    service="pricing-api",
    namespace="examples",
    sample_rate=1.0,
    trusted_proxies=["127.0.0.1"],  # believe X-Forwarded-For only from a proxy on this host
)

if __name__ == "__main__":
    # proxy_headers=False: the middleware decides which X-Forwarded-For to believe (see the guide)
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("PORT", "8080")), proxy_headers=False
    )

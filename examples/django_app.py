"""A one-file Django service that emits an AuditAPICallEvent per request and ServiceHealthEvents
at start and exit, through ``carbonplane.integrations.django.CarbonplaneMiddleware``.

    .venv/bin/python examples/django_app.py           # runserver on 127.0.0.1:8082 (PORT)
    curl 127.0.0.1:8082/items/42/
    .venv/bin/carbonplane events tail audit-api-calls --from-beginning

Events go to the embedded log under $CARBONPLANE_HOME (default ~/.carbonplane), or to Kafka when
KAFKA_BOOTSTRAP_SERVERS is set. In a real project the two settings below go into settings.py.
"""

from __future__ import annotations

import os
import signal
import sys

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={},
    MIDDLEWARE=["carbonplane.integrations.django.CarbonplaneMiddleware"],  # first: times the rest
    CARBONPLANE_AUDIT={
        "service": "pricing-django",
        "namespace": "examples",
        "trusted_proxies": ["127.0.0.1"],
    },
)


def read_item(request, item_id):
    return JsonResponse({"id": item_id, "price": 42.5})


urlpatterns = [path("items/<int:item_id>/", read_item)]

if __name__ == "__main__":
    django.setup()
    from django.core.management import execute_from_command_line

    # SIGTERM's default ends the process without exit hooks: exit normally instead, so that the
    # "stopping" ServiceHealthEvent is sent and the queued events are flushed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = os.environ.get("PORT", "8082")
    execute_from_command_line([sys.argv[0], "runserver", f"127.0.0.1:{port}", "--noreload"])

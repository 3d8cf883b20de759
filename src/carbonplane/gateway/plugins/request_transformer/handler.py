"""The request-transformer plugin's handler (Kong's request-transformer, PRIORITY 801).

Access phase, in order: ``replace.uri`` (the upstream path; the query is kept), ``http_method``,
header operations, query operations (on the query that will be sent upstream, i.e. after an
auth plugin's ``hide_credentials``), then - when body operations are configured and the
request's Content-Type is JSON (``application/json``) or a form
(``application/x-www-form-urlencoded``) - the body is marked for transformation.

Bodies: the engine streams request bodies after the access phase, so the body operations run
in ``on_request_body(ctx, data, end)`` (the engine's request-body filter hook, mirror of
``on_response_body``): pieces are held back until the end, transformed, and released as one
piece; the engine sends such bodies upstream chunked (their length changes).
Bodies over ``MAX_BUFFERED`` are passed through untransformed rather than held in memory.
Requests without a body are not given one, and a method changed to GET/HEAD/TRACE does not
move form fields into the query string (Kong does both by reading the body in the access
phase, which a streaming proxy does not do).

Only configs with body operations get a handler class that has ``on_request_body`` at all, so
a header-only transformer never makes the engine re-frame bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.gateway.plugins.pdk.reqparts import (
    parse_query,
    split_target,
    with_path,
    with_query,
)
from carbonplane.gateway.plugins.request_transformer.ops import (
    Ops,
    fields_to_params,
    params_to_fields,
    transform_form,
    transform_headers,
    transform_json,
)
from carbonplane.gateway.plugins.request_transformer.templates import Env, Template

log = logging.getLogger("carbonplane.gateway.plugins")

MAX_BUFFERED = 8 * 1024 * 1024
_BODY = "request_transformer.body"  # ctx.vars: [kind, pieces, size] while a body is held


class Handler(PluginHandler):
    NAME = "request-transformer"
    PRIORITY = 801
    VERSION = "1.0.0"

    def __new__(cls, config: Any, plugin: Any = None, services: Any = None) -> Handler:
        if cls is Handler and any(
            config[op]["body"] for op in ("remove", "rename", "replace", "add", "append")
        ):
            cls = BodyHandler
        return super().__new__(cls)

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.headers = Ops(config, "headers", lower=True)
        self.query = Ops(config, "querystring", lower=False)
        self.body = Ops(config, "body", lower=False)
        uri = config["replace"].get("uri")
        self.uri = Template(uri) if uri else None
        method = config.get("http_method")
        self.method = method.encode("ascii") if method else None
        self.templated = (
            self.headers.templated
            or self.query.templated
            or self.body.templated
            or (self.uri is not None and not self.uri.static)
        )

    def on_request(self, ctx: Any) -> None:
        env = self.env(ctx) if self.templated else None
        request = ctx.request
        if self.uri is not None:
            path = self.uri.render(env)
            if path:
                ctx.upstream_target = with_path(ctx.upstream_target, path)
        if self.method is not None:
            request.method = self.method
        if self.headers:
            request.headers, host = transform_headers(self.headers, request.headers, env)
            if host is not None:
                ctx.upstream_host = host
        if self.query:
            self.transform_query(ctx, env)
        if self.body:
            self.mark_body(ctx, env)
        return None

    def env(self, ctx: Any) -> Env:
        captures = ctx.vars.get("uri_captures")
        if captures is None and ctx.decision is not None:
            captures = getattr(ctx.decision.route, "uri_captures", None)
        return Env(
            ctx.request.headers,
            lambda: parse_query(split_target(ctx.upstream_target)[1]),
            captures,
            ctx.vars,
        )

    def transform_query(self, ctx: Any, env: Env | None) -> None:
        fields = params_to_fields(parse_query(split_target(ctx.upstream_target)[1]))
        if self.query.apply(fields, env):
            ctx.upstream_target = with_query(ctx.upstream_target, fields_to_params(fields))

    def mark_body(self, ctx: Any, env: Env | None) -> None:
        request = ctx.request
        if not request.framing:
            return
        content_type = (request.get(b"content-type") or b"").lower()
        if b"application/json" in content_type:
            kind = transform_json
        elif b"application/x-www-form-urlencoded" in content_type:
            kind = transform_form
        else:
            return
        ctx.vars[_BODY] = [kind, [], 0, env]


class BodyHandler(Handler):
    """A request-transformer with body operations: holds and rewrites JSON and form bodies."""

    def on_request_body(self, ctx: Any, data: bytes, end: bool) -> bytes:
        held = ctx.vars.get(_BODY)
        if held is None:
            return data
        kind, pieces, size, env = held
        pieces.append(data)
        size += len(data)
        if size > MAX_BUFFERED:
            del ctx.vars[_BODY]
            log.warning(
                "request-transformer: body over %d bytes passed through untransformed", MAX_BUFFERED
            )
            return b"".join(pieces)
        held[2] = size
        if not end:
            return b""
        del ctx.vars[_BODY]
        raw = b"".join(pieces)
        out = kind(self.body, raw, env)
        return raw if out is None else out

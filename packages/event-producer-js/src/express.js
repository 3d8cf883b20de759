'use strict';
/**
 * HTTP integrations: an Express middleware and a plain `http` request-listener wrapper, each
 * producing one AuditAPICallEvent per request, the twins of carbonplane's Python ASGI/WSGI
 * middlewares (same fields, settings and decisions: http-audit.js). Express itself is never
 * required: the middleware only reads what Express sets on `req` and `res`.
 *
 *   const { expressAudit } = require('@254carbon/event-producer');
 *   const audit = expressAudit({ service: 'pricing-api', trustedProxies: ['10.0.0.0/8'] });
 *   app.use(audit);                            // first, before the routes
 *   app.use(audit.recordErrors);               // optional, last: records the error's name
 *   audit.watch(app.listen(3000));             // ServiceHealthEvents at listen and close
 *
 * What is recorded: the method; the endpoint, `req.baseUrl + req.route.path` when Express matched a
 * route (the template, `/users/:id`), else the raw path without query (clipped); the status (500
 * when the connection closed before any header was sent); the latency from the middleware to the
 * response's close (a streamed response counts whole); the request size from Content-Length (0
 * when absent, e.g. chunked); the response body bytes written; the user (`options.user(req)`, by
 * default from `req.user`: http-audit.js `defaultUser`); the client IP (X-Forwarded-For only from
 * trusted proxies); a valid W3C `traceparent` (and `tracestate`) as CloudEvents extensions
 * (`ce_traceparent`, `ce_tracestate` headers); an error message for errors and 5xx.
 *
 * Invariants: the request is never delayed or failed by the audit: recording happens on the
 * response's `close` event, costs a bounded-queue push (audit-emitter.js) and any exception in it is
 * counted (`droppedError`), never thrown. The middleware calls `next()` exactly once and changes
 * nothing the app sees except that `res.write`/`res.end` are wrapped to count bytes. The `http`
 * wrapper answers a handler's throw or rejection with 500 (or destroys the response when headers
 * were already sent) and logs it, where an unwrapped listener would crash the process or hang.
 */

const { performance } = require('node:perf_hooks');
const { resolveAuditSettings, traceContext, clip } = require('./http-audit');
const { AuditEmitter } = require('./audit-emitter');

const TRACK = Symbol('carbonplane.audit');
const INCOMPLETE = 'connection closed before the response was complete';

function byteSize(chunk, encoding) {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8');
  return chunk && typeof chunk.byteLength === 'number' ? chunk.byteLength : 0;
}

function errorName(err) {
  if (err instanceof Error) return clip(err.name || 'Error');
  return clip(`thrown ${err === null ? 'null' : typeof err}`);
}

/** Split options into the settings and the emitter's (producer, producerOptions, logger). */
function makeAudit(options) {
  const { producer, producerOptions, logger, ...settings } = options || {};
  const resolved = resolveAuditSettings(settings);
  return new HttpAudit(resolved, new AuditEmitter(resolved, { producer, producerOptions, logger }));
}

class HttpAudit {
  constructor(settings, emitter) {
    this.settings = settings;
    this.emitter = emitter;
  }

  /** Start tracking `res` if its request is recorded; the tracking record, or null. */
  begin(req, res) {
    const url = req.originalUrl || req.url || '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!this.settings.wants(path)) return null;
    // the peer is read now: once a socket is destroyed (the client left) its address is gone
    const track = { start: performance.now(), path, bytes: 0, error: null, peer: req.socket ? req.socket.remoteAddress : undefined };
    res[TRACK] = track;
    const { write, end } = res;
    res.write = function auditedWrite(chunk, encoding, callback) {
      track.bytes += byteSize(chunk, encoding);
      return write.call(this, chunk, encoding, callback);
    };
    res.end = function auditedEnd(chunk, encoding, callback) {
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') track.bytes += byteSize(chunk, encoding);
      return end.call(this, chunk, encoding, callback);
    };
    res.on('close', () => this.record(req, res, track)); // emitted once per response
    return track;
  }

  /** The finished request, to the emitter; never throws. */
  record(req, res, track) {
    try {
      const latencyMs = performance.now() - track.start;
      const status = res.headersSent ? res.statusCode : 500;
      const headers = req.headers;
      let traceparent = null;
      let tracestate = null;
      if (headers.traceparent !== undefined) [traceparent, tracestate] = traceContext(headers.traceparent, headers.tracestate);
      let error = track.error;
      if (error === null && !res.writableFinished) error = INCOMPLETE;
      if (error === null && status >= 500) error = `HTTP ${status}`;
      const user = this.settings.userOf(req);
      const length = headers['content-length'];
      const requestBytes = length === undefined ? 0 : Number.parseInt(length, 10) || 0;
      this.emitter.submit({
        method: clip(req.method || 'GET'),
        endpoint: endpointOf(req, track.path),
        status: status >= 100 && status <= 599 ? status : 500,
        latencyMs,
        requestBytes: requestBytes >= 0 ? requestBytes : 0,
        responseBytes: req.method === 'HEAD' ? 0 : track.bytes,
        user: user === null || user === undefined || user === '' ? undefined : clip(String(user)),
        ip: this.settings.clientIp(track.peer, headers['x-forwarded-for']),
        traceparent,
        tracestate,
        error: error === null ? undefined : error,
      });
    } catch (err) {
      this.emitter.submitted += 1;
      this.emitter.droppedError += 1;
      this.emitter.logger.warn(`HTTP audit of ${this.settings.service}: request not recorded: ${err && err.message}`);
    }
  }

  /** A handler's throw or rejection: recorded by name, answered with 500, logged. */
  fail(req, res, err) {
    const track = res[TRACK];
    if (track) track.error = errorName(err);
    this.emitter.logger.error(`HTTP handler of ${this.settings.service} failed on ${req.method} ${clip(req.url || '')}: ${err && err.stack ? err.stack : err}`);
    if (res.headersSent) {
      res.destroy();
    } else {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end('Internal Server Error');
    }
  }

  /** ServiceHealthEvent HEALTHY "started", and connect to the broker now. */
  start() {
    this.emitter.health('HEALTHY', 'started');
  }

  /** ServiceHealthEvent UNKNOWN "stopping", then flush and close (audit-emitter.js `close`). */
  stop(timeoutMs = 10_000) {
    if (!this.emitter._closed) this.emitter.health('UNKNOWN', 'stopping');
    return this.emitter.close(timeoutMs);
  }

  /** start() when `server` listens (now if it already does), stop() when it closes. */
  watch(server) {
    if (server.listening) this.start();
    else server.once('listening', () => this.start());
    server.once('close', () => { this.stop(); });
    return server;
  }
}

/** `req.baseUrl + req.route.path` for a matched Express route, else the raw path (clipped). */
function endpointOf(req, path) {
  const route = req.route;
  if (route === undefined || route === null || route.path === undefined) return clip(path);
  const template = typeof route.path === 'string' ? route.path : String(route.path);
  const base = typeof req.baseUrl === 'string' ? req.baseUrl : '';
  return clip(base && template === '/' ? base : base + template);
}

/** Give a middleware or listener the audit's lifecycle and counters. */
function expose(fn, audit) {
  fn.audit = audit;
  fn.emitter = audit.emitter;
  fn.start = () => audit.start();
  fn.stop = (timeoutMs) => audit.stop(timeoutMs);
  fn.watch = (server) => audit.watch(server);
  fn.stats = () => audit.emitter.stats();
  return fn;
}

/**
 * The Express middleware (see the module doc). Options: http-audit.js `resolveAuditSettings`'s,
 * plus `producer` (an EventProducer of yours), `producerOptions` (for the one made otherwise:
 * getEventProducer(service, producerOptions)) and `logger`. Throws ConfigError for a bad option.
 */
function expressAudit(options) {
  const audit = makeAudit(options);
  const middleware = function carbonplaneAudit(req, res, next) {
    try {
      audit.begin(req, res);
    } catch (err) {
      audit.emitter.submitted += 1;
      audit.emitter.droppedError += 1;
    }
    next();
  };
  middleware.recordErrors = function carbonplaneAuditErrors(err, req, res, next) {
    const track = res[TRACK];
    if (track) track.error = errorName(err);
    next(err);
  };
  return expose(middleware, audit);
}

/**
 * A `http.createServer` request listener that records every request of `handler` (see the module
 * doc); same options as expressAudit.
 */
function wrapHttpHandler(handler, options) {
  if (typeof handler !== 'function') throw new TypeError(`wrapHttpHandler: the handler must be a function, got ${typeof handler}`);
  const audit = makeAudit(options);
  const listener = function carbonplaneAuditedHandler(req, res) {
    try {
      audit.begin(req, res);
    } catch (err) {
      audit.emitter.submitted += 1;
      audit.emitter.droppedError += 1;
    }
    let result;
    try {
      result = handler.call(this, req, res);
    } catch (err) {
      audit.fail(req, res, err);
      return;
    }
    if (result && typeof result.then === 'function') result.then(undefined, (err) => audit.fail(req, res, err));
  };
  return expose(listener, audit);
}

module.exports = { expressAudit, wrapHttpHandler, HttpAudit, endpointOf };

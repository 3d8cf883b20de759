'use strict';
/**
 * The emitter of the HTTP integrations: a bounded queue of finished requests ("calls") and the
 * drain that turns them into AuditAPICallEvents off the request path. The twin of the Python
 * integrations' `Emitter` (one thread there; here a drain on a timer of DRAIN_MS, 10 ms, so the
 * calls of that window are built and produced together, between requests rather than after each).
 *
 * What a request pays: `submit(call)`, one array push (and a timer when the queue was empty).
 * Building, validating and producing the event happen in the drain, after the response ended; the
 * broker's acknowledgement is awaited by nobody on the request path.
 *
 * Invariants:
 * - `submit` never throws and never waits: with `queueSize` calls queued, the new one is dropped
 *   and counted (`droppedQueueFull`). An event the producer refuses or the broker never
 *   acknowledges is counted (`droppedError`). Always:
 *   submitted = sent + droppedError + queued + inFlight.
 * - While the producer is not connected (the broker down or slow to answer), calls wait in the
 *   queue (so a short outage loses nothing) and connecting is retried with a backoff of 0.5 s
 *   doubling to 30 s; when the producer holds its own `maxQueued` unacknowledged events the drain
 *   pauses too. Either way the queue fills and further calls are dropped, never the request.
 * - ServiceHealthEvents (`health`) are queued apart, outside the bound, and sent first.
 * - No timer of the emitter keeps the process alive (all unref'd) except while `close` is awaited;
 *   `close` flushes, and disconnects the producer only when the emitter created it.
 */

const { getEventProducer } = require('./producer');

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
const DRAIN_MS = 10; // calls wait this long to be produced together, off the requests' way
const PAUSE_MS = 20; // the producer is full: look again this soon
const LOG_EVERY_MS = 10_000;

class AuditEmitter {
  /**
   * @param {import('./http-audit').AuditSettings} settings
   * @param {{producer?: object, producerOptions?: object, logger?: object}} [options] `producer`:
   *   an EventProducer of yours (connected or not); else one is made with
   *   getEventProducer(settings.service, producerOptions) and owned by the emitter.
   */
  constructor(settings, options = {}) {
    this.settings = settings;
    this._owned = !options.producer;
    this.producer = options.producer || getEventProducer(settings.service, options.producerOptions || {});
    this.logger = options.logger || this.producer.logger;
    this._queue = [];
    this._health = [];
    this._scheduled = false;
    this._timer = null;
    this._retryMs = RETRY_MIN_MS;
    this._connecting = null;
    this._lastLog = 0;
    this._closed = null;
    this.submitted = 0;
    this.sent = 0;
    this.droppedQueueFull = 0;
    this.droppedError = 0;
    this.inFlight = 0;
    this._settled = [];
  }

  /** Queue one finished request (see express.js for its fields); never throws, never waits. */
  submit(call) {
    if (this._queue.length >= this.settings.queueSize || this._closed) {
      this.droppedQueueFull += 1;
      return;
    }
    this._queue.push(call);
    this.submitted += 1;
    if (!this._scheduled) this._schedule();
  }

  /** Queue a ServiceHealthEvent (`status`: HEALTHY, DEGRADED, UNHEALTHY or UNKNOWN). */
  health(status, message) {
    this._health.push({ status, message });
    if (!this._scheduled) this._schedule();
  }

  /** The counters (see the module doc); `queued` excludes health events. */
  stats() {
    return {
      submitted: this.submitted,
      sent: this.sent,
      droppedQueueFull: this.droppedQueueFull,
      droppedError: this.droppedError,
      queued: this._queue.length,
      inFlight: this.inFlight,
    };
  }

  /**
   * Stop taking calls, send what is queued (waiting up to `timeoutMs` for the broker), count what
   * could not be sent in `droppedError`, and disconnect the producer if the emitter made it.
   * Resolves (never rejects) with the final stats. Safe to call again.
   */
  close(timeoutMs = 10_000) {
    if (!this._closed) this._closed = this._close(timeoutMs);
    return this._closed;
  }

  async _close(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while ((this._queue.length || this._health.length || this.inFlight) && Date.now() < deadline) {
      this._drain();
      await sleep(Math.min(PAUSE_MS * 5, Math.max(1, deadline - Date.now())));
    }
    const left = this._queue.length;
    if (left) {
      this.droppedError += left;
      this._queue = [];
      this.logger.error(`HTTP audit of ${this.settings.service}: ${left} calls not sent at close (no broker within ${timeoutMs} ms)`);
    }
    this._health = [];
    if (this._timer !== null) clearTimeout(this._timer);
    if (this._owned) await this.producer.disconnect(Math.max(1000, deadline - Date.now())).catch(() => {});
    else await this.producer.flush(Math.max(1000, deadline - Date.now()));
    await Promise.allSettled(this._settled);
    return this.stats();
  }

  _schedule(delayMs = DRAIN_MS) {
    this._scheduled = true;
    this._timer = setTimeout(() => { this._timer = null; this._run(); }, delayMs);
    this._timer.unref();
  }

  _run() {
    this._scheduled = false;
    this._drain();
  }

  _drain() {
    const producer = this.producer;
    if (!producer.connected) {
      this._connect();
      return;
    }
    this._retryMs = RETRY_MIN_MS;
    let room = producer.config.maxQueued - producer.getStats().pending;
    while (this._health.length && room > 0) {
      this._sendHealth(this._health.shift());
      room -= 1;
    }
    const queue = this._queue;
    const n = Math.min(queue.length, Math.max(room, 0));
    for (let i = 0; i < n; i += 1) this._sendCall(queue[i]);
    queue.splice(0, n);
    if ((queue.length || this._health.length) && !this._scheduled) this._schedule(PAUSE_MS);
  }

  _connect() {
    if (this._connecting) return;
    this._connecting = this.producer.connect().then(
      () => {
        this._connecting = null;
        if (!this._scheduled) this._schedule();
      },
      (err) => {
        this._connecting = null;
        this._log(`HTTP audit of ${this.settings.service}: no event broker (${err.message}); ` +
          `${this._queue.length} calls queued, ${this.droppedQueueFull} dropped; retrying in ${this._retryMs} ms`);
        if (!this._scheduled) this._schedule(this._retryMs);
        this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS);
      },
    );
  }

  _sendCall(call) {
    const fields = {
      service: this.settings.service,
      endpoint: call.endpoint || '/',
      method: call.method || 'UNKNOWN',
      statusCode: call.status,
      latencyMs: call.latencyMs,
      requestSizeBytes: call.requestBytes,
      responseSizeBytes: call.responseBytes,
      ipAddress: call.ip || 'unknown',
      userId: call.user,
      errorMessage: call.error,
    };
    let extensions;
    if (call.traceparent) {
      extensions = { traceparent: call.traceparent };
      if (call.tracestate) extensions.tracestate = call.tracestate;
    }
    let delivery;
    try {
      delivery = this.producer.produceAPICallEvent(fields, { extensions, topic: this.settings.auditTopic });
    } catch (err) {
      this.droppedError += 1;
      this._log(`HTTP audit of ${this.settings.service}: event dropped: ${err.message}`);
      return;
    }
    this.inFlight += 1;
    this._track(delivery.then(
      () => { this.inFlight -= 1; this.sent += 1; },
      () => { this.inFlight -= 1; this.droppedError += 1; }, // the producer logs the failure
    ));
  }

  _sendHealth({ status, message }) {
    try {
      const delivery = this.producer.produceServiceHealthEvent({
        serviceName: this.settings.service, namespace: this.settings.namespace, healthStatus: status,
        latencyMs: 0, errorRate: 0, message,
      }, { topic: this.settings.healthTopic });
      this._track(delivery.catch(() => {}));
    } catch (err) {
      this._log(`HTTP audit of ${this.settings.service}: health event dropped: ${err.message}`);
    }
  }

  /** Keep at most a few recent settle promises, for close() to await. */
  _track(promise) {
    this._settled.push(promise);
    if (this._settled.length > 64) this._settled.splice(0, 32);
  }

  _log(message) {
    const now = Date.now();
    if (now - this._lastLog < LOG_EVERY_MS) return;
    this._lastLog = now;
    this.logger.warn(message);
  }
}

/** A wait that keeps the process alive: whoever awaits close() wants it to finish. */
function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

module.exports = { AuditEmitter };

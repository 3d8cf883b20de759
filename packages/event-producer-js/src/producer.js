'use strict';
/**
 * The event producer: the report's call shape, the twin of carbonplane's Python `EventProducer`.
 *
 *   const producer = getEventProducer('my-service');
 *   await producer.connect();
 *   await producer.produceServiceHealthEvent({ serviceName: 'my-service', namespace: 'data-platform',
 *     healthStatus: 'HEALTHY', latencyMs: 25, errorRate: 0.001 });
 *   await producer.disconnect();
 *
 * Layers: envelope.js seals an event (validates it, then writes key, JSON value and CloudEvents
 * headers) before anything is queued; delivery-queue.js batches sealed records across calls;
 * kafka-transport.js sends them. This class keeps the counters and the lifecycle.
 *
 * Contract of every produce method:
 * - an invalid event throws EventValidationError synchronously, is counted `rejected`, and nothing
 *   is sent; so does producing before `connect()` or with `maxQueued` events unacknowledged
 *   (BackendUnavailableError, counted in `errors`);
 * - otherwise the event is counted `produced` and the method returns a promise of its delivery
 *   report ({topic, partition, offset, key, eventId, timestamp}); the promise rejects with
 *   DeliveryError or UnknownTopicError when the broker does not acknowledge it, and the event is
 *   counted in `errors` and logged (rate-limited). A caller that does not await loses nothing:
 *   failures are still counted, logged and reported by the next `flush()`, and never crash the
 *   process as an unhandled rejection.
 *
 * Invariant: produced = delivered + errors(after produced) + pending. `disconnect()` flushes, and
 * fails (never drops silently) what is still unacknowledged when its timeout ends.
 */

const { resolveConfig } = require('./config');
const { TOPIC_BY_EVENT_TYPE, TOPICS_BY_NAME } = require('./catalog');
const { sealEvent, sealCustom, checkSource, extensionHeaders } = require('./envelope');
const { DeliveryQueue } = require('./delivery-queue');
const { KafkaTransport } = require('./kafka-transport');
const { installMethods } = require('./methods');
const { BackendUnavailableError, DeliveryError, EventValidationError } = require('./errors');

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/; // Kafka's rule for a topic name

/** Whether `topic` is a topic name Kafka accepts (the `topic` option; Python checks the same). */
function isTopicName(topic) {
  return typeof topic === 'string' && TOPIC_NAME.test(topic) && topic !== '.' && topic !== '..';
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A console logger that prints messages at `level` and above. */
function consoleLogger(level = 'warn') {
  const min = LEVELS[level] ?? LEVELS.warn;
  const at = (name, fn) => (LEVELS[name] >= min ? (msg) => fn(`[event-producer] ${msg}`) : () => {});
  return { debug: at('debug', console.debug), info: at('info', console.info), warn: at('warn', console.warn), error: at('error', console.error) };
}

class EventProducer {
  /**
   * @param {object} [options] bootstrapServers, sourceService, clientId, and the settings of
   *   index.d.ts (EventProducerOptions); unset ones come from the environment (config.js).
   */
  constructor(options = {}) {
    const { sourceService = 'unknown-service', logger, logLevel, ...rest } = options;
    this.sourceService = checkSource(sourceService);
    this.logger = logger || consoleLogger(logLevel);
    this.config = resolveConfig(sourceService, rest);
    if (this.config.ignoredTls) {
      this.logger.warn('KAFKA_SSL_* settings are given but the security protocol is PLAINTEXT: connecting without TLS ' +
        '(set KAFKA_SECURITY_PROTOCOL=SSL to use them)');
    }
    this._transport = new KafkaTransport(this.config, this.logger);
    this.compression = this._transport.compression;
    this._queue = new DeliveryQueue((records) => this._transport.send(records), this.config);
    this._state = 'disconnected'; // -> connecting -> connected -> disconnecting -> disconnected
    this._connecting = null;
    this._stats = { produced: 0, delivered: 0, errors: 0, rejected: 0 };
    this._sinceFlush = { delivered: 0, failed: 0, errors: [] };
    this._lastFailureLog = 0;
    this._suppressed = 0;
  }

  get connected() {
    return this._state === 'connected';
  }

  /** Connect to the brokers; resolves once the producer can send. Safe to call again. */
  async connect() {
    if (this._state === 'connected') return;
    if (this._connecting) return this._connecting;
    this._state = 'connecting';
    this._connecting = this._transport.connect().then(
      () => { this._state = 'connected'; this.logger.info(`connected to ${this.config.brokers.join(',')} as ${this.config.clientId}`); },
      (err) => { this._state = 'disconnected'; throw err; },
    ).finally(() => { this._connecting = null; });
    return this._connecting;
  }

  /** Flush (up to `timeoutMs`), fail what is still unacknowledged, and close the connections. */
  async disconnect(timeoutMs = 10_000) {
    if (this._state === 'disconnected' || this._state === 'disconnecting') return this._flushResult();
    if (this._connecting) await this._connecting.catch(() => {});
    this._state = 'disconnecting';
    await this._queue.idle(timeoutMs);
    this._queue.failQueued((r) => new DeliveryError(r.topic, `the producer disconnected before the broker acknowledged the event (flush timed out after ${timeoutMs} ms)`));
    await this._transport.disconnect();
    await this._queue.idle(timeoutMs); // requests cut short by the disconnect settle (as failures)
    this._state = 'disconnected';
    const stats = this.getStats();
    this.logger.info(`disconnected: ${stats.delivered} delivered, ${stats.errors} errors, ${stats.rejected} rejected`);
    return this._flushResult();
  }

  /**
   * Send everything queued now and wait until it is acknowledged or failed, up to `timeoutMs`.
   * Resolves (never rejects) with what happened since the previous flush.
   */
  async flush(timeoutMs = 10_000) {
    await this._queue.idle(timeoutMs);
    return this._flushResult();
  }

  /** Counters since the producer was created (the original's delivered/errors, and more). */
  getStats() {
    return { ...this._stats, pending: this._queue.pending };
  }

  /**
   * Produce one catalog event from its camelCase fields (wire names); see the module doc.
   * `options.extensions`: CloudEvents extension attributes (`{traceparent: ...}`), each sent as a
   * `ce_<name>` header after the standard ones; `options.topic`: another topic than the type's
   * catalog topic (a per-environment copy, a test's own). The typed methods take the same options.
   */
  produce(eventType, fields, options) {
    return this._produceCatalog(eventType, fields, null, options);
  }

  /**
   * Send `event` to `topic` with record key `key` (null: none). A payload whose eventType is a
   * catalog type is validated as that type first (and its envelope filled); any other object goes
   * out as given, as a custom CloudEvent (ce_type com.carbon254.custom.<topic>).
   */
  produceCustomEvent(topic, key, event) {
    const spec = event && typeof event === 'object' ? TOPIC_BY_EVENT_TYPE.get(event.eventType) : undefined;
    let sealed;
    try {
      if (typeof topic !== 'string' || topic === '') throw new EventValidationError('custom', null, `the topic must be a non-empty string, got ${JSON.stringify(topic)}`);
      sealed = spec ? sealEvent(spec, event, this.sourceService, 'payload') : sealCustom(topic, event, this.sourceService);
    } catch (err) {
      if (err instanceof EventValidationError) this._stats.rejected += 1;
      throw err;
    }
    const recordKey = key === null || key === undefined ? null : String(key);
    return this._enqueue(topic, { ...sealed, key: recordKey });
  }

  _produceCatalog(eventType, fields, toFields, options) {
    const spec = TOPIC_BY_EVENT_TYPE.get(eventType);
    const { extensions, topic } = options || {};
    let sealed;
    try {
      if (topic !== undefined && topic !== null && !isTopicName(topic)) {
        throw new EventValidationError(String(eventType), 'topic',
          `must be a Kafka topic name, 1-249 letters, digits, '.', '_' or '-' (or absent for the catalog topic), got ${JSON.stringify(topic)}`);
      }
      if (!spec) {
        throw new EventValidationError(String(eventType), null,
          `not one of the ${TOPICS_BY_NAME.size} catalog event types (${[...TOPIC_BY_EVENT_TYPE.keys()].join(', ')})`);
      }
      sealed = sealEvent(spec, toFields ? toFields(eventType, fields) : fields, this.sourceService, 'arguments');
      if (extensions !== undefined && extensions !== null) sealed.headers = { ...sealed.headers, ...extensionHeaders(eventType, extensions) };
    } catch (err) {
      if (err instanceof EventValidationError) this._stats.rejected += 1;
      throw err;
    }
    return this._enqueue(topic ?? spec.name, sealed);
  }

  _enqueue(topic, sealed) {
    if (this._state !== 'connected') {
      this._stats.errors += 1;
      throw new BackendUnavailableError(this._state === 'disconnected' || this._state === 'connecting'
        ? `not connected: await producer.connect() before producing (event to '${topic}' not sent)`
        : `the producer is disconnecting: event to '${topic}' not sent`);
    }
    if (this._queue.pending >= this.config.maxQueued) {
      this._stats.errors += 1;
      throw new BackendUnavailableError(`${this._queue.pending} events are waiting for the broker's acknowledgement ` +
        `(maxQueued): await producer.flush() or the returned promises before producing more (event to '${topic}' not sent)`);
    }
    const size = Buffer.byteLength(sealed.value) + (sealed.key ? sealed.key.length : 0) + 200;
    const delivery = this._queue.push({ topic, size, ...sealed });
    this._stats.produced += 1;
    delivery.then(() => this._onDelivered(), (err) => this._onFailed(topic, err));
    return delivery;
  }

  _onDelivered() {
    this._stats.delivered += 1;
    this._sinceFlush.delivered += 1;
  }

  _onFailed(topic, err) {
    this._stats.errors += 1;
    this._sinceFlush.failed += 1;
    if (this._sinceFlush.errors.length < 20) this._sinceFlush.errors.push(err.message);
    const now = Date.now();
    if (now - this._lastFailureLog >= 1000) {
      const more = this._suppressed ? ` (+${this._suppressed} more failures in the last second)` : '';
      this.logger.error(`event delivery to ${topic} failed: ${err.message}${more}`);
      this._lastFailureLog = now;
      this._suppressed = 0;
    } else {
      this._suppressed += 1;
    }
  }

  _flushResult() {
    const { delivered, failed, errors } = this._sinceFlush;
    this._sinceFlush = { delivered: 0, failed: 0, errors: [] };
    const remaining = this._queue.pending;
    return { remaining, delivered, failed, errors, ok: remaining === 0 && failed === 0 };
  }
}

installMethods(EventProducer.prototype);

/** The report's entry point: a producer for `serviceName`, configured from `options` and the environment. */
function getEventProducer(serviceName, options = {}) {
  return new EventProducer({ ...options, sourceService: serviceName });
}

module.exports = { EventProducer, getEventProducer, consoleLogger };

'use strict';
/**
 * The Kafka side of the producer: one `@platformatic/kafka` producer (which also answers topic
 * metadata), configured as the Python library configures librdkafka.
 *
 * Why this client: measured against kafkajs (no release since 2023) on the same broker and records,
 * it sends about twice the records per second for about half the CPU per record, supports the
 * idempotent producer, and needs no native build (LZ4 comes as WebAssembly inside the package).
 * `@confluentinc/kafka-javascript` does not install without fetching files from outside npm. See
 * docs/decisions.md and bench/clients.mjs.
 *
 * Settings: idempotent producer (the client then sends one request at a time per broker and uses
 * acks -1, all in-sync replicas), no client-side topic auto-creation, LZ4 compression (gzip or none
 * when configured), TLS/SASL from config.js. Retries are bounded (config.retry: `retries` retries,
 * at least 2, delays from `initialRetryTime` doubling up to `maxRetryTime`, about 10 s by default)
 * so that an unreachable broker is reported as failed deliveries instead of being retried forever,
 * which is the client's default for idempotent producers (and what it does with fewer than 2).
 *
 * Partitioning: keyed records go to `(murmur2(key) & 0x7fffffff) % partitions` (partitioner.js: the
 * Java client's and librdkafka's murmur2_random), so a key lands on the same partition from Node,
 * Python and Java; records without a key go round-robin. The partition is chosen here, from topic
 * metadata cached for `metadataMaxAgeMs`, so that each record's offset can be reported (base offset
 * of its partition's batch + its position in it).
 *
 * A topic is looked up the first time it is used: a topic missing on the broker fails its records
 * with UnknownTopicError at once (never auto-created).
 */

const pk = require('./kafka-client');
const { partitionOfKey } = require('./partitioner');
const { BackendUnavailableError, DeliveryError, UnknownTopicError, UNKNOWN_TOPIC_HINT } = require('./errors');

/** LZ4 is part of the client (WebAssembly): always available. Kept for callers that ask. */
const LZ4 = { available: true, reason: null };

const SASL = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' };

/** Every error in `err`'s tree (AggregateError members and causes), breadth-first, at most 50. */
function errorTree(err) {
  const out = [];
  const queue = [err];
  while (queue.length && out.length < 50) {
    const e = queue.shift();
    if (!e || typeof e !== 'object') continue;
    out.push(e);
    if (Array.isArray(e.errors)) queue.push(...e.errors);
    if (e.cause) queue.push(e.cause);
  }
  return out;
}

function isUnknownTopic(err) {
  // the broker's UNKNOWN_TOPIC_OR_PARTITION (error code 3), or the client's own verdict from metadata
  return errorTree(err).some((e) => e.apiCode === 3 || (e.code === 'PLT_KFK_USER' && /^Unknown topic /.test(e.message)));
}

/** One line: the client's error, then the first root cause (e.g. `connect ECONNREFUSED ...`). */
function reasonOf(err) {
  const tree = errorTree(err);
  const roots = tree.filter((e) => e !== err && !(Array.isArray(e.errors) && e.errors.length) && !e.cause && e.message);
  const root = roots[0];
  return root && !err.message.includes(root.message) ? `${err.message.replace(/\.$/, '')}: ${root.message}` : err.message;
}

class KafkaTransport {
  /** @param {ReturnType<import('./config').resolveConfig>} config @param {object} logger */
  constructor(config, logger) {
    this.config = config;
    this.logger = logger;
    this.compression = config.compression;
    const { retries, initialRetryTime, maxRetryTime } = config.retry;
    this._producer = new pk.Producer({
      clientId: config.clientId,
      bootstrapBrokers: config.brokers,
      tls: config.ssl || undefined,
      sasl: config.sasl ? { ...config.sasl, mechanism: SASL[String(config.sasl.mechanism).toLowerCase()] || config.sasl.mechanism } : undefined,
      connectTimeout: config.connectionTimeout,
      requestTimeout: config.requestTimeout,
      timeout: config.ackTimeoutMs, // the broker's wait for in-sync replicas
      // the client retries an idempotent producer forever when given fewer than 2 retries: 1 becomes 2
      retries: Math.max(2, retries),
      retryDelay: (_client, _op, attempt) => Math.min(maxRetryTime, initialRetryTime * 2 ** (attempt - 1)),
      metadataMaxAge: config.metadataMaxAgeMs,
      idempotent: true,
      acks: pk.ProduceAcks.ALL,
      compression: this.compression,
      autocreateTopics: false,
      serializers: pk.stringSerializers,
    });
    this._producer.on('client:broker:disconnect', (e) => logger.debug(`kafka: broker disconnected ${JSON.stringify(e && e.broker)}`));
    this._metadata = new Map(); // topic -> {partitions, expires}
    this._roundRobin = 0;
  }

  async connect() {
    try {
      await this._producer.metadata({ topics: [] });
      await this._producer.initIdempotentProducer({});
    } catch (err) {
      await this.disconnect().catch(() => {});
      throw new BackendUnavailableError(`cannot connect to Kafka at ${this.config.brokers.join(',')}: ${reasonOf(err)}; ` +
        'check KAFKA_BOOTSTRAP_SERVERS (and KAFKA_SECURITY_PROTOCOL) and that the broker is running', { cause: err });
    }
  }

  async disconnect() {
    if (!this._producer.closed) await this._producer.close(true).catch(() => {});
  }

  /** Partition count of `topic` (cached); UnknownTopicError when the broker does not have it. */
  async partitionsOf(topic) {
    const cached = this._metadata.get(topic);
    if (cached && cached.expires > Date.now()) return cached.partitions;
    let meta;
    try {
      meta = await this._producer.metadata({ topics: [topic], forceUpdate: true });
    } catch (err) {
      if (isUnknownTopic(err)) throw new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT);
      throw new DeliveryError(topic, `cannot read the topic's metadata: ${reasonOf(err)}`, { cause: err });
    }
    const info = meta.topics.get(topic);
    const partitions = info ? info.partitionsCount : 0;
    if (!partitions) throw new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT);
    this._metadata.set(topic, { partitions, expires: Date.now() + this.config.metadataMaxAgeMs });
    return partitions;
  }

  /** The partition of `key` among `partitions` (round-robin when there is no key). */
  partitionFor(topic, partitions, key) {
    if (key === null || key === undefined) return this._roundRobin++ % partitions;
    return partitionOfKey(key, partitions);
  }

  /**
   * Send records ({topic, key, value, headers, timestamp, eventId}) in one request; one outcome per
   * record: {topic, partition, offset, key, eventId, timestamp} or an Error. Never throws.
   */
  async send(records) {
    const outcomes = new Array(records.length);
    const placed = []; // [record index, topic, partition] in request order
    const messages = [];
    for (const [topic, indexes] of groupByTopic(records)) {
      let partitions;
      try {
        partitions = await this.partitionsOf(topic);
      } catch (err) {
        for (const i of indexes) outcomes[i] = err;
        continue;
      }
      for (const i of indexes) {
        const r = records[i];
        const partition = this.partitionFor(topic, partitions, r.key);
        placed.push([i, topic, partition]);
        messages.push({ topic, partition, key: r.key ?? undefined, value: r.value, headers: r.headers, timestamp: BigInt(r.timestamp) });
      }
    }
    if (messages.length === 0) return outcomes;
    let result;
    try {
      result = await this._producer.send({ messages });
    } catch (err) {
      const unknown = isUnknownTopic(err);
      for (const [i, topic] of placed) {
        this._metadata.delete(topic);
        outcomes[i] = unknown ? new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT) : new DeliveryError(topic, reasonOf(err), { cause: err });
      }
      return outcomes;
    }
    return this._reports(records, placed, result.offsets || [], outcomes);
  }

  _reports(records, placed, offsets, outcomes) {
    const base = new Map();
    for (const o of offsets) {
      const slot = `${o.topic}\u0000${o.partition}`;
      const offset = Number(o.offset);
      if (!base.has(slot) || offset < base.get(slot)) base.set(slot, offset);
    }
    const seen = new Map();
    for (const [i, topic, partition] of placed) {
      const slot = `${topic}\u0000${partition}`;
      const n = seen.get(slot) || 0;
      seen.set(slot, n + 1);
      const r = records[i];
      outcomes[i] = base.has(slot)
        ? { topic, partition, offset: base.get(slot) + n, key: r.key, eventId: r.eventId, timestamp: r.timestamp }
        : new DeliveryError(topic, `the broker's answer has no result for partition ${partition}`);
    }
    return outcomes;
  }
}

function groupByTopic(records) {
  const groups = new Map();
  records.forEach((r, i) => {
    const list = groups.get(r.topic);
    if (list) list.push(i);
    else groups.set(r.topic, [i]);
  });
  return groups;
}

module.exports = { KafkaTransport, LZ4, reasonOf };

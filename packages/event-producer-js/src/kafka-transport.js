'use strict';
/**
 * The Kafka side of the producer: one kafkajs producer and one admin client (for topic metadata),
 * configured as the Python library configures librdkafka.
 *
 * Settings: idempotent producer, acks -1 (all in-sync replicas), one request in flight (keeps the
 * idempotent sequence and per-partition order), no client-side topic auto-creation, LZ4
 * compression through the `kafkajs-lz4` codec (gzip, with a warning, when that optional native
 * package is not installed), TLS/SASL from config.js. Retries are bounded (config.retry, about
 * 10 s by default) so that an unreachable broker is reported as failed deliveries instead of being
 * retried forever, which is kafkajs's default for idempotent producers.
 *
 * Partitioning: keyed records go to `(murmur2(key) & 0x7fffffff) % partitions` (kafkajs's
 * DefaultPartitioner, the Java client's and librdkafka's murmur2_random), so a key lands on the
 * same partition from Node, Python and Java. The partition is chosen here, from topic metadata
 * cached for `metadataMaxAgeMs`, so that each record's offset can be reported (base offset of its
 * partition's batch + its position in it).
 *
 * A topic is looked up the first time it is used: a topic missing on the broker fails its records
 * with UnknownTopicError at once (never auto-created).
 */

const { Kafka, Partitioners, CompressionTypes, CompressionCodecs, logLevel: LEVEL } = require('kafkajs');
const { BackendUnavailableError, DeliveryError, UnknownTopicError, UNKNOWN_TOPIC_HINT } = require('./errors');

/**
 * The compression codec this installation can use: LZ4 when its codec package loads. Registering
 * it is process-wide (kafkajs keeps its codecs in one table), so kafkajs consumers in the same
 * process can read LZ4 batches too.
 */
const LZ4 = (() => {
  try {
    const LZ4Codec = require('kafkajs-lz4');
    CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
    return { available: true, reason: null };
  } catch (err) {
    return { available: false, reason: err.message };
  }
})();

const CODECS = { lz4: CompressionTypes.LZ4, gzip: CompressionTypes.GZIP, none: CompressionTypes.None };

// kafkajs logs every retry of a connection or request (at error level); this library reports the
// outcome that matters (a connect() or a delivery that failed after the retries) itself, with the
// reason, so kafkajs's own log goes to the debug level (logLevel: 'debug' shows it).
function kafkaLogCreator(logger) {
  return () => ({ namespace, log }) => {
    logger.debug(`kafkajs ${namespace}: ${log.message}${log.error ? ` (${log.error})` : ''}`);
  };
}

function errorChain(err) {
  const chain = [];
  for (let e = err; e && chain.length < 5; e = e.originalError || e.cause) chain.push(e);
  return chain;
}

function isUnknownTopic(err) {
  return errorChain(err).some((e) => e.type === 'UNKNOWN_TOPIC_OR_PARTITION');
}

function reasonOf(err) {
  const chain = errorChain(err);
  const retries = chain.find((e) => typeof e.retryCount === 'number');
  const root = chain[chain.length - 1];
  const base = root !== err && root.message && !err.message.includes(root.message) ? `${err.message}: ${root.message}` : err.message;
  return retries ? `${base} (after ${retries.retryCount} retries)` : base;
}

class KafkaTransport {
  /** @param {ReturnType<import('./config').resolveConfig>} config @param {object} logger */
  constructor(config, logger) {
    this.config = config;
    this.logger = logger;
    this.compression = config.compression === 'lz4' && !LZ4.available ? 'gzip' : config.compression;
    if (this.compression !== config.compression) {
      logger.warn(`LZ4 codec unavailable (${LZ4.reason}): compressing with gzip; install kafkajs-lz4 for lz4`);
    }
    this._kafka = new Kafka({
      clientId: config.clientId,
      brokers: config.brokers,
      ssl: config.ssl || undefined,
      sasl: config.sasl,
      connectionTimeout: config.connectionTimeout,
      requestTimeout: config.requestTimeout,
      retry: config.retry,
      logLevel: LEVEL.WARN,
      logCreator: kafkaLogCreator(logger),
    });
    this._producer = this._kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      metadataMaxAge: config.metadataMaxAgeMs,
      retry: config.retry,
    });
    this._admin = this._kafka.admin();
    this._partitioner = Partitioners.DefaultPartitioner();
    this._metadata = new Map(); // topic -> {partitions, expires}
  }

  async connect() {
    try {
      await this._producer.connect();
      await this._admin.connect();
    } catch (err) {
      await this.disconnect().catch(() => {});
      throw new BackendUnavailableError(`cannot connect to Kafka at ${this.config.brokers.join(',')}: ${reasonOf(err)}; ` +
        'check KAFKA_BOOTSTRAP_SERVERS (and KAFKA_SECURITY_PROTOCOL) and that the broker is running', { cause: err });
    }
  }

  async disconnect() {
    await Promise.allSettled([this._producer.disconnect(), this._admin.disconnect()]);
  }

  /** Partition metadata of `topic` (cached); UnknownTopicError when the broker does not have it. */
  async partitionsOf(topic) {
    const cached = this._metadata.get(topic);
    if (cached && cached.expires > Date.now()) return cached.partitions;
    let meta;
    try {
      meta = await this._admin.fetchTopicMetadata({ topics: [topic] });
    } catch (err) {
      if (isUnknownTopic(err)) throw new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT);
      throw new DeliveryError(topic, `cannot read the topic's metadata: ${reasonOf(err)}`, { cause: err });
    }
    const partitions = meta.topics[0].partitions.slice().sort((a, b) => a.partitionId - b.partitionId);
    if (partitions.length === 0) throw new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT);
    this._metadata.set(topic, { partitions, expires: Date.now() + this.config.metadataMaxAgeMs });
    return partitions;
  }

  /** The partition kafkajs's DefaultPartitioner picks for `key` among `partitions` metadata entries. */
  partitionFor(topic, partitions, key) {
    return this._partitioner({ topic, partitionMetadata: partitions, message: { key } });
  }

  /**
   * Send records ({topic, key, value, headers, timestamp, eventId}) in one request; one outcome per
   * record: {topic, partition, offset, key, eventId, timestamp} or an Error. Never throws.
   */
  async send(records) {
    const outcomes = new Array(records.length);
    const placed = []; // [record index, topic, partition] in request order
    const topicMessages = [];
    for (const [topic, indexes] of groupByTopic(records)) {
      let partitions;
      try {
        partitions = await this.partitionsOf(topic);
      } catch (err) {
        for (const i of indexes) outcomes[i] = err;
        continue;
      }
      const messages = indexes.map((i) => {
        const r = records[i];
        const partition = this.partitionFor(topic, partitions, r.key);
        placed.push([i, topic, partition]);
        return { key: r.key, value: r.value, headers: r.headers, timestamp: String(r.timestamp), partition };
      });
      topicMessages.push({ topic, messages });
    }
    if (topicMessages.length === 0) return outcomes;
    let results;
    try {
      results = await this._producer.sendBatch({
        topicMessages, acks: -1, timeout: this.config.ackTimeoutMs, compression: CODECS[this.compression],
      });
    } catch (err) {
      for (const { topic } of topicMessages) this._metadata.delete(topic);
      const unknown = isUnknownTopic(err);
      for (const [i, topic] of placed) {
        outcomes[i] = unknown ? new UnknownTopicError(topic, UNKNOWN_TOPIC_HINT) : new DeliveryError(topic, reasonOf(err), { cause: err });
      }
      return outcomes;
    }
    return this._reports(records, placed, results, outcomes);
  }

  _reports(records, placed, results, outcomes) {
    const base = new Map(results.map((r) => [`${r.topicName}\u0000${r.partition}`, Number(r.baseOffset)]));
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

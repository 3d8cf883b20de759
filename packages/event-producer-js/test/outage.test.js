'use strict';
// When the broker is unreachable, errors surface: connect() rejects, producing without a
// connection throws, and events in flight when a broker dies reject, are counted, logged and
// reported by flush(). Nothing is dropped silently. The broker killed here is a throwaway one.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Kafka, logLevel } = require('kafkajs');
const { getEventProducer, BackendUnavailableError, DeliveryError } = require('..');
const { recordingLogger, silentLogger } = require('./helpers');
const { ThrowawayKafka } = require('./throwaway-kafka');

const FAST = { retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 }, connectionTimeout: 1000, requestTimeout: 3000 };
const health = (i) => ({ serviceName: `svc-${i % 5}`, namespace: 'ns', healthStatus: 'HEALTHY', latencyMs: i, errorRate: 0 });

test('with no broker at the address, connect() rejects saying where and how to fix it; producing throws', async () => {
  const producer = getEventProducer('node-outage-test', { ...FAST, bootstrapServers: '127.0.0.1:1', logger: silentLogger });
  await assert.rejects(producer.connect(), (err) => err instanceof BackendUnavailableError
    && /cannot connect to Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED/.test(err.message) && /KAFKA_BOOTSTRAP_SERVERS/.test(err.message));
  assert.equal(producer.connected, false);
  assert.throws(() => producer.produceServiceHealthEvent(health(0)), (err) => err instanceof BackendUnavailableError
    && /await producer\.connect\(\) before producing/.test(err.message));
  assert.deepEqual(producer.getStats(), { produced: 0, delivered: 0, errors: 1, rejected: 0, pending: 0 });
});

test('events in flight when the broker dies reject with DeliveryError, are counted, logged and reported; after a restart the same producer delivers again', async (t) => {
  const kafka = await ThrowawayKafka.create();
  t.after(() => kafka.remove());
  await kafka.start();
  const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'system-health', numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const logger = recordingLogger();
  const producer = getEventProducer('node-outage-test', { ...FAST, bootstrapServers: kafka.bootstrap, logger });
  await producer.connect();
  try {
    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.produceServiceHealthEvent(health(i))));
    assert.equal(before.length, 20);

    await kafka.kill();
    const during = Array.from({ length: 30 }, (_, i) => producer.produceServiceHealthEvent(health(i)));
    const flushed = await producer.flush(60_000);
    assert.equal(flushed.remaining, 0);
    assert.equal(flushed.delivered, 20);
    assert.equal(flushed.failed, 30);
    assert.match(flushed.errors[0], /delivery to 'system-health' failed: .*(ECONNREFUSED|Connection|connect)/i);
    const outcomes = await Promise.allSettled(during);
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.ok(o.reason instanceof DeliveryError && o.reason.topic === 'system-health', String(o.reason));
    }
    assert.deepEqual(producer.getStats(), { produced: 50, delivered: 20, errors: 30, rejected: 0, pending: 0 });
    assert.ok(logger.lines.error.some((l) => /event delivery to system-health failed/.test(l)), 'the failure is logged');

    await kafka.start(); // same data, same ports: the idempotent producer's sequence carries on
    const after = await Promise.all(Array.from({ length: 10 }, (_, i) => producer.produceServiceHealthEvent(health(i))));
    for (const r of after) {
      const earlier = before.filter((b) => b.partition === r.partition);
      if (earlier.length) assert.ok(r.offset > Math.max(...earlier.map((b) => b.offset)), 'appended after the records written before the crash');
    }
    assert.deepEqual(producer.getStats(), { produced: 60, delivered: 30, errors: 30, rejected: 0, pending: 0 });
  } finally {
    await producer.disconnect(1000);
  }
});

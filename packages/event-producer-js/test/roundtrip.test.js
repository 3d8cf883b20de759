'use strict';
// Every event type, produced from Node to the real broker, reads back as expected: through the
// Python library's reader (value bytes, key, headers, timestamp; Python decodes it) and through a
// kafkajs consumer, a client independent of the producer's (LZ4 batches decode in Node too).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Kafka, logLevel } = require('kafkajs');
const { getEventProducer, TOPICS } = require('..');
const { BOOTSTRAP, requireKafka, runPython, throwawayTopic, sampleArguments, silentLogger } = require('./helpers');

test.before(requireKafka);

test('every catalog type round-trips: what Python reads is what Node sent, and Python decodes it', async () => {
  const producer = getEventProducer('node-roundtrip', { bootstrapServers: BOOTSTRAP, logger: silentLogger });
  await producer.connect();
  const args = sampleArguments(crypto.randomInt(1000));
  const correlationId = crypto.randomUUID();
  let reports;
  try {
    reports = await Promise.all(TOPICS.map((spec) => producer[spec.method]({ ...args[spec.method], correlationId })));
  } finally {
    await producer.disconnect();
  }
  assert.equal(producer.compression, 'lz4');
  const records = runPython({ command: 'read', bootstrap: BOOTSTRAP,
    records: reports.map(({ topic, partition, offset }) => ({ topic, partition, offset })) });
  const resealed = runPython({ command: 'seal',
    cases: records.map((r, i) => ({ eventType: TOPICS[i].eventType, event: JSON.parse(r.value) })) });
  TOPICS.forEach((spec, i) => {
    const report = reports[i];
    const record = records[i];
    assert.ok(record, `${spec.eventType}: nothing at ${report.topic}[${report.partition}]@${report.offset}`);
    assert.equal(report.topic, spec.name);
    assert.equal(record.decoded, spec.eventType, `${spec.eventType}: Python decode_event`);
    const event = JSON.parse(record.value);
    assert.equal(event.eventId, report.eventId);
    assert.equal(event.correlationId, correlationId);
    assert.equal(event.source, 'node-roundtrip');
    assert.equal(record.key, report.key);
    assert.equal(record.timestamp, report.timestamp);
    assert.equal(event.timestamp, report.timestamp);
    assert.equal(record.value, resealed[i].value, `${spec.eventType}: Node's bytes are the bytes Python writes for this event`);
    assert.equal(record.key, resealed[i].key);
    assert.deepEqual(record.headers, [
      ['ce_specversion', '1.0'], ['ce_id', report.eventId], ['ce_source', 'node-roundtrip'], ['ce_type', spec.ceType],
      ['ce_time', new Date(report.timestamp).toISOString()], ['content-type', 'application/json'],
    ]);
  });
  assert.deepEqual(producer.getStats(), { produced: 12, delivered: 12, errors: 0, rejected: 0, pending: 0 });
});

test('a kafkajs consumer reads back LZ4-compressed batches of events exactly as sent', async () => {
  const topic = await throwawayTopic(3);
  const producer = getEventProducer('node-consumer-test', { bootstrapServers: BOOTSTRAP, logger: silentLogger });
  const consumer = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING })
    .consumer({ groupId: `node-test-${crypto.randomUUID()}`, sessionTimeout: 10_000 });
  try {
    await producer.connect();
    const sent = [];
    const deliveries = [];
    for (let i = 0; i < 300; i++) {
      const event = { eventType: 'ServiceHealthEvent', serviceName: `svc-${i % 7}`, namespace: 'ns', healthStatus: 'DEGRADED',
        latencyMs: i + 0.25, errorRate: (i % 100) / 100, message: 'x'.repeat(i % 50) };
      deliveries.push(producer.produceCustomEvent(topic.name, event.serviceName, event));
      sent.push(event);
    }
    const reports = await Promise.all(deliveries);
    const byOffset = new Map(reports.map((r, i) => [`${r.partition}:${r.offset}`, { report: r, event: sent[i] }]));
    await consumer.connect();
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    const received = [];
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.push({ partition, message });
          if (received.length === sent.length) resolve();
        },
      }).catch(reject);
    });
    for (const { partition, message } of received) {
      const expected = byOffset.get(`${partition}:${message.offset}`);
      assert.ok(expected, `unexpected record at ${partition}:${message.offset}`);
      const value = JSON.parse(message.value.toString());
      assert.equal(value.eventId, expected.report.eventId);
      assert.equal(value.latencyMs, expected.event.latencyMs);
      assert.equal(message.key.toString(), expected.event.serviceName);
      assert.equal(message.headers.ce_type.toString(), 'com.carbon254.system.health');
      assert.equal(message.headers.ce_id.toString(), expected.report.eventId);
    }
    assert.equal(received.length, 300);
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect();
    await topic.remove();
  }
});

test('gzip and uncompressed producers deliver too, and the kafkajs consumer reads them back', async () => {
  const topic = await throwawayTopic(2);
  const consumer = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING })
    .consumer({ groupId: `node-test-${crypto.randomUUID()}`, sessionTimeout: 10_000 });
  const ids = new Set();
  try {
    for (const compression of ['gzip', 'none']) {
      const producer = getEventProducer('node-codec-test', { bootstrapServers: BOOTSTRAP, logger: silentLogger, compression });
      await producer.connect();
      assert.equal(producer.compression, compression);
      const reports = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        producer.produceCustomEvent(topic.name, `k-${i}`, { eventType: 'Codec', compression, i })));
      for (const r of reports) ids.add(r.eventId);
      await producer.disconnect();
    }
    await consumer.connect();
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    const seen = new Set();
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read back ${seen.size} of ${ids.size} events in 60 s`)), 60_000);
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.headers.ce_id.toString()); // a custom event's payload goes out as given: no eventId in it
          if (seen.size === ids.size) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
    assert.deepEqual([...seen].sort(), [...ids].sort());
  } finally {
    await consumer.disconnect().catch(() => {});
    await topic.remove();
  }
});

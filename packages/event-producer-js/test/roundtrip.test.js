'use strict';
// Every event type, produced from Node to the real broker, reads back as expected: through the
// Python library's reader (value bytes, key, headers, timestamp; Python decodes it) and through a
// kafkajs consumer (LZ4 batches decode in Node too).

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

test('without the optional LZ4 codec the producer says so once and delivers with gzip', () => {
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'kafkajs-lz4') throw Object.assign(new Error("Cannot find module 'kafkajs-lz4'"), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    const { getEventProducer } = require(${JSON.stringify(require.resolve('..'))});
    const warnings = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) };
    (async () => {
      const producer = getEventProducer('no-lz4', { bootstrapServers: ${JSON.stringify(BOOTSTRAP)}, logger });
      await producer.connect();
      const report = await producer.produceDeploymentEvent({ deploymentName: 'd', namespace: 'n', action: 'SCALE', deployedVersion: 'v1', deployedBy: 'ci' });
      await producer.disconnect();
      process.stdout.write(JSON.stringify({ compression: producer.compression, warnings, report }));
    })();`;
  const run = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const { compression, warnings, report } = JSON.parse(run.stdout);
  assert.equal(compression, 'gzip');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /LZ4 codec unavailable \(Cannot find module 'kafkajs-lz4'\): compressing with gzip/);
  assert.equal(report.topic, 'deployment-events');
});

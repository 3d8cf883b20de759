'use strict';
// Events from many calls share produce requests; order and offsets hold; stats and flush tell the
// truth; back-pressure is an error the caller sees.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { getEventProducer, BackendUnavailableError, UnknownTopicError } = require('..');
const { BOOTSTRAP, requireKafka, recordingLogger, silentLogger } = require('./helpers');

test.before(requireKafka);

/** A connected producer whose requests to the broker are counted. */
async function countingProducer(options = {}) {
  const producer = getEventProducer('node-batching-test', { bootstrapServers: BOOTSTRAP, logger: silentLogger, ...options });
  const transport = producer._transport;
  const send = transport.send.bind(transport);
  const batches = [];
  transport.send = (records) => {
    batches.push(records.length);
    return send(records);
  };
  await producer.connect();
  return { producer, batches };
}

test('3000 events produced without awaiting travel in a few requests, in order, with dense offsets', async () => {
  const { producer, batches } = await countingProducer();
  try {
    const run = crypto.randomUUID().slice(0, 8);
    const deliveries = [];
    for (let i = 0; i < 3000; i++) {
      deliveries.push(producer.produceDataQualityEvent({ datasetName: `ds-${run}-${i % 5}`, checkType: 'validity', checkName: `c${i}`,
        result: 'PASS', score: 1, failedRecords: 0, totalRecords: i }));
    }
    assert.equal(producer.getStats().pending, 3000, 'no event is settled while the calls are being made');
    assert.ok(batches.length <= 2, 'only a full batch leaves before the calls end');
    const flushed = await producer.flush(30_000);
    assert.deepEqual(flushed, { remaining: 0, delivered: 3000, failed: 0, errors: [], ok: true });
    assert.ok(batches.length <= 10, `3000 events took ${batches.length} requests`);
    assert.equal(batches.reduce((a, b) => a + b, 0), 3000);
    const reports = await Promise.all(deliveries);
    const byKey = new Map();
    reports.forEach((r, i) => {
      const list = byKey.get(r.key) || [];
      list.push([i, r]);
      byKey.set(r.key, list);
    });
    assert.equal(byKey.size, 5);
    for (const list of byKey.values()) {
      assert.equal(new Set(list.map(([, r]) => r.partition)).size, 1, 'one key, one partition');
      list.forEach(([, r], n) => n > 0 && assert.ok(r.offset > list[n - 1][1].offset, 'offsets grow in produce order'));
    }
    const perPartition = new Map();
    for (const r of reports) perPartition.set(r.partition, [...(perPartition.get(r.partition) || []), r.offset]);
    for (const offsets of perPartition.values()) {
      offsets.sort((a, b) => a - b);
      assert.equal(new Set(offsets).size, offsets.length, 'no two events share an offset');
    }
    assert.deepEqual(producer.getStats(), { produced: 3000, delivered: 3000, errors: 0, rejected: 0, pending: 0 });
  } finally {
    await producer.disconnect();
  }
});

test('a record bigger than maxBatchBytes travels alone; batches respect maxBatchCount', async () => {
  const { producer, batches } = await countingProducer({ maxBatchCount: 50, maxBatchBytes: 20_000 });
  try {
    const big = 'x'.repeat(30_000);
    const deliveries = [];
    for (let i = 0; i < 120; i++) {
      deliveries.push(producer.produceConfigChangeEvent({ resource: `r/${i % 3}`, changeType: 'UPDATE', changedBy: 'ops', diff: i === 60 ? big : 'd' }));
    }
    await Promise.all(deliveries);
    assert.ok(batches.every((n) => n <= 50), `batches ${batches}`);
    assert.ok(batches.includes(1), `the big record should travel alone: ${batches}`);
  } finally {
    await producer.disconnect();
  }
});

test('a single awaited event is delivered after the linger time, without waiting for a full batch', async () => {
  const { producer, batches } = await countingProducer({ lingerMs: 20 });
  try {
    const report = await producer.produceServiceHealthEvent({ serviceName: 'solo', namespace: 'ns', healthStatus: 'UNKNOWN', latencyMs: 0, errorRate: 0 });
    assert.equal(report.topic, 'system-health');
    assert.deepEqual(batches, [1]);
  } finally {
    await producer.disconnect();
  }
});

test('beyond maxQueued unacknowledged events, a produce call throws and is counted as an error', async () => {
  const { producer } = await countingProducer({ maxQueued: 10 });
  try {
    const deliveries = [];
    for (let i = 0; i < 10; i++) deliveries.push(producer.produceSecurityEvent({ category: 'AUTHN_FAILURE', severity: 'LOW', resource: '/r' }));
    assert.throws(() => producer.produceSecurityEvent({ category: 'AUTHN_FAILURE', severity: 'LOW', resource: '/r' }),
      (err) => err instanceof BackendUnavailableError && /maxQueued/.test(err.message));
    await Promise.all(deliveries);
    await producer.produceSecurityEvent({ category: 'AUTHN_FAILURE', severity: 'LOW', resource: '/r' });
    assert.deepEqual(producer.getStats(), { produced: 11, delivered: 11, errors: 1, rejected: 0, pending: 0 });
  } finally {
    await producer.disconnect();
  }
});

test('a topic missing on the broker fails its events with UnknownTopicError, counted, logged, reported by flush', async () => {
  const logger = recordingLogger();
  const producer = getEventProducer('node-batching-test', { bootstrapServers: BOOTSTRAP, logger });
  await producer.connect();
  try {
    const missing = `no-such-topic-${crypto.randomUUID().slice(0, 8)}`;
    const lost = producer.produceCustomEvent(missing, 'k', { hello: 'world' }); // not awaited, on purpose
    const fine = producer.produceCustomEvent('config-changes', 'k', { eventType: 'ConfigChangeEvent', resource: 'r', changeType: 'CREATE', changedBy: 'me' });
    const flushed = await producer.flush();
    assert.equal(flushed.failed, 1);
    assert.equal(flushed.delivered, 1);
    assert.match(flushed.errors[0], new RegExp(`unknown topic '${missing}'.*carbonplane topics apply`));
    await assert.rejects(lost, (err) => err instanceof UnknownTopicError && err.topic === missing);
    assert.equal((await fine).topic, 'config-changes');
    assert.equal(logger.lines.error.length, 1);
    assert.match(logger.lines.error[0], new RegExp(`delivery to ${missing} failed`));
    assert.deepEqual(producer.getStats(), { produced: 2, delivered: 1, errors: 1, rejected: 0, pending: 0 });
  } finally {
    await producer.disconnect();
  }
});

test('a caller that never looks at the returned promises does not crash on failures: they are counted and flushed', () => {
  const script = `
    const { getEventProducer } = require(${JSON.stringify(require.resolve('..'))});
    (async () => {
      const producer = getEventProducer('fire-and-forget', { bootstrapServers: ${JSON.stringify(BOOTSTRAP)}, logLevel: 'silent' });
      await producer.connect();
      producer.produceCustomEvent('no-such-topic-${crypto.randomUUID().slice(0, 8)}', 'k', { a: 1 });
      producer.produceSecurityEvent({ category: 'CERT_ISSUED', severity: 'LOW', resource: 'mesh/ca' });
      const flushed = await producer.disconnect();
      process.stdout.write(JSON.stringify({ flushed, stats: producer.getStats() }));
    })();`;
  const run = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `the process died: ${run.stderr}`);
  const { flushed, stats } = JSON.parse(run.stdout);
  assert.deepEqual([flushed.delivered, flushed.failed, flushed.remaining], [1, 1, 0]);
  assert.deepEqual(stats, { produced: 2, delivered: 1, errors: 1, rejected: 0, pending: 0 });
});

'use strict';
// The wire form (key, value bytes, headers) is the Python library's, byte for byte.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { TOPICS, TOPIC_BY_EVENT_TYPE } = require('../src/catalog');
const { sealEvent, sealCustom, rfc3339Ms } = require('../src/envelope');
const { argumentsToFields } = require('../src/methods');
const { formatFloat } = require('../src/wire-json');
const { runPython, sampleArguments } = require('./helpers');

/** One complete event of every type, envelope included, built from the sample method arguments. */
function completeEvents(i) {
  const args = sampleArguments(i);
  return TOPICS.map((spec, n) => {
    const fields = argumentsToFields(spec.eventType, args[spec.method]);
    const sealed = sealEvent(spec, { ...fields, eventId: crypto.randomUUID(), timestamp: 1795796144120 + n * 1001, source: `svc-${n}` }, 'unused');
    return { spec, event: JSON.parse(sealed.value), sealed };
  });
}

test('key, value and headers of every event type are byte-identical to the Python library\'s', () => {
  const events = [...completeEvents(3), ...completeEvents(11)];
  // Extra float shapes in the float fields, and optional envelope fields.
  const health = TOPIC_BY_EVENT_TYPE.get('ServiceHealthEvent');
  for (const [latencyMs, errorRate] of [[0, 0], [1e-7, 1], [1e16, 0.5], [123456789.125, 2.5e-5], [1e300, 1e-300]]) {
    const fields = { serviceName: 'é-svc/✓', namespace: 'ns', healthStatus: 'DEGRADED', latencyMs, errorRate, message: 'line\n"quoted" \u0001',
      eventId: crypto.randomUUID(), timestamp: 1, source: 's', correlationId: 'c-1', causationId: 'e-0' };
    events.push({ spec: health, event: JSON.parse(sealEvent(health, fields, 'x').value), sealed: sealEvent(health, fields, 'x') });
  }
  const python = runPython({ command: 'seal', cases: events.map(({ spec, event }) => ({ eventType: spec.eventType, event })) });
  events.forEach(({ spec, sealed }, i) => {
    assert.equal(sealed.value, python[i].value, `${spec.eventType} value`);
    assert.equal(sealed.key, python[i].key, `${spec.eventType} key`);
    assert.deepEqual(Object.entries(sealed.headers), python[i].headers, `${spec.eventType} headers`);
  });
});

test('float fields are written as Python writes floats, for 3000 random doubles', () => {
  const values = [];
  const buf = crypto.randomBytes(8);
  while (values.length < 3000) {
    crypto.randomFillSync(buf);
    const x = buf.readDoubleLE(0);
    if (Number.isFinite(x)) values.push(x);
  }
  for (let e = -330; e <= 308; e += 7) values.push(10 ** e, 1.5 * 10 ** e);
  values.push(0, 1, 25, 0.1, 1e15, 1e16, 123456789012345680, 5e-324, 2 ** 53, 1e-5, 1e-6);
  const python = runPython({ command: 'floats', values });
  const mismatches = values.map((v, i) => [v, formatFloat(v), python[i]]).filter(([, a, b]) => a !== b);
  assert.deepEqual(mismatches.slice(0, 5), []);
});

test('the envelope is filled: uuid v4 eventId, timestamp now, source, version, in wire order', () => {
  const before = Date.now();
  const spec = TOPIC_BY_EVENT_TYPE.get('DataIngestionEvent');
  const sealed = sealEvent(spec, { datasetName: 'prices', recordCount: 1, sizeBytes: 2, location: 's3://b/p' }, 'my-service');
  const event = JSON.parse(sealed.value);
  assert.deepEqual(Object.keys(event), ['eventId', 'eventType', 'timestamp', 'source', 'version', 'datasetName', 'recordCount',
    'sizeBytes', 'format', 'location', 'status', 'metadata']);
  assert.match(event.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(event.timestamp >= before && event.timestamp <= Date.now());
  assert.deepEqual([event.eventType, event.source, event.version, event.format, event.status, event.metadata],
    ['DataIngestionEvent', 'my-service', '1.0.0', 'parquet', 'SUCCESS', {}]);
  assert.equal(sealed.key, 'prices');
  assert.deepEqual(sealed.headers, {
    ce_specversion: '1.0', ce_id: event.eventId, ce_source: 'my-service', ce_type: 'com.carbon254.data.ingestion',
    ce_time: new Date(event.timestamp).toISOString(), 'content-type': 'application/json',
  });
});

test('a lineage event is keyed sourceDataset->targetDataset and its columns are written in schema order', () => {
  const spec = TOPIC_BY_EVENT_TYPE.get('DataLineageEvent');
  const sealed = sealEvent(spec, { sourceDataset: 'raw.a', targetDataset: 'cur.b', transformationType: 'COPY', transformationName: 'cp',
    columns: [{ transformation: 'x*2', targetColumn: 't', sourceColumn: 's' }] }, 'svc');
  assert.equal(sealed.key, 'raw.a->cur.b');
  assert.ok(sealed.value.endsWith('"columns":[{"sourceColumn":"s","targetColumn":"t","transformation":"x*2"}]}'), sealed.value);
});

test('ce_time is RFC 3339 in UTC with milliseconds', () => {
  assert.equal(rfc3339Ms(0), '1970-01-01T00:00:00.000Z');
  assert.equal(rfc3339Ms(1795796144120), '2026-11-27T16:15:44.120Z');
  assert.equal(rfc3339Ms(253402300800000), '10000-01-01T00:00:00.000Z');
});

test('a custom event goes out as given, with ce_type com.carbon254.custom.<topic>', () => {
  const sealed = sealCustom('market-data', { eventId: 'm-1', timestamp: 1000, price: 25, source: 'feed' }, 'svc');
  assert.equal(sealed.value, '{"eventId":"m-1","timestamp":1000,"price":25,"source":"feed"}');
  assert.deepEqual(sealed.headers, { ce_specversion: '1.0', ce_id: 'm-1', ce_source: 'feed', ce_type: 'com.carbon254.custom.market-data',
    ce_time: '1970-01-01T00:00:01.000Z', 'content-type': 'application/json' });
  const bare = sealCustom('market-data', { price: 1 }, 'svc');
  assert.equal(bare.headers.ce_source, 'svc');
  assert.match(bare.headers.ce_id, /^[0-9a-f-]{36}$/);
});

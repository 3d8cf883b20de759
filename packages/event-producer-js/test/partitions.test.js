'use strict';
// A key lands on the same partition from Node and from Python (and Java): murmur2 on the Java
// vector, partitionFor against the Python library's partition_for, and on the real broker.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { getEventProducer, murmur2, partitionFor } = require('..');
const { BOOTSTRAP, requireKafka, runPython, silentLogger } = require('./helpers');

function randomKeys(n) {
  const alphabet = ['a', 'Z', '0', '-', '_', '.', '/', 'é', 'ß', '€', '✓', '中', '😀', ' '];
  return Array.from({ length: n }, (_, i) => {
    const len = i % 41;
    return Array.from({ length: len }, () => alphabet[crypto.randomInt(alphabet.length)]).join('');
  });
}

test('murmur2 is Java\'s: Utils.murmur2("21".getBytes()) = -973932308', () => {
  assert.equal(murmur2('21'), -973932308);
  assert.equal(murmur2(Buffer.from('21')), -973932308);
});

test('partitionFor and murmur2 agree with the Python library on 600 keys and several partition counts', () => {
  const keys = randomKeys(600);
  for (const partitions of [1, 3, 6, 7, 12]) {
    const python = runPython({ command: 'partition', keys, partitions });
    assert.deepEqual(keys.map((k) => partitionFor(k, partitions)), python.partitions, `${partitions} partitions`);
    if (partitions === 12) assert.deepEqual(keys.map((k) => murmur2(k)), python.murmur2);
  }
});

test('on the real broker, the same keys produced from Python and from Node land on the same partitions', async () => {
  await requireKafka();
  const keys = [...randomKeys(40).map((k, i) => `${k}-${i}`), 'commodity_prices', 'commodity_prices_0', 'raw.prices->curated.prices', '21'];
  const fromPython = runPython({ command: 'produce', bootstrap: BOOTSTRAP, keys });
  const producer = getEventProducer('node-partition-test', { bootstrapServers: BOOTSTRAP, logger: silentLogger });
  await producer.connect();
  try {
    const reports = await Promise.all(keys.map((datasetName) =>
      producer.produceDataIngestionEvent({ datasetName, recordCount: 1, sizeBytes: 1, location: 's3://b/k' })));
    assert.deepEqual(reports.map((r) => r.partition), fromPython);
    assert.deepEqual(reports.map((r) => r.partition), keys.map((k) => partitionFor(k, 12)));
    assert.ok(new Set(fromPython).size >= 8, 'the keys should spread over the 12 partitions');
  } finally {
    await producer.disconnect();
  }
});

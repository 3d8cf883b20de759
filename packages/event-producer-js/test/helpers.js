'use strict';
/**
 * Shared test fixtures: the real broker (fail, never skip, when it is down), the catalog topics,
 * the Python library as a subprocess (test/python_twin.py), sample arguments for every method.
 */

const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs');
const { compressionsAlgorithms } = require('@platformatic/kafka');

// The tests read back through kafkajs, a client independent of the producer's. kafkajs has no LZ4 of
// its own: it decodes LZ4 batches with the producer client's LZ4 (WebAssembly), registered here.
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => compressionsAlgorithms.lz4.compressSync(encoder.buffer),
  decompress: async (buffer) => compressionsAlgorithms.lz4.decompressSync(buffer),
});
const { TOPICS } = require('../src/catalog');

const REPO = path.resolve(__dirname, '..', '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const CARBONPLANE = path.join(REPO, '.venv', 'bin', 'carbonplane');
const BOOTSTRAP = '127.0.0.1:9092';

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that keeps every line, by level. */
function recordingLogger() {
  const lines = { debug: [], info: [], warn: [], error: [] };
  return { lines, debug: (m) => lines.debug.push(m), info: (m) => lines.info.push(m), warn: (m) => lines.warn.push(m), error: (m) => lines.error.push(m) };
}

function tcpReachable(hostPort, timeoutMs = 2000) {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

let topicsReady = null;

/** Fail (with how to fix it) unless the broker answers and every catalog topic exists. */
async function requireKafka() {
  if (!(await tcpReachable(BOOTSTRAP))) {
    assert.fail(`no Kafka broker on ${BOOTSTRAP}: start it with \`make kafka-up\` (at the repository root)`);
  }
  topicsReady = topicsReady || ensureCatalogTopics();
  await topicsReady;
}

async function ensureCatalogTopics() {
  const admin = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (TOPICS.every((t) => existing.has(t.name))) return;
    const run = spawnSync(CARBONPLANE, ['topics', 'apply'], {
      env: { ...process.env, KAFKA_BOOTSTRAP_SERVERS: BOOTSTRAP }, encoding: 'utf8', timeout: 120_000,
    });
    assert.equal(run.status, 0, `\`carbonplane topics apply\` failed (run \`make setup\` first?): ${run.stderr || run.error}`);
  } finally {
    await admin.disconnect();
  }
}

/** Run one command of test/python_twin.py and return its JSON answer. */
function runPython(request, timeoutMs = 120_000) {
  if (!fs.existsSync(PYTHON)) assert.fail(`no ${PYTHON}: run \`make setup\` at the repository root`);
  const run = spawnSync(PYTHON, [path.join(__dirname, 'python_twin.py')], {
    input: JSON.stringify(request), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(run.status, 0, `python_twin ${request.command} failed: ${run.stderr || run.error}`);
  return JSON.parse(run.stdout);
}

/** A topic for one test: created with `partitions`, deleted by the returned cleanup. */
async function throwawayTopic(partitions = 3) {
  const name = `node-test-${crypto.randomBytes(6).toString('hex')}`;
  const admin = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  return {
    name,
    async remove() {
      await admin.deleteTopics({ topics: [name] }).catch(() => {});
      await admin.disconnect();
    },
  };
}

/** Method arguments for one valid event of each type (the Python samples' values), varied by `i`. */
function sampleArguments(i = 0) {
  return {
    produceDataIngestionEvent: { datasetName: `commodity_prices_${i % 16}`, recordCount: 10_000 + i, sizeBytes: 1_024_000,
      location: `s3://254carbon-lake/prices/${i}.parquet`, metadata: { region: 'eu-west' } },
    produceDataQualityEvent: { datasetName: `commodity_prices_${i % 16}`, checkType: 'completeness', checkName: 'no_null_prices',
      result: 'WARNING', score: 0.97, failedRecords: 30, totalRecords: 1000, message: '30 null prices' },
    produceDataLineageEvent: { sourceDataset: `raw.prices_${i % 8}`, targetDataset: 'curated.prices', transformationType: 'TRANSFORM',
      transformationName: 'normalise_units', query: 'SELECT * FROM raw.prices',
      columns: [{ targetColumn: 'price', sourceColumn: 'px', transformation: 'px / 100' }] },
    produceDataTransformationEvent: { jobName: `curate_prices_${i % 8}`, inputDatasets: ['raw.prices'], outputDatasets: ['curated.prices'],
      recordsIn: 10_000, recordsOut: 9_970, durationMs: 5_400, engine: 'trino' },
    produceServiceHealthEvent: { serviceName: `svc-${i % 12}`, namespace: 'data-platform', healthStatus: 'HEALTHY', latencyMs: 25,
      errorRate: 0.001 },
    produceDeploymentEvent: { deploymentName: `trino-coordinator-${i % 4}`, namespace: 'data-platform', action: 'DEPLOY',
      deployedVersion: 'v1.2.0', previousVersion: 'v1.1.3', replicas: 2, deployedBy: 'ci' },
    produceConfigChangeEvent: { resource: `gateway/routes/trino-api-${i % 4}`, changeType: 'UPDATE', changedBy: 'ops@254carbon.com',
      configVersion: '42', reason: 'raise rate limit' },
    produceSecurityEvent: { category: 'RATE_LIMITED', severity: 'LOW', resource: '/api/trino', principal: 'consumer-7',
      sourceIp: '10.0.0.7', details: { limit: '50/min' } },
    produceUserActionEvent: { userId: `u-${i % 64}`, username: `analyst${i % 64}`, action: 'EXPORT', resource: 'dashboards/prices',
      resourceType: 'dashboard', result: 'SUCCESS', ipAddress: '10.0.0.9', userAgent: 'Mozilla/5.0' },
    produceAPICallEvent: { service: `trino-${i % 12}`, endpoint: '/api/trino/v1/statement', method: 'POST', statusCode: 200,
      latencyMs: 12.5, requestSize: 512, responseSize: 2048, userId: 'u-1', apiKeyId: 'key-7f3a', ipAddress: '10.0.0.10' },
    produceDataAccessEvent: { userId: `u-${i % 64}`, dataset: 'curated.prices', accessType: 'READ', result: 'SUCCESS', rowCount: 120,
      query: 'SELECT price FROM curated.prices', ipAddress: '10.0.0.11' },
    produceAdminOperationEvent: { adminUser: `admin-${i % 4}`, operation: 'ROTATE_KEY', target: 'jwt/portal-service', result: 'SUCCESS',
      ipAddress: '10.0.0.12', details: { ticket: 'OPS-1' } },
  };
}

module.exports = {
  REPO, PYTHON, BOOTSTRAP, silentLogger, recordingLogger, tcpReachable, requireKafka, runPython, throwawayTopic, sampleArguments,
};

#!/usr/bin/env node
'use strict';
/**
 * Producer throughput against the real broker, with a baseline measured in the same run.
 *
 *   node bench/produce.js [events=50000]      (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092)
 *
 * baseline  raw @platformatic/kafka (the client underneath): the same producer settings
 *           (idempotent, acks -1, LZ4, one request in flight) sending pre-encoded records,
 *           5000 per request: the ceiling of the client. Clients compared: bench/clients.mjs.
 *
 * Run it 3+ times and take medians: the machine's other load moves single runs a lot.
 * library   produceServiceHealthEvent() called `events` times without awaiting, then flush():
 *           validation, envelope, JSON, linger queue and delivery reports included.
 * awaited   500 events, each awaited before the next: the latency of one event.
 *
 * Bounded: at most `events` records per phase and 60 s per phase; traffic to the given broker only.
 */

const crypto = require('node:crypto');
const pk = require('@platformatic/kafka');
const { getEventProducer } = require('..');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092';
const EVENTS = Math.min(Number(process.argv[2] || 50_000), 500_000);
const PHASE_LIMIT_MS = 60_000;
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };

function fields(i) {
  return { serviceName: `svc-${i % 64}`, namespace: 'data-platform', healthStatus: 'HEALTHY', latencyMs: 25 + (i % 10), errorRate: 0.001 };
}

async function baseline(n) {
  const producer = new pk.Producer({ clientId: 'bench-raw', bootstrapBrokers: BOOTSTRAP.split(','), idempotent: true,
    acks: pk.ProduceAcks.ALL, compression: 'lz4', autocreateTopics: false, serializers: pk.stringSerializers });
  await producer.initIdempotentProducer({});
  const messages = Array.from({ length: n }, (_, i) => ({ topic: 'system-health', key: `svc-${i % 64}`,
    value: JSON.stringify({ eventId: crypto.randomUUID(), eventType: 'ServiceHealthEvent', timestamp: Date.now(), source: 'bench', version: '1.0.0', ...fields(i) }),
    headers: { ce_specversion: '1.0', ce_id: crypto.randomUUID(), ce_source: 'bench', ce_type: 'com.carbon254.system.health',
      ce_time: new Date().toISOString(), 'content-type': 'application/json' } }));
  const started = process.hrtime.bigint();
  let sent = 0;
  for (let i = 0; i < n && Number(process.hrtime.bigint() - started) / 1e6 < PHASE_LIMIT_MS; i += 5000) {
    const batch = messages.slice(i, i + 5000);
    await producer.send({ messages: batch });
    sent += batch.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.close();
  return { events: sent, seconds };
}

async function library(n) {
  const producer = getEventProducer('bench', { bootstrapServers: BOOTSTRAP, logger: quiet, maxQueued: n + 1 });
  await producer.connect();
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) producer.produceServiceHealthEvent(fields(i));
  const flushed = await producer.flush(PHASE_LIMIT_MS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.disconnect();
  if (!flushed.ok) throw new Error(`library phase: ${JSON.stringify(flushed)}`);
  return { events: flushed.delivered, seconds };
}

async function awaited(n) {
  const producer = getEventProducer('bench', { bootstrapServers: BOOTSTRAP, logger: quiet, lingerMs: 0 });
  await producer.connect();
  const latencies = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await producer.produceServiceHealthEvent(fields(i));
    latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await producer.disconnect();
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(n * 0.5)], p99: latencies[Math.floor(n * 0.99)] };
}

(async () => {
  await library(Math.min(EVENTS, 5000)); // warm up the JIT and the connections
  const base = await baseline(EVENTS);
  const lib = await library(EVENTS);
  const lat = await awaited(500);
  const rate = (r) => Math.round(r.events / r.seconds);
  const client = require(require('node:path').join(__dirname, '..', 'node_modules', '@platformatic', 'kafka', 'package.json')).version;
  console.log(`node ${process.version}, @platformatic/kafka ${client}, broker ${BOOTSTRAP}, ${require('node:os').cpus().length} cpus`);
  console.log(`baseline (raw client, 5000/request): ${rate(base)} events/s (${base.events} in ${base.seconds.toFixed(2)} s)`);
  console.log(`library (not awaited, flush):        ${rate(lib)} events/s (${lib.events} in ${lib.seconds.toFixed(2)} s) = ${(rate(lib) / rate(base)).toFixed(2)} x baseline`);
  console.log(`awaited one by one (linger 0):       p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});

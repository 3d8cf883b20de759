#!/usr/bin/env node
/**
 * Kafka clients for Node.js, measured against each other on the same broker with the same records.
 *
 *   node bench/clients.mjs [events=30000] [runs=3]     (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092)
 *
 * Each client sends `events` pre-encoded records (the JSON and CloudEvents headers of
 * ServiceHealthEvents, 64 keys) to a topic of its own (6 partitions, created here, deleted at the
 * end) in requests of 5000 records, awaiting each request: acks=all, idempotent producer, LZ4.
 * Clients take turns run after run, so machine noise hits all alike; the median of `runs` runs is
 * reported with the process CPU (user+system) per record. Every run checks that the broker
 * acknowledged every record (sum of the partitions' end offsets).
 *
 * Clients: kafkajs 2.2.4 (the package's client until it moved; a dev dependency now) with its native
 * LZ4 codec kafkajs-lz4 when that loads (else with @platformatic/kafka's WebAssembly LZ4, and the
 * result says so), and @platformatic/kafka (the package's client). Each is loaded from
 * BENCH_NODE_PATH (a node_modules directory, e.g. one where `npm install kafkajs-lz4@1.2.1` ran)
 * first, then from this package's node_modules. A client that cannot be loaded is reported with the
 * reason and skipped. @confluentinc/kafka-javascript is not here: it does not install from npm alone
 * (docs/decisions.md).
 * Bounded: at most 200,000 records per run, 60 s per run; traffic to the given broker only.
 */

import crypto from 'node:crypto';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092';
const EVENTS = Math.min(Number(process.argv[2] || 30_000), 200_000);
const RUNS = Math.max(1, Number(process.argv[3] || 3));
const BATCH = 5000;
const RUN_LIMIT_MS = 60_000;
const PARTITIONS = 6;
const here = path.dirname(fileURLToPath(import.meta.url));
const roots = [process.env.BENCH_NODE_PATH, path.join(here, '..', 'node_modules')].filter(Boolean);

/** Import `name` from the first of `roots` that has it (ESM or CommonJS). */
async function load(name) {
  const errors = [];
  for (const root of roots) {
    try {
      const req = createRequire(path.join(root, 'x.js'));
      const resolved = req.resolve(name, { paths: [root] });
      let mod;
      try {
        mod = req(resolved); // CommonJS, and ES modules on Node >= 20.19
      } catch (err) {
        if (err.code !== 'ERR_REQUIRE_ESM') throw err;
        mod = await import(pathToFileURL(resolved).href);
      }
      return { mod, version: req(path.join(root, name, 'package.json')).version };
    } catch (err) {
      errors.push(`${root}: ${err.message.split('\n')[0]}`);
    }
  }
  throw new Error(`cannot load ${name} (${errors.join('; ')})`);
}

/** Distinct pre-encoded records; `headers` as kafkajs takes them, `headerMap` (the same bytes) as
 * @platformatic/kafka takes them without header serialisers. */
function records(n) {
  return Array.from({ length: n }, (_, i) => {
    const id = crypto.randomUUID();
    const headers = { ce_specversion: Buffer.from('1.0'), ce_id: Buffer.from(id), ce_source: Buffer.from('bench'),
      ce_type: Buffer.from('com.carbon254.system.health'), ce_time: Buffer.from(new Date().toISOString()), 'content-type': Buffer.from('application/json') };
    return {
      key: Buffer.from(`svc-${i % 64}`),
      value: Buffer.from(JSON.stringify({ eventId: id, eventType: 'ServiceHealthEvent', timestamp: Date.now(), source: 'bench',
        version: '1.0.0', serviceName: `svc-${i % 64}`, namespace: 'data-platform', healthStatus: 'HEALTHY', latencyMs: 25 + (i % 10), errorRate: 0.001 })),
      headers,
      headerMap: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), v])),
    };
  });
}

const clients = {
  async kafkajs() {
    const { mod: kafkajs, version } = await load('kafkajs');
    let lz4 = 'kafkajs-lz4';
    try {
      const { mod: LZ4Codec, version: codecVersion } = await load('kafkajs-lz4');
      kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4] = new LZ4Codec().codec;
      lz4 += ` ${codecVersion}`;
    } catch {
      // kafkajs-lz4 (a native module) is no longer a dependency: LZ4 through @platformatic/kafka's WebAssembly
      const { mod: pk } = await load('@platformatic/kafka');
      const codec = pk.compressionsAlgorithms.lz4;
      kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4] = () => ({
        compress: async (encoder) => codec.compressSync(encoder.buffer), decompress: async (buffer) => codec.decompressSync(buffer) });
      lz4 = 'LZ4 of @platformatic/kafka (WebAssembly)';
    }
    const kafka = new kafkajs.Kafka({ brokers: BOOTSTRAP.split(','), logLevel: kafkajs.logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    return {
      version: `${version}, ${lz4}`,
      async send(topic, batch) {
        await producer.sendBatch({ topicMessages: [{ topic, messages: batch.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) }],
          acks: -1, compression: kafkajs.CompressionTypes.LZ4 });
      },
      close: () => producer.disconnect(),
    };
  },
  async '@platformatic/kafka'() {
    const { mod: pk, version } = await load('@platformatic/kafka');
    const producer = new pk.Producer({ clientId: 'bench-platformatic', bootstrapBrokers: BOOTSTRAP.split(','), idempotent: true,
      acks: pk.ProduceAcks.ALL, compression: 'lz4', autocreateTopics: false, partitioner: pk.compatibilityPartitioner });
    return {
      version,
      async send(topic, batch) {
        await producer.send({ messages: batch.map((m) => ({ topic, key: m.key, value: m.value, headers: m.headerMap })) });
      },
      close: () => producer.close(),
    };
  },
};

async function admin() {
  const { mod: kafkajs } = await load('kafkajs');
  const a = new kafkajs.Kafka({ brokers: BOOTSTRAP.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
  await a.connect();
  return a;
}

async function endOffsets(a, topic) {
  const offsets = await a.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

async function oneRun(name, a, topic, data) {
  const client = await clients[name]();
  const before = await endOffsets(a, topic);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  for (let i = 0; i < data.length && Number(process.hrtime.bigint() - t0) / 1e6 < RUN_LIMIT_MS; i += BATCH) {
    const batch = data.slice(i, i + BATCH);
    await client.send(topic, batch);
    sent += batch.length;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await client.close();
  const acked = (await endOffsets(a, topic)) - before;
  if (acked !== sent) throw new Error(`${name}: ${sent} sent but the topic grew by ${acked}`);
  return { version: client.version, rate: sent / seconds, cpuUsPerRecord: (cpu.user + cpu.system) / sent };
}

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function main() {
  const a = await admin();
  const data = records(EVENTS);
  const results = {};
  const topics = {};
  for (const name of Object.keys(clients)) {
    topics[name] = `bench-clients-${name.replace(/[^a-z]/g, '')}-${process.pid}`;
    await a.createTopics({ topics: [{ topic: topics[name], numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    results[name] = { runs: [] };
  }
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const name of Object.keys(clients)) {
        if (results[name].error) continue;
        try {
          const r = await oneRun(name, a, topics[name], data);
          results[name].version = r.version;
          results[name].runs.push(r);
          console.error(`run ${run + 1} ${name}@${r.version}: ${Math.round(r.rate)} records/s, ${r.cpuUsPerRecord.toFixed(1)} us CPU/record`);
        } catch (err) {
          results[name].error = err.message;
          console.error(`${name}: ${err.message}`);
        }
      }
    }
  } finally {
    await a.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await a.disconnect();
  }
  const summary = {};
  for (const [name, r] of Object.entries(results)) {
    summary[name] = r.error && !r.runs.length ? { error: r.error } : {
      version: r.version, runs: r.runs.length,
      medianRecordsPerS: Math.round(median(r.runs.map((x) => x.rate))),
      rates: r.runs.map((x) => Math.round(x.rate)),
      medianCpuUsPerRecord: Number(median(r.runs.map((x) => x.cpuUsPerRecord)).toFixed(1)),
    };
  }
  console.log(JSON.stringify({ events: EVENTS, batch: BATCH, node: process.version, summary }, null, 2));
}

main().catch((err) => { console.error(err); process.exit(1); });

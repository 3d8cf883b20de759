#!/usr/bin/env node
'use strict';
/**
 * Latency and CPU the Express middleware (expressAudit) adds per request, against the same app
 * without it, measured in the same run.
 *
 *   node bench/express-overhead.js [requests=2000] [rounds=7]   (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092)
 *
 * One server process (a child) serves three identical Express 5 apps on loopback ports: `plain`
 * (a JSON route, no middleware), `audited` (expressAudit first, producing every request's
 * AuditAPICallEvent to a throwaway Kafka topic made for the run and deleted after) and `pathonly`
 * (expressAudit with no reachable broker and queueSize 1: every request pays the request path,
 * tracking and recording, and its call is dropped at the queue, so no event is built). This process
 * is the client: after a warm-up (3 x 500 requests per app), per round, for each app in turn (the
 * order rotates between rounds), `requests` sequential requests on one keep-alive connection, each
 * timed; the server reports its own CPU time (process.cpuUsage) around each
 * app's burst, after the audited app's events are acknowledged, so CPU per request includes
 * building, validating and producing the event.
 *
 * Reported: per app the median over rounds of the p50 and p99 latency and of the server CPU per
 * request; the added latency and CPU of `audited` and `pathonly` are the medians over rounds of
 * their difference with `plain` in the same round.
 * Bounded: at most 20,000 requests per app per round, 15 rounds; loopback only.
 */

const http = require('node:http');
const crypto = require('node:crypto');
const { fork } = require('node:child_process');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092';

if (process.argv[2] === '--serve') serve();
else main().catch((err) => { console.error(err); process.exit(1); });

/** The child: both apps, and CPU readings on request. */
async function serve() {
  const express = require('express');
  const { expressAudit } = require('..');
  const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };
  const audit = expressAudit({ service: 'bench-express', auditTopic: process.env.BENCH_TOPIC, logger: quiet,
    producerOptions: { bootstrapServers: BOOTSTRAP, logger: quiet } });
  const pathOnly = expressAudit({ service: 'bench-express', queueSize: 1, logger: quiet,
    producerOptions: { bootstrapServers: '127.0.0.1:1', logger: quiet, connectionTimeout: 200, retry: { retries: 1 } } });
  const make = (mw) => {
    const app = express();
    if (mw) app.use(mw);
    app.get('/items/:id', (req, res) => res.json({ id: req.params.id, price: 42.5 }));
    return app;
  };
  const listen = (app) => new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  const plain = await listen(make(null));
  const audited = await listen(make(audit));
  const pathonly = await listen(make(pathOnly));
  audit.start();
  process.on('message', async (msg) => {
    if (msg === 'cpu') {
      for (let i = 0; i < 500 && (audit.stats().queued || audit.stats().inFlight); i++) await new Promise((r) => setTimeout(r, 10));
      await audit.emitter.producer.flush(10_000); // produced and acknowledged: their CPU is in this reading
      const { user, system } = process.cpuUsage();
      process.send({ cpuUs: user + system, stats: audit.stats() });
    } else if (msg === 'stop') {
      for (const s of [plain, audited, pathonly]) { s.close(); s.closeAllConnections(); }
      await pathOnly.stop(100);
      process.send({ final: await audit.stop(10_000), pathOnly: pathOnly.stats() });
      process.exit(0);
    }
  });
  process.send({ ports: { plain: plain.address().port, audited: audited.address().port, pathonly: pathonly.address().port } });
}

function ask(child, msg) {
  return new Promise((resolve) => { child.once('message', resolve); child.send(msg); });
}

function get(agent, port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function burst(port, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await get(agent, port, `/items/${i % 100}`);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  agent.destroy();
  times.sort();
  return { p50: times[Math.floor(n * 0.5)], p99: times[Math.floor(n * 0.99)] };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function main() {
  const requests = Math.min(Number(process.argv[2] || 2000), 20_000);
  const rounds = Math.min(Number(process.argv[3] || 7), 15);
  const { Kafka, logLevel } = require('kafkajs');
  const topic = `bench-express-${crypto.randomBytes(4).toString('hex')}`;
  const admin = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  const child = fork(__filename, ['--serve'], { env: { ...process.env, BENCH_TOPIC: topic } });
  try {
    const { ports } = await new Promise((resolve) => child.once('message', resolve));
    const names = ['plain', 'audited', 'pathonly'];
    for (let w = 0; w < 3; w++) for (const name of names) await burst(ports[name], 500); // warm-up (JIT, connection)
    const rows = { plain: [], audited: [], pathonly: [] };
    const added = [];
    const addedPath = [];
    for (let r = 0; r < rounds; r++) {
      const order = names.slice(r % 3).concat(names.slice(0, r % 3));
      for (const name of order) {
        const before = (await ask(child, 'cpu')).cpuUs;
        const lat = await burst(ports[name], requests);
        const after = (await ask(child, 'cpu')).cpuUs;
        rows[name].push({ ...lat, cpu: (after - before) / requests });
      }
      added.push(rows.audited[r].p50 - rows.plain[r].p50);
      addedPath.push(rows.pathonly[r].p50 - rows.plain[r].p50);
    }
    const { final, pathOnly } = await ask(child, 'stop');
    const fmt = (x) => x.toFixed(1);
    console.log(`express-overhead: ${rounds} rounds x ${requests} sequential keep-alive requests per app, loopback`);
    for (const name of names) {
      const rs = rows[name];
      console.log(`  ${name.padEnd(8)} p50 ${fmt(median(rs.map((x) => x.p50)))} us  p99 ${fmt(median(rs.map((x) => x.p99)))} us  ` +
        `server CPU ${fmt(median(rs.map((x) => x.cpu)))} us/request   rounds p50: ${rs.map((x) => fmt(x.p50)).join(' ')}`);
    }
    for (const [name, diffs] of [['audited', added], ['pathonly', addedPath]]) {
      const cpuAdded = rows[name].map((x, i) => x.cpu - rows.plain[i].cpu);
      console.log(`  ${name}: added p50 latency (median of per-round differences) ${fmt(median(diffs))} us   rounds: ${diffs.map(fmt).join(' ')}`);
      console.log(`  ${name}: added server CPU per request (median) ${fmt(median(cpuAdded))} us   rounds: ${cpuAdded.map(fmt).join(' ')}`);
    }
    console.log(`  audit stats at stop: ${JSON.stringify(final)}; pathonly: ${JSON.stringify(pathOnly)}`);
  } finally {
    child.kill();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

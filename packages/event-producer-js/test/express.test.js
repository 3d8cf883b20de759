'use strict';
// The HTTP integrations against real Express and node:http servers on loopback: what each request
// becomes on the real broker (read back with kafkajs), and that the request never waits for or
// fails with the backend (refused, black-holed). Adversarial inputs: spoofed X-Forwarded-For,
// malformed traceparent, a streamed response, handlers that throw or reject.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const express = require('express');
const { Kafka, logLevel } = require('kafkajs');
const { expressAudit, wrapHttpHandler, ConfigError } = require('..');
const { BOOTSTRAP, requireKafka, throwawayTopic, silentLogger } = require('./helpers');

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const FAST = { retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 }, connectionTimeout: 300, requestTimeout: 500 };

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function closeServer(server) {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** One request on a fresh connection: {status, body, ms}. */
function request(server, path, { method = 'GET', headers = {}, body } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.address().port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Read `count` records of `topic` from the start: [{key, value (parsed), headers (strings)}]. */
async function readBack(topic, count, timeoutMs = 60_000) {
  const consumer = new Kafka({ brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING })
    .consumer({ groupId: `node-test-${crypto.randomUUID()}`, sessionTimeout: 10_000 });
  const out = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} records of ${topic} in ${timeoutMs} ms`)), timeoutMs);
      consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()]));
          out.push({ key: message.key.toString(), value: JSON.parse(message.value.toString()), headers });
          if (out.length === count) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
  return out;
}

function demoApp(audit) {
  const app = express();
  app.set('env', 'test'); // Express's error handler prints the stack otherwise
  app.use(audit);
  app.use((req, res, next) => {
    if (req.headers['x-user']) req.user = { id: req.headers['x-user'], username: 'ignored' };
    next();
  });
  const api = express.Router();
  api.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
  api.post('/echo', express.text({ type: '*/*' }), (req, res) => res.send(req.body));
  app.use('/api', api);
  app.get('/healthz', (req, res) => res.send('ok'));
  app.get('/boom', () => { throw new TypeError('handler bug'); });
  app.get('/stream', (req, res) => {
    let i = 0;
    res.setHeader('content-type', 'text/plain');
    const timer = setInterval(() => {
      i += 1;
      if (i < 3) res.write('chunk-of-10');
      else { clearInterval(timer); res.end('last'); }
    }, 40);
  });
  app.use(audit.recordErrors);
  return app;
}

test.before(requireKafka);

test('Express: each request becomes one AuditAPICallEvent with the route template, user, client IP and trace context', async () => {
  const audits = await throwawayTopic(1);
  const healths = await throwawayTopic(1);
  const service = `node-express-${crypto.randomBytes(4).toString('hex')}`;
  const audit = expressAudit({ service, namespace: 'tests', trustedProxies: ['127.0.0.1'], auditTopic: audits.name,
    healthTopic: healths.name, producerOptions: { bootstrapServers: BOOTSTRAP, logger: silentLogger }, logger: silentLogger });
  const server = audit.watch(await listen(demoApp(audit)));
  try {
    const r1 = await request(server, '/api/users/7?expand=1', { headers: { 'x-user': 'u-42', 'x-forwarded-for': '6.6.6.6, 203.0.113.9',
      traceparent: TRACEPARENT, tracestate: 'vendor=abc' } });
    assert.equal(r1.status, 200);
    assert.equal((await request(server, '/api/echo', { method: 'POST', body: 'hello world',
      headers: { 'content-type': 'text/plain', traceparent: `${TRACEPARENT}x` } })).body, 'hello world');
    assert.equal((await request(server, '/boom')).status, 500);
    const streamed = await request(server, '/stream');
    assert.equal(streamed.body, 'chunk-of-10chunk-of-10last');
    assert.equal((await request(server, '/healthz')).status, 200); // excluded by default
    assert.equal((await request(server, '/nope/x?q=secret')).status, 404);
    await new Promise((resolve, reject) => { // the client leaves in the middle of a streamed response
      const req = http.get({ host: '127.0.0.1', port: server.address().port, path: '/stream?abort=1', agent: false }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', (err) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
    });
    const spoofed = await request(server, '/api/users/8', { headers: { 'x-forwarded-for': '203.0.113.10, not-an-ip' } });
    assert.equal(spoofed.status, 200);

    const records = await readBack(audits.name, 7);
    const events = new Map(records.filter((r) => !r.value.errorMessage || r.value.endpoint !== '/stream')
      .map((r) => [`${r.value.method} ${r.value.endpoint} ${r.value.ipAddress}`, r]));
    const users = events.get('GET /api/users/:id 203.0.113.9');
    assert.ok(users, `no users event among ${[...events.keys()]}`);
    assert.equal(users.key, service);
    assert.equal(users.value.statusCode, 200);
    assert.equal(users.value.userId, 'u-42');
    assert.equal(users.value.source, service);
    assert.equal(users.value.responseSizeBytes, Buffer.byteLength('{"id":"7"}'));
    assert.equal(users.headers.ce_traceparent, TRACEPARENT);
    assert.equal(users.headers.ce_tracestate, 'vendor=abc');
    assert.equal(users.headers.ce_type, 'com.carbon254.audit.api_call');
    assert.ok(!('errorMessage' in users.value));

    const echo = events.get('POST /api/echo 127.0.0.1');
    assert.equal(echo.value.requestSizeBytes, 11);
    assert.equal(echo.value.responseSizeBytes, 11);
    assert.ok(!('ce_traceparent' in echo.headers), 'a malformed traceparent is dropped');
    assert.ok(!('userId' in echo.value));

    const boom = events.get('GET /boom 127.0.0.1');
    assert.equal(boom.value.statusCode, 500);
    assert.equal(boom.value.errorMessage, 'TypeError');

    const stream = events.get('GET /stream 127.0.0.1');
    assert.equal(stream.value.statusCode, 200);
    assert.equal(stream.value.responseSizeBytes, 26);
    assert.ok(stream.value.latencyMs >= 100, `a streamed response counts whole: ${stream.value.latencyMs} ms`);

    const aborted = records.find((r) => r.value.endpoint === '/stream' && r.value.errorMessage);
    assert.ok(aborted, 'a response cut short by the client is recorded');
    assert.equal(aborted.value.errorMessage, 'connection closed before the response was complete');
    assert.equal(aborted.value.statusCode, 200);
    assert.equal(aborted.value.ipAddress, '127.0.0.1', 'the peer of a connection already closed is still known');

    const missing = events.get('GET /nope/x 127.0.0.1');
    assert.equal(missing.value.statusCode, 404);

    // a malformed hop stops the walk: the peer is kept, not the client-written address
    assert.ok(events.get('GET /api/users/:id 127.0.0.1'), 'X-Forwarded-For with a malformed hop is not believed');
    assert.deepEqual(audit.stats(), { submitted: 7, sent: 7, droppedQueueFull: 0, droppedError: 0, queued: 0, inFlight: 0 });
  } finally {
    await closeServer(server);
    await new Promise((resolve) => setImmediate(resolve));
    await audit.emitter.close();
  }
  try {
    const health = (await readBack(healths.name, 2)).map((r) => [r.value.healthStatus, r.value.message, r.value.namespace, r.key]);
    assert.deepEqual(health, [['HEALTHY', 'started', 'tests', service], ['UNKNOWN', 'stopping', 'tests', service]]);
  } finally {
    await audits.remove();
    await healths.remove();
  }
});

test('node:http wrapper: a throw and a rejection are answered 500 and recorded; X-Forwarded-For from an untrusted peer is ignored', async () => {
  const audits = await throwawayTopic(1);
  const listener = wrapHttpHandler(async (req, res) => {
    if (req.url === '/sync-throw') throw new RangeError('sync');
    if (req.url === '/reject') { await new Promise((r) => setTimeout(r, 5)); throw new Error('async'); }
    if (req.url === '/late-throw') { res.writeHead(200); res.write('partial'); throw new SyntaxError('after the headers'); }
    res.end('fine');
  }, { service: 'node-http-wrap', auditTopic: audits.name, producerOptions: { bootstrapServers: BOOTSTRAP, logger: silentLogger },
    logger: silentLogger });
  const server = await listen(listener);
  try {
    const spoof = { 'x-forwarded-for': '198.51.100.1' };
    assert.equal((await request(server, '/ok', { headers: spoof })).status, 200);
    assert.equal((await request(server, '/sync-throw')).status, 500);
    assert.equal((await request(server, '/reject')).status, 500);
    await assert.rejects(request(server, '/late-throw'), /aborted|ECONNRESET|socket hang up/); // cut off, not hanging
    const events = new Map((await readBack(audits.name, 4)).map((r) => [r.value.endpoint, r.value]));
    assert.equal(events.get('/ok').ipAddress, '127.0.0.1');
    assert.equal(events.get('/ok').responseSizeBytes, 4);
    assert.deepEqual([events.get('/sync-throw').statusCode, events.get('/sync-throw').errorMessage], [500, 'RangeError']);
    assert.deepEqual([events.get('/reject').statusCode, events.get('/reject').errorMessage], [500, 'Error']);
    assert.deepEqual([events.get('/late-throw').statusCode, events.get('/late-throw').errorMessage], [200, 'SyntaxError']);
  } finally {
    await closeServer(server);
    await listener.stop();
    await audits.remove();
  }
});

for (const [name, backend] of [
  ['refused (nothing listens)', async () => ({ address: '127.0.0.1:1', close() {} })],
  ['black-holed (accepts, never answers)', async () => {
    const sockets = new Set();
    const hole = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); });
    await new Promise((r) => hole.listen(0, '127.0.0.1', r));
    return { address: `127.0.0.1:${hole.address().port}`, close() { for (const s of sockets) s.destroy(); hole.close(); } };
  }],
]) {
  test(`backend ${name}: requests still succeed at once, the queue is bounded and drops are counted`, async () => {
    const down = await backend();
    const audit = expressAudit({ service: 'node-express-down', queueSize: 5,
      producerOptions: { ...FAST, bootstrapServers: down.address, logger: silentLogger }, logger: silentLogger });
    const app = express();
    app.use(audit);
    app.get('/x', (req, res) => res.send('ok'));
    const server = await listen(app);
    try {
      audit.start();
      const times = [];
      for (let i = 0; i < 30; i++) {
        const r = await request(server, `/x?i=${i}`);
        assert.equal(r.status, 200);
        times.push(r.ms);
      }
      times.sort((a, b) => a - b);
      assert.ok(times[times.length - 1] < 250, `a request waited for the backend: slowest ${times[times.length - 1]} ms`);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(audit.stats(), { submitted: 5, sent: 0, droppedQueueFull: 25, droppedError: 0, queued: 5, inFlight: 0 });
    } finally {
      await closeServer(server);
      const final = await audit.stop(300);
      down.close();
      assert.deepEqual(final, { submitted: 5, sent: 0, droppedQueueFull: 25, droppedError: 5, queued: 0, inFlight: 0 });
    }
  });
}

test('sampling and exclusion: sampleRate 0 records nothing; excluded exact paths and prefixes are skipped', async () => {
  const none = expressAudit({ service: 's', sampleRate: 0, producerOptions: { bootstrapServers: BOOTSTRAP, logger: silentLogger } });
  const some = expressAudit({ service: 's', sampleRate: 0.5, exclude: ['/metrics', '/internal/*'],
    producerOptions: { bootstrapServers: BOOTSTRAP, logger: silentLogger } });
  const settings = some.audit.settings;
  assert.equal(none.audit.settings.wants('/x'), false);
  assert.equal(settings.wants('/metrics'), false);
  assert.equal(settings.wants('/internal/anything/deep'), false);
  let taken = 0;
  for (let i = 0; i < 2000; i++) taken += settings.wants('/metrics/x') ? 1 : 0; // exact entries are not prefixes
  assert.ok(taken > 850 && taken < 1150, `sampleRate 0.5 took ${taken} of 2000`);
  const server = await listen((req, res) => none(req, res, () => res.end('ok')));
  try {
    for (let i = 0; i < 5; i++) assert.equal((await request(server, '/x')).status, 200);
    assert.equal(none.stats().submitted, 0);
  } finally {
    await closeServer(server);
  }
});

test('client IP: X-Forwarded-For is believed only from trusted proxies, right-most untrusted hop', () => {
  const { settings } = expressAudit({ service: 's', trustedProxies: '10.0.0.0/8, 192.0.2.7, 2001:db8::/32',
    producerOptions: { bootstrapServers: BOOTSTRAP } }).audit;
  assert.equal(settings.clientIp('198.51.100.1', '1.2.3.4'), '198.51.100.1'); // untrusted peer: header ignored
  assert.equal(settings.clientIp('::ffff:10.1.2.3', '1.2.3.4'), '1.2.3.4'); // IPv4 peer on a dual-stack socket
  assert.equal(settings.clientIp('10.1.2.3', '6.6.6.6, 1.2.3.4, 10.9.9.9'), '1.2.3.4'); // the client's own entry is not taken
  assert.equal(settings.clientIp('192.0.2.7', '10.0.0.1, 10.0.0.2'), '10.0.0.1'); // all trusted: the left-most
  assert.equal(settings.clientIp('2001:db8::1', '2001:db9::5'), '2001:db9::5');
  assert.equal(settings.clientIp('10.1.2.3', '1.2.3.4, <script>'), '10.1.2.3'); // a malformed hop: the peer
  assert.equal(settings.clientIp('10.1.2.3', ''), '10.1.2.3');
  assert.equal(settings.clientIp(undefined, '1.2.3.4'), 'unknown');
  const { settings: none } = expressAudit({ service: 's', producerOptions: { bootstrapServers: BOOTSTRAP } }).audit;
  assert.equal(none.clientIp('127.0.0.1', '1.2.3.4'), '127.0.0.1');
});

test('traceparent: only a valid version-00 header is carried; tracestate only beside it', () => {
  const { traceContext } = require('..');
  assert.deepEqual(traceContext(TRACEPARENT, 'a=1'), [TRACEPARENT, 'a=1']);
  for (const bad of [TRACEPARENT.toUpperCase(), `01${TRACEPARENT.slice(2)}`, TRACEPARENT.replace('4bf92f3577b34da6a3ce929d0e0e4736', '0'.repeat(32)),
    TRACEPARENT.replace('00f067aa0ba902b7', '0'.repeat(16)), `${TRACEPARENT}, ${TRACEPARENT}`, TRACEPARENT.slice(0, 54), '', undefined]) {
    assert.deepEqual(traceContext(bad, 'a=1'), [null, null], String(bad));
  }
  assert.deepEqual(traceContext(TRACEPARENT, 'a=\u0001'), [TRACEPARENT, null]);
  assert.deepEqual(traceContext(TRACEPARENT, 'a=caf\u00e9'), [TRACEPARENT, null]); // printable ASCII only, as in Python
  assert.deepEqual(traceContext(TRACEPARENT, 'a'.repeat(513)), [TRACEPARENT, null]);
});

test('requiring the package does not load Express', () => {
  const { spawnSync } = require('node:child_process');
  const run = spawnSync(process.execPath, ['-e', "require('.'); process.stdout.write(JSON.stringify(Object.keys(require.cache)))"],
    { cwd: require('node:path').join(__dirname, '..'), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const loaded = JSON.parse(run.stdout);
  assert.ok(loaded.some((f) => f.endsWith('src/express.js')));
  assert.deepEqual(loaded.filter((f) => /node_modules[\\/](express|router)[\\/]/.test(f)), []);
});

test('CloudEvents extensions and the topic option are checked as the Python envelope checks them', async () => {
  const { getEventProducer, EventValidationError } = require('..');
  const producer = getEventProducer('node-ext-test', { bootstrapServers: BOOTSTRAP, logger: silentLogger });
  await producer.connect();
  const health = { serviceName: 's', namespace: 'n', healthStatus: 'HEALTHY', latencyMs: 1, errorRate: 0 };
  try {
    for (const [extensions, where] of [[{ Trace: 'x' }, "extensions['Trace']"], [{ 'a-b': 'x' }, "extensions['a-b']"],
      [{ ['a'.repeat(21)]: 'x' }, `extensions['${'a'.repeat(21)}']`], [{ source: 'x' }, "extensions['source']"],
      [{ traceparent: 1 }, "extensions['traceparent']"], [{ big: 'é'.repeat(2049) }, "extensions['big']"], [['x'], 'extensions']]) {
      assert.throws(() => producer.produceServiceHealthEvent(health, { extensions }),
        (err) => err instanceof EventValidationError && err.message.includes(where), JSON.stringify(extensions));
    }
    assert.throws(() => producer.produceServiceHealthEvent(health, { topic: '' }), EventValidationError);
    assert.deepEqual(producer.getStats(), { produced: 0, delivered: 0, errors: 0, rejected: 8, pending: 0 });
  } finally {
    await producer.disconnect();
  }
});

test('bad options fail at creation, naming the option', () => {
  const base = { service: 's', producerOptions: { bootstrapServers: BOOTSTRAP } };
  for (const [bad, where] of [[{ service: ' ' }, 'service'], [{ sampleRate: 1.5 }, 'sampleRate'], [{ sampleRate: '1' }, 'sampleRate'],
    [{ exclude: '/health' }, 'exclude'], [{ exclude: ['health'] }, 'exclude[0]'], [{ trustedProxies: ['10.0.0.0/33'] }, 'trustedProxies[0]'],
    [{ trustedProxies: ['example.com'] }, 'trustedProxies[0]'], [{ queueSize: 0 }, 'queueSize'], [{ auditTopic: '' }, 'auditTopic'],
    [{ user: 'id' }, 'user']]) {
    assert.throws(() => expressAudit({ ...base, ...bad }), (err) => err instanceof ConfigError && err.where === where, JSON.stringify(bad));
  }
  assert.throws(() => wrapHttpHandler(null, base), /the handler must be a function/);
});

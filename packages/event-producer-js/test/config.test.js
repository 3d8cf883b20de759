'use strict';
// Configuration from the environment, as the Python library reads it; SSL really speaks TLS
// (checked on real sockets: what the client sends, and a mutual-TLS handshake with the env's files).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const { EventProducer, ConfigError, BackendUnavailableError } = require('..');
const { resolveConfig } = require('../src/config');
const { PYTHON, silentLogger } = require('./helpers');

const FAST = { retry: { retries: 1, initialRetryTime: 50 }, connectionTimeout: 2000, requestTimeout: 2000, logger: silentLogger };

test('KAFKA_BOOTSTRAP_SERVERS is comma-split; PLAINTEXT is the default protocol', () => {
  const cfg = resolveConfig('svc', { env: { KAFKA_BOOTSTRAP_SERVERS: ' 10.0.0.1:9092, kafka-1.local:9093,,[::1]:9094 ' } });
  assert.deepEqual(cfg.brokers, ['10.0.0.1:9092', 'kafka-1.local:9093', '[::1]:9094']);
  assert.equal(cfg.securityProtocol, 'PLAINTEXT');
  assert.equal(cfg.ssl, false);
  assert.equal(cfg.clientId, 'svc-producer');
  assert.deepEqual(resolveConfig('svc', { bootstrapServers: ['a:1', 'b:2'], env: {} }).brokers, ['a:1', 'b:2']);
});

test('bad or missing settings are ConfigErrors that name the variable and say how to fix it', () => {
  const bad = (options, where, pattern) => assert.throws(() => resolveConfig('svc', options),
    (err) => err instanceof ConfigError && err.where === where && pattern.test(err.message));
  bad({ env: {} }, 'KAFKA_BOOTSTRAP_SERVERS', /set KAFKA_BOOTSTRAP_SERVERS \(e\.g\. 127\.0\.0\.1:9092\)/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'kafka-service' } }, 'KAFKA_BOOTSTRAP_SERVERS', /'kafka-service' is not host:port/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'TLS' } }, 'KAFKA_SECURITY_PROTOCOL', /PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_LOCATION: '/nonexistent/ca.pem' } },
    'KAFKA_SSL_CA_LOCATION', /cannot read \/nonexistent\/ca\.pem: ENOENT/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'SSL' }, ssl: { cert: 'pem' } }, 'KAFKA_SSL_KEY_LOCATION', /needs its key/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' } }, 'sasl', /pass sasl: \{mechanism, username, password\}/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1' }, compression: 'snappy' }, 'compression', /lz4, gzip, none/);
  bad({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1' }, retry: { retries: 0 } }, 'retry', /must be an integer >= 1/);
});

test('TLS settings with the PLAINTEXT protocol are not used, and the producer says so', () => {
  const lines = [];
  const producer = new EventProducer({ env: { KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SSL_CA_LOCATION: '/x/ca.pem' },
    logger: { ...silentLogger, warn: (m) => lines.push(m) } });
  assert.equal(producer.config.ssl, false);
  assert.match(lines.join('\n'), /connecting without TLS \(set KAFKA_SECURITY_PROTOCOL=SSL to use them\)/);
});

/** A TCP server that keeps the first bytes each connection sends, then hangs up. */
async function sniffingServer() {
  const firstBytes = [];
  const server = net.createServer((socket) => socket.once('data', (chunk) => { firstBytes.push(chunk); socket.destroy(); }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { firstBytes, address: `127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('KAFKA_SECURITY_PROTOCOL=SSL opens a TLS session (a ClientHello on the wire), PLAINTEXT a Kafka request', async () => {
  const firstBytes = {};
  for (const protocol of ['SSL', 'PLAINTEXT']) {
    const server = await sniffingServer();
    try {
      const producer = new EventProducer({ ...FAST, env: { KAFKA_BOOTSTRAP_SERVERS: server.address, KAFKA_SECURITY_PROTOCOL: protocol } });
      await assert.rejects(producer.connect(), BackendUnavailableError);
      firstBytes[protocol] = server.firstBytes;
    } finally {
      await server.close();
    }
  }
  assert.ok(firstBytes.SSL.length >= 1 && firstBytes.PLAINTEXT.length >= 1);
  for (const chunk of firstBytes.SSL) assert.deepEqual([chunk[0], chunk[5]], [0x16, 0x01], 'a TLS handshake record holding a ClientHello');
  for (const chunk of firstBytes.PLAINTEXT) assert.equal(chunk.readInt16BE(4), 18, 'a Kafka ApiVersions request, in clear');
});

function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-tls-'));
  const run = spawnSync(PYTHON, [path.join(__dirname, 'tls_certs.py'), dir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `could not make test certificates (run \`make setup\`): ${run.stderr || run.error}`);
  return dir;
}

/** A TLS server that requires a client certificate signed by the test CA, and records the handshakes. */
async function mutualTlsServer(dir) {
  const seen = [];
  const server = tls.createServer({
    key: fs.readFileSync(path.join(dir, 'server-key.pem')), cert: fs.readFileSync(path.join(dir, 'server.pem')),
    ca: fs.readFileSync(path.join(dir, 'ca.pem')), requestCert: true, rejectUnauthorized: true,
  }, (socket) => {
    seen.push({ authorized: socket.authorized, client: socket.getPeerCertificate().subject.CN });
    socket.destroy();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, address: `127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('the KAFKA_SSL_* files configure mutual TLS: CA, client certificate and its encrypted key', async () => {
  const dir = makeCerts();
  const server = await mutualTlsServer(dir);
  try {
    const env = { KAFKA_BOOTSTRAP_SERVERS: server.address, KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_LOCATION: path.join(dir, 'ca.pem'), KAFKA_SSL_CERTIFICATE_LOCATION: path.join(dir, 'client.pem'),
      KAFKA_SSL_KEY_LOCATION: path.join(dir, 'client-key.pem'), KAFKA_SSL_KEY_PASSWORD: 'client-pass' };
    await assert.rejects(new EventProducer({ ...FAST, env }).connect(), BackendUnavailableError); // the server speaks no Kafka
    assert.ok(server.seen.length >= 1, 'no TLS session reached the server');
    for (const session of server.seen) assert.deepEqual(session, { authorized: true, client: 'node-test-client' });
    const sessions = server.seen.length;

    // A broker certificate from an untrusted CA is refused: no session, and the error says why.
    await assert.rejects(new EventProducer({ ...FAST, env: { ...env, KAFKA_SSL_CA_LOCATION: path.join(dir, 'other-ca.pem') } }).connect(),
      (err) => err instanceof BackendUnavailableError && /certificate/i.test(err.message));
    assert.equal(server.seen.length, sessions);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

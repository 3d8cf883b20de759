'use strict';
/**
 * How to reach Kafka: resolved from options, then the environment, with the Python library's
 * variables and defaults (carbonplane.events.config):
 *
 *   KAFKA_BOOTSTRAP_SERVERS          comma-separated host:port list (required; no silent default)
 *   KAFKA_SECURITY_PROTOCOL          PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
 *   KAFKA_SSL_CA_LOCATION            PEM file of the CA(s) to trust (else the system's trust store)
 *   KAFKA_SSL_CERTIFICATE_LOCATION   PEM client certificate (mutual TLS), with
 *   KAFKA_SSL_KEY_LOCATION           its PEM private key, and
 *   KAFKA_SSL_KEY_PASSWORD           the key's passphrase, if it has one
 *   KAFKA_SSL_KEYSTORE_LOCATION      PKCS#12 keystore (certificate and key in one file), with
 *   KAFKA_SSL_KEYSTORE_PASSWORD      its password
 *
 * SSL and SASL_SSL really use TLS (the original library fell back to plaintext when certificate
 * files were missing): with no CA file the system trust store verifies the broker. Files are read
 * when the producer is created, and a missing file is a ConfigError naming the variable. SASL
 * credentials have no variables (as in Python): pass `sasl` ({mechanism, username, password}).
 */

const fs = require('node:fs');
const { ConfigError } = require('./errors');

const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

const SSL_FILES = [
  ['KAFKA_SSL_CA_LOCATION', 'ca'],
  ['KAFKA_SSL_CERTIFICATE_LOCATION', 'cert'],
  ['KAFKA_SSL_KEY_LOCATION', 'key'],
  ['KAFKA_SSL_KEYSTORE_LOCATION', 'pfx'],
];

const DEFAULTS = {
  lingerMs: 5, // how long the first event of an idle queue waits for company
  maxBatchCount: 5000, // events per produce request
  maxBatchBytes: 1_000_000, // uncompressed bytes per request: under the broker's message.max.bytes
  maxQueued: 100_000, // events accepted and not yet acknowledged, before produce* throws
  ackTimeoutMs: 30_000, // the broker's wait for in-sync replicas (acks=all)
  connectionTimeout: 3_000,
  requestTimeout: 30_000,
  metadataMaxAgeMs: 300_000, // partition counts are re-read this often (as Kafka clients do)
  retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 30_000 }, // ~10 s before a failure is reported
  compression: 'lz4',
};

function splitServers(value, where) {
  const list = (Array.isArray(value) ? value : String(value).split(','))
    .map((s) => String(s).trim())
    .filter(Boolean);
  for (const server of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(server) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(server)) {
      throw new ConfigError(`'${server}' is not host:port (e.g. 127.0.0.1:9092)`, { where });
    }
  }
  return list;
}

function readFile(variable, file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${err.code || err.message}`, { where: variable });
  }
}

/** TLS options for the Kafka client (`ssl`), from `options.ssl` over the KAFKA_SSL_* files. */
function tlsOptions(given, env) {
  const tls = {};
  for (const [variable, option] of SSL_FILES) {
    if (env[variable]) tls[option] = readFile(variable, env[variable]);
  }
  if (env.KAFKA_SSL_KEY_PASSWORD || env.KAFKA_SSL_KEYSTORE_PASSWORD) {
    tls.passphrase = env.KAFKA_SSL_KEY_PASSWORD || env.KAFKA_SSL_KEYSTORE_PASSWORD;
  }
  Object.assign(tls, typeof given === 'object' && given !== null ? given : {});
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new ConfigError('a client certificate needs its key and a key its certificate: set both ' +
      'KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION (or neither)', { where: tls.cert ? 'KAFKA_SSL_KEY_LOCATION' : 'KAFKA_SSL_CERTIFICATE_LOCATION' });
  }
  tls.rejectUnauthorized = tls.rejectUnauthorized !== false;
  return tls;
}

/**
 * The producer's settings.
 * @param {string} sourceService the producing service (ce_source, the envelope's source)
 * @param {object} options see index.d.ts (EventProducerOptions)
 * @param {NodeJS.ProcessEnv} env the environment to read (options.env, else process.env)
 */
function resolveConfig(sourceService, options = {}, env = options.env || process.env) {
  const servers = options.bootstrapServers ?? env.KAFKA_BOOTSTRAP_SERVERS;
  const where = options.bootstrapServers !== undefined ? 'bootstrapServers' : 'KAFKA_BOOTSTRAP_SERVERS';
  const brokers = servers === undefined || servers === null ? [] : splitServers(servers, where);
  if (brokers.length === 0) {
    throw new ConfigError('no Kafka brokers: set KAFKA_BOOTSTRAP_SERVERS (e.g. 127.0.0.1:9092) or pass bootstrapServers',
      { where: 'KAFKA_BOOTSTRAP_SERVERS' });
  }
  const protocol = String(options.securityProtocol ?? env.KAFKA_SECURITY_PROTOCOL ?? 'PLAINTEXT').trim().toUpperCase();
  if (!SECURITY_PROTOCOLS.includes(protocol)) {
    throw new ConfigError(`'${protocol}' is not one of ${SECURITY_PROTOCOLS.join(', ')}`,
      { where: options.securityProtocol !== undefined ? 'securityProtocol' : 'KAFKA_SECURITY_PROTOCOL' });
  }
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  if (protocol.startsWith('SASL') && !options.sasl) {
    throw new ConfigError(`${protocol} needs credentials: pass sasl: {mechanism, username, password}`, { where: 'sasl' });
  }
  const ignoredTls = !usesTls && (options.ssl || SSL_FILES.some(([v]) => env[v]));
  const compression = String(options.compression ?? DEFAULTS.compression).toLowerCase();
  if (!['lz4', 'gzip', 'none'].includes(compression)) {
    throw new ConfigError(`'${compression}' is not one of lz4, gzip, none`, { where: 'compression' });
  }
  const retry = { ...DEFAULTS.retry, ...(options.retry || {}) };
  if (!Number.isInteger(retry.retries) || retry.retries < 1) {
    throw new ConfigError(`retry.retries must be an integer >= 1 (the idempotent producer must be able to retry), got ${retry.retries}`,
      { where: 'retry' });
  }
  return {
    sourceService,
    clientId: options.clientId || `${sourceService}-producer`,
    brokers,
    securityProtocol: protocol,
    ssl: usesTls ? tlsOptions(options.ssl, env) : false,
    sasl: options.sasl || undefined,
    ignoredTls: Boolean(ignoredTls),
    compression,
    lingerMs: options.lingerMs ?? DEFAULTS.lingerMs,
    maxBatchCount: options.maxBatchCount ?? DEFAULTS.maxBatchCount,
    maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
    maxQueued: options.maxQueued ?? DEFAULTS.maxQueued,
    ackTimeoutMs: options.ackTimeoutMs ?? DEFAULTS.ackTimeoutMs,
    connectionTimeout: options.connectionTimeout ?? DEFAULTS.connectionTimeout,
    requestTimeout: options.requestTimeout ?? DEFAULTS.requestTimeout,
    metadataMaxAgeMs: options.metadataMaxAgeMs ?? DEFAULTS.metadataMaxAgeMs,
    retry,
  };
}

module.exports = { resolveConfig, SECURITY_PROTOCOLS, DEFAULTS };

'use strict';
/**
 * The request-independent half of the HTTP integrations (express.js): what is recorded, sampled and
 * excluded, whose X-Forwarded-For is believed, which trace context is carried. The twin of
 * carbonplane's Python `integrations/core.py` (AuditSettings, trace_context, clip): same options,
 * same defaults, same decisions, so a Node service and a Python one produce the same events.
 *
 * Invariants:
 * - `resolveAuditSettings` refuses a bad option with ConfigError naming it (`sampleRate`,
 *   `exclude[2]`, `trustedProxies[0]`, ...); nothing is checked again on the request path.
 * - `wants(path)`: excluded paths (exact, or a prefix for an entry ending in `*`) are never
 *   recorded; the others are recorded with probability `sampleRate`.
 * - `clientIp(peer, forwardedFor)`: X-Forwarded-For is read only when the direct peer is a trusted
 *   proxy; the address kept is the right-most hop that is not itself a trusted proxy (hops left of
 *   it are whatever the client wrote); a malformed hop stops the walk and the peer is kept.
 * - `traceContext`: traceparent only when it is a valid W3C Trace Context version-00 header (ids
 *   not all zero); tracestate only beside it, when printable and at most 512 characters. Anything
 *   malformed is dropped, never repaired.
 * - Every string taken from a request is clipped to MAX_FIELD characters (a huge path must not make
 *   a huge event).
 */

const net = require('node:net');
const { ConfigError } = require('./errors');

const MAX_FIELD = 256;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const TRACESTATE_MAX = 512;
const PRINTABLE = /^[\x20-\x7e]*$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const DEFAULT_EXCLUDE = Object.freeze(['/health', '/healthz', '/ready', '/readyz', '/livez']);

/** `text` cut to MAX_FIELD characters. */
function clip(text) {
  return text.length <= MAX_FIELD ? text : `${text.slice(0, MAX_FIELD - 3)}...`;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`; other text unchanged. */
function plainAddress(address) {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function nonEmptyString(value, where, what) {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`${JSON.stringify(value)}: ${what}`, { where });
  }
  return value;
}

/** A net.BlockList of the trusted proxies (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`). */
function proxyList(trustedProxies) {
  let entries = trustedProxies ?? [];
  if (typeof entries === 'string') entries = entries.split(',').map((p) => p.trim()).filter(Boolean);
  if (!Array.isArray(entries)) {
    throw new ConfigError(`${typeof entries}: a list of addresses or networks (or one comma-separated string)`,
      { where: 'trustedProxies' });
  }
  const list = new net.BlockList();
  entries.forEach((entry, i) => {
    const where = `trustedProxies[${i}]`;
    if (typeof entry !== 'string') throw new ConfigError(`${JSON.stringify(entry)}: an address or network as a string`, { where });
    const [address, prefix, extra] = entry.trim().split('/');
    const family = net.isIP(address);
    if (family === 0 || extra !== undefined) throw new ConfigError(`'${entry}' is not an IP address or network (CIDR)`, { where });
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(address, type);
      return;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) {
      throw new ConfigError(`'${entry}': the prefix length must be 0-${family === 4 ? 32 : 128}`, { where });
    }
    list.addSubnet(address, bits, type);
  });
  return { list, size: entries.length };
}

class AuditSettings {
  /** See resolveAuditSettings. */
  constructor(options) {
    const o = options || {};
    this.service = nonEmptyString(o.service, 'service', 'a non-empty service name (it names the service in every event)');
    this.namespace = nonEmptyString(o.namespace ?? 'default', 'namespace', 'a non-empty namespace');
    const rate = o.sampleRate ?? 1;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
      throw new ConfigError(`${JSON.stringify(rate)}: a number from 0 to 1`, { where: 'sampleRate' });
    }
    this.sampleRate = rate;
    const exclude = o.exclude ?? DEFAULT_EXCLUDE;
    if (!Array.isArray(exclude)) throw new ConfigError(`${JSON.stringify(exclude)}: a list of paths`, { where: 'exclude' });
    this._exact = new Set();
    this._prefixes = [];
    exclude.forEach((path, i) => {
      if (typeof path !== 'string' || !path.startsWith('/')) {
        throw new ConfigError(`${JSON.stringify(path)}: a path starting with '/'`, { where: `exclude[${i}]` });
      }
      if (path.endsWith('*')) this._prefixes.push(path.slice(0, -1));
      else this._exact.add(path);
    });
    const proxies = proxyList(o.trustedProxies);
    this._proxies = proxies.size ? proxies.list : null;
    const size = o.queueSize ?? 10_000;
    if (!Number.isInteger(size) || size < 1) throw new ConfigError(`${JSON.stringify(size)}: a positive integer`, { where: 'queueSize' });
    this.queueSize = size;
    for (const where of ['auditTopic', 'healthTopic']) {
      const topic = o[where];
      if (topic !== undefined && topic !== null) nonEmptyString(topic, where, 'a topic name (or absent for the catalog topic)');
    }
    this.auditTopic = o.auditTopic ?? undefined;
    this.healthTopic = o.healthTopic ?? undefined;
    if (o.user !== undefined && typeof o.user !== 'function') {
      throw new ConfigError(`${typeof o.user}: a function (req) => user id string or null`, { where: 'user' });
    }
    this.userOf = o.user || defaultUser;
  }

  /** Whether a request for `path` (no query string) is recorded: not excluded, and sampled in. */
  wants(path) {
    if (this._exact.has(path)) return false;
    for (const prefix of this._prefixes) if (path.startsWith(prefix)) return false;
    const rate = this.sampleRate;
    return rate >= 1 || (rate > 0 && Math.random() < rate);
  }

  /** The client's address: see the module doc. */
  clientIp(peer, forwardedFor) {
    if (!peer) return 'unknown';
    const direct = plainAddress(peer);
    if (!forwardedFor || this._proxies === null || !this._trusted(direct)) return clip(direct);
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i -= 1) {
      const hop = hops[i].trim();
      if (net.isIP(hop) === 0) return clip(direct); // a malformed hop: believe no hop left of it
      if (!this._trusted(hop)) return hop;
    }
    return hops[0].trim(); // every hop is a trusted proxy: the left-most is the closest to the client
  }

  _trusted(address) {
    const family = net.isIP(address);
    if (family === 0) return false;
    const plain = plainAddress(address);
    return this._proxies.check(plain, net.isIPv4(plain) ? 'ipv4' : 'ipv6');
  }
}

/**
 * The settings of an HTTP integration, checked. Options: `service` (required), `namespace`
 * ('default'), `sampleRate` (1), `exclude` (health-check paths), `trustedProxies` ([]),
 * `queueSize` (10000), `auditTopic`/`healthTopic` (the catalog topics), `user` (req => id).
 */
function resolveAuditSettings(options) {
  return new AuditSettings(options);
}

/**
 * The user of a request, by default: `req.user` as set by an authentication middleware (Passport
 * and most others); a string is the id itself, an object gives its `id`, else `username`, else
 * `sub` (a JWT's subject), else `email`. Anything else (no user, an empty value): null.
 */
function defaultUser(req) {
  const user = req.user;
  if (user === undefined || user === null) return null;
  if (typeof user === 'string') return user || null;
  if (typeof user !== 'object') return null;
  for (const field of ['id', 'username', 'sub', 'email']) {
    const v = user[field];
    if ((typeof v === 'string' && v !== '') || typeof v === 'number') return String(v);
  }
  return null;
}

/** `[traceparent, tracestate]` to carry (see the module doc); `[null, null]` for a bad traceparent. */
function traceContext(traceparent, tracestate) {
  if (typeof traceparent !== 'string' || traceparent.length !== 55) return [null, null];
  const m = TRACEPARENT.exec(traceparent);
  if (m === null || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return [null, null];
  let state = typeof tracestate === 'string' ? tracestate : null;
  if (state && (state.length > TRACESTATE_MAX || !PRINTABLE.test(state))) state = null;
  return [traceparent, state || null];
}

module.exports = { resolveAuditSettings, AuditSettings, traceContext, defaultUser, clip, plainAddress, MAX_FIELD, DEFAULT_EXCLUDE };

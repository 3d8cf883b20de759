'use strict';
/**
 * The wire form of an event: record key, JSON value and CloudEvents 1.0 binary-mode headers, the
 * same bytes as carbonplane's Python `envelope.seal`.
 *
 * Value: the envelope (eventId uuid v4, eventType, timestamp in epoch ms, source, version "1.0.0",
 * correlationId/causationId when given), then the type's fields, in the schema's property order,
 * absent optional fields omitted, defaults filled from the schema (wire-json.js writes it).
 * Key: the topic's key field (`serviceName`, ...), or `sourceDataset->targetDataset` for lineage.
 * Headers (CloudEvents Kafka binding, binary mode), in this order: ce_specversion "1.0", ce_id
 * (= eventId), ce_source (= source), ce_type (reverse-DNS, from the catalog), ce_time (RFC 3339,
 * UTC, milliseconds, = timestamp), content-type "application/json".
 *
 * Events given as method arguments are normalised as Python's keyword arguments are: null and
 * undefined mean absent, an unknown field is an error (nested objects too). Events given whole
 * (produceCustomEvent with a catalog eventType) are read as Python reads a payload: unknown fields
 * are ignored, null is a value (and fails for a string field).
 *
 * Extension attributes (CloudEvents 1.0 section 3.1.4, e.g. the distributed-tracing extension's
 * traceparent/tracestate) travel as further `ce_<name>` headers after the six above
 * (`extensionHeaders`), as in the Python envelope: a name is 1-20 lowercase ASCII letters or digits
 * and not a core attribute, a value a string of CloudEvents characters (no control character,
 * surrogate or noncharacter) of at most 4096 UTF-8 bytes; anything else throws EventValidationError
 * naming `extensions['<name>']`, and nothing is sent. Python checks the same inputs the same way
 * (`extensions` in tests/shared/event_inputs.json).
 *
 * Invariants: validation runs before anything is returned, so an invalid event never yields a
 * record; ce_id equals the value's eventId and ce_time its timestamp. ce_source is never blank
 * (CloudEvents 1.0: a non-empty URI-reference) and ce_time is always RFC 3339: the schema bounds the
 * timestamp to 9999-12-31T23:59:59.999Z, and an event more than MAX_FUTURE_MS ahead of this clock is
 * refused, as Kafka 4.x brokers refuse it (log.message.timestamp.after.max.ms, 3600000 by default
 * since Kafka 4.0) with INVALID_TIMESTAMP. Every call builds a new event, so an eventId is only
 * reused when the caller passes one.
 */

const crypto = require('node:crypto');
const { ConfigError, EventValidationError } = require('./errors');
const { compileWriter } = require('./wire-json');
const { validateEvent } = require('./validate');

const MAX_TIMESTAMP_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years
const MAX_FUTURE_MS = 3_600_000; // Kafka 4.x broker default of log.message.timestamp.after.max.ms (1 hour)
const EMPTY_SOURCE = 'must not be empty or blank (it is the CloudEvents source, a non-empty URI-reference)';

/** `2026-11-27T15:51:03.123Z` for an epoch-millisecond timestamp (years past 9999 unpadded, as Python). */
function rfc3339Ms(ms) {
  const iso = new Date(ms).toISOString();
  return iso.startsWith('+') ? iso.slice(1).replace(/^0+(?=\d{5})/, '') : iso;
}

function resolve(schema, root) {
  if (schema && typeof schema.$ref === 'string') return root.$defs[schema.$ref.slice('#/$defs/'.length)];
  return schema;
}

function isPlainObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A schema default, as a fresh value (a default map or list must not be shared between events). */
function copyDefault(value) {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/** Normalise method arguments for `schema` (an object schema with properties): see module doc. */
function fromArguments(fields, schema, root, path, eventType) {
  const known = schema.properties;
  for (const key of Object.keys(fields)) {
    if (!Object.hasOwn(known, key)) {
      const where = path ? `${path}.${key}` : key;
      throw new EventValidationError(eventType, where,
        `unexpected field (${schema.title || eventType} has: ${Object.keys(known).join(', ')})`);
    }
  }
  const out = {};
  for (const [name, sub] of Object.entries(known)) {
    let v = fields[name];
    if (v === null || v === undefined) {
      if (!Object.hasOwn(sub, 'default')) continue;
      v = copyDefault(sub.default);
    }
    out[name] = nested(v, sub, root, path ? `${path}.${name}` : name, eventType);
  }
  return out;
}

/** Objects inside arguments (ColumnLineage items) get the same treatment as the top level. */
function nested(v, schema, root, path, eventType) {
  const s = resolve(schema, root);
  if (s && s.type === 'array' && Array.isArray(v)) {
    return v.map((item, i) => nested(item, s.items, root, `${path}[${i}]`, eventType));
  }
  if (s && s.properties && isPlainObject(v)) return fromArguments(v, s, root, path, eventType);
  return v;
}

/** Read a whole payload: known fields only, defaults for the absent ones, null kept. */
function fromPayload(payload, schema) {
  const out = {};
  for (const [name, sub] of Object.entries(schema.properties)) {
    if (payload[name] !== undefined) out[name] = payload[name];
    else if (Object.hasOwn(sub, 'default')) out[name] = copyDefault(sub.default);
  }
  return out;
}

const writers = new Map();

function writerFor(schema) {
  let w = writers.get(schema);
  if (!w) writers.set(schema, (w = compileWriter(schema)));
  return w;
}

/**
 * Build, validate and encode one catalog event.
 * @param {object} spec the topic spec (catalog.js) of the event's type
 * @param {object} fields camelCase fields (arguments) or the whole event (payload)
 * @param {string} source the producing service, used when the event names none
 * @param {'arguments'|'payload'} origin
 * @returns {{eventId: string, timestamp: number, key: string, value: string, headers: object}}
 */
function sealEvent(spec, fields, source, origin = 'arguments') {
  const { schema, eventType } = spec;
  if (!isPlainObject(fields)) {
    throw new EventValidationError(eventType, null, `the fields must be given as an object, got ${fields === null ? 'null' : typeof fields}`);
  }
  const event = origin === 'arguments' ? fromArguments(fields, schema, schema, '', eventType) : fromPayload(fields, schema);
  if (event.eventId === '') event.eventId = crypto.randomUUID();
  if (event.timestamp === 0) event.timestamp = Date.now();
  if (event.source === '') event.source = source;
  validateEvent(schema, event, origin);
  if (event.timestamp > Date.now() + MAX_FUTURE_MS) throw futureTimestamp(eventType, event.timestamp);
  if (event.source.trim() === '') throw new EventValidationError(eventType, 'source', EMPTY_SOURCE);
  const key = spec.keyField.includes('->')
    ? spec.keyField.split('->').map((f) => event[f]).join('->')
    : String(event[spec.keyField]);
  return {
    eventId: event.eventId,
    timestamp: event.timestamp,
    key,
    value: writerFor(schema)(event),
    headers: ceHeaders(event.eventId, event.source, spec.ceType, event.timestamp),
  };
}

function ceHeaders(eventId, source, ceType, timestampMs) {
  return {
    ce_specversion: '1.0',
    ce_id: eventId,
    ce_source: source,
    ce_type: ceType,
    ce_time: rfc3339Ms(timestampMs),
    'content-type': 'application/json',
  };
}

const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const CORE_ATTRIBUTES = new Set('id source specversion type datacontenttype dataschema subject time data'.split(' '));
const MAX_EXTENSION_VALUE = 4096; // bytes of one extension's value: headers are metadata, not payload
// CloudEvents 1.0 type system, String: no control characters (U+0000-U+001F, U+007F-U+009F), no
// surrogates, no noncharacters (U+FDD0-U+FDEF and the last two code points of every plane).
const NOT_CE_STRING = /[\u0000-\u001f\u007f-\u009f\p{Surrogate}\ufdd0-\ufdef\p{Noncharacter_Code_Point}]/u;
const SHOWN_RAW = /[^\x20-\x26\x28-\x5b\x5d-\x7e]/g; // all printable ASCII but ' and \

/** `name` for a field path, as Python's `_shown` writes it: printable ASCII other than ' and \ as
 * is, every other UTF-16 code unit as \uXXXX (any name reads the same in both). */
function shown(name) {
  return name.replace(SHOWN_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `{ce_<name>: value}` headers for CloudEvents extension attributes, checked as Python's
 * `extension_headers` checks them (the same inputs refused, the same field named: the `extensions`
 * cases of tests/shared/event_inputs.json); a bad one throws EventValidationError naming
 * `eventType` and `extensions['<name>']` (`extensions` when it is not a plain object or a Map).
 */
function extensionHeaders(eventType, extensions) {
  const out = {};
  if (extensions === null || extensions === undefined) return out;
  if (typeof extensions !== 'object' || Array.isArray(extensions) || Buffer.isBuffer(extensions)) {
    const got = Array.isArray(extensions) ? 'an array' : Buffer.isBuffer(extensions) ? 'a Buffer' : typeof extensions;
    throw new EventValidationError(eventType, 'extensions', `must be an object of name -> string, got ${got}`);
  }
  const entries = extensions instanceof Map ? [...extensions] : Object.entries(extensions);
  for (const [name, value] of entries) {
    if (typeof name !== 'string') throw new EventValidationError(eventType, `extensions[${String(name)}]`, 'an extension name must be a string');
    const where = `extensions['${shown(name)}']`;
    if (!EXTENSION_NAME.test(name)) throw new EventValidationError(eventType, where, 'an extension name is 1-20 lowercase ASCII letters or digits');
    if (CORE_ATTRIBUTES.has(name)) throw new EventValidationError(eventType, where, 'is a CloudEvents core attribute, not an extension');
    if (typeof value !== 'string') throw new EventValidationError(eventType, where, `must be a string, got ${value === null ? 'null' : typeof value}`);
    const bad = NOT_CE_STRING.exec(value);
    if (bad !== null) {
      const hex = bad[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      throw new EventValidationError(eventType, where, `contains U+${hex}: a CloudEvents string has no control character, surrogate or noncharacter`);
    }
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_EXTENSION_VALUE) throw new EventValidationError(eventType, where, `is ${bytes} bytes, over ${MAX_EXTENSION_VALUE}`);
    out[`ce_${name}`] = value;
  }
  return out;
}

/** The error for a timestamp Kafka would refuse as too far ahead of the broker's clock. */
function futureTimestamp(eventType, ts) {
  return new EventValidationError(eventType, 'timestamp',
    `${ts} (${rfc3339Ms(ts)}) is more than ${MAX_FUTURE_MS} ms (1 hour) ahead of this clock: Kafka brokers ` +
    'refuse such records with INVALID_TIMESTAMP (log.message.timestamp.after.max.ms, 3600000 by default ' +
    'since Kafka 4.0); give the time the event happened, in epoch milliseconds');
}

/** A source for ce_source (a non-blank string), else ConfigError naming `where`. */
function checkSource(source, where = 'sourceService') {
  if (typeof source !== 'string' || source.trim() === '') throw new ConfigError(`${JSON.stringify(source)} ${EMPTY_SOURCE}`, { where });
  return source;
}

const NON_FINITE = (x) => (Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity');

/** Throw for bytes and non-finite numbers anywhere inside a custom event (JSON would change them). */
function refuseUnwritable(value, path) {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new EventValidationError('custom', path || null, `${NON_FINITE(value)} is not a valid number (must be finite)`);
  } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw new EventValidationError('custom', path || null, 'bytes are not JSON: decode them to a string (or base64) yourself');
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => refuseUnwritable(item, `${path}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) refuseUnwritable(value[key], path ? `${path}.${key}` : key);
  }
}

/** The envelope fields of a custom event that become CloudEvents headers, checked as Python checks them. */
function customEnvelope(event) {
  const { eventId, source, timestamp: ts } = event;
  if (eventId != null && !(typeof eventId === 'string' && eventId.trim() !== '')) {
    throw new EventValidationError('custom', 'eventId', `must be a non-empty string (it is ce_id), got ${JSON.stringify(eventId)}`);
  }
  if (source != null && !(typeof source === 'string' && source.trim() !== '')) {
    throw new EventValidationError('custom', 'source', `${JSON.stringify(source)} ${EMPTY_SOURCE}`);
  }
  if (ts != null) {
    if (!Number.isInteger(ts)) {
      throw new EventValidationError('custom', 'timestamp', `must be epoch milliseconds as an integer (it becomes ce_time and the record timestamp), got ${typeof ts} (${JSON.stringify(ts)})`);
    }
    if (ts < 0 || ts > MAX_TIMESTAMP_MS) {
      throw new EventValidationError('custom', 'timestamp', `must be between 0 and ${MAX_TIMESTAMP_MS} (9999-12-31T23:59:59.999Z, the last instant RFC 3339 writes), got ${ts}`);
    }
    if (ts > Date.now() + MAX_FUTURE_MS) throw futureTimestamp('custom', ts);
  }
  return { eventId: eventId ?? null, source: source ?? null, ts: ts ?? null };
}

/** A custom (non-catalog) JSON event, sent as given: ce_type `com.carbon254.custom.<topic>`. */
function sealCustom(topic, event, source) {
  if (!isPlainObject(event)) {
    throw new EventValidationError('custom', null, `the event must be a JSON object, got ${Array.isArray(event) ? 'an array' : typeof event}`);
  }
  refuseUnwritable(event, '');
  const envelope = customEnvelope(event);
  let value;
  try {
    value = JSON.stringify(event);
  } catch (err) {
    throw new EventValidationError('custom', null, `event is not JSON-serialisable: ${err.message}`);
  }
  const ts = envelope.ts ?? Date.now();
  const eventId = envelope.eventId || crypto.randomUUID();
  return {
    eventId,
    timestamp: ts,
    value,
    headers: ceHeaders(eventId, envelope.source || source, `com.carbon254.custom.${topic}`, ts),
  };
}

module.exports = { sealEvent, sealCustom, rfc3339Ms, ceHeaders, extensionHeaders, checkSource, MAX_FUTURE_MS, MAX_TIMESTAMP_MS };

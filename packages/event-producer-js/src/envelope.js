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
 * Invariants: validation runs before anything is returned, so an invalid event never yields a
 * record; ce_id equals the value's eventId and ce_time its timestamp.
 */

const crypto = require('node:crypto');
const { EventValidationError } = require('./errors');
const { compileWriter } = require('./wire-json');
const { validateEvent } = require('./validate');

const MAX_DATE_MS = 8.64e15; // the latest instant a JavaScript Date holds (year 275760)

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
  if (event.timestamp > MAX_DATE_MS) {
    throw new EventValidationError(eventType, 'timestamp', `${event.timestamp} is past the latest date JavaScript represents (year 275760)`);
  }
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

/** A custom (non-catalog) JSON event, sent as given: ce_type `com.carbon254.custom.<topic>`. */
function sealCustom(topic, event, source) {
  if (!isPlainObject(event)) {
    throw new EventValidationError('custom', null, `the event must be a JSON object, got ${Array.isArray(event) ? 'an array' : typeof event}`);
  }
  let value;
  try {
    value = JSON.stringify(event);
  } catch (err) {
    throw new EventValidationError('custom', null, `event is not JSON-serialisable: ${err.message}`);
  }
  const ts = Number.isInteger(event.timestamp) && Math.abs(event.timestamp) <= MAX_DATE_MS ? event.timestamp : Date.now();
  const eventId = String(event.eventId || crypto.randomUUID());
  return {
    eventId,
    timestamp: ts,
    value,
    headers: ceHeaders(eventId, String(event.source || source), `com.carbon254.custom.${topic}`, ts),
  };
}

module.exports = { sealEvent, sealCustom, rfc3339Ms, ceHeaders };

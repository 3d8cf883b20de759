'use strict';
/**
 * Validation of event values against the generated JSON Schemas (draft 2020-12, with ajv), with the
 * Python library's verdicts: the same events pass, the same fail, and a failure names the same
 * event type and field (`EventValidationError.field`, camelCase path such as `columns[0].sourceColumn`;
 * a bad map value names the map and says which key).
 *
 * Beyond the schemas, the rules that JSON Schema cannot say and the Python types enforce:
 * - DataQualityEvent: failedRecords <= totalRecords (checked once the fields themselves are valid);
 * - numbers must be finite (JSON has no NaN or Infinity);
 * - strings must be well-formed Unicode (a lone surrogate cannot be written as UTF-8);
 * and one of this runtime: integers must be exact (|n| <= 2^53 - 1; a larger JavaScript number has
 * already lost digits).
 *
 * When an event has several problems, the one reported is the one Python reports: for events built
 * from method arguments, a missing required field first (Python's constructor raises it), else the
 * first bad field in wire order; for payloads given whole (produceCustomEvent), the first bad field
 * in wire order, then missing fields.
 */

const Ajv2020 = require('ajv/dist/2020');
const { EventValidationError } = require('./errors');

const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addVocabulary(['x-kafka-topic', 'x-kafka-key', 'x-cloudevents-type', 'x-schema-version']);

/** Cross-field rules, by event type: return [field, problem] when violated. */
const RULES = {
  DataQualityEvent: (e) => (e.totalRecords < e.failedRecords
    ? ['failedRecords', `failedRecords (${e.failedRecords}) exceeds totalRecords (${e.totalRecords})`]
    : null),
};

const compiled = new Map();

function validatorFor(schema) {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/**
 * Throw EventValidationError unless `event` is a valid `schema.title` event.
 * @param {object} schema the event type's JSON Schema
 * @param {object} event the complete event (envelope filled)
 * @param {'arguments'|'payload'} origin how the event was given (decides which problem is reported first)
 */
function validateEvent(schema, event, origin = 'arguments') {
  const eventType = schema.title;
  const validate = validatorFor(schema);
  if (!validate(event)) {
    const err = pickError(validate.errors, schema, origin);
    const [field, problem] = describe(err, event, schema);
    throw new EventValidationError(eventType, field, problem);
  }
  for (const name of Object.keys(schema.properties)) {
    const problem = event[name] === undefined ? null : inexact(event[name], schema.properties[name], schema);
    if (problem) throw new EventValidationError(eventType, name, problem);
  }
  const rule = RULES[eventType];
  const broken = rule && rule(event);
  if (broken) throw new EventValidationError(eventType, broken[0], broken[1]);
}

function pickError(errors, schema, origin) {
  const order = Object.keys(schema.properties);
  const rank = (e) => {
    const missing = e.keyword === 'required';
    const top = missing && e.instancePath === '' ? e.params.missingProperty : e.instancePath.split('/')[1];
    const pos = order.indexOf(top);
    const missingFirst = origin === 'arguments';
    return [missing === missingFirst ? 0 : 1, pos < 0 ? order.length : pos];
  };
  return errors
    .map((e, i) => [rank(e), i, e])
    .sort(([a, i], [b, j]) => a[0] - b[0] || a[1] - b[1] || i - j)[0][2];
}

/** [field path, problem] for one ajv error, walking the schema to tell fields from map keys. */
function describe(err, event, rootSchema) {
  const segments = err.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'required') segments.push(err.params.missingProperty);
  let schema = rootSchema;
  let value = event;
  let field = '';
  let mapKey = null;
  for (const seg of segments) {
    schema = resolve(schema, rootSchema);
    if (schema && schema.type === 'array') {
      field += `[${seg}]`;
      schema = schema.items;
    } else if (schema && schema.properties) {
      field += field ? `.${seg}` : seg;
      schema = schema.properties[seg];
    } else {
      mapKey = seg; // a key of a map: the field is the map itself
      schema = schema && schema.additionalProperties;
    }
    value = value == null ? undefined : value[seg];
  }
  const problem = err.keyword === 'required' ? 'missing required field' : problemText(err, value);
  return [field || null, mapKey === null ? problem : `the value of key '${mapKey}': ${problem}`];
}

function resolve(schema, root) {
  if (schema && typeof schema.$ref === 'string') return root.$defs[schema.$ref.slice('#/$defs/'.length)];
  return schema;
}

function problemText(err, value) {
  const { keyword, params } = err;
  switch (keyword) {
    case 'type':
      if (typeof value === 'number' && !Number.isFinite(value)) return `${value} is not a valid number (must be finite)`;
      return `expected ${params.type}, got ${typeName(value)}`;
    case 'enum':
      return `expected one of ${params.allowedValues.join(', ')}, got ${show(value)}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}, got ${show(value)}`;
    case 'minimum':
      return `must be >= ${params.limit}, got ${value}`;
    case 'maximum':
      return `must be <= ${params.limit}, got ${value}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters long`;
    default:
      return err.message;
  }
}

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return 'bytes';
  if (typeof v === 'number') return Number.isInteger(v) ? `integer (${v})` : `number (${v})`;
  if (typeof v === 'string') return `string (${show(v)})`;
  return typeof v;
}

function show(v) {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Why `value` (or a value inside it) cannot be written exactly, or null. */
function inexact(value, schema, root) {
  const s = resolve(schema, root) || {};
  if (typeof value === 'string') {
    return value.isWellFormed() ? null : 'contains a lone surrogate (not valid Unicode; cannot be encoded as UTF-8)';
  }
  if (typeof value === 'number') {
    return s.type === 'integer' && !Number.isSafeInteger(value)
      ? `${value} is beyond 2^53-1 and not exact in JavaScript; pass a smaller value`
      : null;
  }
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (!key.isWellFormed()) return 'a key contains a lone surrogate (not valid Unicode)';
      const sub = Array.isArray(value) ? s.items : (s.properties ? s.properties[key] : s.additionalProperties);
      const found = inexact(value[key], sub, root);
      if (found) return `${Array.isArray(value) ? `item ${key}` : `key '${key}'`}: ${found}`;
    }
  }
  return null;
}

module.exports = { validateEvent };

'use strict';
// The shared table of event inputs (tests/shared/event_inputs.json at the repository root), on the
// Node side. The Python library reads the same table (tests/unit/test_shared_inputs.py): both must
// refuse every bad input naming the same event type and field, and encode every good input to the
// bytes written in the table; the same for the CloudEvents extensions of its `extensions` cases.
// No broker is needed: validation and encoding come before the connection (a valid event on a
// never-connected producer fails with BackendUnavailableError).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { EventProducer, getEventProducer, EventValidationError, ConfigError, TOPICS } = require('..');
const { TOPIC_BY_EVENT_TYPE } = require('../src/catalog');
const { sealEvent, sealCustom, extensionHeaders } = require('../src/envelope');
const { argumentsToFields } = require('../src/methods');
const { REPO, silentLogger } = require('./helpers');

const TABLE = JSON.parse(fs.readFileSync(path.join(REPO, 'tests', 'shared', 'event_inputs.json'), 'utf8'));
const FLOATS = { NaN, Infinity, '-Infinity': -Infinity };

/** The table's JSON with its special values ($float, $bytes, $nowPlusMs) made JavaScript values. */
function special(value) {
  if (Array.isArray(value)) return value.map(special);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$float') return FLOATS[value.$float];
    if (keys.length === 1 && keys[0] === '$bytes') return Buffer.from(value.$bytes);
    if (keys.length === 1 && keys[0] === '$nowPlusMs') return Date.now() + value.$nowPlusMs;
    return Object.fromEntries(keys.map((k) => [k, special(value[k])]));
  }
  return value;
}

function args(c) {
  const out = { ...(TABLE.base[c.method] || {}), ...(c.args || {}), ...(c.with || {}) };
  for (const name of c.without || []) delete out[name];
  return special(out);
}

function producer() {
  return new EventProducer({ sourceService: 'shared-table', bootstrapServers: '127.0.0.1:9092', logger: silentLogger });
}

/** The EventValidationError a call throws (fails when it throws nothing or something else). */
function refusal(call) {
  try {
    call();
  } catch (err) {
    if (err instanceof EventValidationError) return err;
    throw err;
  }
  return assert.fail('accepted');
}

test('the table names every method of this library', () => {
  for (const spec of TOPICS) assert.equal(TABLE.methods[spec.method], spec.eventType, spec.method);
  assert.equal(Object.keys(TABLE.methods).length, TOPICS.length);
});

test('every bad method input is refused naming the event type and the field, and nothing is sent', () => {
  const p = producer();
  const wrong = [];
  for (const c of TABLE.bad) {
    let err;
    try {
      err = refusal(() => p[c.method](args(c)));
    } catch (e) {
      wrong.push(`${c.label}: ${e.message}`);
      continue;
    }
    if (err.eventType !== TABLE.methods[c.method] || err.field !== c.field || (c.problem && !err.problem.includes(c.problem))) {
      wrong.push(`${c.label}: got ${err.eventType}.${err.field}: ${err.problem}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(p.getStats(), { produced: 0, delivered: 0, errors: 0, rejected: TABLE.bad.length, pending: 0 });
});

test('every bad custom payload is refused naming the field', () => {
  const p = producer();
  const wrong = [];
  for (const c of TABLE.badCustom) {
    let err;
    try {
      err = refusal(() => p.produceCustomEvent(c.topic, 'k', special(c.event)));
    } catch (e) {
      wrong.push(`${c.label}: ${e.message}`);
      continue;
    }
    if (err.eventType !== (c.eventType || 'custom') || err.field !== c.field || (c.problem && !err.problem.includes(c.problem))) {
      wrong.push(`${c.label}: got ${err.eventType}.${err.field}: ${err.problem}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.equal(p.getStats().produced, 0);
});

test('a source that cannot be a CloudEvents source is refused by getEventProducer', () => {
  for (const c of TABLE.badSources) {
    assert.throws(() => getEventProducer(c.source, { bootstrapServers: '127.0.0.1:9092', logger: silentLogger }),
      (err) => err instanceof ConfigError && err.where === 'sourceService' && /CloudEvents source/.test(err.message), c.label);
  }
});

test('every good method input is accepted and encodes to the table\'s bytes', () => {
  const p = producer();
  for (const c of TABLE.good) {
    // Accepted: the method gets past validation and stops only at the missing connection.
    assert.throws(() => p[c.method](args(c)), { name: 'BackendUnavailableError' }, c.label);
    if (c.acceptOnly) continue;
    const eventType = TABLE.methods[c.method];
    const sealed = sealEvent(TOPIC_BY_EVENT_TYPE.get(eventType), argumentsToFields(eventType, args(c)), 'shared-table');
    assert.equal(sealed.value, c.expect.value, c.label);
    assert.equal(sealed.key, c.expect.key, c.label);
    assert.deepEqual(Object.entries(sealed.headers), c.expect.headers, c.label);
  }
  assert.equal(p.getStats().rejected, 0);
});

test('every good custom payload encodes to the table\'s bytes', () => {
  for (const c of TABLE.goodCustom) {
    const sealed = sealCustom(c.topic, special(c.event), 'shared-table');
    assert.equal(sealed.value, c.expect.value, c.label);
    assert.deepEqual(Object.entries(sealed.headers), c.expect.headers, c.label);
  }
});

test('every bad extension is refused naming the extension, and nothing is sent', () => {
  const { method, bad } = TABLE.extensions;
  const p = producer();
  const wrong = [];
  for (const c of bad) {
    let err;
    try {
      err = refusal(() => p[method](special(TABLE.base[method]), { extensions: special(c.extensions) }));
    } catch (e) {
      wrong.push(`${c.label}: ${e.message}`);
      continue;
    }
    if (err.eventType !== TABLE.methods[method] || err.field !== c.field || (c.problem && !err.problem.includes(c.problem))) {
      wrong.push(`${c.label}: got ${err.eventType}.${err.field}: ${err.problem}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(p.getStats(), { produced: 0, delivered: 0, errors: 0, rejected: bad.length, pending: 0 });
});

test('every good extension is accepted and becomes the table\'s headers, after the standard ones', () => {
  const { method, good } = TABLE.extensions;
  const p = producer();
  for (const c of good) {
    // Accepted: the method gets past validation and stops only at the missing connection.
    const extensions = special(c.extensions);
    assert.throws(() => p[method](special(TABLE.base[method]), { extensions }), { name: 'BackendUnavailableError' }, c.label);
    const sealed = sealEvent(TOPIC_BY_EVENT_TYPE.get(TABLE.methods[method]), special(TABLE.base[method]), 'shared-table');
    const headers = Object.entries({ ...sealed.headers, ...extensionHeaders(TABLE.methods[method], extensions) });
    assert.deepEqual(headers.slice(0, 6).map(([k]) => k), ['ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'ce_time', 'content-type'], c.label);
    assert.deepEqual(headers.slice(6), c.expect, c.label);
    // A Map is read as the object with the same entries (Python takes any Mapping).
    assert.deepEqual(Object.entries(extensionHeaders('X', new Map(Object.entries(extensions)))), c.expect, c.label);
  }
  assert.equal(p.getStats().rejected, 0);
});

test('a topic option that is no topic name is refused naming it; a good one is where the event goes', () => {
  const { method } = TABLE.extensions;
  const p = producer();
  const wrong = [];
  for (const c of TABLE.topics.bad) {
    let err;
    try {
      err = refusal(() => p[method](special(TABLE.base[method]), { topic: special(c.topic) }));
    } catch (e) {
      wrong.push(`${c.label}: ${e.message}`);
      continue;
    }
    if (err.eventType !== TABLE.methods[method] || err.field !== 'topic') wrong.push(`${c.label}: got ${err.eventType}.${err.field}: ${err.problem}`);
  }
  assert.deepEqual(wrong, []);
  assert.equal(p.getStats().rejected, TABLE.topics.bad.length);
  for (const c of TABLE.topics.good) {
    // Accepted: the only refusal left is the missing connection, which names the topic.
    assert.throws(() => p[method](special(TABLE.base[method]), { topic: c.topic }),
      (err) => err.name === 'BackendUnavailableError' && err.message.includes(`event to '${c.expect}' not sent`), c.label);
  }
});

'use strict';
// Validation gives the Python library's verdicts: for hundreds of invalid events (generated from
// the schemas) and the samples, Node and Python agree on pass/fail and on the field named; an
// invalid event throws at once and nothing is queued.

const test = require('node:test');
const assert = require('node:assert/strict');
const { EventProducer, EventValidationError, TOPICS } = require('..');
const { argumentsToFields } = require('../src/methods');
const { runPython, sampleArguments, silentLogger } = require('./helpers');

const ENVELOPE = ['eventId', 'eventType', 'timestamp', 'source', 'version', 'correlationId', 'causationId'];
// The Python method's parameter names where they differ from the wire field (the original's names).
const PARAMETER_OF = { requestSizeBytes: 'requestSize', responseSizeBytes: 'responseSize' };

function producer() {
  // Never connected: validation comes first, so these tests need no broker.
  return new EventProducer({ sourceService: 'validation-test', bootstrapServers: '127.0.0.1:9092', logger: silentLogger });
}

function resolve(s, root) {
  return s && s.$ref ? root.$defs[s.$ref.split('/').pop()] : s;
}

/** Wrong values for one field, from its schema: [label, value]. */
function wrongValues(prop, root) {
  const s = resolve(prop, root);
  if (s.enum) return [['outside the enum', 'NOT_A_MEMBER'], ['lower case', s.enum[0].toLowerCase()]];
  if (s.const) return [['another type name', 'OtherEvent']];
  switch (s.type) {
    case 'string': return [['a number', 123], ...(s.minLength ? [['empty', '']] : []), ['a boolean', true]];
    case 'integer': return [['a string', '12'], ['a fraction', 1.5], ['a boolean', true],
      ...(s.minimum !== undefined ? [['below the minimum', s.minimum - 1]] : []),
      ...(s.maximum !== undefined && s.maximum < 1e6 ? [['above the maximum', s.maximum + 1]] : [])];
    case 'number': return [['a string', '0.5'], ...(s.minimum !== undefined ? [['below the minimum', s.minimum - 0.5]] : []),
      ...(s.maximum !== undefined ? [['above the maximum', s.maximum + 0.5]] : [])];
    case 'object': return [['a map with a number value', { ok: 'yes', bad: 1 }], ['a list', ['a']]];
    case 'array': {
      const item = resolve(s.items, root);
      if (item.type === 'string') return [['a list holding a number', ['a', 2]]];
      return [['an item missing a required field', [{ targetColumn: 't' }]], ['an item with an unknown field', [{ sourceColumn: 's', targetColumn: 't', extra: 'x' }]],
        ['an item with an empty column', [{ sourceColumn: '', targetColumn: 't' }]]];
    }
    default: return [];
  }
}

/** Method-call cases: every sample, then one broken field at a time. */
function methodCases() {
  const cases = [];
  const samples = sampleArguments(1);
  for (const spec of TOPICS) {
    const base = samples[spec.method];
    const { schema } = spec;
    cases.push({ label: `${spec.method}: the sample`, method: spec.method, args: base });
    for (const [field, prop] of Object.entries(schema.properties)) {
      const arg = PARAMETER_OF[field] && spec.eventType === 'AuditAPICallEvent' ? PARAMETER_OF[field] : field;
      if (!ENVELOPE.includes(field) && schema.required.includes(field) && !('default' in prop) && arg in base) {
        const args = { ...base };
        delete args[arg];
        cases.push({ label: `${spec.method}: without ${arg}`, method: spec.method, args });
      }
      for (const [label, value] of wrongValues(prop, schema)) {
        cases.push({ label: `${spec.method}: ${field} ${label}`, method: spec.method, args: { ...base, [arg]: value } });
      }
    }
    cases.push({ label: `${spec.method}: an unknown field`, method: spec.method, args: { ...base, bogusField: 'x' } });
  }
  const quality = samples.produceDataQualityEvent;
  cases.push({ label: 'failedRecords > totalRecords', method: 'produceDataQualityEvent', args: { ...quality, failedRecords: 1001 } });
  cases.push({ label: 'failedRecords == totalRecords', method: 'produceDataQualityEvent', args: { ...quality, failedRecords: 1000 } });
  cases.push({ label: 'failed > total, and total negative', method: 'produceDataQualityEvent', args: { ...quality, failedRecords: 5, totalRecords: -1 } });
  cases.push({ label: 'null optional field (absent)', method: 'produceServiceHealthEvent', args: { ...samples.produceServiceHealthEvent, message: null } });
  cases.push({ label: 'two problems: a missing and a wrong field', method: 'produceDataIngestionEvent',
    args: { ...samples.produceDataIngestionEvent, datasetName: undefined, recordCount: 'x' } });
  cases.push({ label: 'two wrong fields', method: 'produceDeploymentEvent', args: { ...samples.produceDeploymentEvent, replicas: -1, action: 'X' } });
  cases.push({ label: 'the secret api key', method: 'produceAPICallEvent', args: { ...samples.produceAPICallEvent, apiKey: 'secret' } });
  return cases.map((c) => ({ ...c, args: JSON.parse(JSON.stringify(c.args)) }));
}

/** Whole-payload cases for produceCustomEvent: a complete event, broken one field at a time. */
function payloadCases() {
  const cases = [];
  const samples = sampleArguments(2);
  for (const spec of TOPICS) {
    const event = { eventType: spec.eventType, ...argumentsToFields(spec.eventType, samples[spec.method]) };
    cases.push({ label: `${spec.eventType} payload: the sample`, topic: spec.name, event });
    for (const [field, prop] of Object.entries(spec.schema.properties)) {
      if (spec.schema.required.includes(field) && !('default' in prop)) {
        const broken = { ...event };
        delete broken[field];
        cases.push({ label: `${spec.eventType} payload: without ${field}`, topic: spec.name, event: broken });
      }
      for (const [label, value] of wrongValues(prop, spec.schema)) {
        if (field === 'eventType') continue; // another eventType is another (custom) event
        cases.push({ label: `${spec.eventType} payload: ${field} ${label}`, topic: spec.name, event: { ...event, [field]: value } });
      }
    }
    cases.push({ label: `${spec.eventType} payload: null optional`, topic: spec.name, event: { ...event, correlationId: null } });
    cases.push({ label: `${spec.eventType} payload: an unknown field (ignored)`, topic: spec.name, event: { ...event, extra: 1 } });
  }
  cases.push({ label: 'payload with two problems', topic: 'data-ingestion',
    event: { eventType: 'DataIngestionEvent', recordCount: 'x', sizeBytes: 1, location: 'l' } });
  return cases;
}

function nodeVerdict(call) {
  try {
    call();
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    return { ok: false, eventType: err.eventType, field: err.field, problem: err.problem };
  }
  return { ok: true };
}

function sameField(method, node, py) {
  const alias = method === 'produceAPICallEvent' ? (f) => PARAMETER_OF[f] || f : (f) => f;
  return alias(node.field) === alias(py.field);
}

test('method calls: Node and Python accept and reject the same events and name the same field', () => {
  const cases = methodCases();
  const python = runPython({ command: 'call', cases: cases.map(({ method, args }) => ({ method, args })) });
  const p = producer();
  const disagreements = [];
  cases.forEach((c, i) => {
    const node = nodeVerdict(() => {
      try {
        p[c.method](c.args);
      } catch (err) {
        if (err.name === 'BackendUnavailableError') return; // valid: only the connection is missing
        throw err;
      }
    });
    const py = python[i];
    const sameType = py.eventType === node.eventType;
    if (node.ok !== py.ok || (!node.ok && (!sameField(c.method, node, py) || !sameType))) {
      disagreements.push(`${c.label}: node ${JSON.stringify(node)} python ${JSON.stringify(py)}`);
    }
  });
  assert.deepEqual(disagreements, []);
  assert.ok(cases.length > 200, `only ${cases.length} cases`);
  assert.ok(python.filter((v) => v.ok).length >= 14, 'the samples must pass');
});

test('whole payloads (produceCustomEvent): Node and Python agree on every verdict and field', () => {
  const cases = payloadCases();
  const python = runPython({ command: 'payload', cases: cases.map(({ topic, event }) => ({ topic, event })) });
  const p = producer();
  const disagreements = [];
  cases.forEach((c, i) => {
    const node = nodeVerdict(() => {
      try {
        p.produceCustomEvent(c.topic, 'k', c.event);
      } catch (err) {
        if (err.name === 'BackendUnavailableError') return;
        throw err;
      }
    });
    const py = python[i];
    if (node.ok !== py.ok || (!node.ok && (node.field !== py.field || node.eventType !== py.eventType))) {
      disagreements.push(`${c.label}: node ${JSON.stringify(node)} python ${JSON.stringify(py)}`);
    }
  });
  assert.deepEqual(disagreements, []);
});

test('an invalid event throws EventValidationError naming type and field, and is counted rejected, not produced', () => {
  const p = producer();
  assert.throws(() => p.produceServiceHealthEvent({ serviceName: 'svc', namespace: 'ns', healthStatus: 'FINE', latencyMs: 1, errorRate: 0 }),
    (err) => err instanceof EventValidationError && err.eventType === 'ServiceHealthEvent' && err.field === 'healthStatus'
      && /HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN/.test(err.message) && /"FINE"/.test(err.message));
  assert.throws(() => p.produceDataLineageEvent({ sourceDataset: 'a', targetDataset: 'b', transformationType: 'COPY', transformationName: 'c',
    columns: [{ sourceColumn: 's', targetColumn: 't' }, { sourceColumn: 's' }] }),
  { name: 'EventValidationError', field: 'columns[1].targetColumn' });
  assert.throws(() => p.produceDataIngestionEvent({ datasetName: 'd', recordCount: 1, sizeBytes: 1, location: 'l', metadata: { region: 7 } }),
    (err) => err.field === 'metadata' && /key 'region'/.test(err.problem));
  assert.throws(() => p.produce('NoSuchEvent', {}), { name: 'EventValidationError', eventType: 'NoSuchEvent', field: null });
  assert.deepEqual(p.getStats(), { produced: 0, delivered: 0, errors: 0, rejected: 4, pending: 0 });
});

test('what JavaScript cannot carry exactly is refused: NaN, Infinity, inexact integers, lone surrogates', () => {
  const p = producer();
  const health = { serviceName: 'svc', namespace: 'ns', healthStatus: 'HEALTHY', latencyMs: 1, errorRate: 0 };
  assert.throws(() => p.produceServiceHealthEvent({ ...health, latencyMs: NaN }), { field: 'latencyMs', problem: 'NaN is not a valid number (must be finite)' });
  assert.throws(() => p.produceServiceHealthEvent({ ...health, errorRate: Infinity }), { field: 'errorRate' });
  assert.throws(() => p.produceDataIngestionEvent({ datasetName: 'd', recordCount: 2 ** 60, sizeBytes: 1, location: 'l' }),
    { field: 'recordCount', problem: /beyond 2\^53-1/ });
  assert.throws(() => p.produceServiceHealthEvent({ ...health, message: 'half \ud800 surrogate' }), { field: 'message', problem: /lone surrogate/ });
  assert.throws(() => p.produceSecurityEvent({ category: 'TLS_ERROR', severity: 'LOW', resource: 'r', details: { k: '\udc00' } }),
    { field: 'details', problem: /key 'k'.*lone surrogate/ });
  assert.equal(p.getStats().rejected, 5);
});

test('method defaults and the original parameter names apply as in the Python methods', () => {
  const fields = argumentsToFields('AuditAPICallEvent', { service: 's', endpoint: '/', method: 'GET', statusCode: 200, latencyMs: 1, requestSize: 1, responseSize: 2 });
  assert.deepEqual(fields, { service: 's', endpoint: '/', method: 'GET', statusCode: 200, latencyMs: 1, requestSizeBytes: 1, responseSizeBytes: 2, ipAddress: 'unknown' });
  assert.throws(() => argumentsToFields('AuditAPICallEvent', { requestSize: 1, requestSizeBytes: 1 }), { field: 'requestSizeBytes', problem: /given twice/ });
  assert.equal(argumentsToFields('DeploymentEvent', {}).replicas, 1);
  assert.equal(argumentsToFields('DeploymentEvent', { replicas: null }).replicas, null); // null = absent: no default, as Python's None
  assert.equal(argumentsToFields('DataTransformationEvent', {}).status, 'SUCCESS');
});

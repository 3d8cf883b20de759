'use strict';
// The package's schemas are the repository's generated ones, and its public surface is the
// original library's: enums, one method per catalog type, typings for each.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { drift, sync } = require('../scripts/sync-schemas');
const api = require('..');
const { METHOD_NAMES } = require('../src/methods');

test('the package copy of schemas/ is byte-identical to the generated schemas at the repository root', () => {
  const problems = drift();
  assert.deepEqual(problems, [], `schemas drifted; run \`npm run schemas:sync\` in packages/event-producer-js:\n${problems.join('\n')}`);
});

test('the drift check notices a changed, a missing and an extra schema file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schemas-copy-'));
  try {
    sync(undefined, dir);
    assert.deepEqual(drift(undefined, dir), []);
    const health = path.join(dir, 'json', 'ServiceHealthEvent.schema.json');
    fs.writeFileSync(health, fs.readFileSync(health, 'utf8').replace('"minimum": 0', '"minimum": 1'));
    fs.rmSync(path.join(dir, 'json', 'DeploymentEvent.schema.json'));
    fs.writeFileSync(path.join(dir, 'json', 'MarketDataEvent.schema.json'), '{}');
    assert.deepEqual(drift(undefined, dir).sort(), [
      'json/DeploymentEvent.schema.json: missing from the package copy',
      'json/MarketDataEvent.schema.json: no longer generated (extra in the copy)',
      `json/ServiceHealthEvent.schema.json: differs from ${path.resolve(__dirname, '..', '..', '..', 'schemas', 'json', 'ServiceHealthEvent.schema.json')}`,
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('EventType and Topic carry the original library\'s 12 names and values', () => {
  assert.deepEqual({ ...api.EventType }, {
    DATA_INGESTION: 'DataIngestionEvent', DATA_QUALITY: 'DataQualityEvent', DATA_LINEAGE: 'DataLineageEvent',
    DATA_TRANSFORMATION: 'DataTransformationEvent', SERVICE_HEALTH: 'ServiceHealthEvent', DEPLOYMENT: 'DeploymentEvent',
    CONFIG_CHANGE: 'ConfigChangeEvent', SECURITY: 'SecurityEvent', USER_ACTION: 'AuditUserActionEvent',
    API_CALL: 'AuditAPICallEvent', DATA_ACCESS: 'AuditDataAccessEvent', ADMIN_OPERATION: 'AuditAdminOperationEvent',
  });
  assert.deepEqual({ ...api.Topic }, {
    DATA_INGESTION: 'data-ingestion', DATA_QUALITY: 'data-quality', DATA_LINEAGE: 'data-lineage',
    DATA_TRANSFORMATION: 'data-transformation', SYSTEM_HEALTH: 'system-health', DEPLOYMENT_EVENTS: 'deployment-events',
    CONFIG_CHANGES: 'config-changes', SECURITY_EVENTS: 'security-events', AUDIT_USER_ACTIONS: 'audit-user-actions',
    AUDIT_API_CALLS: 'audit-api-calls', AUDIT_DATA_ACCESS: 'audit-data-access',
    AUDIT_ADMIN_OPERATIONS: 'audit-admin-operations', AUDIT_ADMIN_OPS: 'audit-admin-operations',
  });
  assert.ok(Object.isFrozen(api.EventType) && Object.isFrozen(api.Topic));
});

test('the producer has one camelCase method per catalog type, plus produceApiCallEvent', () => {
  assert.deepEqual(METHOD_NAMES, [
    'produceDataIngestionEvent', 'produceDataQualityEvent', 'produceDataLineageEvent', 'produceDataTransformationEvent',
    'produceServiceHealthEvent', 'produceDeploymentEvent', 'produceConfigChangeEvent', 'produceSecurityEvent',
    'produceUserActionEvent', 'produceAPICallEvent', 'produceDataAccessEvent', 'produceAdminOperationEvent',
    'produceApiCallEvent',
  ]);
  for (const name of [...METHOD_NAMES, 'produce', 'produceCustomEvent', 'connect', 'disconnect', 'flush', 'getStats']) {
    assert.equal(typeof api.EventProducer.prototype[name], 'function', name);
  }
});

test('the public exports are pinned', () => {
  assert.deepEqual(Object.keys(api).sort(), [
    'BackendUnavailableError', 'CarbonplaneError', 'ConfigError', 'DeliveryError', 'EventError', 'EventProducer',
    'EventType', 'EventValidationError', 'SCHEMA_VERSION', 'TOPICS', 'Topic', 'UnknownTopicError', 'expressAudit',
    'getEventProducer', 'murmur2', 'partitionFor', 'traceContext', 'wrapHttpHandler',
  ]);
  assert.equal(api.SCHEMA_VERSION, '1.0.0');
});

test('index.d.ts declares every method, export and event field of the catalog', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
  for (const name of [...METHOD_NAMES, 'produceCustomEvent', 'getStats', 'flush', 'connect', 'disconnect']) {
    assert.match(dts, new RegExp(`\\b${name}\\(`), `index.d.ts lacks ${name}()`);
  }
  for (const name of Object.keys(api)) assert.match(dts, new RegExp(`export (declare )?(const|class|function|type|interface) ${name}\\b`), `index.d.ts lacks ${name}`);
  for (const spec of api.TOPICS) {
    const block = dts.match(new RegExp(`export interface ${spec.eventType}Fields [^{]*\\{([\\s\\S]*?)\\n\\}`));
    assert.ok(block, `index.d.ts lacks ${spec.eventType}Fields`);
    const declared = [...block[1].matchAll(/^\s*(\w+)\??:/gm)].map((m) => m[1]);
    const own = Object.keys(spec.schema.properties).filter((f) => !['eventId', 'eventType', 'timestamp', 'source', 'version', 'correlationId', 'causationId'].includes(f));
    assert.deepEqual(declared, own, `${spec.eventType}Fields in index.d.ts differs from the schema's fields`);
  }
});

'use strict';
/**
 * The topic catalog and the event schemas, read from the package's copy of the generated schemas.
 *
 * `schemas/catalog.json` and `schemas/json/<EventType>.schema.json` are generated from carbonplane's
 * Python event types (`make schemas`) and copied here byte for byte (`npm run schemas:sync`; a test
 * fails when the copy drifts). Nothing about topics or fields is written by hand in this library:
 * topic names, partitions, record keys, CloudEvents types, field order, defaults and constraints
 * all come from these files.
 *
 * Exports the original library's enums, derived from the catalog:
 *   EventType.SERVICE_HEALTH === 'ServiceHealthEvent', EventType.API_CALL === 'AuditAPICallEvent'
 *   Topic.SYSTEM_HEALTH === 'system-health', Topic.AUDIT_ADMIN_OPS === 'audit-admin-operations'
 *
 * Invariants: one topic per event type and one event type per topic; every topic's schema exists
 * and names the same topic, key and CloudEvents type as the catalog (checked at load).
 */

const fs = require('node:fs');
const path = require('node:path');

const SCHEMAS_DIR = path.join(__dirname, '..', 'schemas');

function readJson(rel) {
  const file = path.join(SCHEMAS_DIR, rel);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the event schema ${file}: ${err.message}; ` +
      'reinstall the package, or run `npm run schemas:sync` in packages/event-producer-js');
  }
}

/** 'DataIngestionEvent' -> 'DataIngestion'; 'AuditAPICallEvent' -> 'APICall' (the original's names). */
function shortName(eventType) {
  return eventType.replace(/^Audit/, '').replace(/Event$/, '');
}

/** 'APICall' -> 'API_CALL', 'data-ingestion' -> 'DATA_INGESTION'. */
function constantName(text) {
  return text
    .replace(/-/g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/** Freeze a parsed schema all the way down: validators and writers are compiled from it once. */
function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

function loadCatalog() {
  const catalog = readJson('catalog.json');
  const topics = catalog.topics.map((t) => {
    const schema = readJson(t.jsonSchema);
    const mismatch = [['x-kafka-topic', t.name], ['x-kafka-key', t.key], ['x-cloudevents-type', t.ce_type]]
      .find(([k, v]) => schema[k] !== v);
    if (mismatch || schema.title !== t.eventType) {
      throw new Error(`schemas/${t.jsonSchema} does not match catalog.json for topic ${t.name}; ` +
        'regenerate with `make schemas`, then `npm run schemas:sync`');
    }
    return Object.freeze({
      name: t.name,
      category: t.category,
      partitions: t.partitions,
      retentionMs: t['retention.ms'],
      cleanupPolicy: t['cleanup.policy'],
      compression: t['compression.type'],
      eventType: t.eventType,
      keyField: t.key,
      ceType: t.ce_type,
      method: `produce${shortName(t.eventType)}Event`,
      schema: deepFreeze(schema),
    });
  });
  return { schemaVersion: catalog.schemaVersion, topics: Object.freeze(topics) };
}

const { schemaVersion: SCHEMA_VERSION, topics: TOPICS } = loadCatalog();
const TOPICS_BY_NAME = new Map(TOPICS.map((t) => [t.name, t]));
const TOPIC_BY_EVENT_TYPE = new Map(TOPICS.map((t) => [t.eventType, t]));

const EventType = Object.freeze(Object.fromEntries(
  TOPICS.map((t) => [constantName(shortName(t.eventType)), t.eventType])));

const Topic = Object.freeze(Object.fromEntries([
  ...TOPICS.map((t) => [constantName(t.name), t.name]),
  ['AUDIT_ADMIN_OPS', 'audit-admin-operations'], // the original library's shorter name
]));

module.exports = {
  SCHEMAS_DIR,
  SCHEMA_VERSION,
  TOPICS,
  TOPICS_BY_NAME,
  TOPIC_BY_EVENT_TYPE,
  EventType,
  Topic,
};

'use strict';
/**
 * @254carbon/event-producer: typed, validated platform events to Kafka, the Node.js twin of
 * carbonplane's Python `event_producer` (same topics, envelope, headers, keys, partitions and
 * validation; the generated schemas in `schemas/` are the single source of truth).
 *
 * Public names (pinned by a test): EventProducer, getEventProducer, EventType, Topic, TOPICS,
 * SCHEMA_VERSION, partitionFor, murmur2, the HTTP integrations (expressAudit, wrapHttpHandler,
 * traceContext) and the error classes. Requiring this module never loads Express.
 */

const { EventProducer, getEventProducer } = require('./producer');
const { EventType, Topic, TOPICS, SCHEMA_VERSION } = require('./catalog');
const { partitionFor, murmur2 } = require('./partitioner');
const errors = require('./errors');
const { expressAudit, wrapHttpHandler } = require('./express');
const { traceContext } = require('./http-audit');

module.exports = {
  EventProducer,
  getEventProducer,
  EventType,
  Topic,
  TOPICS,
  SCHEMA_VERSION,
  partitionFor,
  murmur2,
  expressAudit,
  wrapHttpHandler,
  traceContext,
  CarbonplaneError: errors.CarbonplaneError,
  ConfigError: errors.ConfigError,
  EventError: errors.EventError,
  EventValidationError: errors.EventValidationError,
  UnknownTopicError: errors.UnknownTopicError,
  DeliveryError: errors.DeliveryError,
  BackendUnavailableError: errors.BackendUnavailableError,
};

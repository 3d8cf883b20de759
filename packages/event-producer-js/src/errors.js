'use strict';
/**
 * The error tree of the event producer, the same shape and names as carbonplane's Python errors,
 * so that a log line or an alert reads the same whichever library raised it:
 *
 *   CarbonplaneError
 *   ├── ConfigError                 bad configuration (option or environment variable; `where` names it)
 *   └── EventError
 *       ├── EventValidationError    an event failed its schema; nothing was sent (eventType, field, problem)
 *       ├── UnknownTopicError       the topic does not exist on the broker (topic)
 *       ├── DeliveryError           the broker did not acknowledge the event (topic, reason)
 *       └── BackendUnavailableError the broker cannot be reached, or the producer is not connected
 *
 * Every error carries structured fields so callers and tests assert on them, not on messages.
 */

class CarbonplaneError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

class ConfigError extends CarbonplaneError {
  /** @param {string} message @param {{where?: string}} [opts] where: the option or env var at fault */
  constructor(message, { where } = {}) {
    super(where ? `${where}: ${message}` : message);
    this.where = where ?? null;
  }
}

class EventError extends CarbonplaneError {}

class EventValidationError extends EventError {
  /**
   * @param {string} eventType the event type's name (or 'custom')
   * @param {string|null} field camelCase field path (`columns[0].sourceColumn`), null when not one field's
   * @param {string} problem what is wrong with it
   */
  constructor(eventType, field, problem) {
    super(`invalid ${field ? `${eventType}.${field}` : eventType}: ${problem}`);
    this.eventType = eventType;
    this.field = field;
    this.problem = problem;
  }
}

class UnknownTopicError extends EventError {
  constructor(topic, hint = '') {
    super(`unknown topic '${topic}'${hint ? `: ${hint}` : ''}`);
    this.topic = topic;
  }
}

class DeliveryError extends EventError {
  constructor(topic, reason, options) {
    super(`delivery to '${topic}' failed: ${reason}`, options);
    this.topic = topic;
    this.reason = reason;
  }
}

class BackendUnavailableError extends EventError {}

const UNKNOWN_TOPIC_HINT = 'the topic does not exist; create it with `carbonplane topics apply`';

module.exports = {
  CarbonplaneError,
  ConfigError,
  EventError,
  EventValidationError,
  UnknownTopicError,
  DeliveryError,
  BackendUnavailableError,
  UNKNOWN_TOPIC_HINT,
};

'use strict';
/**
 * The one-method-per-type API (`produceServiceHealthEvent({...})`), generated from the catalog, with
 * the argument conventions of the Python methods (`produce_service_health_event(...)`) that the
 * schemas alone do not carry: the original library's defaults and parameter names.
 *
 *   produceDataTransformationEvent   status defaults to 'SUCCESS'
 *   produceDeploymentEvent           replicas defaults to 1
 *   produceAPICallEvent              ipAddress defaults to 'unknown'; requestSize/responseSize are
 *                                    the original names of requestSizeBytes/responseSizeBytes;
 *                                    apiKey is refused (the secret is never sent: pass apiKeyId)
 *
 * A method default applies when the argument is not given at all; `null` means absent, so a field
 * with no schema default is then missing (as Python's None). Every method returns the promise of
 * the event's delivery report and throws EventValidationError (nothing sent) for an invalid event.
 */

const { TOPICS } = require('./catalog');
const { EventValidationError } = require('./errors');

const ARGUMENT_RULES = {
  DataTransformationEvent: { defaults: { status: 'SUCCESS' } },
  DeploymentEvent: { defaults: { replicas: 1 } },
  AuditAPICallEvent: {
    defaults: { ipAddress: 'unknown' },
    aliases: { requestSize: 'requestSizeBytes', responseSize: 'responseSizeBytes' },
    refused: { apiKey: 'the secret API key is never sent: pass apiKeyId (its identifier or a fingerprint) instead' },
  },
};

/** Method arguments -> schema fields, by the rules above (the input object is not modified). */
function argumentsToFields(eventType, args) {
  const rules = ARGUMENT_RULES[eventType];
  if (!rules || args === null || typeof args !== 'object') return args;
  const fields = { ...args };
  for (const [name, problem] of Object.entries(rules.refused || {})) {
    if (fields[name] !== undefined) throw new EventValidationError(eventType, name, problem);
  }
  for (const [alias, field] of Object.entries(rules.aliases || {})) {
    if (fields[alias] === undefined) continue;
    if (fields[field] !== undefined) {
      throw new EventValidationError(eventType, field, `given twice, as ${alias} and as ${field}: pass one`);
    }
    fields[field] = fields[alias];
    delete fields[alias];
  }
  for (const [name, value] of Object.entries(rules.defaults || {})) {
    if (!(name in fields)) fields[name] = value;
  }
  return fields;
}

/** Add `produce<Type>Event(fields)` for every catalog type (and the alias produceApiCallEvent). */
function installMethods(proto) {
  for (const spec of TOPICS) {
    const { eventType, method } = spec;
    Object.defineProperty(proto, method, {
      value: { [method](fields = {}, options = undefined) { return this._produceCatalog(eventType, fields, argumentsToFields, options); } }[method],
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(proto, 'produceApiCallEvent', {
    value: function produceApiCallEvent(fields = {}, options = undefined) { return this.produceAPICallEvent(fields, options); },
    writable: true,
    configurable: true,
  });
}

const METHOD_NAMES = Object.freeze([...TOPICS.map((t) => t.method), 'produceApiCallEvent']);

module.exports = { installMethods, argumentsToFields, METHOD_NAMES };

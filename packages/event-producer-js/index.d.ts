// Type definitions for @254carbon/event-producer.
// The event field interfaces follow the generated JSON Schemas in schemas/json (a test checks that
// every interface lists exactly its schema's fields, in wire order).

/** The 12 event type names (the original library's enum). */
export declare const EventType: Readonly<{
  DATA_INGESTION: 'DataIngestionEvent';
  DATA_QUALITY: 'DataQualityEvent';
  DATA_LINEAGE: 'DataLineageEvent';
  DATA_TRANSFORMATION: 'DataTransformationEvent';
  SERVICE_HEALTH: 'ServiceHealthEvent';
  DEPLOYMENT: 'DeploymentEvent';
  CONFIG_CHANGE: 'ConfigChangeEvent';
  SECURITY: 'SecurityEvent';
  USER_ACTION: 'AuditUserActionEvent';
  API_CALL: 'AuditAPICallEvent';
  DATA_ACCESS: 'AuditDataAccessEvent';
  ADMIN_OPERATION: 'AuditAdminOperationEvent';
}>;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** The 12 catalog topics (the original library's enum; AUDIT_ADMIN_OPS is its shorter name). */
export declare const Topic: Readonly<{
  DATA_INGESTION: 'data-ingestion';
  DATA_QUALITY: 'data-quality';
  DATA_LINEAGE: 'data-lineage';
  DATA_TRANSFORMATION: 'data-transformation';
  SYSTEM_HEALTH: 'system-health';
  DEPLOYMENT_EVENTS: 'deployment-events';
  CONFIG_CHANGES: 'config-changes';
  SECURITY_EVENTS: 'security-events';
  AUDIT_USER_ACTIONS: 'audit-user-actions';
  AUDIT_API_CALLS: 'audit-api-calls';
  AUDIT_DATA_ACCESS: 'audit-data-access';
  AUDIT_ADMIN_OPERATIONS: 'audit-admin-operations';
  AUDIT_ADMIN_OPS: 'audit-admin-operations';
}>;
export type Topic = (typeof Topic)[keyof typeof Topic];

/** Schema version of every event type ("1.0.0"). */
export declare const SCHEMA_VERSION: string;

/** One catalog topic, as schemas/catalog.json describes it. */
export interface TopicSpec {
  readonly name: Topic;
  readonly category: 'data' | 'system' | 'audit';
  readonly partitions: number;
  readonly retentionMs: number;
  readonly cleanupPolicy: 'delete' | 'compact';
  readonly compression: string;
  readonly eventType: EventType;
  /** The field whose value is the record key, or "sourceDataset->targetDataset". */
  readonly keyField: string;
  /** CloudEvents type (ce_type header), e.g. "com.carbon254.system.health". */
  readonly ceType: string;
  /** Name of the producer method for this type, e.g. "produceServiceHealthEvent". */
  readonly method: string;
  /** The event type's JSON Schema (draft 2020-12). */
  readonly schema: object;
}
export declare const TOPICS: readonly TopicSpec[];

/** Kafka's murmur2 of a key (a string's UTF-8 bytes), as a signed 32-bit integer like Java's. */
export declare function murmur2(key: string | Buffer): number;
/** The partition the producer sends `key` to in a topic of `partitions` partitions (Java/Python parity). */
export declare function partitionFor(key: string | Buffer, partitions: number): number;

/** Envelope fields every event accepts; the producer fills eventId, timestamp and source when absent. */
export interface EnvelopeFields {
  /** UUID of the event (default: a new random UUID); also the ce_id header. */
  eventId?: string;
  /** Epoch milliseconds (default: now); also the ce_time header and the record timestamp. */
  timestamp?: number;
  /** The producing service (default: the producer's service name); also ce_source. */
  source?: string;
  /** Schema version (default "1.0.0"). */
  version?: string;
  /** Id shared by all events of one business operation or request. */
  correlationId?: string;
  /** eventId of the event that caused this one. */
  causationId?: string;
}

/** One target column and the source column it was derived from. */
export interface ColumnLineage {
  sourceColumn: string;
  targetColumn: string;
  transformation?: string;
}

/** A batch of records landed in a dataset (one ingestion run). Topic data-ingestion, key datasetName. */
export interface DataIngestionEventFields extends EnvelopeFields {
  /** Fully qualified name of the dataset. */
  datasetName: string;
  /** Number of records ingested. */
  recordCount: number;
  /** Size of the ingested data in bytes. */
  sizeBytes: number;
  /** File or data format of the ingested data, e.g. parquet, csv, json. Default "parquet". */
  format?: string;
  /** URI of the ingested data, e.g. s3://bucket/path.parquet. */
  location: string;
  /** Outcome of the run. Default "SUCCESS". */
  status?: "SUCCESS" | "FAILURE" | "PARTIAL";
  /** Free-form string attributes of the ingestion. Default {}. */
  metadata?: Record<string, string>;
}

/** The outcome of one data-quality check on a dataset; `failedRecords` <= `totalRecords`. Topic data-quality, key datasetName. */
export interface DataQualityEventFields extends EnvelopeFields {
  /** Fully qualified name of the dataset. */
  datasetName: string;
  /** Kind of check, e.g. completeness, validity, freshness. */
  checkType: string;
  /** Name of the check. */
  checkName: string;
  /** Verdict of the check. */
  result: "PASS" | "FAIL" | "WARNING";
  /** Share of records that passed, from 0 (none) to 1 (all). */
  score: number;
  /** Number of records that failed the check; at most totalRecords. */
  failedRecords: number;
  /** Number of records checked. */
  totalRecords: number;
  /** Human-readable explanation of the verdict. */
  message?: string;
}

/** A dataset was derived from another; optionally column by column. Topic data-lineage, key sourceDataset->targetDataset. */
export interface DataLineageEventFields extends EnvelopeFields {
  /** Dataset the data was read from. */
  sourceDataset: string;
  /** Dataset the data was written to. */
  targetDataset: string;
  /** Kind of derivation. */
  transformationType: "COPY" | "TRANSFORM" | "AGGREGATE" | "JOIN" | "FILTER";
  /** Name of the job, query or step that performed the derivation. */
  transformationName: string;
  /** The query that performed the derivation, if any. */
  query?: string;
  /** Column-level lineage: which source column each target column came from. Default []. */
  columns?: ColumnLineage[];
}

/** One run of a transformation job: datasets in and out, record counts, duration, outcome. Topic data-transformation, key jobName. */
export interface DataTransformationEventFields extends EnvelopeFields {
  /** Name of the transformation job. */
  jobName: string;
  /** Datasets the job read. */
  inputDatasets: string[];
  /** Datasets the job wrote. */
  outputDatasets: string[];
  /** Number of records read. */
  recordsIn: number;
  /** Number of records written. */
  recordsOut: number;
  /** Run time of the job in milliseconds. */
  durationMs: number;
  /** Outcome of the run. */
  status: "SUCCESS" | "FAILURE" | "PARTIAL";
  /** Engine that ran the job, e.g. trino, spark, flink. */
  engine?: string;
  /** Why the run failed or was partial. */
  errorMessage?: string;
}

/** A service's health as observed at one moment: status, latency and error rate. Topic system-health, key serviceName. */
export interface ServiceHealthEventFields extends EnvelopeFields {
  /** Name of the service. */
  serviceName: string;
  /** Namespace the service or deployment runs in. */
  namespace: string;
  /** Health of the service. */
  healthStatus: "HEALTHY" | "DEGRADED" | "UNHEALTHY" | "UNKNOWN";
  /** Observed response latency in milliseconds. */
  latencyMs: number;
  /** Share of requests that failed, from 0 to 1. */
  errorRate: number;
  /** Human-readable detail about the health status. */
  message?: string;
}

/** A deployment was rolled out, rolled back, scaled or restarted. Topic deployment-events, key deploymentName. */
export interface DeploymentEventFields extends EnvelopeFields {
  /** Name of the deployment. */
  deploymentName: string;
  /** Namespace the service or deployment runs in. */
  namespace: string;
  /** What was done to the deployment. */
  action: "DEPLOY" | "ROLLBACK" | "SCALE" | "RESTART";
  /** Version now deployed (the application's, not this schema's). */
  deployedVersion: string;
  /** Version deployed before this action. */
  previousVersion?: string;
  /** Number of replicas after the action. */
  replicas: number;
  /** Who or what performed the deployment (user, pipeline). */
  deployedBy: string;
}

/** A platform configuration resource was created, updated or deleted. Topic config-changes, key resource. */
export interface ConfigChangeEventFields extends EnvelopeFields {
  /** Configuration resource that changed, e.g. gateway/routes/trino-api. */
  resource: string;
  /** Kind of change. */
  changeType: "CREATE" | "UPDATE" | "DELETE";
  /** Who made the change. */
  changedBy: string;
  /** Version of the configuration after the change. */
  configVersion?: string;
  /** The change as a diff. */
  diff?: string;
  /** Why the change was made. */
  reason?: string;
}

/** A security-relevant occurrence: failed authentication, denial, rate limit, certificate, TLS. Topic security-events, key category. */
export interface SecurityEventFields extends EnvelopeFields {
  /** Kind of security occurrence. */
  category: "AUTHN_FAILURE" | "AUTHZ_DENIED" | "RATE_LIMITED" | "CERT_ISSUED" | "CERT_EXPIRING" | "POLICY_VIOLATION" | "TLS_ERROR";
  /** How serious the occurrence is. */
  severity: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
  /** Resource concerned, e.g. a route, service or certificate. */
  resource: string;
  /** Identity involved: user, consumer, service account or certificate subject. */
  principal?: string;
  /** IP address the request came from. */
  sourceIp?: string;
  /** Free-form string attributes with more detail. Default {}. */
  details?: Record<string, string>;
}

/** Audit trail: a user did something to a resource. Topic audit-user-actions, key userId. */
export interface AuditUserActionEventFields extends EnvelopeFields {
  /** Id of the user. */
  userId: string;
  /** Login name of the user. */
  username: string;
  /** What the user did, e.g. LOGIN, EXPORT, UPDATE. */
  action: string;
  /** Resource the action applied to. */
  resource: string;
  /** Kind of resource, e.g. dashboard, dataset, route. */
  resourceType: string;
  /** Outcome of the action. */
  result: "SUCCESS" | "FAILURE" | "DENIED";
  /** IP address of the client. */
  ipAddress: string;
  /** User-Agent of the client. */
  userAgent?: string;
  /** Free-form string attributes with more detail. Default {}. */
  details?: Record<string, string>;
}

/** Audit trail: one API call through the gateway (never carries secrets, only key identifiers). Topic audit-api-calls, key service. */
export interface AuditAPICallEventFields extends EnvelopeFields {
  /** Service that served the call. */
  service: string;
  /** Path of the endpoint called. */
  endpoint: string;
  /** HTTP method. */
  method: string;
  /** HTTP status code of the response. */
  statusCode: number;
  /** Time to serve the call in milliseconds. */
  latencyMs: number;
  /** Size of the request body in bytes. */
  requestSizeBytes: number;
  /** Size of the response body in bytes. */
  responseSizeBytes: number;
  /** Id of the user. */
  userId?: string;
  /** Identifier or fingerprint of the API key used; never the key itself. */
  apiKeyId?: string;
  /** IP address of the client. */
  ipAddress: string;
  /** Error returned to the caller, if any. */
  errorMessage?: string;
}

/** Audit trail: a user read, wrote, deleted or exported data of a dataset. Topic audit-data-access, key dataset. */
export interface AuditDataAccessEventFields extends EnvelopeFields {
  /** Id of the user. */
  userId: string;
  /** Dataset accessed. */
  dataset: string;
  /** Kind of access. */
  accessType: "READ" | "WRITE" | "DELETE" | "EXPORT";
  /** Outcome of the action. */
  result: "SUCCESS" | "FAILURE" | "DENIED";
  /** Number of rows read, written, deleted or exported. */
  rowCount?: number;
  /** The query used for the access, if any. */
  query?: string;
  /** IP address of the client. */
  ipAddress?: string;
}

/** Audit trail: an administrator performed a privileged operation. Topic audit-admin-operations, key adminUser. */
export interface AuditAdminOperationEventFields extends EnvelopeFields {
  /** Administrator who performed the operation. */
  adminUser: string;
  /** Operation performed, e.g. ROTATE_KEY, DROP_TABLE. */
  operation: string;
  /** What the operation applied to. */
  target: string;
  /** Outcome of the action. */
  result: "SUCCESS" | "FAILURE" | "DENIED";
  /** IP address of the client. */
  ipAddress?: string;
  /** Free-form string attributes with more detail. Default {}. */
  details?: Record<string, string>;
}

/** Arguments of produceDataTransformationEvent: status defaults to "SUCCESS". */
export type DataTransformationArguments = Omit<DataTransformationEventFields, 'status'> & { status?: DataTransformationEventFields['status'] };
/** Arguments of produceDeploymentEvent: replicas defaults to 1. */
export type DeploymentArguments = Omit<DeploymentEventFields, 'replicas'> & { replicas?: number };
/**
 * Arguments of produceAPICallEvent: ipAddress defaults to "unknown"; requestSize/responseSize are
 * the original names of requestSizeBytes/responseSizeBytes (give one of each pair). There is no
 * apiKey: the secret is never sent (it is refused); pass apiKeyId.
 */
export type APICallArguments = Omit<AuditAPICallEventFields, 'requestSizeBytes' | 'responseSizeBytes' | 'ipAddress'> & {
  requestSize?: number;
  responseSize?: number;
  requestSizeBytes?: number;
  responseSizeBytes?: number;
  ipAddress?: string;
};

/** Where an acknowledged event is stored. */
export interface DeliveryReport {
  topic: string;
  partition: number;
  offset: number;
  /** The record key (null for a keyless custom event). */
  key: string | null;
  eventId: string;
  /** The event's (and record's) timestamp, epoch milliseconds. */
  timestamp: number;
}

/** What flush() or disconnect() saw since the previous flush. */
export interface FlushResult {
  /** Events still waiting for the broker when the timeout ended. */
  remaining: number;
  delivered: number;
  failed: number;
  /** The first failure messages (at most 20). */
  errors: string[];
  /** remaining === 0 && failed === 0 */
  ok: boolean;
}

export interface ProducerStats {
  /** Events acknowledged by the broker. */
  delivered: number;
  /** Events that failed: not acknowledged, unknown topic, or refused (not connected, queue full). */
  errors: number;
  /** Events accepted and queued. */
  produced: number;
  /** Events that failed validation (nothing sent). */
  rejected: number;
  /** Events queued or in flight. */
  pending: number;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** TLS options (node:tls) merged over the KAFKA_SSL_* files. */
export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  pfx?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface EventProducerOptions {
  /** host:port list (array or comma-separated); default KAFKA_BOOTSTRAP_SERVERS. */
  bootstrapServers?: string | string[];
  /** The producing service (envelope source, ce_source); getEventProducer sets it. */
  sourceService?: string;
  /** Kafka client id; default `${sourceService}-producer`. */
  clientId?: string;
  /** PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL; default KAFKA_SECURITY_PROTOCOL or PLAINTEXT. */
  securityProtocol?: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  ssl?: TlsOptions;
  /** SASL options (mechanism plus its credentials); required by the SASL protocols. */
  sasl?: { mechanism: string; [option: string]: unknown };
  /** lz4 (default) | gzip | none. */
  compression?: 'lz4' | 'gzip' | 'none';
  /** How long the first event of an idle queue waits for others (default 5 ms). */
  lingerMs?: number;
  /** Events per request (default 5000). */
  maxBatchCount?: number;
  /** Uncompressed bytes per request (default 1,000,000). */
  maxBatchBytes?: number;
  /** Unacknowledged events before produce methods throw (default 100,000). */
  maxQueued?: number;
  /** The broker's wait for in-sync replicas, ms (default 30,000). */
  ackTimeoutMs?: number;
  connectionTimeout?: number;
  requestTimeout?: number;
  /** Topic metadata (partition counts) is re-read after this many ms (default 300,000). */
  metadataMaxAgeMs?: number;
  /** Retry options (default {retries: 5, initialRetryTime: 300, maxRetryTime: 30000}). */
  retry?: { retries?: number; initialRetryTime?: number; maxRetryTime?: number; factor?: number; multiplier?: number };
  /** The environment to read the KAFKA_* variables from (default process.env). */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Level of the default console logger (default 'warn'). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

export type EventFieldsByType = {
  DataIngestionEvent: DataIngestionEventFields;
  DataQualityEvent: DataQualityEventFields;
  DataLineageEvent: DataLineageEventFields;
  DataTransformationEvent: DataTransformationEventFields;
  ServiceHealthEvent: ServiceHealthEventFields;
  DeploymentEvent: DeploymentEventFields;
  ConfigChangeEvent: ConfigChangeEventFields;
  SecurityEvent: SecurityEventFields;
  AuditUserActionEvent: AuditUserActionEventFields;
  AuditAPICallEvent: AuditAPICallEventFields;
  AuditDataAccessEvent: AuditDataAccessEventFields;
  AuditAdminOperationEvent: AuditAdminOperationEventFields;
};

/** Per-event options of produce and the typed produce methods. */
export interface ProduceOptions {
  /**
   * CloudEvents extension attributes, each sent as a `ce_<name>` header after the standard ones
   * (e.g. `{traceparent: '00-...-01'}`): a name is 1-20 lowercase ASCII letters or digits and not a
   * core attribute, a value a string of at most 4096 UTF-8 bytes without control characters,
   * surrogates or noncharacters; else EventValidationError.
   */
  extensions?: Record<string, string> | ReadonlyMap<string, string>;
  /**
   * Another topic than the type's catalog topic (it must exist: topics are never auto-created): a
   * Kafka topic name (1-249 of `[A-Za-z0-9._-]`), else EventValidationError; null: the catalog's.
   */
  topic?: string | null;
}

/**
 * Produces catalog events to Kafka. Every produce method validates first and throws
 * EventValidationError (nothing sent), or BackendUnavailableError when not connected or when
 * maxQueued events are unacknowledged; otherwise it returns the promise of the delivery report,
 * which rejects with DeliveryError / UnknownTopicError when the broker does not acknowledge.
 */
export declare class EventProducer {
  constructor(options?: EventProducerOptions);
  readonly sourceService: string;
  /** The compression actually used: 'lz4', or 'gzip' when the lz4 codec is not installed. */
  readonly compression: 'lz4' | 'gzip' | 'none';
  readonly connected: boolean;
  connect(): Promise<void>;
  /** Flush up to timeoutMs (default 10 s), fail what is left, close the connections. */
  disconnect(timeoutMs?: number): Promise<FlushResult>;
  /** Send what is queued and wait for it, up to timeoutMs (default 10 s); never rejects. */
  flush(timeoutMs?: number): Promise<FlushResult>;
  getStats(): ProducerStats;

  produce<T extends EventType>(eventType: T, fields: EventFieldsByType[T], options?: ProduceOptions): Promise<DeliveryReport>;
  /** Send `event` to `topic` as given (validated first when its eventType is a catalog type). */
  produceCustomEvent(topic: string, key: string | null, event: Record<string, unknown>): Promise<DeliveryReport>;

  produceDataIngestionEvent(fields: DataIngestionEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceDataQualityEvent(fields: DataQualityEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceDataLineageEvent(fields: DataLineageEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceDataTransformationEvent(fields: DataTransformationArguments, options?: ProduceOptions): Promise<DeliveryReport>;
  produceServiceHealthEvent(fields: ServiceHealthEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceDeploymentEvent(fields: DeploymentArguments, options?: ProduceOptions): Promise<DeliveryReport>;
  produceConfigChangeEvent(fields: ConfigChangeEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceSecurityEvent(fields: SecurityEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceUserActionEvent(fields: AuditUserActionEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceAPICallEvent(fields: APICallArguments, options?: ProduceOptions): Promise<DeliveryReport>;
  /** Alias of produceAPICallEvent. */
  produceApiCallEvent(fields: APICallArguments, options?: ProduceOptions): Promise<DeliveryReport>;
  produceDataAccessEvent(fields: AuditDataAccessEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
  produceAdminOperationEvent(fields: AuditAdminOperationEventFields, options?: ProduceOptions): Promise<DeliveryReport>;
}

/** A producer for `serviceName` (the CloudEvents source: ConfigError when empty or blank), configured from `options` and the environment. */
export declare function getEventProducer(serviceName: string, options?: EventProducerOptions): EventProducer;

export declare class CarbonplaneError extends Error {}
export declare class ConfigError extends CarbonplaneError {
  /** The option or environment variable at fault. */
  readonly where: string | null;
}
export declare class EventError extends CarbonplaneError {}
export declare class EventValidationError extends EventError {
  readonly eventType: string;
  /** camelCase field path, e.g. "columns[0].sourceColumn"; null when not one field's. */
  readonly field: string | null;
  readonly problem: string;
}
export declare class UnknownTopicError extends EventError {
  readonly topic: string;
}
export declare class DeliveryError extends EventError {
  readonly topic: string;
  readonly reason: string;
}
export declare class BackendUnavailableError extends EventError {}

/** Options of expressAudit and wrapHttpHandler (the Python integrations' AuditSettings, camelCase). */
export interface HttpAuditOptions {
  /** Names the service in every event (the record key, and the producer's source). */
  service: string;
  /** Namespace of the ServiceHealthEvents (default 'default'). */
  namespace?: string;
  /** Share of requests recorded, 0..1 (default 1). */
  sampleRate?: number;
  /** Paths never recorded; an entry ending in '*' is a prefix (default the health-check paths). */
  exclude?: string[];
  /** Addresses or CIDR networks whose X-Forwarded-For is believed (default none). */
  trustedProxies?: string[] | string;
  /** Calls waiting to be produced before new ones are dropped and counted (default 10,000). */
  queueSize?: number;
  /** Topics instead of the catalog's audit-api-calls and system-health. */
  auditTopic?: string;
  healthTopic?: string;
  /** The user id of a request (default: from req.user: a string, or its id, username, sub or email). */
  user?: (req: import('http').IncomingMessage & { user?: unknown }) => string | null | undefined;
  /** An EventProducer of yours (flushed, not disconnected, by stop()); else one is made from producerOptions. */
  producer?: EventProducer;
  producerOptions?: EventProducerOptions;
  logger?: Logger;
}

/** The integration's counters: submitted = sent + droppedError + queued + inFlight. */
export interface HttpAuditStats {
  submitted: number;
  sent: number;
  droppedQueueFull: number;
  droppedError: number;
  queued: number;
  inFlight: number;
}

/** Lifecycle and counters shared by the Express middleware and the http wrapper. */
export interface HttpAuditHooks {
  /** ServiceHealthEvent HEALTHY "started" (and connect now). */
  start(): void;
  /** ServiceHealthEvent UNKNOWN "stopping", then send what is queued (up to timeoutMs, default 10 s) and close. */
  stop(timeoutMs?: number): Promise<HttpAuditStats>;
  /** start() when the server listens, stop() when it closes; returns the server. */
  watch<S extends import('net').Server>(server: S): S;
  stats(): HttpAuditStats;
}

type Next = (err?: unknown) => void;
type Req = import('http').IncomingMessage;
type Res = import('http').ServerResponse;

/** Express middleware recording one AuditAPICallEvent per request (app.use(audit) before the routes). */
export interface ExpressAudit extends HttpAuditHooks {
  (req: Req, res: Res, next: Next): void;
  /** Optional error middleware (last): records the error's name as errorMessage, then next(err). */
  recordErrors(err: unknown, req: Req, res: Res, next: Next): void;
}

/** A node:http request listener recording one AuditAPICallEvent per request of the handler it wraps. */
export interface AuditedHttpHandler extends HttpAuditHooks {
  (req: Req, res: Res): void;
}

/** The Express middleware (Express itself is not required by this package). Throws ConfigError for a bad option. */
export declare function expressAudit(options: HttpAuditOptions): ExpressAudit;
/** Wrap a node:http request listener; a throw or rejection is answered 500, recorded and logged. */
export declare function wrapHttpHandler(handler: (req: Req, res: Res) => unknown, options: HttpAuditOptions): AuditedHttpHandler;
/** [traceparent, tracestate] to carry: a valid W3C version-00 traceparent, else [null, null]. */
export declare function traceContext(traceparent: string | undefined, tracestate: string | undefined): [string | null, string | null];

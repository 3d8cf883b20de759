// Compiled (never run) by test/typings.test.js with strict TypeScript: the documented calls
// type-check, and each `@ts-expect-error` line must be an error, or the compile fails.
import {
  getEventProducer, EventProducer, EventType, Topic, TOPICS, partitionFor, murmur2,
  EventValidationError, DeliveryError, type DeliveryReport, type FlushResult, type ProducerStats,
  expressAudit, wrapHttpHandler, type HttpAuditStats,
} from '@254carbon/event-producer';
import * as http from 'http';

async function reportExample(): Promise<void> {
  const producer: EventProducer = getEventProducer('my-service');
  await producer.connect();
  const report: DeliveryReport = await producer.produceServiceHealthEvent({ serviceName: 'my-service', namespace: 'data-platform',
    healthStatus: 'HEALTHY', latencyMs: 25, errorRate: 0.001 });
  const offset: number = report.offset;
  await producer.produceAPICallEvent({ service: 's', endpoint: '/', method: 'GET', statusCode: 200, latencyMs: 1, requestSize: 1, responseSize: 2 });
  await producer.produceApiCallEvent({ service: 's', endpoint: '/', method: 'GET', statusCode: 200, latencyMs: 1, requestSizeBytes: 1, responseSizeBytes: 2 });
  await producer.produceDeploymentEvent({ deploymentName: 'd', namespace: 'n', action: 'ROLLBACK', deployedVersion: 'v2', deployedBy: 'ci' });
  await producer.produceDataLineageEvent({ sourceDataset: 'a', targetDataset: 'b', transformationType: 'JOIN', transformationName: 'j',
    columns: [{ sourceColumn: 'x', targetColumn: 'y' }], correlationId: 'c-1' });
  await producer.produce(EventType.DATA_ACCESS, { userId: 'u', dataset: 'd', accessType: 'EXPORT', result: 'DENIED' });
  await producer.produceCustomEvent(Topic.SYSTEM_HEALTH, null, { anything: 1 });
  const stats: ProducerStats = producer.getStats();
  const flushed: FlushResult = await producer.flush(1000);
  const done: FlushResult = await producer.disconnect();
  const p: number = partitionFor('key', TOPICS[0].partitions) + murmur2(Buffer.from('21'));
  void [offset, stats, flushed, done, p, new EventProducer({ bootstrapServers: ['a:1'], compression: 'gzip', lingerMs: 1 })];
  try { /* */ } catch (err) {
    if (err instanceof EventValidationError) { const f: string | null = err.field; void f; }
    if (err instanceof DeliveryError) { const t: string = err.topic; void t; }
  }
}

async function misuse(producer: EventProducer): Promise<void> {
  // @ts-expect-error healthStatus is a closed set
  await producer.produceServiceHealthEvent({ serviceName: 's', namespace: 'n', healthStatus: 'FINE', latencyMs: 1, errorRate: 0 });
  // @ts-expect-error namespace is required
  await producer.produceServiceHealthEvent({ serviceName: 's', healthStatus: 'HEALTHY', latencyMs: 1, errorRate: 0 });
  // @ts-expect-error the API key itself is not a field
  await producer.produceAPICallEvent({ service: 's', endpoint: '/', method: 'GET', statusCode: 200, latencyMs: 1, apiKey: 'secret' });
  // @ts-expect-error the fields of another type
  await producer.produce(EventType.SECURITY, { serviceName: 's' });
  // @ts-expect-error EventType values are the catalog's
  const t: EventType = 'MarketDataEvent';
  void t;
}

async function auditExample(): Promise<void> {
  const audit = expressAudit({ service: 'pricing-api', trustedProxies: ['10.0.0.0/8'], sampleRate: 0.5,
    user: (req) => (typeof req.user === 'string' ? req.user : null) });
  const server = audit.watch(http.createServer((req, res) => audit(req, res, () => res.end('ok'))).listen(0));
  const listener = wrapHttpHandler(async (req, res) => { res.end('ok'); }, { service: 'plain', producerOptions: { lingerMs: 1 } });
  await producerOf(listener.stats());
  const stats: HttpAuditStats = await audit.stop(1000);
  await producerOf(stats);
  void server;
  // @ts-expect-error the service is required
  expressAudit({ sampleRate: 1 });
  await producerOf({ submitted: 1, sent: 1, droppedQueueFull: 0, droppedError: 0, queued: 0, inFlight: 0 });
  async function producerOf(s: HttpAuditStats): Promise<number> { return s.droppedQueueFull; }
  await getEventProducer('s').produceServiceHealthEvent({ serviceName: 's', namespace: 'n', healthStatus: 'HEALTHY', latencyMs: 1, errorRate: 0 },
    { extensions: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, topic: 'system-health-dev' });
}

void auditExample;
void reportExample;
void misuse;

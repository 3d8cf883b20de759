'use strict';
/**
 * An Express app recorded by @254carbon/event-producer's expressAudit: one AuditAPICallEvent per
 * request to Kafka (topic audit-api-calls), ServiceHealthEvents when it starts listening and when
 * it closes (topic system-health). Run it with ./run.sh (README.md beside this file).
 *
 *   node server.js           serve on 127.0.0.1:$PORT (3000) until Ctrl-C, then flush and exit
 *   node server.js --demo    serve, send itself a few requests, print what was recorded, exit
 */

const http = require('node:http');
const express = require('express');
const { expressAudit } = require('@254carbon/event-producer');

const PORT = Number(process.env.PORT || 3000);
const demo = process.argv.includes('--demo');

const audit = expressAudit({
  service: 'example-express',
  namespace: 'examples',
  trustedProxies: ['127.0.0.1'], // a proxy on this host may set X-Forwarded-For
  exclude: ['/healthz'],
  producerOptions: { bootstrapServers: process.env.KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092' },
});

const app = express();
app.use(audit); // first: it times the whole request
app.use((req, res, next) => { // a stand-in for an authentication middleware
  const user = req.get('x-demo-user');
  if (user) req.user = { id: user };
  next();
});
app.get('/healthz', (req, res) => res.send('ok'));
app.get('/prices/:symbol', (req, res) => res.json({ symbol: req.params.symbol, price: 42.5 }));
app.get('/fail', () => { throw new Error('something broke'); });
app.use(audit.recordErrors); // last: records the error's name

const server = audit.watch(app.listen(PORT, '127.0.0.1', () => {
  console.log(`example-express listening on http://127.0.0.1:${PORT}`);
  if (demo) runDemo();
}));

function shutdown() {
  server.close(); // audit.watch: ServiceHealthEvent "stopping", flush, disconnect
  server.closeAllConnections();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
server.on('close', async () => {
  const stats = await audit.stop(); // already under way (watch); waits for it
  console.log('recorded:', JSON.stringify(stats));
});

function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: PORT, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

async function runDemo() {
  const calls = [
    ['/prices/BRENT', { 'x-demo-user': 'analyst-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }],
    ['/prices/TTF?currency=EUR', { 'x-forwarded-for': '203.0.113.9' }],
    ['/fail', {}],
    ['/no-such-route', {}],
    ['/healthz', {}], // excluded: not recorded
  ];
  for (const [path, headers] of calls) console.log(`GET ${path} -> ${await get(path, headers)}`);
  shutdown();
}

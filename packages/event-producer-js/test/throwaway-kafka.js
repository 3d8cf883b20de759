'use strict';
/**
 * A second, throwaway single-node KRaft broker for tests that kill it. The shared broker on
 * 127.0.0.1:9092 is never touched: this one runs from the same cached jars (`make kafka-up` fetches
 * them into .cache/kafka/<version>/lib) on free loopback ports, with its data in a temporary dir.
 * Readiness is the broker's own "Kafka Server started" log line (its log4j is set to print just
 * that), not a polling loop.
 */

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { REPO } = require('./helpers');

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function kafkaLib() {
  const cache = path.join(REPO, '.cache', 'kafka');
  const libs = fs.existsSync(cache)
    ? fs.readdirSync(cache).map((v) => path.join(cache, v, 'lib')).filter((d) => fs.existsSync(d)).sort()
    : [];
  if (libs.length === 0) assert.fail('no Kafka jars in .cache/kafka/<version>/lib: run `make kafka-up` once to fetch them');
  return libs[libs.length - 1];
}

class ThrowawayKafka {
  static async create() {
    const kafka = new ThrowawayKafka(kafkaLib(), fs.mkdtempSync(path.join(os.tmpdir(), 'node-kafka-')), await freePort(), await freePort());
    kafka.format();
    return kafka;
  }

  constructor(lib, dir, port, controllerPort) {
    Object.assign(this, { lib, dir, port, controllerPort, process: null, output: '' });
    this.bootstrap = `127.0.0.1:${port}`;
    this.props = path.join(dir, 'server.properties');
    fs.writeFileSync(this.props, [
      'process.roles=broker,controller', 'node.id=1', `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`, 'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT', 'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${path.join(dir, 'data')}`, 'auto.create.topics.enable=false', 'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1', 'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1', 'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1', 'group.initial.rebalance.delay.ms=0', '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'log4j2.properties'), [
      'status = warn', 'appender.out.type = Console', 'appender.out.name = out', 'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = %p %m (%c)%n', 'rootLogger.level = WARN', 'rootLogger.appenderRef.out.ref = out',
      'logger.started.name = kafka.server.KafkaRaftServer', 'logger.started.level = INFO', '',
    ].join('\n'));
  }

  java() {
    return ['-Xms128m', '-Xmx384m', `-Dlog4j2.configurationFile=${path.join(this.dir, 'log4j2.properties')}`, '-cp', `${this.lib}/*`];
  }

  format() {
    let clusterId = '-';
    while (clusterId.startsWith('-')) clusterId = crypto.randomBytes(16).toString('base64url'); // '-x' parses as an option
    const run = spawnSync('java', [...this.java(), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', this.props],
      { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, `formatting the throwaway broker's storage failed: ${run.stderr || run.error}`);
  }

  /** Start the broker; resolves when it logs that it started (fails after `timeoutMs`). */
  start(timeoutMs = 120_000) {
    this.output = '';
    this.process = spawn('java', [...this.java(), 'kafka.Kafka', this.props], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the throwaway broker did not start in ${timeoutMs} ms:\n${this.output.slice(-3000)}`)), timeoutMs);
      const watch = (chunk) => {
        this.output += chunk;
        if (this.output.includes('Kafka Server started')) {
          clearTimeout(timer);
          resolve();
        }
      };
      this.process.stdout.on('data', watch);
      this.process.stderr.on('data', watch);
      this.process.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the throwaway broker exited with ${code}:\n${this.output.slice(-3000)}`));
      });
    });
  }

  /** SIGKILL, as in a crash; resolves once the JVM has exited. */
  async kill() {
    const proc = this.process;
    this.process = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.removeAllListeners('exit'); // start()'s "exited early" handler
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    process.kill(proc.pid, 'SIGKILL');
    await exited;
  }

  async remove() {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { ThrowawayKafka };

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { LookbackError, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { freePort } from './ports.js';
import { classArchive, findJava, launchJvm, lookbackCacheDir } from './jvm.js';

/**
 * A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from the Maven Central jars
 * that `scripts/setup-kafka.sh` puts in the machine-wide cache. The version is pinned in one place,
 * `scripts/kafka-pom.xml`; kafka.test.ts checks this constant agrees with it.
 */
export const KAFKA_VERSION = '4.3.1';

export interface StartKafkaOptions {
  /** Holds server.properties, the log4j2 config, the broker log and the partition data. Reused across restarts. */
  dataDir: string;
  /** Client port on 127.0.0.1. Default: the port of the previous run on this dataDir if free, else a free one. */
  port?: number;
  log?: Logger;
  /** JVM max heap. Default 512. */
  heapMb?: number;
  /** Extra or overriding server.properties entries. */
  properties?: Record<string, string | number | boolean>;
  readyTimeoutMs?: number;
}

export interface LocalKafka {
  brokers: string[];
  pid: number;
  /** Milliseconds from spawning the JVM to the first successful DescribeCluster. */
  startMs: number;
  logFile: string;
  rssBytes(): number;
  stop(): Promise<void>;
}

/** `${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}`: the same rule the setup scripts use. */
export function kafkaLibsDir(version = KAFKA_VERSION): string {
  return path.join(lookbackCacheDir(), `kafka-${version}`, 'libs');
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A Kafka cluster id: 16 random bytes, base64url without padding, as Kafka's Uuid prints them. Like Kafka, never
 * one that starts with '-', which the storage tool's argument parser would read as an option. */
function newClusterId(): string {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function previousPort(propsFile: string): number | undefined {
  try {
    const m = /^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1:(\d+)$/m.exec(fs.readFileSync(propsFile, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function serverProperties(dataDir: string, port: number, controllerPort: number, extra: StartKafkaOptions['properties']): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A static voter set: unlike a dynamic (--standalone) quorum it does not record the controller's address in
    // the log, so a restart on the same dataDir may take a new controller port.
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    'listeners': `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': path.join(dataDir, 'data'),
    // Topics are created on purpose, with their partition count, as in production; a typo must not make a topic.
    'auto.create.topics.enable': false,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 4,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // Two shared cores: fewer threads than the defaults (3 network, 8 io).
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    ...extra,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n';
}

// Kafka's own logs go to stdout (the supervised child's log file); the per-partition chatter and the config dump
// are kept at WARN. log4j's own shutdown hook would stop logging before Kafka's shutdown finished: disabled.
const LOG4J2 = `status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.log.name = kafka.log
logger.log.level = WARN
logger.partition.name = kafka.cluster.Partition
logger.partition.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
`;

function jvmArgs(dataDir: string, heapMb: number): string[] {
  return [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(heapMb, 64)}m`,
    // Serial GC: the smallest footprint and no GC worker threads competing for two shared cores.
    '-XX:+UseSerialGC',
    '-XX:+ExitOnOutOfMemoryError',
    `-XX:ErrorFile=${path.join(dataDir, 'hs_err_pid%p.log')}`,
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(dataDir, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${dataDir}`,
  ];
}

async function runToExit(java: string, args: string[], what: string): Promise<void> {
  const out: Buffer[] = [];
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', java, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown'));
  });
  if (code !== 0) {
    throw new LookbackError('internal', `${what} failed (${code}): ${Buffer.concat(out).toString('utf8').trim().slice(-2000)}`);
  }
}

/** Starts the broker and resolves once a kafkajs admin client can describe the cluster. */
export async function startKafka(opts: StartKafkaOptions): Promise<LocalKafka> {
  const log = opts.log ?? silentLogger;
  const libs = kafkaLibsDir();
  if (!fs.existsSync(path.join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    throw new LookbackError(
      'missing_dependency',
      `the Apache Kafka ${KAFKA_VERSION} jars are not in ${libs}; run \`bash scripts/setup.sh\` ` +
        '(or just `bash scripts/setup-kafka.sh`, which resolves them from Maven Central with mvn)',
    );
  }
  const java = findJava(17, `Apache Kafka ${KAFKA_VERSION}`);
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(path.join(dataDir, 'data'), { recursive: true });
  const propsFile = path.join(dataDir, 'server.properties');

  let port = opts.port;
  if (port === undefined) {
    const before = previousPort(propsFile);
    port = before !== undefined && (await portIsFree(before)) ? before : await freePort();
  }
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  fs.writeFileSync(propsFile, serverProperties(dataDir, port, controllerPort, opts.properties));
  fs.writeFileSync(path.join(dataDir, 'log4j2.properties'), LOG4J2);
  const classpath = `${libs}/*`;

  // Format once: meta.properties marks a formatted log dir, and re-formatting would need the same cluster id.
  if (!fs.existsSync(path.join(dataDir, 'data', 'meta.properties'))) {
    const formatStart = Date.now();
    await runToExit(java, ['-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
      `-Dlog4j2.configurationFile=${path.join(dataDir, 'log4j2.properties')}`,
      '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', propsFile], 'formatting the Kafka log directory');
    log.debug('formatted log directory', { dataDir, ms: Date.now() - formatStart });
  }

  const logFile = path.join(dataDir, 'kafka.log');
  const brokers = [`127.0.0.1:${port}`];
  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const { child, startMs } = await launchJvm({
    name: `Kafka on ${brokers[0]}`,
    java,
    args: (archiveArgs) => [...jvmArgs(dataDir, opts.heapMb ?? 512), ...archiveArgs, '-cp', classpath, 'kafka.Kafka', propsFile],
    logFile,
    cwd: dataDir,
    archive: classArchive(path.dirname(libs), 'broker', java),
    ready: (c) => waitForKafka(brokers, c.isRunning, timeoutMs),
    log,
  });
  log.info('ready', { brokers: brokers.join(','), pid: child.pid, startMs, version: KAFKA_VERSION });
  return {
    brokers,
    pid: child.pid,
    startMs,
    logFile,
    rssBytes: child.rssBytes,
    // Controlled shutdown of a lone combined node takes a few seconds; past 20 s it is stuck, so kill it.
    stop: () => child.stop(20_000),
  };
}

/** Polls with a kafkajs admin client until DescribeCluster answers, the child dies, or time runs out. */
export async function waitForKafka(brokers: string[], alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = new Error('no attempt made');
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the broker process exited');
    const admin = new kafkajs.Kafka({
      clientId: 'lookback-ready',
      brokers,
      logLevel: kafkajs.logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: 3_000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
      last = new Error('no broker registered yet');
    } catch (err) {
      last = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no answer to DescribeCluster within ${timeoutMs} ms (last error: ${describeError(last)})`);
}

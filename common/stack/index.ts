import fs from 'node:fs';
import path from 'node:path';
import { silentLogger, type Logger } from '../log.js';
import { startClickHouse } from './clickhouse.js';
import { startKafka } from './kafka.js';
import { startRegistry } from './registry.js';
import { startRedis } from './redis.js';

/**
 * The local real stack: ClickHouse, Kafka, the schema registry and Redis as child processes on 127.0.0.1, each in
 * a folder of one data directory. Used by the test runner (one stack per run) and by `lookback up`. Services never
 * depend on it: they take endpoints from config, and this is only the default way to get them.
 */
export interface StackEndpoints {
  clickhouseUrl?: string;
  kafkaBrokers?: string[];
  registryUrl?: string;
  redisUrl?: string;
}

export interface StackPart {
  name: string;
  pid: number;
  startMs: number;
  rssBytes(): number;
}

export interface LocalStack {
  endpoints: StackEndpoints;
  parts: StackPart[];
  /** Stops in reverse start order; every part is stopped even if one fails. */
  stop(): Promise<void>;
}

export interface StackOptions {
  dataDir: string;
  clickhouse?: boolean;
  kafka?: boolean;
  /** Only needed where the Confluent framing is used. */
  registry?: boolean;
  redis?: boolean;
  log?: Logger;
}

export async function startLocalStack(opts: StackOptions): Promise<LocalStack> {
  const log = opts.log ?? silentLogger;
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const dir = (name: string): string => path.join(opts.dataDir, name);
  const stops: Array<() => Promise<void>> = [];
  const parts: StackPart[] = [];
  const endpoints: StackEndpoints = {};
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn('stopping a stack part failed', { error: (err as Error).message });
      }
    }
    stops.length = 0;
  };
  const timed = async <T extends { pid: number; rssBytes(): number; stop(): Promise<void> }>(name: string, start: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const svc = await start();
    stops.push(() => svc.stop());
    parts.push({ name, pid: svc.pid, startMs: Date.now() - t0, rssBytes: () => svc.rssBytes() });
    return svc;
  };

  try {
    // The parts do not depend on each other (the registry keeps schemas in a file database of its own, not in
    // Kafka): start them together. allSettled, so that a failed part does not leave others starting after cleanup.
    const settled = await Promise.allSettled([
      opts.clickhouse === false ? undefined : timed('clickhouse', () => startClickHouse({ dataDir: dir('clickhouse'), log: log.child('clickhouse') })),
      opts.kafka === false ? undefined : timed('kafka', () => startKafka({ dataDir: dir('kafka'), log: log.child('kafka') })),
      opts.redis === false ? undefined : timed('redis', () => startRedis({ dataDir: dir('redis'), log: log.child('redis') })),
      opts.registry ? timed('registry', () => startRegistry({ dataDir: dir('registry'), log: log.child('registry') })) : undefined,
    ] as const);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const value = <T>(s: PromiseSettledResult<T>): T | undefined => (s.status === 'fulfilled' ? s.value : undefined);
    const clickhouse = value(settled[0]);
    const kafka = value(settled[1]);
    const redis = value(settled[2]);
    const registry = value(settled[3]);
    if (clickhouse) endpoints.clickhouseUrl = clickhouse.url;
    if (kafka) endpoints.kafkaBrokers = kafka.brokers;
    if (redis) endpoints.redisUrl = redis.url;
    if (registry) endpoints.registryUrl = registry.url;
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { endpoints, parts, stop: stopAll };
}

import fs from 'node:fs';
import path from 'node:path';
import { str, bool, int } from '../common/config.js';
import { createClient } from '@clickhouse/client';
import { migrate } from '../common/clickhouse/migrate.js';
import { createLogger } from '../common/log.js';
import { startLocalStack, type LocalStack } from '../common/stack/index.js';
import { loadServiceConfig, parseCommandArgs, printConfigHelp } from './args.js';

/**
 * `lookback up`: the whole pipeline on this machine. Today it starts the local real stack (ClickHouse, Kafka,
 * Redis; the schema registry when `registry` is on) and applies the ClickHouse migrations; the collector, ingest
 * and query API join here as they land. Ctrl-C or SIGTERM stops everything in reverse order.
 */
export const upSpec = {
  dataDir: str('.lookback/data', { doc: 'where the stack keeps its data between runs' }),
  fresh: bool(false, { doc: 'wipe the data directory before starting' }),
  registry: bool(false, { doc: 'also start the Confluent-compatible schema registry' }),
  database: str('lookback', { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, describe: 'an identifier' }),
  rawRetentionDays: int(15, { min: 1, max: 3650 }),
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { 'data-dir': { type: 'string' }, fresh: { type: 'boolean' }, registry: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: lookback up [--data-dir DIR] [--fresh] [--registry] [--config FILE] [--set key=value]...\n');
    return 0;
  }
  if (values['help-config']) { printConfigHelp(upSpec); return 0; }
  const set = [...(values.set ?? [])];
  if (values['data-dir']) set.push(`dataDir=${values['data-dir']}`);
  if (values.fresh) set.push('fresh=true');
  if (values.registry) set.push('registry=true');
  const cfg = loadServiceConfig(upSpec, { config: values.config, set });
  if (values.check) { process.stdout.write('config ok\n'); return 0; }

  const log = createLogger('up');
  const dataDir = path.resolve(cfg.dataDir);
  if (cfg.fresh) fs.rmSync(dataDir, { recursive: true, force: true });
  log.info('starting the local stack', { dataDir });
  const stack: LocalStack = await startLocalStack({ dataDir, registry: cfg.registry, log });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    await stack.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    const ch = createClient({ url: stack.endpoints.clickhouseUrl! });
    const res = await migrate(ch, { database: cfg.database, vars: { ttl_raw_days: cfg.rawRetentionDays }, log: log.child('migrate') });
    await ch.close();
    log.info('migrations', { applied: res.applied.length, alreadyApplied: res.alreadyApplied });
  } catch (err) {
    await stack.stop();
    throw err;
  }

  const e = stack.endpoints;
  const lines = [
    '',
    'lookback is up (local stack). Where to look:',
    `  ClickHouse  ${e.clickhouseUrl}   e.g. curl '${e.clickhouseUrl}/?query=SHOW+TABLES+FROM+${cfg.database}'`,
    `  Kafka       ${e.kafkaBrokers?.join(',')}   e.g. kcat -b ${e.kafkaBrokers?.[0]} -L`,
    `  Redis       ${e.redisUrl}`,
    ...(e.registryUrl ? [`  Registry    ${e.registryUrl}`] : []),
    ...stack.parts.map((p) => `  ${p.name.padEnd(11)} pid ${p.pid}, ready in ${p.startMs} ms, ${(p.rssBytes() / 2 ** 20).toFixed(0)} MiB RSS`),
    `  data        ${dataDir}`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  // Keep running until a signal arrives.
  await new Promise<never>(() => setInterval(() => {}, 1 << 30));
  return 0;
}

import { section, int } from '../common/config.js';
import { clickhouseSection, createClickHouse } from '../common/clickhouse/client.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { createLogger } from '../common/log.js';
import { loadServiceConfig, parseCommandArgs, printConfigHelp } from './args.js';

export const migrateSpec = {
  clickhouse: clickhouseSection,
  retention: section({
    rawDays: int(15, { min: 1, max: 3650, doc: 'days the raw flows table keeps rows' }),
  }),
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { resume: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: lookback migrate [--config FILE] [--set key=value]... [--resume] [--check]\n');
    return 0;
  }
  if (values['help-config']) { printConfigHelp(migrateSpec); return 0; }
  const cfg = loadServiceConfig(migrateSpec, values);
  if (values.check) { process.stdout.write('config ok\n'); return 0; }
  const log = createLogger('migrate');
  const client = createClickHouse(cfg.clickhouse, { database: false });
  try {
    const res = await migrate(client, {
      database: cfg.clickhouse.database,
      vars: { ttl_raw_days: cfg.retention.rawDays },
      resume: values.resume ?? false,
      log,
    });
    process.stdout.write(`database ${cfg.clickhouse.database}: applied ${res.applied.length} migration(s)${res.applied.length ? ` (${res.applied.join(', ')})` : ''}, ${res.alreadyApplied} already applied\n`);
    return 0;
  } finally {
    await client.close();
  }
}

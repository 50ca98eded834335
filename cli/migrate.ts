import { clickhouseSection, createClickHouse } from '../common/clickhouse/client.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { applyRetention, retentionSection, retentionVars } from '../common/clickhouse/retention.js';
import { createLogger } from '../common/log.js';
import { commandConfig, parseCommandArgs } from './args.js';

export const migrateSpec = {
  clickhouse: clickhouseSection,
  retention: retentionSection,
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { resume: { type: 'boolean' } });
  const cfg = commandConfig(migrateSpec, values, 'usage: lookback migrate [--config FILE] [--set key=value]... [--resume] [--check]');
  if (typeof cfg === 'number') return cfg;
  const log = createLogger('migrate');
  const client = createClickHouse(cfg.clickhouse, { database: false });
  try {
    const res = await migrate(client, {
      database: cfg.clickhouse.database,
      vars: retentionVars(cfg.retention),
      resume: values.resume ?? false,
      log,
    });
    // Tables created earlier keep the TTL they were created with: bring them in line with the config.
    const changed = await applyRetention(client, cfg.clickhouse.database, cfg.retention, log);
    process.stdout.write(`database ${cfg.clickhouse.database}: applied ${res.applied.length} migration(s)${res.applied.length ? ` (${res.applied.join(', ')})` : ''}, ${res.alreadyApplied} already applied${changed.length ? `; retention changed on ${changed.map((c) => `${c.table} (${c.toDays} d)`).join(', ')}` : ''}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

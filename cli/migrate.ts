import { clickhouseSection, createClickHouse } from '../common/clickhouse/client.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { applyRetention, retentionSection, retentionVars } from '../common/clickhouse/retention.js';
import { createLogger } from '../common/log.js';
import { loadServiceConfig, parseCommandArgs, printConfigHelp } from './args.js';

export const migrateSpec = {
  clickhouse: clickhouseSection,
  retention: retentionSection,
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

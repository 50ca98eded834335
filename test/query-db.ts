/**
 * A fresh, migrated ClickHouse database per test file, and a direct insert of Flow records (through
 * common/flow-row.ts into ingest's landing table) for tests that only need rows in place. Tests that need the real
 * write path (Kafka -> ingest -> ClickHouse) use test/query-ingest.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../common/clickhouse/client.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { flowToRow } from '../common/flow-row.js';
import type { Flow } from '../schemas/flow-types.js';
import { ensureStack, uniqueName } from './helpers.js';

export interface TestDatabase {
  url: string;
  database: string;
  client: ClickHouseClient;
  close(): Promise<void>;
}

export async function freshDatabase(prefix = 'lookback_query'): Promise<TestDatabase> {
  const { clickhouseUrl } = await ensureStack({ clickhouse: true });
  const database = uniqueName(prefix);
  const cfg = { url: clickhouseUrl, database, username: 'default', password: '', requestTimeout: 60_000, maxOpenConnections: 10 };
  const admin = createClickHouse(cfg, { database: false });
  // Ten years of retention everywhere: test data is often days old.
  await migrate(admin, { database, vars: retentionVars({ rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 }) });
  await admin.close();
  const client = createClickHouse(cfg);
  return { url: clickhouseUrl, database, client, close: () => client.close() };
}

/** Inserts into ingest's landing table, so that the raw table, the roll-ups and the inventory all get the flows. */
export async function insertFlows(client: ClickHouseClient, flows: readonly Flow[]): Promise<void> {
  await client.insert({ table: 'flows_ingest', values: flows.map(flowToRow), format: 'JSONEachRow' });
}

import type { ClickHouseClient } from '@clickhouse/client';
import { int, section, type ConfigOf } from '../config.js';
import { LookbackError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';

/**
 * How long each ClickHouse table keeps rows. One config section (`retention:`) shared by `lookback migrate`,
 * `lookback up` and `lookback ingest`: the migrations take the values as `{{ttl_*_days}}` placeholders when they
 * create the tables, and `applyRetention` changes the TTL of existing tables when the config changed later
 * (ALTER TABLE ... MODIFY TTL, only for tables whose live TTL differs).
 */
export const retentionSpec = {
  rawDays: int(15, { min: 1, max: 3650, doc: 'days the raw flows table keeps rows' }),
  minuteDays: int(7, { min: 1, max: 3650, doc: 'days the 1-minute roll-ups (flows_1m, flows_l7_1m) keep rows' }),
  fiveMinuteDays: int(90, { min: 1, max: 3650, doc: 'days the 5-minute roll-ups (flows_5m, flows_l7_5m) keep rows' }),
  hourDays: int(365, { min: 1, max: 3650, doc: 'days the 1-hour roll-ups (flows_1h, flows_l7_1h) and the inventory tables keep rows' }),
};
export const retentionSection = section(retentionSpec, { doc: 'how long ClickHouse keeps flows and roll-ups' });
export type RetentionConfig = ConfigOf<typeof retentionSpec>;

export const DEFAULT_RETENTION: RetentionConfig = { rawDays: 15, minuteDays: 7, fiveMinuteDays: 90, hourDays: 365 };

/** The migrations' placeholders for a retention config. */
export function retentionVars(r: RetentionConfig = DEFAULT_RETENTION): Record<string, number> {
  return { ttl_raw_days: r.rawDays, ttl_1m_days: r.minuteDays, ttl_5m_days: r.fiveMinuteDays, ttl_1h_days: r.hourDays };
}

/** Each table with a TTL, the TTL expression the migrations give it, and the retention key that sets it. */
export const RETENTION_TABLES: ReadonlyArray<{ table: string; column: string; ttl: (r: RetentionConfig) => number; key: keyof RetentionConfig }> = [
  { table: 'flows', column: 'toDateTime(time)', ttl: (r) => r.rawDays, key: 'rawDays' },
  { table: 'flows_1m', column: 'time', ttl: (r) => r.minuteDays, key: 'minuteDays' },
  { table: 'flows_5m', column: 'time', ttl: (r) => r.fiveMinuteDays, key: 'fiveMinuteDays' },
  { table: 'flows_1h', column: 'time', ttl: (r) => r.hourDays, key: 'hourDays' },
  { table: 'flows_l7_1m', column: 'time', ttl: (r) => r.minuteDays, key: 'minuteDays' },
  { table: 'flows_l7_5m', column: 'time', ttl: (r) => r.fiveMinuteDays, key: 'fiveMinuteDays' },
  { table: 'flows_l7_1h', column: 'time', ttl: (r) => r.hourDays, key: 'hourDays' },
  { table: 'inventory_namespaces', column: 'last_seen', ttl: (r) => r.hourDays, key: 'hourDays' },
  { table: 'inventory_workloads', column: 'last_seen', ttl: (r) => r.hourDays, key: 'hourDays' },
  { table: 'inventory_nodes', column: 'last_seen', ttl: (r) => r.hourDays, key: 'hourDays' },
];

/** The days of a `TTL <column> + toIntervalDay(N)` clause in a create_table_query, or undefined. */
export function liveTtlDays(createTableQuery: string): number | undefined {
  const m = /\bTTL\s+.*?\+\s*toIntervalDay\((\d+)\)/s.exec(createTableQuery);
  return m ? Number(m[1]) : undefined;
}

export interface RetentionChange {
  table: string;
  fromDays: number | undefined;
  toDays: number;
}

/**
 * Makes every existing table's TTL match `r`. Compares the live `create_table_query` and runs
 * `ALTER TABLE ... MODIFY TTL` only where it differs, so calling it at every start is cheap. ClickHouse then
 * recalculates the TTL of existing parts in the background (a mutation); with ttl_only_drop_parts, expired whole
 * parts are dropped, never rewritten. Tables that do not exist (an older schema) are skipped.
 */
export async function applyRetention(client: ClickHouseClient, database: string, r: RetentionConfig, log: Logger = silentLogger): Promise<RetentionChange[]> {
  const rs = await client.query({
    query: 'SELECT name, create_table_query FROM system.tables WHERE database = {db:String}',
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  const live = new Map((await rs.json<{ name: string; create_table_query: string }>()).map((t) => [t.name, t.create_table_query]));
  const changes: RetentionChange[] = [];
  for (const t of RETENTION_TABLES) {
    const query = live.get(t.table);
    if (query === undefined) continue;
    const want = t.ttl(r);
    const have = liveTtlDays(query);
    if (have === want) continue;
    log.info('changing retention', { table: `${database}.${t.table}`, fromDays: have, toDays: want, key: `retention.${t.key}` });
    try {
      await client.command({ query: `ALTER TABLE ${database}.${t.table} MODIFY TTL ${t.column} + INTERVAL ${want} DAY` });
    } catch (err) {
      throw new LookbackError('schema', `cannot change the retention of ${database}.${t.table} to ${want} days: ${(err as Error).message}`, { cause: err });
    }
    changes.push({ table: t.table, fromDays: have, toDays: want });
  }
  return changes;
}

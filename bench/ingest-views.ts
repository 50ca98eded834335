/**
 * What ClickHouse spends per ingested flow, per schema or settings variant: at insert (the materialized views on
 * ingest's landing table and the parts they write) and at merge. The same RowBinary bodies (bench/flowgen.ts,
 * VIEWS_BENCH_FLOWS flows, default 200,000, in inserts of VIEWS_BENCH_BATCH rows, default 50,000, as ingest's
 * batch.maxRows) are inserted into fresh migrated databases, each changed by its variant (views dropped,
 * migrations up to a version, statements run after them, insert settings), with the settings ingest's writer sends
 * (dedup token, parallel_view_processing).
 *
 * Per variant and flow it prints:
 * - insert: the server's CPU (from /proc) and wall time while inserting, background merges stopped;
 * - merge: the server's CPU while the tables are merged as the background would, by levels: after every second
 *   insert (and after the last) every table of the database is merged into one part per partition (OPTIMIZE
 *   FINAL, until no merge runs). Small first-level merges matter: under 131,072 rows ClickHouse merges
 *   horizontally (every column through the sort), which costs the wide raw table several times a vertical merge.
 *   Real merges rewrite a row a few more times as parts grow; the figure compares variants, not a day's bill;
 * - raw B/flow: the raw table's compressed bytes after that merge (small corpus: compare with bench/ingest.ts
 *   part 4 at millions of flows for the real figure).
 * Flow times span VIEWS_BENCH_SPAN_S seconds, default the corpus at 100,000 flows/s (the ingest target), so a batch
 * covers what it would in production and the one-minute roll-up collapses as much; 3600 is the older setting.
 * Variants run interleaved, VIEWS_BENCH_ROUNDS times (default 2), so a change of machine load shows as spread,
 * not as a difference. VIEWS_BENCH_ONLY=a,b runs only the variants whose name contains one of those words.
 * Run: `npx tsc -p tsconfig.json && node dist/bench/ingest-views.js`. Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { defaultMigrationsDir, loadMigrations, migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { FLOW_INSERT_COLUMN_LIST } from '../common/flow-row.js';
import { silentLogger } from '../common/log.js';
import { procStat } from '../common/proc.js';
import { startClickHouse } from '../common/stack/clickhouse.js';
import { insertBody } from '../ingest/clickhouse-insert.js';
import { generateRowBinary } from './flowgen.js';

const FLOWS = Number(process.env['VIEWS_BENCH_FLOWS'] ?? 200_000);
const BATCH = Number(process.env['VIEWS_BENCH_BATCH'] ?? 50_000);
const ROUNDS = Number(process.env['VIEWS_BENCH_ROUNDS'] ?? 2);
const SPAN_S = Number(process.env['VIEWS_BENCH_SPAN_S'] ?? Math.max(1, FLOWS / 100_000));
const ONLY = (process.env['VIEWS_BENCH_ONLY'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

/** The views fed by the landing table (schemas/clickhouse/0002, 0003); the rest hang off these. */
const VIEWS = {
  raw: 'flows_ingest_to_flows',
  rollups: 'flows_ingest_to_flows_1m',
  nodes: 'flows_ingest_to_inventory_nodes',
  l7: 'flows_ingest_to_flows_l7_1m',
};
type View = keyof typeof VIEWS;
const ALL = Object.keys(VIEWS) as View[];

const BLOOM_INDEXES = ['idx_ip_source', 'idx_ip_destination', 'idx_source_pod', 'idx_destination_pod', 'idx_source_names', 'idx_destination_names', 'idx_dns_query'];
const dropIndexes = (names: string[]): string => `ALTER TABLE {{db}}.flows ${names.map((n) => `DROP INDEX ${n}`).join(', ')}`;

/** What ingest's writer sends with every insert (ingest/clickhouse-writer.ts), the dedup token aside. */
const WRITER_SETTINGS: ClickHouseSettings = { insert_deduplicate: 1, deduplicate_blocks_in_dependent_materialized_views: 1, async_insert: 0, parallel_view_processing: 1 };

interface Variant {
  name: string;
  /** Views fed by the landing table to keep; default all. */
  keep?: View[];
  /** Statements run after the migrations and the view drops; {{db}} is the database. */
  setup?: string[];
  /** Migrate only up to this version (to compare with a later migration); default all. */
  upTo?: number;
  /** Insert settings besides the writer's. */
  settings?: ClickHouseSettings;
}

/** 0004's changes one by one, on a database migrated up to 0003. */
const compact = 'ALTER TABLE {{db}}.flows MODIFY SETTING min_rows_for_wide_part = 50001';
const vertical = 'ALTER TABLE {{db}}.flows MODIFY SETTING vertical_merge_algorithm_min_rows_to_activate = 1';
const ipIndexesOnly = dropIndexes(BLOOM_INDEXES.filter((n) => !n.startsWith('idx_ip_')));

const VARIANTS: Variant[] = [
  { name: 'no views (parse into the Null table)', keep: [] },
  { name: 'raw table only, up to 0003', keep: ['raw'], upTo: 3 },
  { name: 'raw table only', keep: ['raw'] },
  { name: '1m roll-up chain only (5m, 1h, inventories)', keep: ['rollups'] },
  { name: 'L7 roll-ups only', keep: ['l7'] },
  { name: 'node inventory only', keep: ['nodes'] },
  { name: 'every view as migrated up to 0003', upTo: 3 },
  // What the bench measured before it sent tokens: without one, ClickHouse hashes the whole inserted block for
  // the dedup of the views' target tables.
  { name: 'every view, up to 0003, no dedup token', upTo: 3, settings: { insert_deduplication_token: '' } },
  { name: 'every view, up to 0003 + IP skip indexes only', upTo: 3, setup: [ipIndexesOnly] },
  { name: 'every view, up to 0003 + raw compact fresh parts', upTo: 3, setup: [compact] },
  { name: 'every view, up to 0003 + raw vertical merges', upTo: 3, setup: [vertical] },
  { name: 'every view (as migrated)' },
  { name: 'every view, optimize_on_insert=0', settings: { optimize_on_insert: 0 } },
  { name: 'every view but 5m/1h cascades', setup: ['DROP VIEW {{db}}.flows_1m_to_flows_5m', 'DROP VIEW {{db}}.flows_5m_to_flows_1h', 'DROP VIEW {{db}}.flows_l7_1m_to_flows_l7_5m', 'DROP VIEW {{db}}.flows_l7_5m_to_flows_l7_1h'] },
];

/** A folder with the migrations up to `version` (all of them when undefined), made once in `tmp`. */
function migrationsUpTo(version: number | undefined, tmp: string): string {
  const all = defaultMigrationsDir();
  if (version === undefined) return all;
  const dir = path.join(tmp, `migrations-${version}`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    for (const m of loadMigrations(all)) if (m.version <= version) fs.writeFileSync(path.join(dir, `${m.name}.sql`), m.template);
  }
  return dir;
}

async function main(): Promise<void> {
  const variants = VARIANTS.filter((v) => ONLY.length === 0 || ONLY.some((w) => v.name.includes(w)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-bench-views-'));
  const server = await startClickHouse({ dataDir: path.join(dir, 'clickhouse'), log: silentLogger });
  const ch = createClient({ url: server.url, request_timeout: 600_000, log: { level: ClickHouseLogLevel.OFF } });
  const cpuSeconds = (): number => {
    const f = procStat(server.pid);
    if (!f) throw new Error('the ClickHouse server is gone');
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  try {
    const end = Date.now();
    const bodies = [...generateRowBinary({ seed: 5, count: FLOWS, start: end - SPAN_S * 1000, end, batchRows: BATCH })].map((b) => Buffer.from(b.body));
    const results = new Map<string, Array<{ cpu: number; wall: number; merge: number; bytes: number; load: number }>>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, v] of variants.entries()) {
        const db = `bench_views_${round}_${i}`;
        await migrate(ch, { database: db, dir: migrationsUpTo(v.upTo, dir), vars: retentionVars({ rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 }) });
        const keep = v.keep ?? ALL;
        for (const view of ALL) if (!keep.includes(view)) await ch.command({ query: `DROP VIEW ${db}.${VIEWS[view]}` });
        for (const sql of v.setup ?? []) await ch.command({ query: sql.replaceAll('{{db}}', db) });
        // Merges by levels, as the background would run them: after every second insert (and after the last) every
        // table is merged into one part per partition. Background merges are stopped while inserting.
        let insertCpu = 0;
        let insertWall = 0;
        let mergeCpu = 0;
        for (const [b, body] of bodies.entries()) {
          await ch.command({ query: 'SYSTEM STOP MERGES' });
          const c0 = cpuSeconds();
          const t0 = performance.now();
          await insertBody(ch, `INSERT INTO ${db}.flows_ingest ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, body, { ...WRITER_SETTINGS, insert_deduplication_token: `bench-${b}`, ...v.settings });
          insertWall += performance.now() - t0;
          const c1 = cpuSeconds();
          insertCpu += c1 - c0;
          if (b % 2 === 1 || b === bodies.length - 1) {
            await ch.command({ query: 'SYSTEM START MERGES' });
            await mergeAll(ch, db);
            mergeCpu += cpuSeconds() - c1;
          }
        }
        const bytes = await rawBytes(ch, db);
        const r = { cpu: (insertCpu * 1e6) / FLOWS, wall: (insertWall * 1000) / FLOWS, merge: (mergeCpu * 1e6) / FLOWS, bytes: bytes / FLOWS, load: os.loadavg()[0]! };
        results.set(v.name, [...(results.get(v.name) ?? []), r]);
        await ch.command({ query: `DROP DATABASE ${db} SYNC` });
      }
    }
    const range = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
    const median = (xs: number[]): string => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]!.toFixed(1);
    const figures = (xs: number[]): string => `${range(xs)} (median ${median(xs)})`;
    console.log(`ClickHouse per flow, ${FLOWS.toLocaleString('en-US')} flows over ${SPAN_S} s in inserts of ${BATCH.toLocaleString('en-US')} rows, ${ROUNDS} rounds (load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}):`);
    for (const v of variants) {
      const rs = results.get(v.name)!;
      console.log(`  ${v.name}:\n    insert CPU ${figures(rs.map((r) => r.cpu))} us, wall ${figures(rs.map((r) => r.wall))} us; merge CPU ${figures(rs.map((r) => r.merge))} us; ` +
        `total CPU ${figures(rs.map((r) => r.cpu + r.merge))} us; raw ${range(rs.map((r) => r.bytes))} B; load ${range(rs.map((r) => r.load))}`);
    }
  } finally {
    await ch.command({ query: 'SYSTEM START MERGES' }).catch(() => undefined);
    await ch.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Merges every MergeTree table of `db` into one part per partition and waits until no merge runs there. */
async function mergeAll(ch: ClickHouseClient, db: string): Promise<void> {
  const rs = await ch.query({ query: "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND name != 'lookback_migrations'", query_params: { db }, format: 'JSONEachRow' });
  for (const { name } of await rs.json<{ name: string }>()) await ch.command({ query: `OPTIMIZE TABLE ${db}.${name} FINAL` });
  for (;;) {
    const m = await ch.query({ query: 'SELECT count() AS n FROM system.merges WHERE database = {db:String}', query_params: { db }, format: 'JSONEachRow' });
    if (Number((await m.json<{ n: string }>())[0]?.n ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rawBytes(ch: ClickHouseClient, db: string): Promise<number> {
  const rs = await ch.query({ query: "SELECT sum(data_compressed_bytes) AS b FROM system.parts WHERE database = {db:String} AND table = 'flows' AND active", query_params: { db }, format: 'JSONEachRow' });
  return Number((await rs.json<{ b: string }>())[0]?.b ?? 0);
}

await main();

/**
 * What each materialized view on ingest's landing table costs ClickHouse per flow. The same RowBinary bodies
 * (bench/flowgen.ts, VIEWS_BENCH_FLOWS flows, default 200,000, in inserts of VIEWS_BENCH_BATCH rows, default
 * 50,000, as ingest's batch.maxRows) are inserted into fresh migrated databases that keep only some of the views
 * fed by flows_ingest, and the server's CPU (from /proc) and the wall time per flow are printed. Variants run
 * interleaved, VIEWS_BENCH_ROUNDS times (default 2), so a change of machine load shows as spread, not as a
 * difference. The last variant is every view with parallel_view_processing=1, which ingest sets.
 * Run: `npx tsc -p tsconfig.json && node dist/bench/ingest-views.js`. Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { migrate } from '../common/clickhouse/migrate.js';
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

/** The views fed by the landing table (schemas/clickhouse/0002, 0003); the rest hang off these. */
const VIEWS = {
  raw: 'flows_ingest_to_flows',
  rollups: 'flows_ingest_to_flows_1m',
  nodes: 'flows_ingest_to_inventory_nodes',
  l7: 'flows_ingest_to_flows_l7_1m',
};
type View = keyof typeof VIEWS;
const ALL = Object.keys(VIEWS) as View[];

const VARIANTS: Array<{ name: string; keep: View[]; parallel?: boolean }> = [
  { name: 'no views (parse into the Null table)', keep: [] },
  { name: 'raw table only', keep: ['raw'] },
  { name: '1m roll-up chain only (5m, 1h, inventories)', keep: ['rollups'] },
  { name: 'L7 roll-ups only', keep: ['l7'] },
  { name: 'node inventory only', keep: ['nodes'] },
  { name: 'every view', keep: ALL },
  { name: 'every view, parallel_view_processing', keep: ALL, parallel: true },
];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-bench-views-'));
  const server = await startClickHouse({ dataDir: dir, log: silentLogger });
  const ch = createClient({ url: server.url, request_timeout: 600_000, log: { level: ClickHouseLogLevel.OFF } });
  const cpuSeconds = (): number => {
    const f = procStat(server.pid);
    if (!f) throw new Error('the ClickHouse server is gone');
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  try {
    const end = Date.now();
    const bodies = [...generateRowBinary({ seed: 5, count: FLOWS, start: end - 3_600_000, end, batchRows: BATCH })].map((b) => Buffer.from(b.body));
    const results = new Map<string, Array<{ cpu: number; wall: number }>>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, v] of VARIANTS.entries()) {
        const db = `bench_views_${round}_${i}`;
        await migrate(ch, { database: db, vars: retentionVars({ rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 }) });
        for (const view of ALL) if (!v.keep.includes(view)) await ch.command({ query: `DROP VIEW ${db}.${VIEWS[view]}` });
        const c0 = cpuSeconds();
        const t0 = performance.now();
        for (const body of bodies) {
          await insertBody(ch, `INSERT INTO ${db}.flows_ingest ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, body, v.parallel ? { parallel_view_processing: 1 } : {});
        }
        const r = { cpu: ((cpuSeconds() - c0) * 1e6) / FLOWS, wall: ((performance.now() - t0) * 1000) / FLOWS };
        results.set(v.name, [...(results.get(v.name) ?? []), r]);
        await ch.command({ query: `DROP DATABASE ${db} SYNC` });
      }
    }
    const range = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
    console.log(`ClickHouse per flow, ${FLOWS.toLocaleString('en-US')} flows in inserts of ${BATCH.toLocaleString('en-US')} rows, ${ROUNDS} rounds (load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}):`);
    for (const v of VARIANTS) {
      const rs = results.get(v.name)!;
      console.log(`  ${v.name.padEnd(46)} CPU ${range(rs.map((r) => r.cpu))} us/flow, wall ${range(rs.map((r) => r.wall))} us/flow`);
    }
  } finally {
    await ch.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

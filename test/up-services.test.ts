/**
 * How `lookback up` starts its services: a service that dies while starting fails the start with its exit and the
 * end of its log; one that never answers fails it after the timeout, and is stopped; the Hubble port being taken
 * is an error that says what to do, the internal ports move.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createClient } from '@clickhouse/client';
import { choosePorts } from '../cli/up-ports.js';
import { startService } from '../cli/up-services.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { LookbackError } from '../common/errors.js';
import { freePort } from '../common/stack/ports.js';
import { ensureStack, uniqueName } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-up-services-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const dirs = { runDir: path.join(dir, 'run'), logDir: path.join(dir, 'logs') };

test('a service that exits while starting fails the start with its exit code and the end of its log', async () => {
  const closed = await freePort();
  await assert.rejects(
    startService({
      ...dirs, name: 'ingest', timeoutMs: 60_000, ready: async () => false,
      config: { clickhouse: { url: `http://127.0.0.1:${closed}` }, metrics: { port: 0 } },
    }),
    (err: LookbackError) => {
      assert.equal(err.code, 'unavailable');
      assert.match(err.message, /^the ingest did not start: it exited \(\d+\)\./);
      assert.match(err.message, /\n {2}last lines of .*ingest\.log:\n {4}/);
      assert.match(err.message, new RegExp(`\\n {4}lookback: unavailable: ClickHouse at http://127\\.0\\.0\\.1:${closed} did not answer`));
      return true;
    },
  );
  assert.match(fs.readFileSync(path.join(dirs.runDir, 'ingest.yaml'), 'utf8'), new RegExp(`url: http://127.0.0.1:${closed}`), 'its generated config is kept for a look');
});

test('a service that never becomes ready fails the start after the timeout, and is stopped', async () => {
  const { clickhouseUrl } = await ensureStack({ clickhouse: true });
  const database = uniqueName('up_services');
  const ch = createClient({ url: clickhouseUrl });
  await migrate(ch, { database, vars: retentionVars() });
  await ch.close();
  let asked = 0;
  await assert.rejects(
    startService({
      ...dirs, name: 'query-api', timeoutMs: 3000, ready: async () => { asked++; return false; },
      config: { clickhouse: { url: clickhouseUrl, database }, grpc: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' }, follow: { enabled: false } },
    }),
    (err: LookbackError) => {
      assert.match(err.message, /^the query-api did not become ready within 3 s\.\n {2}last lines of .*query-api\.log:/);
      return true;
    },
  );
  assert.ok(asked > 1, 'readiness was asked again and again');
  const mine = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(path.join(dirs.runDir, 'query-api.yaml'));
    } catch {
      return false;
    }
  });
  assert.deepEqual(mine, [], 'the query-api that did not answer was stopped');
});

test('the Hubble gRPC port taken is an error that says what to do; internal ports move to free ones', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const taken = (holder.address() as net.AddressInfo).port;
  try {
    await assert.rejects(choosePorts({ grpc: taken, http: 0, observer: 0, collectorMetrics: 0, ingestMetrics: 0 }), (err: LookbackError) => {
      assert.equal(err.code, 'unavailable');
      assert.match(err.message, new RegExp(`port ${taken} on 127\\.0\\.0\\.1 .* is already in use.*--set ports\\.grpc=N`));
      return true;
    });
    const { ports, notes } = await choosePorts({ grpc: 0, http: 0, observer: taken, collectorMetrics: 0, ingestMetrics: 0 });
    assert.notEqual(ports.observer, taken);
    assert.equal(new Set(Object.values(ports)).size, 5, 'five distinct ports');
    assert.deepEqual(notes, [`the collector's live Observer port (Hubble's 4244) ${taken} is in use: using ${ports.observer}`]);
  } finally {
    holder.close();
  }
});

/**
 * `lookback observe` against the query API, over the fixture stored through Kafka and ingest: Hubble's compact lines
 * for the Star Wars seed, the other output
 * formats, the filters it sends (the same as the hubble CLI's), errors as a user sees them; and, when the real
 * hubble CLI is built, line-for-line equality of the two tools' compact output.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { QueryApi } from '../query-api/index.js';
import { freshDatabase, type TestDatabase } from './query-db.js';
import { storeThroughIngest } from './query-ingest.js';
import { queryFixture } from './query-fixture.js';
import { COMPACT_LINE, HUBBLE_MISSING, hubbleBinary, startTestApi } from './query-helpers.js';

const exec = promisify(execFile);
const LOOKBACK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/lookback.js');

async function lookback(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [LOOKBACK, ...args], { env: { ...process.env, TZ: 'UTC' } });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('lookback observe', () => {
  let db: TestDatabase;
  let api: QueryApi;
  let server: string[];
  const t0 = (BigInt(Math.floor(Date.now() / 1000)) - 1200n) * 1_000_000_000n;
  const fixture = queryFixture(t0);
  // "Nov 26 08:01:50.066" for the fixture's i-th flow, in UTC (the test runs the CLI with TZ=UTC).
  const stamp = (i: number): string => {
    const d = new Date(Number((t0 + BigInt(i) * 1_000_000_000n) / 1_000_000n));
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p = (x: number): string => String(x).padStart(2, '0');
    return `${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.000`;
  };

  before(async () => {
    db = await freshDatabase('lookback_cli');
    await storeThroughIngest(db, fixture.map((f) => f.flow));
    ({ api } = await startTestApi(db));
    server = ['--server', `127.0.0.1:${api.grpcPort}`];
  });
  after(async () => {
    await api?.stop();
    await db?.close();
  });

  test('--since 1h --from-pod default/xwing prints the seed in Hubble’s compact format', async () => {
    const { stdout, code } = await lookback(['observe', ...server, '--since', '1h', '--from-pod', 'default/xwing']);
    assert.equal(code, 0);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `${stamp(0)}: default/xwing:41234 (ID:12001) -> kube-system/coredns-6d4b75cb6d-8kq2v:53 (ID:102) dns-request lookback FORWARDED (DNS Query www.disney.com. A)`,
      `${stamp(2)}: default/xwing:51000 (ID:12001) -> www.disney.com:443 (world) to-stack FORWARDED (TCP Flags: SYN)`,
      `${stamp(4)}: default/xwing:51000 (ID:12001) -> www.disney.com:443 (world) to-stack FORWARDED (TCP Flags: FIN, ACK)`,
      `${stamp(6)}: default/xwing:52000 (ID:12001) <> default/deathstar-6f87c5c8d4-zt6wc:80 (ID:12002) Policy denied DROPPED (TCP Flags: SYN)`,
    ]);
  });

  test('replies print flipped with <-, and every line has the compact shape', async () => {
    const { stdout } = await lookback(['observe', ...server, '--since', '1h', '--to-pod', 'default/xwing', '--from-ip', '104.18.22.45']);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `${stamp(3)}: default/xwing:51000 (ID:12001) <- www.disney.com:443 (world) to-endpoint FORWARDED (TCP Flags: SYN, ACK)`,
      `${stamp(5)}: default/xwing:51000 (ID:12001) <- www.disney.com:443 (world) to-endpoint FORWARDED (TCP Flags: RST)`,
      `${stamp(17)}: 104.18.22.45:443 (world) <> default/xwing:51001 (ID:12001) Success DROPPED (TCP Flags: ACK)`,
    ]);
    const all = await lookback(['observe', ...server, '--since', '1h']);
    const lines = all.stdout.trimEnd().split('\n');
    assert.equal(lines.length, fixture.length);
    for (const l of lines) assert.match(l, COMPACT_LINE);
  });

  test('plain observe asks for the last 20; --last, --first, --until and --not shape the request', async () => {
    assert.equal((await lookback(['observe', ...server])).stdout.trimEnd().split('\n').length, fixture.length);
    const last2 = (await lookback(['observe', ...server, '--last', '2'])).stdout.trimEnd().split('\n');
    assert.deepEqual(last2.map((l) => l.slice(0, 19)), [stamp(17), stamp(18)]);
    const first1 = (await lookback(['observe', ...server, '--since', '1h', '--first', '1'])).stdout.trimEnd().split('\n');
    assert.deepEqual(first1.map((l) => l.slice(0, 19)), [stamp(0)]);
    const notDns = (await lookback(['observe', ...server, '--since', '1h', '--from-pod', 'xwing', '--not', '--protocol', 'udp'])).stdout.trimEnd().split('\n');
    assert.equal(notDns.length, 3);
    const drops = (await lookback(['observe', ...server, '--since', '1h', '-n', 'default', '--verdict', 'DROPPED'])).stdout.trimEnd().split('\n');
    assert.equal(drops.length, 2);
    const http5 = (await lookback(['observe', ...server, '--since', '1h', '--type', 'l7', '--http-status', '5+'])).stdout.trimEnd().split('\n');
    assert.equal(http5.length, 1);
    assert.match(http5[0]!, /http-response FORWARDED \(HTTP\/1\.1 503 5ms/);
  });

  test('-o json, dict and table', async () => {
    const json = (await lookback(['observe', ...server, '--last', '1', '-o', 'json'])).stdout.trim();
    const obj = JSON.parse(json) as { flow: Record<string, unknown>; node_name: string; time: string };
    assert.equal(obj.node_name, 'default/kind-worker');
    assert.equal(obj.flow['verdict'], 'AUDIT');
    assert.match(obj.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const dict = (await lookback(['observe', ...server, '--last', '2', '-o', 'dict'])).stdout;
    assert.match(dict, /^ {2}TIMESTAMP: .*\n {5}SOURCE: .*\nDESTINATION: .*\n {7}TYPE: .*\n {4}VERDICT: .*\n {4}SUMMARY: .*\n------------\n/);
    const table = (await lookback(['observe', ...server, '--last', '2', '-o', 'table'])).stdout.trimEnd().split('\n');
    assert.equal(table.length, 3);
    assert.match(table[0]!, /^TIMESTAMP +SOURCE +DESTINATION +TYPE +VERDICT +SUMMARY$/);
  });

  test('--print-raw-filters shows the filters the hubble CLI would send', async () => {
    const { stdout } = await lookback(['observe', '--print-raw-filters', '--pod', 'default/xwing', '--to-port', '80', '--protocol', 'tcp', '--not', '--from-label', 'k8s:app=xwing']);
    assert.deepEqual(JSON.parse(stdout), {
      whitelist: [
        { source_pod: ['default/xwing'], destination_port: ['80'], protocol: ['tcp'] },
        { destination_pod: ['default/xwing'], destination_port: ['80'], protocol: ['tcp'] },
      ],
      blacklist: [{ source_label: ['k8s:app=xwing'] }],
    });
  });

  test('errors say what is wrong, with exit codes', async () => {
    const badFilter = await lookback(['observe', ...server, '--since', '1h', '--to-ip', '10.0.0.999']);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /^lookback: invalid_argument: the server refused the request: invalid flow filter: whitelist\[0\]\.destination_ip\[0\]: "10\.0\.0\.999" is not an IP address or CIDR prefix\n$/);
    const badTime = await lookback(['observe', ...server, '--since', 'yesterday']);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /--since "yesterday": not a duration/);
    const conflict = await lookback(['observe', ...server, '--first', '2', '--follow']);
    assert.match(conflict.stderr, /cannot set both --first and --follow/);
    const down = await lookback(['observe', '--server', '127.0.0.1:1', '--last', '1']);
    assert.equal(down.code, 4);
    assert.match(down.stderr, /cannot reach the Observer at 127\.0\.0\.1:1/);
  });

  test('lookback deps prints the dependency graph as text and as JSON', async () => {
    const http = ['--server', `http://127.0.0.1:${api.httpPort}`, '--since', '1h'];
    const text = await lookback(['deps', ...http]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^window \S+ \.\. \S+ \(flows_1m, 60 s buckets\): 10 nodes, 11 edges$/);
    assert.match(lines[1]!, /^SOURCE +TARGET +FLOWS +BYTES +DROPS +L7 +ERRORS +P50 +P95 +P99$/);
    assert.ok(lines.some((l) => /^workload:shop\/frontend +-> +workload:shop\/cart +2 +120B +0 +2 +50\.0% +3ms +4\.8ms +4\.96ms$/.test(l)), text.stdout);
    const json = await lookback(['deps', ...http, '-o', 'json']);
    const graph = JSON.parse(json.stdout) as { edges: Array<{ source: string; target: string; drops: number }>; nodes: unknown[] };
    assert.equal(graph.nodes.length, 10);
    // xwing and tiefighter are bare pods, each a node of its own: only xwing's landing is dropped.
    assert.equal(graph.edges.find((e) => e.source === 'workload:default/xwing' && e.target === 'workload:default/deathstar')?.drops, 1);
    assert.equal(graph.edges.find((e) => e.source === 'workload:default/tiefighter' && e.target === 'workload:default/deathstar')?.drops, 0);
    const bad = await lookback(['deps', ...http, '--until', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /the query API refused the request: until: "soon" is not an RFC 3339 time/);
  });

  test('the real hubble CLI and lookback observe print the same compact lines', async (t) => {
    const hubble = hubbleBinary();
    if (!hubble) return t.skip(HUBBLE_MISSING);
    for (const args of [['--since', '1h'], ['--since', '1h', '--from-pod', 'default/xwing'], ['--last', '5'], ['--since', '1h', '-n', 'shop', '--type', 'l7']]) {
      const theirs: { stdout: string } = await exec(hubble, ['observe', ...server, ...args], { env: { ...process.env, TZ: 'UTC' } });
      const ours = await lookback(['observe', ...server, ...args]);
      assert.equal(ours.stdout, theirs.stdout, `lookback observe ${args.join(' ')}`);
    }
  });
});

/**
 * The HTTP JSON API over the fixture: the OpenAPI document, flow search with cursor pagination, the dependency
 * graph (roll-up and raw answers agree), top talkers, drops by reason, read-only SQL; then hostile and malformed
 * requests, each with the status and message the user sees, and the optional bearer token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatUuid } from '../schemas/flow-types.js';
import type { QueryApi } from '../query-api/index.js';
import { OPENAPI } from '../query-api/openapi.js';
import { freshDatabase, insertFlows, type TestDatabase } from './query-db.js';
import { queryFixture } from './query-fixture.js';
import { startTestApi } from './query-helpers.js';

type Obj = Record<string, unknown>;

describe('HTTP API', () => {
  let db: TestDatabase;
  let api: QueryApi;
  let base: string;
  // Forty minutes ago, at the start of a minute: the graph windows below line up with the roll-ups' buckets.
  const t0 = (BigInt(Math.floor(Date.now() / 60_000)) * 60n - 2400n) * 1_000_000_000n;
  const fixture = queryFixture(t0);
  const names = fixture.map((f) => f.name);
  const nameOf = new Map(fixture.map((f) => [formatUuid(f.flow.uuid), f.name]));
  const iso = (offsetS: number): string => new Date(Number(t0 / 1_000_000n) + offsetS * 1000).toISOString();

  const call = async (path: string, init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: Obj }> => {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'),
      headers: { 'content-type': 'application/json', ...init.headers },
      ...(init.raw !== undefined ? { body: init.raw } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Obj };
  };
  const flowNames = (body: Obj): string[] => (body['flows'] as Obj[]).map((f) => nameOf.get(f['uuid'] as string) ?? '?');

  before(async () => {
    db = await freshDatabase('lookback_http');
    await insertFlows(db.client, fixture.map((f) => f.flow));
    ({ api } = await startTestApi(db, { sql: { maxResultRows: 10, maxMemoryUsage: 4 * 2 ** 20, maxExecutionTime: 1000 } }));
    base = `http://127.0.0.1:${api.httpPort}`;
  });
  after(async () => {
    await api?.stop();
    await db?.close();
  });

  test('serves its OpenAPI document, and every described path answers', async () => {
    const { status, body } = await call('/openapi.json');
    assert.equal(status, 200);
    assert.equal(body['openapi'], '3.1.0');
    const paths = Object.keys(body['paths'] as Obj);
    assert.deepEqual(paths.sort(), Object.keys(OPENAPI.paths).sort());
    for (const p of paths) {
      const methods = Object.keys((body['paths'] as Record<string, Obj>)[p]!);
      const res = await fetch(`${base}${p}`, { method: methods.includes('get') ? 'GET' : 'POST', body: methods.includes('get') ? null : '{}' });
      assert.notEqual(res.status, 404, `${p} is described but does not answer`);
      await res.arrayBuffer();
    }
  });

  test('flow search: newest first, pages by cursor without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body }: { status: number; body: Obj } = await call('/v1/flows/search', { body: { since: iso(-60), until: iso(600), limit: 4, ...(cursor ? { cursor } : {}) } });
      assert.equal(status, 200, JSON.stringify(body));
      seen.push(...flowNames(body));
      cursor = body['next_cursor'] as string | null;
      pages++;
    } while (cursor && pages < 20);
    assert.equal(pages, 5);
    assert.deepEqual(seen, [...names].reverse());
  });

  test('flow search: filters, ascending order, and the GET form', async () => {
    const post = await call('/v1/flows/search', { body: { since: iso(-60), whitelist: [{ source_pod: ['default/xwing'] }], blacklist: [{ protocol: ['udp'] }], order: 'asc' } });
    assert.deepEqual(flowNames(post.body), ['disney_syn', 'disney_fin', 'deathstar_drop']);
    const f = (post.body['flows'] as Obj[])[2]!;
    assert.equal(f['verdict'], 'DROPPED');
    assert.equal(f['drop_reason_desc'], 'POLICY_DENIED');
    const wl = encodeURIComponent(JSON.stringify([{ verdict: ['DROPPED'] }]));
    const get = await call(`/v1/flows?since=${encodeURIComponent(iso(-60))}&whitelist=${wl}&limit=1`);
    assert.deepEqual(flowNames(get.body), ['unknown_drop']);
    const next = await call(`/v1/flows?whitelist=${wl}&cursor=${get.body['next_cursor'] as string}`);
    assert.deepEqual(flowNames(next.body), ['deathstar_drop']);
    assert.equal(next.body['next_cursor'], null);
    const other = await call(`/v1/flows?cursor=${get.body['next_cursor'] as string}`);
    assert.equal(other.status, 400);
    assert.match((other.body['error'] as Obj)['message'] as string, /cursor belongs to a search with other filters/);
  });

  test('dependency graph from a roll-up: nodes, edges, drops, L7 error rate and latency', async () => {
    const { status, body } = await call(`/v1/graph?since=${encodeURIComponent(iso(-600))}&until=${encodeURIComponent(iso(1200))}`);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((body['window'] as Obj)['table'], 'flows_1m');
    const edges = body['edges'] as Obj[];
    const edge = (s: string, t: string): Obj | undefined => edges.find((e) => e['source'] === s && e['target'] === t);
    // xwing and tiefighter are bare pods (no owner): each is a workload node of its own.
    const disney = edge('workload:default/xwing', 'external:www.disney.com');
    assert.deepEqual([disney?.['flows'], disney?.['bytes'], disney?.['drops']], [2, 120, 0]);
    const deathstar = edge('workload:default/xwing', 'workload:default/deathstar')!;
    assert.deepEqual([deathstar['flows'], deathstar['drops']], [1, 1]);
    const landing = edge('workload:default/tiefighter', 'workload:default/deathstar')!;
    assert.deepEqual([landing['flows'], landing['drops']], [1, 0]);
    assert.deepEqual((landing['l7'] as Obj)['responses'], 1);
    assert.equal(((landing['l7'] as Obj)['latency_ms'] as Obj)['p50'], 3);
    const cart = edge('workload:shop/frontend', 'workload:shop/cart')!;
    assert.equal(cart['flows'], 2);
    const l7 = cart['l7'] as Obj;
    assert.deepEqual([l7['responses'], l7['errors'], l7['error_rate']], [2, 1, 0.5]);
    assert.ok(edge('workload:default/xwing', 'workload:kube-system/coredns'), 'DNS edge');
    assert.ok(edge('world', 'service:default/kubernetes'), 'host to the API server, by its service');
    const kinds = new Set((body['nodes'] as Obj[]).map((n) => n['kind']));
    assert.deepEqual([...kinds].sort(), ['external', 'service', 'workload', 'world']);
  });

  test('a short window is answered from the raw table, with the same edges', async () => {
    const rollup = await call(`/v1/graph?since=${encodeURIComponent(iso(-600))}&until=${encodeURIComponent(iso(1200))}`);
    const raw = await call(`/v1/graph?since=${encodeURIComponent(iso(-1))}&until=${encodeURIComponent(iso(60))}`);
    assert.equal((raw.body['window'] as Obj)['table'], 'flows');
    const shape = (b: Obj): string[] => (b['edges'] as Obj[]).map((e) => `${e['source']} -> ${e['target']} ${e['flows']}/${e['bytes']}/${e['drops']}`).sort();
    assert.deepEqual(shape(raw.body), shape(rollup.body));
  });

  test('top talkers and drops by reason', async () => {
    const top = await call(`/v1/top-talkers?since=${encodeURIComponent(iso(-600))}&until=${encodeURIComponent(iso(1200))}&by=workload&metric=flows&limit=2`);
    // Two talkers tie at 4 flows: compare without their order.
    const talkers = (top.body['talkers'] as Obj[]).map((t) => `${t['source']}=${t['value']}`).sort();
    assert.deepEqual(talkers, ['workload:default/xwing=4', 'workload:shop/frontend=4']);
    const drops = await call(`/v1/drops?since=${encodeURIComponent(iso(-600))}&until=${encodeURIComponent(iso(1200))}&step=600`);
    assert.equal(drops.status, 200, JSON.stringify(drops.body));
    assert.equal(drops.body['step_seconds'], 600);
    const series = drops.body['series'] as Obj[];
    assert.deepEqual(series.map((s) => [s['reason'], s['total']]).sort(), [['DROP_REASON_UNKNOWN', 1], ['POLICY_DENIED', 1]]);
  });

  test('read-only SQL answers a SELECT', async () => {
    const { status, body } = await call('/v1/sql', { body: { query: "SELECT verdict, count() AS c FROM flows GROUP BY verdict ORDER BY c DESC, verdict" } });
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body['rows'], [['FORWARDED', 16], ['DROPPED', 2], ['AUDIT', 1]]);
    assert.deepEqual(body['columns'], [{ name: 'verdict', type: 'LowCardinality(String)' }, { name: 'c', type: 'UInt64' }]);
  });

  // ---- hostile and malformed requests
  const refused = (name: string, path: string, init: Parameters<typeof call>[1], status: number, message: RegExp): void => {
    test(name, async () => {
      const res = await call(path, init);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match((res.body['error'] as Obj)['message'] as string, message);
    });
  };
  refused('SQL reading system.users', '/v1/sql', { body: { query: 'SELECT name, auth_type FROM system.users' } }, 400, /system\.users is not readable here/);
  refused('SQL reading a secret table in a subquery', '/v1/sql', { body: { query: 'SELECT count() FROM flows WHERE node_name IN (SELECT user_name FROM system.grants)' } }, 400, /system\.grants is not readable/);
  refused('SQL writing', '/v1/sql', { body: { query: 'INSERT INTO flows (node_name) VALUES (\'evil\')' } }, 400, /only SELECT queries are allowed here; this is an INSERT statement/);
  refused('SQL dropping a table', '/v1/sql', { body: { query: 'DROP TABLE flows' } }, 400, /this is a DROP statement/);
  refused('SQL changing a setting', '/v1/sql', { body: { query: 'SET max_result_rows = 0' } }, 400, /only SELECT queries are allowed/);
  refused('SQL overriding a limit inside the query', '/v1/sql', { body: { query: 'SELECT * FROM flows SETTINGS max_result_rows = 100000' } }, 400, /readonly/i);
  refused('SQL reading a file through a table function', '/v1/sql', { body: { query: "SELECT * FROM file('/etc/passwd', 'LineAsString')" } }, 400, /table function file\(\) is not allowed/);
  refused('SQL with two statements', '/v1/sql', { body: { query: 'SELECT 1; DROP TABLE flows' } }, 400, /Syntax error|Multi-statements/);
  refused('SQL returning too many rows', '/v1/sql', { body: { query: 'SELECT uuid FROM flows' } }, 400, /hit a limit: .*Limit for result exceeded, max rows: 10/);
  refused('SQL using too much memory', '/v1/sql', { body: { query: 'SELECT length(groupArray(range(200000))) FROM flows' } }, 400, /hit a limit: .*[Mm]emory limit/);
  refused('SQL running too long', '/v1/sql', { body: { query: 'SELECT sleepEachRow(0.15) FROM flows' } }, 400, /hit a limit: .*[Tt]imeout/);
  refused('a body that is not JSON', '/v1/flows/search', { raw: '{"since": ' }, 400, /not valid JSON/);
  refused('a body that is too large', '/v1/flows/search', { raw: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) }, 400, /larger than 1048576 bytes/);
  refused('a time that is not a time', '/v1/flows/search', { body: { since: 'last tuesday' } }, 400, /since: "last tuesday" is not an RFC 3339 time or a duration/);
  refused('a window wider than allowed', '/v1/graph?since=9000h', {}, 400, /window spans 375\.0 days; at most 366\.0 days/);
  refused('thousands of filters', '/v1/flows/search', { body: { whitelist: Array.from({ length: 5000 }, () => ({ verdict: ['DROPPED'] })) } }, 400, /5000 filters; at most 64/);
  refused('a huge page', '/v1/flows?limit=1000000000', {}, 400, /limit: "1000000000" is not an integer from 1 to 10000/);
  refused('a forged cursor', '/v1/flows?cursor=AAAA', {}, 400, /cursor is not a cursor this API returned/);
  refused('a catastrophic regex in the SQL back-end is just a regex', '/v1/flows/search', { body: { whitelist: [{ http_url: ['(a+)+$', '('] }] } }, 400, /http_url\[1\]: "\(" is not a valid RE2 regular expression/);
  refused('an unknown endpoint', '/v1/nope', {}, 404, /no such endpoint: \/v1\/nope/);
  refused('a bad enum', '/v1/top-talkers?metric=money', {}, 400, /metric: "money" is not one of bytes, flows, packets, drops/);

  test('the server keeps serving after all that', async () => {
    assert.equal((await call('/healthz')).status, 200);
    assert.equal((await call('/v1/status')).body['numFlows'], fixture.length);
  });
});

describe('HTTP and gRPC with a bearer token', () => {
  let db: TestDatabase;
  let api: QueryApi;
  before(async () => {
    db = await freshDatabase('lookback_token');
    ({ api } = await startTestApi(db, { access: { token: 's3cret' } }));
  });
  after(async () => {
    await api?.stop();
    await db?.close();
  });

  test('requests without the token get 401, with it 200; health stays public', async () => {
    const url = `http://127.0.0.1:${api.httpPort}/v1/status`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /requires a bearer token/);
    const wrong = await fetch(url, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const right = await fetch(url, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(right.status, 200);
    await right.arrayBuffer();
    assert.equal((await fetch(`http://127.0.0.1:${api.httpPort}/healthz`)).status, 200);
  });
});

describe('dependency graph with the L7 roll-ups', () => {
  let db: TestDatabase;
  let api: QueryApi;
  const t0 = (BigInt(Math.floor(Date.now() / 60_000)) * 60n - 2400n) * 1_000_000_000n;
  const iso = (offsetS: number): string => new Date(Number(t0 / 1_000_000n) + offsetS * 1000).toISOString();
  before(async () => {
    db = await freshDatabase('lookback_l7rollup');
    await insertFlows(db.client, queryFixture(t0).map((f) => f.flow));
    ({ api } = await startTestApi(db));
  });
  after(async () => {
    await api?.stop();
    await db?.close();
  });

  test('L7 figures come from the L7 roll-up and equal the raw table’s', async () => {
    const get = async (since: string, until: string): Promise<Obj> => (await (await fetch(`http://127.0.0.1:${api.httpPort}/v1/graph?since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`)).json()) as Obj;
    const rollup = await get(iso(-600), iso(1200));
    assert.deepEqual([(rollup['window'] as Obj)['table'], (rollup['window'] as Obj)['l7_table']], ['flows_1m', 'flows_l7_1m']);
    const raw = await get(iso(-1), iso(60));
    assert.deepEqual([(raw['window'] as Obj)['table'], (raw['window'] as Obj)['l7_table']], ['flows', 'flows']);
    const l7 = (g: Obj): string[] => (g['edges'] as Obj[]).filter((e) => e['l7']).map((e) => `${e['source']} -> ${e['target']} ${JSON.stringify(e['l7'])}`).sort();
    assert.deepEqual(l7(rollup), l7(raw));
    assert.ok(l7(rollup).some((e) => e.startsWith('workload:shop/frontend -> workload:shop/cart {"responses":2,"errors":1,"error_rate":0.5')), l7(rollup).join('\n'));
  });
});

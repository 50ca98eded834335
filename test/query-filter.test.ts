/**
 * The FlowFilter engine's two back-ends against one case table (test/query-filter-cases.ts): for every case the
 * in-memory predicate (over the original flows and over flows read back from ClickHouse) and the SQL run by the
 * real ClickHouse must return exactly the fixture flows the case names. Then the hostile and malformed filters,
 * each with the message a user sees.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileFlowFilters, ParamBag, type FlowFilter } from '../common/flow-filter/index.js';
import { FLOW_SELECT, rowToFlow, type FlowRow } from '../common/flow-row.js';
import { LookbackError } from '../common/errors.js';
import { formatUuid, type Flow } from '../schemas/flow-types.js';
import { freshDatabase, insertFlows, type TestDatabase } from './query-db.js';
import { filterCases } from './query-filter-cases.js';
import { queryFixture, type NamedFlow } from './query-fixture.js';

const T0 = 1_764_140_000_000_000_000n;

describe('FlowFilter engine: predicate and SQL agree on the case table', () => {
  let db: TestDatabase;
  const fixture: NamedFlow[] = queryFixture(T0);
  const nameByUuid = new Map(fixture.map((f) => [formatUuid(f.flow.uuid), f.name]));
  const allNames = fixture.map((f) => f.name);
  let readBack: { name: string; flow: Flow }[] = [];

  before(async () => {
    db = await freshDatabase('lookback_filter');
    await insertFlows(db.client, fixture.map((f) => f.flow));
    const rs = await db.client.query({ query: `SELECT ${FLOW_SELECT} FROM flows ORDER BY time`, format: 'JSONEachRow' });
    readBack = (await rs.json<FlowRow>()).map((row) => {
      const flow = rowToFlow(row);
      return { name: nameByUuid.get(formatUuid(flow.uuid)) ?? '?', flow };
    });
  });
  after(async () => db?.close());

  test('the fixture is stored whole', () => {
    assert.deepEqual(readBack.map((r) => r.name), allNames);
  });

  const cases = filterCases((name) => formatUuid(queryFixture(T0).find((f) => f.name === name)!.flow.uuid));

  test('the table has at least 40 cases, each with a unique name', () => {
    assert.ok(cases.length >= 40, `${cases.length} cases`);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
  });

  for (const c of cases) {
    test(c.name, async () => {
      const expected = (typeof c.expect === 'function' ? c.expect(allNames) : c.expect).slice().sort();
      for (const name of expected) assert.ok(allNames.includes(name), `case names unknown flow ${name}`);
      const compiled = compileFlowFilters({ whitelist: c.whitelist ?? [], blacklist: c.blacklist ?? [] });

      const byPredicate = fixture.filter((f) => compiled.matches(f.flow)).map((f) => f.name).sort();
      assert.deepEqual(byPredicate, expected, 'in-memory predicate over the original flows');
      const byPredicateReadBack = readBack.filter((f) => compiled.matches(f.flow)).map((f) => f.name).sort();
      assert.deepEqual(byPredicateReadBack, expected, 'in-memory predicate over flows read back from ClickHouse');

      const params = new ParamBag('f');
      const where = compiled.sql(params);
      const rs = await db.client.query({ query: `SELECT toString(uuid) AS u FROM flows WHERE ${where}`, query_params: params.values, format: 'JSONEachRow' });
      const bySql = (await rs.json<{ u: string }>()).map((r) => nameByUuid.get(r.u) ?? r.u).sort();
      assert.deepEqual(bySql, expected, `ClickHouse SQL: ${where}`);
    });
  }
});

describe('FlowFilter engine: bad and hostile filters are refused with a clear message', () => {
  const refuse = (name: string, req: { whitelist?: unknown[]; blacklist?: unknown[] }, message: RegExp): void => {
    test(name, () => {
      assert.throws(
        () => compileFlowFilters(req as { whitelist?: FlowFilter[]; blacklist?: FlowFilter[] }),
        (err: unknown) => {
          assert.ok(err instanceof LookbackError, `a LookbackError, got ${String(err)}`);
          assert.equal(err.code, 'invalid_argument');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  };
  refuse('a malformed IP', { whitelist: [{ source_ip: ['10.0.0.300'] }] }, /whitelist\[0\]\.source_ip\[0\]: "10\.0\.0\.300" is not an IP address or CIDR prefix/);
  refuse('a CIDR with too many bits', { whitelist: [{ destination_ip: ['10.0.0.0/33'] }] }, /is not an IP address or CIDR prefix/);
  refuse('a port out of range', { whitelist: [{ destination_port: ['65536'] }] }, /"65536" is not a port number/);
  refuse('an unknown protocol', { whitelist: [{ protocol: ['kafka'] }] }, /unknown protocol "kafka"/);
  refuse('a bad status code', { whitelist: [{ http_status_code: ['6xx'] }] }, /"6xx" is not a status code/);
  refuse('HTTP status with a non-L7 event type', { whitelist: [{ event_type: [{ type: 1 }], http_status_code: ['404'] }] }, /needs the event_type filter to match L7 events/);
  refuse('an invalid regex', { whitelist: [{ dns_query: ['(unclosed'] }] }, /is not a valid RE2 regular expression: .*missing closing \)/);
  refuse('a lookahead (not RE2)', { whitelist: [{ http_path: ['(?=x)'] }] }, /not a valid RE2 regular expression/);
  refuse('a huge regex program', { whitelist: [{ http_url: ['((a{1000}){1000}){1000}'] }] }, /not a valid RE2|too large/);
  refuse('an invalid FQDN pattern', { whitelist: [{ destination_fqdn: ['evil$.com'] }] }, /cannot hold/);
  refuse('a broken label selector', { whitelist: [{ source_label: ['app in (a,'] }] }, /label selector/);
  refuse('an invalid label key', { whitelist: [{ source_label: ['Bad Key=1'] }] }, /label selector|not valid/);
  refuse('an empty pod name', { whitelist: [{ source_pod: [''] }] }, /must not be empty/);
  refuse('an unknown verdict name', { whitelist: [{ verdict: ['MAYBE'] }] }, /"MAYBE" is not a known value/);
  refuse('a value of the wrong type', { whitelist: [{ source_pod: [42] }] }, /is not a string/);
  refuse('a field that is not a list', { whitelist: [{ source_pod: 'xwing' }] }, /must be a list/);
  refuse('a CEL expression', { whitelist: [{ experimental: { cel_expression: ['true'] } }] }, /CEL expressions are not supported/);
  refuse('thousands of filters', { whitelist: Array.from({ length: 5000 }, () => ({ source_pod: ['x/'] })) }, /5000 filters; at most 64/);
  refuse('thousands of values in one field', { whitelist: [{ destination_port: Array.from({ length: 5000 }, (_, i) => String(i)) }] }, /5000 values; at most 256/);
  refuse('a huge value', { whitelist: [{ source_pod: ['x'.repeat(100_000)] }] }, /100000 characters; at most 1024/);
  refuse('an identity above 32 bits', { whitelist: [{ source_identity: [2 ** 40] }] }, /not an unsigned 32-bit integer/);

  test('a catastrophic regex runs in linear time in the predicate', () => {
    const compiled = compileFlowFilters({ whitelist: [{ http_url: ['^(a+)+$'] }] });
    const f = queryFixture(T0).find((x) => x.name === 'cart_503')!.flow;
    f.l7!.http!.url = `${'a'.repeat(50_000)}!`;
    // A backtracking engine would need about 2^50000 steps here; RE2 answers at once.
    assert.equal(compiled.matches(f), false);
    f.l7!.http!.url = 'a'.repeat(50_000);
    assert.equal(compiled.matches(f), true);
  });
});

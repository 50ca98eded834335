/**
 * Unit checks of the FlowFilter engine's parts that need no ClickHouse: addresses, label selectors, name patterns,
 * and the SQL shape (parameters only, never user text). The two back-ends are held to the same answers by the
 * case table in test/query-filter.test.ts, against the real ClickHouse.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyFlow } from '../../schemas/flow-types.js';
import { compileFlowFilters, ParamBag } from './index.js';
import { formatAddress, parseAddress, parseAddressOrPrefix } from './ip.js';
import { parseLabelSelector } from './label-selector.js';
import { compileFqdnPatterns, compileNodeNamePatterns } from './patterns.js';
import { DEFAULT_FILTER_LIMITS } from './limits.js';

test('addresses: IPv4 strictly, IPv6 in every spelling, CIDRs per family', () => {
  assert.equal(parseAddress('10.0.0.1')?.family, 4);
  assert.equal(parseAddress('010.0.0.1'), null, 'leading zeros are refused, as Go does');
  assert.equal(parseAddress('10.0.0'), null);
  assert.equal(parseAddress('fd00::17')?.family, 6);
  assert.equal(parseAddress('::ffff:10.0.0.1')?.family, 4, 'IPv4-mapped counts as IPv4 (that is how the table stores it)');
  assert.equal(parseAddress('1:2:3:4:5:6:7:8:9'), null);
  assert.equal(parseAddressOrPrefix('10.0.0.0/33'), null);
  assert.equal(parseAddressOrPrefix('fd00::/129'), null);
  const r = parseAddressOrPrefix('10.1.2.3/8')!;
  assert.equal(formatAddress(r.lo), '10.0.0.0');
  assert.equal(formatAddress(r.hi), '10.255.255.255');
  assert.equal(formatAddress(Buffer.from('20010db8000000000000000000000001', 'hex')), '2001:db8::1');
  assert.equal(formatAddress(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1');
  assert.equal(formatAddress(Buffer.from('00000000000000000000000000000000', 'hex')), '::');
});

test('label selectors: Kubernetes syntax over Cilium labels, first label of a key wins', () => {
  const labels = ['k8s:app=web', 'k8s:tier=front', 'container:app=other', 'reserved:world', 'k8s:replicas=12'];
  const m = (sel: string): boolean => parseLabelSelector(sel, 'x').match(labels);
  assert.equal(m('app=web'), true, 'no source: any source, the first label with the key');
  assert.equal(m('container:app=other'), true);
  assert.equal(m('k8s:app'), true);
  assert.equal(m('!k8s:missing'), true);
  assert.equal(m('app in (db, web)'), true);
  assert.equal(m('app notin (web)'), false);
  assert.equal(m('tier!=back,app==web'), true);
  assert.equal(m('replicas>11,replicas<13'), true);
  assert.equal(m('reserved:world'), true);
  for (const bad of ['app in (a,', 'app=', '=x', 'app in ()', 'replicas>x', 'a b', 'Bad:Key/x/y=1']) {
    if (bad === 'app=') continue; // an empty value is allowed
    assert.throws(() => parseLabelSelector(bad, 'where'), /invalid flow filter: where: /, bad);
  }
  assert.equal(parseLabelSelector('app=', 'x').match(['k8s:app=']), true);
  assert.throws(() => parseLabelSelector("k8s:app=web'; DROP TABLE flows --", 'x'), /label value .* is not valid/);
});

test('name patterns: FQDN wildcards and cluster/node names as Hubble builds them', () => {
  const f = compileFqdnPatterns(['*.cilium.io', 'Example.COM.'], 'x', DEFAULT_FILTER_LIMITS);
  assert.equal(f.test('docs.cilium.io'), true);
  assert.equal(f.test('cilium.io'), false);
  assert.equal(f.test('example.com'), true);
  assert.equal(f.test('example.com.evil'), false);
  assert.throws(() => compileFqdnPatterns(['a..'], 'x', DEFAULT_FILTER_LIMITS), /more than one trailing dot/);
  const n = compileNodeNamePatterns(['k8s*', 'prod/'], 'x', DEFAULT_FILTER_LIMITS);
  assert.equal(n.test('default/k8s-node-1'), true);
  assert.equal(n.test('prod/anything'), true);
  assert.equal(n.test('other/node'), false);
  assert.throws(() => compileNodeNamePatterns(['a/b/c'], 'x', DEFAULT_FILTER_LIMITS), /more than one '\/'/);
});

test('SQL carries user values only as parameters', () => {
  const evil = "x'); DROP TABLE flows; --";
  const c = compileFlowFilters({ whitelist: [{ source_pod: [evil], http_url: [evil.replace(/[()]/g, '')], node_labels: ['app=web'] }] });
  const p = new ParamBag('f');
  const sql = c.sql(p);
  assert.ok(!sql.includes('DROP TABLE'), sql);
  assert.ok(Object.values(p.values).some((v) => typeof v === 'string' && v.includes('DROP TABLE')));
});

test('an empty request matches everything; a blacklist alone excludes', () => {
  const f = emptyFlow();
  f.verdict = 'DROPPED';
  assert.equal(compileFlowFilters({}).matches(f), true);
  assert.equal(compileFlowFilters({}).empty, true);
  assert.equal(compileFlowFilters({ blacklist: [{ verdict: ['DROPPED'] }] }).matches(f), false);
  assert.equal(compileFlowFilters({ whitelist: [{ verdict: ['FORWARDED'] }, { verdict: ['DROPPED'] }] }).matches(f), true);
  assert.equal(compileFlowFilters({}).sql(new ParamBag('f')), '1');
});

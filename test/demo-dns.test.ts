/**
 * The demo's coredns answers real resolvers: dig over UDP and TCP, node's resolver (c-ares). A and AAAA from the
 * zone, NODATA for a known name without that type, NXDOMAIN for unknown names, names matched case-insensitively.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startDnsServer, type DnsServer } from '../demo/dns-server.js';

const run = promisify(execFile);
const zone = { 'deathstar.default.svc.cluster.local': ['10.96.0.20'], 'www.disney.com': ['198.51.100.10', '2001:db8::10'] };
let server: DnsServer;
const queries: string[] = [];
before(async () => { server = await startDnsServer({ host: '127.0.0.1', port: 0, zone, ttl: 30, onQuery: (q) => queries.push(`${q.name}/${q.type}`) }); });
after(async () => { await server.stop(); });

async function dig(...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+tries=1', '+time=2', ...args]);
  return stdout;
}

test('dig over UDP: A, AAAA, NODATA and NXDOMAIN', async () => {
  const a = await dig('deathstar.default.svc.cluster.local', 'A');
  assert.match(a, /status: NOERROR/);
  assert.match(a, /flags: qr aa rd ra; QUERY: 1, ANSWER: 1/);
  assert.match(a, /deathstar\.default\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+10\.96\.0\.20/);
  assert.match(await dig('+short', 'www.disney.com', 'AAAA'), /^2001:db8::10$/m);
  const nodata = await dig('deathstar.default.svc.cluster.local', 'AAAA');
  assert.match(nodata, /status: NOERROR/);
  assert.match(nodata, /ANSWER: 0/);
  assert.match(await dig('xwing.example', 'A'), /status: NXDOMAIN/);
});

test('dig over TCP, and names in any case', async () => {
  assert.match(await dig('+tcp', '+short', 'WWW.Disney.COM', 'A'), /^198\.51\.100\.10$/m);
  assert.ok(queries.includes('www.disney.com/1'));
});

test("node's resolver (c-ares) resolves through it", async () => {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  assert.deepEqual(await r.resolve4('www.disney.com'), ['198.51.100.10']);
  await assert.rejects(r.resolve4('nothing.example'), (err: NodeJS.ErrnoException) => err.code === 'ENOTFOUND');
});

/**
 * Mutual TLS on the query API: gRPC and HTTPS with a server certificate and required client certificates (made
 * here with openssl), used by `lookback observe`, by the real hubble CLI when it is built, and by an HTTPS client;
 * a client without a certificate is turned away.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { QueryApi } from '../query-api/index.js';
import { freshDatabase, insertFlows, type TestDatabase } from './query-db.js';
import { queryFixture } from './query-fixture.js';
import { HUBBLE_MISSING, hubbleBinary, startTestApi } from './query-helpers.js';

const exec = promisify(execFile);
const LOOKBACK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/lookback.js');

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files in `dir`. */
function makeCertificates(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=lookback test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr'));
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem'));
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=analyst', '-keyout', f('client.key'), '-out', f('client.csr'));
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('client.ext'), '-out', f('client.pem'));
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

describe('mutual TLS on gRPC and HTTP', () => {
  let db: TestDatabase;
  let api: QueryApi;
  let certs: ReturnType<typeof makeCertificates>;
  const t0 = (BigInt(Math.floor(Date.now() / 1000)) - 600n) * 1_000_000_000n;
  const fixture = queryFixture(t0);

  before(async () => {
    certs = makeCertificates(fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-tls-')));
    db = await freshDatabase('lookback_tls');
    await insertFlows(db.client, fixture.map((f) => f.flow));
    ({ api } = await startTestApi(db, { access: { tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.ca } }));
  });
  after(async () => {
    await api?.stop();
    await db?.close();
  });

  test('lookback observe with a client certificate is served; without one it is refused', async () => {
    const server = ['--server', `127.0.0.1:${api.grpcPort}`, '--tls-ca-cert-files', certs.ca];
    const ok = await exec(process.execPath, [LOOKBACK, 'observe', ...server, '--tls-client-cert-file', certs.clientCert, '--tls-client-key-file', certs.clientKey, '--since', '1h', '--from-pod', 'default/xwing']);
    assert.equal(ok.stdout.trim().split('\n').length, 4);
    const refused = await exec(process.execPath, [LOOKBACK, 'observe', ...server, '--last', '1']).catch((e: { code: number; stderr: string }) => e);
    assert.equal((refused as { code: number }).code, 4);
    assert.match((refused as { stderr: string }).stderr, /cannot reach the Observer at 127\.0\.0\.1:\d+/);
  });

  test('the real hubble CLI speaks mutual TLS to lookback', async (t) => {
    const hubble = hubbleBinary();
    if (!hubble) return t.skip(HUBBLE_MISSING);
    const { stdout } = await exec(hubble, [
      'observe', '--server', `127.0.0.1:${api.grpcPort}`, '--tls', '--tls-ca-cert-files', certs.ca, '--tls-server-name', 'localhost',
      '--tls-client-cert-file', certs.clientCert, '--tls-client-key-file', certs.clientKey, '--since', '1h', '--verdict', 'DROPPED',
    ]);
    assert.equal(stdout.trim().split('\n').length, 2);
  });

  test('HTTPS with a client certificate answers; without one the handshake fails', async () => {
    const get = (withCert: boolean): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = https.request({
          host: '127.0.0.1', port: api.httpPort, path: '/v1/status', ca: fs.readFileSync(certs.ca),
          ...(withCert ? { cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) } : {}),
        }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const ok = await get(true);
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.body) as { numFlows: number }).numFlows, fixture.length);
    await assert.rejects(get(false), /certificate|socket hang up|ECONNRESET|alert/i);
  });
});

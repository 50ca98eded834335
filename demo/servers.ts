/**
 * The demo's servers, each run inside its pod's network namespace: the deathstar's landing API (HTTP, as in
 * Hubble's demo) and the "outside world" hosts (TCP 443, HTTPS-like: a TLS-looking greeting, then close).
 */
import http from 'node:http';
import net from 'node:net';

export interface Closable {
  close(): Promise<void>;
}

const close = (srv: net.Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()));

/** Hubble's deathstar: POST /v1/request-landing lands a ship; PUT /v1/exhaust-port is the famous flaw. */
export async function startDeathstar(opts: { host: string; port: number; onRequest?: (method: string, url: string, status: number) => void }): Promise<Closable> {
  const srv = http.createServer((req, res) => {
    let status = 404;
    let body = 'Not found\n';
    if (req.url === '/v1/request-landing' && req.method === 'POST') {
      status = 200;
      body = 'Ship landed\n';
    } else if (req.url === '/v1/exhaust-port' && req.method === 'PUT') {
      status = 503;
      body = 'Panic: deathstar exploded\n';
    } else if (req.url === '/v1/' && req.method === 'GET') {
      status = 200;
      body = JSON.stringify({ name: 'Death Star', model: 'DS-1 Orbital Battle Station' }) + '\n';
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      opts.onRequest?.(req.method ?? '', req.url ?? '', status);
    });
  });
  srv.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(opts.port, opts.host, () => resolve());
  });
  return { close: () => close(srv) };
}

/** An external host on port 443: reads what the client sends, answers with a few bytes shaped like a TLS alert, and closes. */
export async function startWorldHost(opts: { host: string; port: number }): Promise<Closable> {
  const srv = net.createServer((sock) => {
    sock.setTimeout(5000, () => sock.destroy());
    sock.once('data', () => {
      // TLS record: alert (21), TLS 1.2, length 2, level fatal (2), handshake_failure (40).
      sock.end(Buffer.from([21, 3, 3, 0, 2, 2, 40]));
    });
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(opts.port, opts.host, () => resolve());
  });
  return { close: () => close(srv) };
}

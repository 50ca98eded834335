/**
 * The HTTP JSON API, described by the OpenAPI document it serves at /openapi.json:
 *   POST /v1/flows/search, GET /v1/flows   flow search, Hubble's filter model, cursor pagination
 *   GET  /v1/graph                         service dependency graph of a window
 *   GET  /v1/top-talkers                   busiest workloads or pairs
 *   GET  /v1/drops                         drops by reason over time
 *   POST /v1/sql                           read-only SQL for analysts
 *   GET  /v1/status, /v1/nodes, /v1/namespaces, /healthz
 * One error handler at the edge: every failure is `{"error": {"code", "message"}}` with the status errors.ts maps.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { LookbackError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { createAnalytics } from './analytics.js';
import type { Authorize } from './auth.js';
import type { QueryApiConfig } from './config.js';
import { mapError } from './errors.js';
import type { FlowStore } from './flow-store.js';
import type { TlsFiles } from './grpc-server.js';
import { createHttpRoutes, type Route } from './http-routes.js';
import type { Inventory } from './inventory.js';
import { createSqlEndpoint } from './sql-endpoint.js';

export interface HttpServerOptions {
  cfg: QueryApiConfig;
  store: FlowStore;
  inventory: Inventory;
  authorize: Authorize;
  tls: TlsFiles | null;
  log: Logger;
}

export interface RunningHttpServer {
  port: number;
  stop(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  if (req.method !== 'POST') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new LookbackError('invalid_argument', `the request body is larger than ${maxBytes} bytes (limits.httpMaxBodyBytes)`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new LookbackError('invalid_argument', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { cfg, store, log } = opts;
  const analytics = createAnalytics(store.client, store.settings);
  const sql = createSqlEndpoint(store.client, cfg.clickhouse.database, {
    maxResultRows: cfg.sql.maxResultRows, maxResultBytes: cfg.sql.maxResultBytes, maxExecutionTimeMs: cfg.sql.maxExecutionTime,
    maxMemoryUsage: cfg.sql.maxMemoryUsage, maxQueryBytes: 100_000,
  });
  const routes: Route[] = createHttpRoutes({ cfg, store, inventory: opts.inventory, analytics, sql: cfg.sql.enabled ? sql : null });

  let active = 0;
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = routes.find((r) => r.path === url.pathname);
      if (!route) throw new LookbackError('not_found', `no such endpoint: ${url.pathname} (the API is described at /openapi.json)`);
      if (!route.methods.includes(req.method ?? '')) {
        send(res, 405, { error: { code: 'method_not_allowed', message: `${url.pathname} accepts ${route.methods.join(', ')}` } }, { allow: route.methods.join(', ') });
        return;
      }
      if (!route.public) opts.authorize(req.headers.authorization);
      if (active >= cfg.limits.maxConcurrentQueries) throw new LookbackError('resource_exhausted', `too many requests in progress (limits.maxConcurrentQueries = ${cfg.limits.maxConcurrentQueries}); retry shortly`);
      active++;
      try {
        const body = await readBody(req, cfg.limits.httpMaxBodyBytes);
        const result = await route.handle({ query: url.searchParams, body, signal: abort.signal });
        send(res, 200, result);
      } finally {
        active--;
      }
    } catch (err) {
      if (abort.signal.aborted && res.writableEnded) return;
      const m = mapError(err);
      if (m.http >= 500) log.warn('request failed', { url: req.url, error: m.message });
      const headers: Record<string, string> = m.http === 401 ? { 'www-authenticate': 'Bearer' } : {};
      // A body we stopped reading (too large) leaves the connection unusable: tell the client not to reuse it.
      if (!req.complete) headers['connection'] = 'close';
      send(res, m.http, { error: { code: m.code, message: m.message } }, headers);
    }
  };
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => void handler(req, res);
  const server = opts.tls
    ? https.createServer({
        cert: fs.readFileSync(opts.tls.cert),
        key: fs.readFileSync(opts.tls.key),
        ...(opts.tls.clientCa ? { ca: fs.readFileSync(opts.tls.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
      }, listener)
    : http.createServer(listener);
  server.requestTimeout = 5 * 60_000;
  server.headersTimeout = 30_000;
  const colon = cfg.http.listen.lastIndexOf(':');
  const host = cfg.http.listen.slice(0, colon);
  const port = Number(cfg.http.listen.slice(colon + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new LookbackError('unavailable', `HTTP cannot listen on ${cfg.http.listen}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

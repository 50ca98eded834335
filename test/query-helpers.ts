/**
 * What the query API tests share: a query API started on free ports over a test database, a gRPC Observer client
 * that collects a GetFlows stream, and where the real hubble CLI is (scripts/setup-hubble.sh builds it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../common/config.js';
import { silentLogger } from '../common/log.js';
import { queryApiSpec, type QueryApiConfig } from '../query-api/config.js';
import { startQueryApi, type QueryApi } from '../query-api/index.js';
import { loadHubbleGrpc } from '../schemas/proto-loader.js';

type Obj = Record<string, unknown>;

export async function startTestApi(db: { url: string; database: string }, overrides: Obj = {}): Promise<{ api: QueryApi; cfg: QueryApiConfig }> {
  const base: Obj = {
    clickhouse: { url: db.url, database: db.database },
    grpc: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    follow: { enabled: false },
  };
  for (const [k, v] of Object.entries(overrides)) base[k] = { ...(base[k] as Obj | undefined), ...(v as Obj) };
  const cfg = parseConfig(queryApiSpec, base);
  return { api: await startQueryApi(cfg, { log: silentLogger }), cfg };
}

export function observerClient(port: number, creds = grpc.credentials.createInsecure()): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const { ObserverClient } = loadHubbleGrpc();
  return new ObserverClient(`127.0.0.1:${port}`, creds) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
}

export interface Collected {
  responses: Obj[];
  error: grpc.ServiceError | null;
}

/** Runs GetFlows to its end (or error) and returns every response. */
export function collectFlows(client: grpc.Client & Record<string, (...args: unknown[]) => unknown>, req: Obj, metadata = new grpc.Metadata()): Promise<Collected> {
  return new Promise((resolve) => {
    const responses: Obj[] = [];
    const stream = client['GetFlows']!(req, metadata) as grpc.ClientReadableStream<Obj>;
    stream.on('data', (d: Obj) => responses.push(d));
    stream.on('error', (error: grpc.ServiceError) => resolve({ responses, error }));
    stream.on('end', () => resolve({ responses, error: null }));
  });
}

export function unaryCall(client: grpc.Client & Record<string, (...args: unknown[]) => unknown>, method: string, req: Obj = {}, metadata = new grpc.Metadata()): Promise<Obj> {
  return new Promise((resolve, reject) => {
    client[method]!(req, metadata, (err: grpc.ServiceError | null, res: Obj) => (err ? reject(err) : resolve(res)));
  });
}

/** The hubble CLI built by scripts/setup-hubble.sh, or null when it is not there. */
export function hubbleBinary(): string | null {
  const cache = process.env['LOOKBACK_CACHE'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'lookback');
  const candidates = [process.env['LOOKBACK_HUBBLE_BIN'] ?? '', ...(fs.existsSync(cache) ? fs.readdirSync(cache).filter((d) => d.startsWith('hubble-')).sort().reverse().map((d) => path.join(cache, d, 'hubble')) : [])];
  return candidates.find((c) => c !== '' && fs.existsSync(c)) ?? null;
}

export const HUBBLE_MISSING = 'the hubble CLI is not built: run `bash scripts/setup-hubble.sh` (Go module proxy, a few minutes once)';

/** Hubble's compact line: `TIME: SRC (ID) ARROW DST (ID) TYPE VERDICT (SUMMARY)`. */
export const COMPACT_LINE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: \S+ \([^)]+\) (->|<-|<>) \S+ \([^)]+\) .+ [A-Z]+ \(.*\)$/;

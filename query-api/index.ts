/**
 * The query API service: builds its components in order (ClickHouse client, flow store, inventory, live tail,
 * gRPC, HTTP) and stops them in reverse. `lookback query-api` (cli/query-api.ts) is its command.
 */
import type * as grpc from '@grpc/grpc-js';
import { createClickHouse } from '../common/clickhouse/client.js';
import { verifySchema } from '../common/clickhouse/migrate.js';
import { silentLogger, type Logger } from '../common/log.js';
import { OBSERVER_HEALTH_SERVICE } from '../schemas/proto-loader.js';
import { createAuthorizer } from './auth.js';
import type { QueryApiConfig } from './config.js';
import { createFlowStore } from './flow-store.js';
import { startGrpcServer, type RunningGrpcServer } from './grpc-server.js';
import { startHttpServer, type RunningHttpServer } from './http-server.js';
import { createInventory } from './inventory.js';
import { createLiveTail, type LiveTail } from './live-tail.js';
import { createHealthHandlers, createObserverHandlers } from './observer.js';

export const QUERY_API_VERSION = 'lookback-0.1.0';

export interface QueryApi {
  /** Bound ports (useful with port 0); 0 when a server is disabled. */
  grpcPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export interface QueryApiDeps {
  log?: Logger;
  /** Skip the schema check (benchmarks that own their database). */
  skipSchemaCheck?: boolean;
}

export async function startQueryApi(cfg: QueryApiConfig, deps: QueryApiDeps = {}): Promise<QueryApi> {
  const log = deps.log ?? silentLogger;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn('stopping a component failed', { error: (err as Error).message });
      }
    }
    stops.length = 0;
  };
  try {
    const client = createClickHouse(cfg.clickhouse);
    stops.push(() => client.close());
    if (!deps.skipSchemaCheck) await verifySchema(client, { database: cfg.clickhouse.database });
    const l = cfg.limits;
    const store = createFlowStore(client, {
      maxTimeRangeMs: l.maxTimeRange, maxFlowsPerStream: l.maxFlowsPerStream, maxNewest: l.maxNewest,
      queryTimeoutMs: l.queryTimeout, maxMemoryUsage: l.maxMemoryUsage,
    });
    const inventory = createInventory(client, { windowMs: 24 * 3_600_000, cacheMs: 2000, settings: store.settings });
    let liveTail: LiveTail | null = null;
    if (cfg.follow.enabled) {
      liveTail = await createLiveTail({ ...cfg.follow, store, log: log.child('follow') });
      const tail = liveTail;
      stops.push(() => tail.close());
    }
    const authorize = createAuthorizer(cfg.access.token);
    const authorizeGrpc = (m: grpc.Metadata): void => authorize(m.get('authorization')[0]?.toString());
    const tls = cfg.access.tlsCert ? { cert: cfg.access.tlsCert, key: cfg.access.tlsKey, clientCa: cfg.access.tlsClientCa } : null;

    let grpcServer: RunningGrpcServer | null = null;
    if (cfg.grpc.enabled) {
      grpcServer = await startGrpcServer({
        listen: cfg.grpc.listen,
        tls,
        observer: createObserverHandlers({ store, inventory, liveTail, log: log.child('observer'), version: QUERY_API_VERSION, authorize: authorizeGrpc, maxConcurrentStreams: l.maxConcurrentQueries }),
        health: createHealthHandlers(authorizeGrpc, [OBSERVER_HEALTH_SERVICE, 'observer.Observer']),
        maxReceiveBytes: l.httpMaxBodyBytes,
      });
      const g = grpcServer;
      stops.push(() => g.stop());
      log.info('Observer gRPC listening', { address: cfg.grpc.listen, port: g.port, tls: tls !== null });
    }
    let httpServer: RunningHttpServer | null = null;
    if (cfg.http.enabled) {
      httpServer = await startHttpServer({ cfg, store, inventory, authorize, tls, log: log.child('http') });
      const h = httpServer;
      stops.push(() => h.stop());
      log.info('HTTP API listening', { address: cfg.http.listen, port: h.port, tls: tls !== null });
    }
    return { grpcPort: grpcServer?.port ?? 0, httpPort: httpServer?.port ?? 0, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

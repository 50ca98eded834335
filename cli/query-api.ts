import { createLogger } from '../common/log.js';
import { queryApiSpec } from '../query-api/config.js';
import { startQueryApi } from '../query-api/index.js';
import { commandConfig, parseCommandArgs } from './args.js';

/**
 * `lookback query-api --config FILE`: Hubble's Observer API (gRPC, default 127.0.0.1:4245) and the HTTP JSON API
 * over the flows ingest stored. Stops cleanly on SIGINT/SIGTERM.
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {});
  const cfg = commandConfig(queryApiSpec, values, 'usage: lookback query-api [--config FILE] [--set key=value]... [--check] [--help-config]');
  if (typeof cfg === 'number') return cfg;
  const log = createLogger('query-api');
  const api = await startQueryApi(cfg, { log });
  process.stdout.write(`query-api: gRPC on ${cfg.grpc.enabled ? api.grpcPort : 'off'}, HTTP on ${cfg.http.enabled ? api.httpPort : 'off'}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info('stopping', { signal });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await api.stop();
  return 0;
}

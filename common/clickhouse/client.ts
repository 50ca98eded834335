import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { section, str, duration, int } from '../config.js';
import type { ConfigOf } from '../config.js';

/** The ClickHouse connection every service declares in its config under `clickhouse:`. */
export const clickhouseSpec = {
  url: str('http://127.0.0.1:8123', { pattern: /^https?:\/\/[^\s/]+(\/.*)?$/, describe: 'an http(s)://host:port URL', doc: 'ClickHouse HTTP endpoint' }),
  database: str('lookback', { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, describe: 'an identifier (letters, digits, _)' }),
  username: str('default'),
  password: str(''),
  requestTimeout: duration('60s', { min: 1000, max: 3_600_000 }),
  maxOpenConnections: int(10, { min: 1, max: 1000 }),
};
export const clickhouseSection = section(clickhouseSpec, { doc: 'ClickHouse connection' });
export type ClickHouseConfig = ConfigOf<typeof clickhouseSpec>;

export function createClickHouse(cfg: ClickHouseConfig, opts: { database?: boolean } = {}): ClickHouseClient {
  return createClient({
    url: cfg.url,
    username: cfg.username,
    password: cfg.password,
    // Services talk to their own database; migrations create it, so they connect without one.
    ...(opts.database === false ? {} : { database: cfg.database }),
    request_timeout: cfg.requestTimeout,
    max_open_connections: cfg.maxOpenConnections,
    application: 'lookback',
  });
}

import { Readable } from 'node:stream';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';

/**
 * Sends a ready-made body (RowBinary, or any format the query names) as one INSERT through `exec`, which is the
 * only way @clickhouse/client sends RowBinary. The response is drained, not destroyed, so the kept-alive socket
 * can be reused. Resolves once ClickHouse has acknowledged the insert.
 */
export async function insertBody(client: ClickHouseClient, query: string, body: Buffer, settings: ClickHouseSettings = {}, abortSignal?: AbortSignal): Promise<{ queryId: string }> {
  const res = await client.exec({
    query,
    values: Readable.from([body], { objectMode: false }),
    clickhouse_settings: settings,
    ...(abortSignal ? { abort_signal: abortSignal } : {}),
  });
  // The body of an INSERT's response is empty; reading it to the end returns the socket to the pool.
  for await (const _ of res.stream) {
    // nothing to read
  }
  return { queryId: res.query_id };
}

/**
 * What ServerStatus, GetNodes and GetNamespaces report: nodes and namespaces seen in a recent window, flow counts,
 * the flow rate of the last minute. Nodes and namespaces come from ingest's inventory tables (schemas/clickhouse/
 * 0002_ingest.sql: one row per key, merged by ClickHouse, so they are read with min/max/sum GROUP BY), counts from
 * the raw table; everything is cached for a few seconds: `hubble status` and UIs poll these.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';

export interface NodeInfo {
  /** Hubble's node name, `cluster/node`. */
  name: string;
  version: string;
  flows: number;
  lastSeenMs: number;
}

export interface NamespaceInfo { cluster: string; namespace: string }

export interface StatusInfo {
  /** Flows in the raw table now. */
  numFlows: number;
  /** Flows ingest ever stored, as the inventory counts them (kept longer than raw flows). */
  seenFlows: number;
  flowsLastMinute: number;
  nodes: NodeInfo[];
}

export interface Inventory {
  status(): Promise<StatusInfo>;
  nodes(): Promise<NodeInfo[]>;
  namespaces(): Promise<NamespaceInfo[]>;
}

export interface InventoryOptions {
  /** How far back a node or namespace counts as present. */
  windowMs: number;
  cacheMs: number;
  settings: ClickHouseSettings;
}

function cached<T>(ms: number, load: () => Promise<T>): () => Promise<T> {
  let value: { at: number; p: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!value || now - value.at > ms) {
      const p = load();
      value = { at: now, p };
      p.catch(() => { value = undefined; });
    }
    return value.p;
  };
}

export function createInventory(client: ClickHouseClient, opts: InventoryOptions): Inventory {
  const window = `toIntervalSecond(${Math.ceil(opts.windowMs / 1000)})`;
  const q = async <T>(query: string): Promise<T[]> => {
    const rs = await client.query({ query, format: 'JSONEachRow', clickhouse_settings: opts.settings });
    return rs.json<T>();
  };
  const nodes = cached(opts.cacheMs, async () => {
    const rows = await q<{ cluster: string; node: string; flows: string; last: string }>(
      `SELECT cluster_name AS cluster, node_name AS node, sum(flows) AS flows, toString(toUnixTimestamp(max(last_seen)) * 1000) AS last
       FROM inventory_nodes GROUP BY cluster, node HAVING max(last_seen) >= now() - ${window} ORDER BY cluster, node`,
    );
    return rows.map((r) => ({
      name: r.node.includes('/') || r.cluster === '' ? r.node : `${r.cluster}/${r.node}`,
      version: '',
      flows: Number(r.flows),
      lastSeenMs: Number(r.last),
    }));
  });
  const namespaces = cached(opts.cacheMs, async () => {
    return q<NamespaceInfo>(
      `SELECT cluster_name AS cluster, namespace FROM inventory_namespaces
       GROUP BY cluster, namespace HAVING max(last_seen) >= now() - ${window} ORDER BY cluster, namespace`,
    );
  });
  const counts = cached(opts.cacheMs, async () => {
    const [row] = await q<{ total: string; seen: string; minute: string }>(
      `SELECT (SELECT count() FROM flows) AS total, (SELECT sum(flows) FROM inventory_nodes) AS seen,
              (SELECT count() FROM flows WHERE time >= now64(9) - toIntervalSecond(60)) AS minute`,
    );
    const numFlows = Number(row?.total ?? 0);
    return { numFlows, seenFlows: Math.max(numFlows, Number(row?.seen ?? 0)), flowsLastMinute: Number(row?.minute ?? 0) };
  });
  return {
    nodes,
    namespaces,
    async status() {
      const [c, n] = await Promise.all([counts(), nodes()]);
      return { ...c, nodes: n };
    },
  };
}

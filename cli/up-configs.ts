/**
 * The config files `lookback up` writes for its services (validated by each service at its start, like any
 * deploy file): the stack's endpoints, the ports chosen, and what differs from a production default on one machine.
 */
import { dropReasons } from '../bpf/index.js';
import type { Demo } from '../demo/index.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';
import type { UpPorts } from './up-ports.js';
import type { UpConfig } from './up.js';

/**
 * Kernel drop reasons that are the host TCP stack's bookkeeping (duplicate or stale segments, closed sockets), not
 * packets the network refused: Hubble would never show them, and on loopback our own Kafka and ClickHouse
 * traffic makes a steady stream of them. Only names this kernel knows are passed (the probe rejects others).
 */
const HOST_STACK_DROP_REASONS = [
  'NOT_SPECIFIED', 'TCP_OLD_SEQUENCE', 'TCP_OLD_DATA', 'TCP_OLD_ACK', 'TCP_TOO_OLD_ACK', 'TCP_ABORT_ON_DATA', 'TCP_OFOMERGE',
  'TCP_OFO_DROP', 'TCP_OFO_QUEUE_PRUNE', 'TCP_RFC7323_PAWS', 'TCP_RFC7323_PAWS_ACK', 'TCP_RFC7323_TW_PAWS', 'TCP_RFC7323_TSECR',
  'TCP_INVALID_SEQUENCE', 'TCP_INVALID_END_SEQUENCE', 'TCP_INVALID_ACK_SEQUENCE', 'TCP_CLOSE', 'TCP_RESET', 'TCP_ZEROWINDOW',
  'TCP_ACK_UNSENT_DATA', 'SOCKET_CLOSE', 'SOCKET_RCVBUFF', 'UNIX_DISCONNECT', 'UNIX_SKIP_OOB', 'QUEUE_PURGE', 'PACKET_SOCK_ERROR',
];

function dropIgnoreReasons(): string[] {
  const known = new Set(dropReasons().values());
  return HOST_STACK_DROP_REASONS.filter((r) => known.has(r));
}

export function collectorConfig(cfg: UpConfig, p: UpPorts, brokers: string[], demo: Demo | undefined): Record<string, unknown> {
  return {
    node: { name: cfg.node.name, cluster: cfg.node.cluster },
    capture: {
      ...(demo
        ? { endpointInterfaces: demo.hostInterfaces, networkInterfaces: [] }
        : { endpointInterfaces: cfg.capture.endpointInterfaces, networkInterfaces: cfg.capture.networkInterfaces }),
      dropIgnoreReasons: dropIgnoreReasons(),
    },
    ...(demo ? { enrichment: { source: 'inventory', inventoryFile: demo.inventoryFile } } : {}),
    observer: { address: '127.0.0.1', port: p.observer },
    metrics: { address: '127.0.0.1', port: p.collectorMetrics },
    // lz4 as in production (the collector's default): every consumer registers common/kafka-codecs.ts.
    kafka: { brokers, topic: DEFAULT_FLOW_TOPIC, partitions: cfg.kafkaPartitions, compression: 'lz4' },
  };
}

export function ingestConfig(cfg: UpConfig, p: UpPorts, brokers: string[], clickhouseUrl: string): Record<string, unknown> {
  return {
    // One local worker: a short session, so a restart after a killed run rejoins the group quickly.
    kafka: { brokers, topic: DEFAULT_FLOW_TOPIC, topicPartitions: cfg.kafkaPartitions, sessionTimeout: '10s', heartbeatInterval: '1s' },
    clickhouse: { url: clickhouseUrl, database: cfg.database },
    retention: cfg.retention,
    metrics: { host: '127.0.0.1', port: p.ingestMetrics },
    // A local stop should be quick; what a cut-short drain did not commit is read again at the next start
    // (inserts are deduplicated).
    shutdownTimeout: '10s',
  };
}

export function queryApiConfig(cfg: UpConfig, p: UpPorts, brokers: string[], clickhouseUrl: string): Record<string, unknown> {
  return {
    clickhouse: { url: clickhouseUrl, database: cfg.database },
    grpc: { listen: `127.0.0.1:${p.grpc}` },
    http: { listen: `127.0.0.1:${p.http}` },
    follow: { brokers, topic: DEFAULT_FLOW_TOPIC },
  };
}

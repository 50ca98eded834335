/**
 * The collector's configuration: one typed object of component sections with defaults, validated once at
 * start-up (common/config.ts names the key, the bad value and what is allowed). `lookback collector
 * --help-config` prints every key; docker-compose checks validate deploy files against this spec.
 */
import os from 'node:os';
import { bool, duration, int, list, oneOf, section, str, type ConfigOf, type Field } from '../common/config.js';
import { LookbackError } from '../common/errors.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';

/** Hubble's ring sizes: 2^n - 1 slots (one slot of the 2^n array is never readable). */
function ringCapacity(def: number): Field<number> {
  const base = int(def, { min: 1, max: (1 << 24) - 1, doc: 'flows kept for the live Observer: 2^n - 1 (Hubble default 4095)' });
  const allowed = 'an integer 2^n - 1 from 1 to 16777215 (1, 3, 7, ..., 4095, 8191, ...)';
  return {
    ...base,
    allowed,
    parse(value, path) {
      const n = base.parse(value, path);
      if (((n + 1) & n) !== 0) {
        throw new LookbackError('config', `config: ${path} = ${JSON.stringify(value)} is not valid: allowed ${allowed}`);
      }
      return n;
    },
  };
}

const port = (def: number, doc: string): Field<number> => int(def, { min: 0, max: 65535, doc });

export const collectorSpec = {
  node: section({
    name: str(os.hostname(), { doc: 'the node name written into every flow (Hubble: node_name)' }),
    cluster: str('default', { doc: 'the cluster name (cluster_name, and endpoints without one)' }),
    labels: list(str(''), [], { doc: "the node's labels as key=value (node_labels)" }),
  }),
  source: section({
    kind: oneOf('probe', ['probe', 'replay'] as const, { doc: 'probe: the eBPF probe on this kernel; replay: recorded probe batches from replayFile' }),
    replayFile: str('', { doc: 'a file written by the replay recorder (source.kind=replay)' }),
    recordFile: str('', { doc: 'with the probe: also write its raw batches to this replay file' }),
  }),
  capture: section({
    endpointInterfaces: list(str(''), ['lxc*', 'veth*'], { doc: "glob patterns of pods' host-side interfaces (ingress = from the pod)" }),
    networkInterfaces: list(str(''), [], { doc: "glob patterns of the node's uplinks (ingress = from the network)" }),
    rescanInterval: duration('2s', { min: 100, doc: 'how often new interfaces are looked for and attached' }),
    attachMode: oneOf('auto', ['auto', 'tcx', 'tc'] as const),
    ringBytes: int(8 << 20, { min: 4096, max: 1 << 30, doc: 'kernel ring buffer, a power of two' }),
    flowTableSize: int(65536, { min: 64, max: 1 << 24 }),
    snapLength: int(256, { min: 0, max: 1024, doc: 'payload bytes captured for L7 parsing' }),
    activeTimeout: duration('30s', { doc: 'a live connection gets a counter update this often (0 = never)' }),
    idleTimeout: duration('60s', { min: 1, doc: 'a connection idle this long ends (EXPIRED)' }),
    closedIdleTimeout: duration('5s', { doc: 'a closed TCP connection is removed after this long' }),
    sweepInterval: duration('5s', { doc: 'how often idle connections are looked for' }),
    coalesce: duration('5ms', { max: 1000, doc: 'wait this long after a wake-up so one batch carries many records' }),
    // QUEUE_PURGE: packets already delivered to a socket that closed before reading them, not a network drop.
    dropIgnoreReasons: list(str(''), ['NOT_SPECIFIED', 'SKB_CONSUMED', 'QUEUE_PURGE'], { doc: 'kernel drop reasons (without SKB_DROP_REASON_) that are noise' }),
  }),
  flows: section({
    connectionTableSize: int(262_144, { min: 1024, max: 1 << 24, doc: 'connections tracked for dedupe, deltas and direction' }),
    endedGrace: duration('15s', { doc: 'how long an ended connection is remembered so the other interface does not revive it' }),
  }),
  l7: section({
    dnsPorts: list(int(53, { min: 1, max: 65535 }), [53]),
    httpPorts: list(int(80, { min: 1, max: 65535 }), [80, 8080]),
    kafkaPorts: list(int(9092, { min: 1, max: 65535 }), [9092]),
    httpHeaders: list(str(''), [], { doc: 'HTTP headers copied into flows (case-insensitive names)' }),
    pendingTimeout: duration('30s', { min: 1, doc: 'a request without a response is forgotten after this long' }),
    maxPending: int(65_536, { min: 16, doc: 'requests awaiting a response, in all' }),
  }),
  enrichment: section({
    source: oneOf('none', ['none', 'inventory', 'kubernetes'] as const, { doc: 'where pods, services and nodes come from' }),
    inventoryFile: str('', { doc: 'the static inventory (YAML), reloaded when it changes' }),
    inventoryReloadInterval: duration('1s', { min: 50 }),
    kubeconfig: str('', { doc: 'empty: in-cluster service account, else KUBECONFIG or ~/.kube/config' }),
    reconnectBackoff: duration('1s', { min: 10, doc: 'first wait before re-watching after an error (doubles up to 30s)' }),
  }),
  dns: section({
    cacheSize: int(65_536, { min: 16, max: 1 << 24, doc: 'IP addresses remembered with their DNS names' }),
    maxNamesPerIp: int(8, { min: 1, max: 256 }),
    minTtl: duration('0s', { doc: 'names are kept at least this long' }),
    maxTtl: duration('1h', { doc: 'and at most this long, whatever the answer said' }),
  }),
  ring: section({
    capacity: ringCapacity(4095),
  }),
  observer: section({
    enabled: bool(true),
    address: str('127.0.0.1', { doc: 'listen address of the Observer gRPC server' }),
    port: port(4244, 'Hubble\'s port; 0 picks a free one'),
  }),
  kafka: section({
    enabled: bool(true),
    brokers: list(str(''), ['127.0.0.1:9092'], { minItems: 1 }),
    clientId: str('lookback-collector'),
    topic: str(DEFAULT_FLOW_TOPIC, { pattern: /^[A-Za-z0-9._-]{1,249}$/, describe: 'a Kafka topic name' }),
    createTopic: bool(true, { doc: 'create the topic with the admin API when absent (brokers run with auto-create off)' }),
    partitions: int(6, { min: 1, max: 10_000 }),
    replicationFactor: int(1, { min: 1, max: 100 }),
    compression: oneOf('lz4', ['none', 'gzip', 'lz4', 'zstd'] as const),
    batchSize: int(2000, { min: 1, max: 100_000, doc: 'messages per produce request' }),
    linger: duration('50ms', { max: 60_000, doc: 'wait this long for a batch to fill' }),
    queueCapacity: int(200_000, { min: 1, doc: 'flows waiting to be sent; beyond, new flows are counted as lost' }),
    queueMaxBytes: int(256 << 20, { min: 1024, doc: 'encoded bytes waiting to be sent' }),
    idempotent: bool(true, { doc: 'idempotent producer (no duplicates when a send is retried)' }),
    retryBackoffMin: duration('200ms', { min: 1 }),
    retryBackoffMax: duration('10s', { min: 1 }),
    requestTimeout: duration('30s', { min: 100 }),
    framing: oneOf('single-object', ['single-object', 'confluent'] as const, { doc: 'Avro single-object encoding, or Confluent framing with a registry' }),
    registryUrl: str('', { doc: 'Confluent-compatible schema registry (framing=confluent)' }),
  }),
  metrics: section({
    enabled: bool(true),
    address: str('127.0.0.1'),
    port: port(9965, 'Hubble\'s metrics port; 0 picks a free one'),
    contextLabels: list(oneOf('source_namespace', ['source_namespace', 'source_pod', 'source_workload', 'source_app', 'destination_namespace', 'destination_pod', 'destination_workload', 'destination_app'] as const), ['source_namespace', 'destination_namespace'], { doc: 'extra labels on the per-flow families (Hubble context options)' }),
    seriesTtl: duration('10m', { min: 1000, doc: 'a series not updated this long is removed' }),
    maxSeriesPerFamily: int(5000, { min: 10, doc: 'beyond, new label sets are folded into one "overflow" series' }),
  }),
};

export type CollectorConfig = ConfigOf<typeof collectorSpec>;

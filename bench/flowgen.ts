/**
 * A realistic synthetic flow generator, deterministic for a seed: a Kubernetes cluster of nodes, namespaces,
 * workloads (Deployments, StatefulSets, DaemonSets) with replica pods, services and Cilium-style label sets; a
 * dependency graph between workloads; connections whose talkers follow a Zipf-like distribution; TCP connection
 * events (NEW, ESTABLISHED, periodic UPDATE deltas, CLOSED/RESET), DNS/HTTP/Kafka L7 records, policy drops,
 * egress to the world with DNS names, some IPv6. Times are spread evenly over [start, end) with nanosecond jitter.
 *
 *   generateFlows({ seed, count, start, end })     yields Flow objects (schemas/flow-types.ts)
 *   generateRowBinary({ ..., batchRows })          yields RowBinary bodies for the flows table (the fast path)
 *   insertGeneratedFlows(client, database, opts)   loads them into ClickHouse (seeding, disk figures)
 *   createTopology(opts)                           the cluster the flows come from (for assertions and pickers)
 *
 * Endpoints, label arrays and other per-pod values are shared, deep-frozen objects, as the collector's caches
 * hand them out: treat generated flows as read-only. Run directly (`node dist/bench/flowgen.js`), it prints its
 * own speed and the mix it produces.
 */
import { pathToFileURL } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  deepFreeze, TCP_FLAG, type DropReason, type Endpoint, type Flow, type FlowEvent, type Service, type TraceReason,
} from '../schemas/flow-types.js';
import { FLOW_INSERT_COLUMN_LIST } from '../common/flow-row.js';
import { RowBinaryWriter } from '../ingest/row-binary.js';
import { writeFlowRow } from '../ingest/flow-row-binary.js';
import { PERMISSIVE_LIMITS } from '../ingest/limits.js';
import { insertBody } from '../ingest/clickhouse-insert.js';

export interface FlowGenOptions {
  /** Same seed, same options: the same flows, byte for byte. Default 1. */
  seed?: number;
  /** How many flows. */
  count: number;
  /** First event time: bigint nanoseconds, number milliseconds, or a Date. Default: `end` minus one hour. */
  start?: bigint | number | Date;
  /** End of the time range (exclusive). Default: now, rounded down to the minute (pass it for reproducible output). */
  end?: bigint | number | Date;
  /** Cluster name. Default 'prod-eu1'. */
  cluster?: string;
  /** Nodes in the cluster. Default 12. */
  nodes?: number;
  /** Namespaces. Default 24. */
  namespaces?: number;
  /** Connections open at any time; each emits several events. Default 3000. */
  activeConnections?: number;
  /** Zipf exponent of the talker distribution (higher: a few workloads make most flows). Default 1.1. */
  zipf?: number;
  /** Shares of connection kinds (normalised). */
  mix?: Partial<Record<ConnectionKind, number>>;
  /** Share of in-cluster connections over IPv6. Default 0.1. */
  ipv6Share?: number;
}

export type ConnectionKind = 'tcp' | 'http' | 'dns' | 'kafka' | 'drop' | 'external';

/** Default mix of connection kinds. Per flow it makes about 10% DNS, 7% HTTP and 2.5% Kafka records, 1.4% drops, 8% IPv6, 16% to or from the world. */
export const DEFAULT_MIX: Record<ConnectionKind, number> = { tcp: 0.3, http: 0.2, dns: 0.42, kafka: 0.015, drop: 0.05, external: 0.1 };

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness: sfc32, seeded through splitmix32.

export interface Rng {
  /** [0, 1) */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [min, max]. */
  range(min: number, max: number): number;
  pick<T>(arr: readonly T[]): T;
  chance(p: number): boolean;
  /** Standard normal. */
  gauss(): number;
  /** 32 random bits. */
  u32(): number;
}

export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  let spare: number | undefined;
  const rng: Rng = {
    u32,
    next: () => u32() / 4294967296,
    int: (n) => Math.floor((u32() / 4294967296) * n),
    range: (min, max) => min + Math.floor((u32() / 4294967296) * (max - min + 1)),
    pick: (arr) => arr[Math.floor((u32() / 4294967296) * arr.length)] as (typeof arr)[number],
    chance: (p) => u32() / 4294967296 < p,
    gauss: () => {
      if (spare !== undefined) {
        const v = spare;
        spare = undefined;
        return v;
      }
      let u = 0;
      while (u === 0) u = u32() / 4294967296;
      const v = u32() / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
  return rng;
}

/** Cumulative weights of a Zipf distribution over n ranks; sample with `sampleCumulative`. */
function zipfCumulative(n: number, s: number): Float64Array {
  const cum = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / Math.pow(i + 1, s);
    cum[i] = total;
  }
  for (let i = 0; i < n; i++) cum[i] = (cum[i] as number) / total;
  return cum;
}

function sampleCumulative(cum: Float64Array, u: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((cum[mid] as number) < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------------------------
// The cluster.

export interface NodeInfo {
  name: string;
  labels: readonly string[];
  index: number;
  /** The kernel's socket cookie counter on this node. */
  cookie: number;
}

export interface WorkloadInfo {
  namespace: string;
  name: string;
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  /** Default port its service listens on, and what speaks there. */
  port: number;
  protocol: 'http' | 'kafka' | 'dns' | 'tcp';
  identity: number;
  service: Service | null;
  pods: PodInfo[];
  /** Indexes into Topology.workloads of the workloads it calls, most called first. */
  calls: number[];
}

export interface PodInfo {
  name: string;
  node: NodeInfo;
  ipv4: Buffer;
  ipv6: Buffer;
  mac: number;
  cgroupId: number;
  interface: { index: number; name: string };
  /** The endpoint as flows carry it (deep-frozen, shared). */
  endpoint: Endpoint;
}

export interface ExternalInfo {
  name: string;
  ips: Buffer[];
  port: number;
}

export interface Topology {
  cluster: string;
  nodes: NodeInfo[];
  namespaces: string[];
  workloads: WorkloadInfo[];
  externals: ExternalInfo[];
  world: Endpoint;
}

const NAMESPACES = [
  'kube-system', 'shop', 'payments', 'checkout', 'catalog', 'search', 'users', 'auth', 'orders', 'shipping',
  'inventory', 'notifications', 'recommendations', 'analytics', 'monitoring', 'logging', 'ingress-nginx',
  'cert-manager', 'kafka', 'postgres', 'redis', 'argocd', 'data-pipeline', 'billing', 'media', 'reporting',
];
const APP_NAMES = [
  'api', 'web', 'frontend', 'backend', 'worker', 'gateway', 'scheduler', 'consumer', 'producer', 'indexer', 'sync',
  'admin', 'graphql', 'grpc-server', 'cache-warmer', 'exporter', 'importer', 'webhook', 'cron-runner', 'auth-proxy',
];
const HASH_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const EXTERNAL_NAMES = [
  'api.stripe.com.', 'sqs.eu-west-1.amazonaws.com.', 's3.eu-west-1.amazonaws.com.', 'api.github.com.',
  'hooks.slack.com.', 'oauth2.googleapis.com.', 'api.sendgrid.com.', 'registry-1.docker.io.', 'sentry.io.',
  'api.segment.io.', 'login.microsoftonline.com.', 'api.twilio.com.',
];
const HTTP_PATHS = ['/api/v1/items', '/api/v1/cart', '/api/v2/orders', '/healthz', '/metrics', '/api/v1/users', '/graphql', '/api/v1/search', '/login', '/api/v1/payments'];
const HTTP_METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE'];
const KAFKA_TOPICS = ['orders', 'payments', 'events', 'clicks', 'audit', 'notifications', 'inventory-updates'];
const KAFKA_KEYS = ['produce', 'produce', 'fetch', 'fetch', 'fetch', 'metadata', 'offset-commit', 'heartbeat'];

function hashString(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HASH_CHARS[rng.int(HASH_CHARS.length)];
  return s;
}

function hex(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[rng.int(16)];
  return s;
}

export function createTopology(opts: Omit<FlowGenOptions, 'count'> = {}): Topology {
  const rng = createRng((opts.seed ?? 1) ^ 0x5bd1e995);
  const cluster = opts.cluster ?? 'prod-eu1';
  const nodeCount = opts.nodes ?? 12;
  const nsCount = opts.namespaces ?? 24;
  const zones = ['a', 'b', 'c'];
  const nodes: NodeInfo[] = Array.from({ length: nodeCount }, (_, i) => {
    const name = `worker-${String(i + 1).padStart(2, '0')}`;
    return {
      name, index: i, cookie: 4096 + rng.int(1 << 20),
      labels: deepFreeze([
        'beta.kubernetes.io/arch=amd64', 'kubernetes.io/arch=amd64', `kubernetes.io/hostname=${name}`, 'kubernetes.io/os=linux',
        'node.kubernetes.io/instance-type=m6i.2xlarge', 'topology.kubernetes.io/region=eu-west-1', `topology.kubernetes.io/zone=eu-west-1${zones[i % 3]}`,
      ]),
    };
  });
  const namespaces = Array.from({ length: nsCount }, (_, i) => NAMESPACES[i] ?? `team-${String(i).padStart(2, '0')}`);
  const identities = new Set<number>();
  const newIdentity = (): number => {
    for (;;) {
      const id = rng.range(10_000, 65_535);
      if (!identities.has(id)) {
        identities.add(id);
        return id;
      }
    }
  };
  let podSeq = 0;
  const makePods = (w: Omit<WorkloadInfo, 'pods'>, replicas: number): PodInfo[] => {
    const template = hashString(rng, 10);
    const labels = deepFreeze([
      `k8s:app.kubernetes.io/name=${w.name}`,
      `k8s:app.kubernetes.io/part-of=${w.namespace}`,
      `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${w.namespace}`,
      `k8s:io.cilium.k8s.policy.cluster=${cluster}`,
      `k8s:io.cilium.k8s.policy.serviceaccount=${w.name}`,
      `k8s:io.kubernetes.pod.namespace=${w.namespace}`,
      ...(rng.chance(0.5) ? [`k8s:team=${w.namespace.split('-')[0]}`] : []),
      ...(rng.chance(0.4) ? [`k8s:version=v${rng.range(1, 4)}.${rng.range(0, 20)}`] : []),
    ]);
    const workloads = deepFreeze([{ name: w.name, kind: w.kind }]);
    return Array.from({ length: replicas }, (_, r) => {
      const node = w.kind === 'DaemonSet' ? (nodes[r % nodes.length] as NodeInfo) : (nodes[rng.int(nodes.length)] as NodeInfo);
      const name = w.kind === 'StatefulSet' ? `${w.name}-${r}` : w.kind === 'DaemonSet' ? `${w.name}-${hashString(rng, 5)}` : `${w.name}-${template}-${hashString(rng, 5)}`;
      const host = 2 + (podSeq++ % 250);
      const ipv4 = Buffer.from([10, 244, node.index, host]);
      const ipv6 = Buffer.from(`fd000010024400${node.index.toString(16).padStart(2, '0')}00000000000000${host.toString(16).padStart(2, '0')}`, 'hex');
      return {
        name, node, ipv4, ipv6,
        mac: 0x0a58_0000_0000 + ipv4.readUInt32BE(0),
        cgroupId: 10_000 + rng.int(1 << 24),
        interface: deepFreeze({ index: 8 + rng.int(400), name: `lxc${hex(rng, 12)}` }),
        endpoint: deepFreeze({ identity: w.identity, cluster_name: cluster, namespace: w.namespace, pod_name: name, labels, workloads }),
      };
    });
  };
  const workloads: WorkloadInfo[] = [];
  const add = (namespace: string, name: string, kind: WorkloadInfo['kind'], port: number, protocol: WorkloadInfo['protocol'], replicas: number): void => {
    const base = { namespace, name, kind, port, protocol, identity: newIdentity(), calls: [] as number[], service: kind === 'DaemonSet' ? null : deepFreeze({ name, namespace }) };
    workloads.push({ ...base, pods: makePods(base, replicas) });
  };
  // Platform workloads every cluster has.
  add('kube-system', 'coredns', 'Deployment', 53, 'dns', 2);
  add('kube-system', 'metrics-server', 'Deployment', 443, 'http', 1);
  add('kube-system', 'cilium', 'DaemonSet', 4240, 'tcp', nodes.length);
  for (const ns of namespaces) {
    if (ns === 'kube-system') continue;
    if (ns === 'kafka') { add(ns, 'kafka', 'StatefulSet', 9092, 'kafka', 3); continue; }
    if (ns === 'postgres') { add(ns, 'postgres', 'StatefulSet', 5432, 'tcp', 2); continue; }
    if (ns === 'redis') { add(ns, 'redis-master', 'StatefulSet', 6379, 'tcp', 1); add(ns, 'redis-replicas', 'StatefulSet', 6379, 'tcp', 2); continue; }
    if (ns === 'monitoring') { add(ns, 'prometheus', 'StatefulSet', 9090, 'http', 2); add(ns, 'node-exporter', 'DaemonSet', 9100, 'http', nodes.length); continue; }
    if (ns === 'logging') { add(ns, 'fluent-bit', 'DaemonSet', 2020, 'http', nodes.length); add(ns, 'loki', 'StatefulSet', 3100, 'http', 2); continue; }
    const n = rng.range(2, 6);
    const names = new Set<string>();
    while (names.size < n) names.add(rng.pick(APP_NAMES));
    for (const app of names) add(ns, app, 'Deployment', rng.chance(0.8) ? 8080 : rng.pick([80, 3000, 9000, 50051]), 'http', 1 + Math.floor(Math.pow(rng.next(), 3) * 8));
  }
  // Dependencies: popular workloads are called more (a Zipf over a shuffled order), same-namespace calls favoured.
  const order = workloads.map((_, i) => ({ i, k: rng.next() })).sort((a, b) => a.k - b.k).map((x) => x.i);
  const popularity = zipfCumulative(order.length, 1.0);
  const byName = (ns: string, name: string): number => workloads.findIndex((w) => w.namespace === ns && w.name === name);
  const infra = ['kafka/kafka', 'postgres/postgres', 'redis/redis-master'].map((s) => byName(...(s.split('/') as [string, string]))).filter((i) => i >= 0);
  workloads.forEach((w, wi) => {
    if (w.kind === 'DaemonSet') {
      const prom = byName('monitoring', 'prometheus');
      const loki = byName('logging', 'loki');
      if (w.name === 'fluent-bit' && loki >= 0) w.calls.push(loki);
      if (w.name === 'cilium') w.calls.push(byName('kube-system', 'metrics-server'));
      if (prom >= 0 && w.name === 'node-exporter') w.calls.push(prom);
      return;
    }
    const calls = new Set<number>();
    const same = workloads.map((x, i) => (x.namespace === w.namespace && i !== wi ? i : -1)).filter((i) => i >= 0);
    for (const i of same) if (rng.chance(0.6)) calls.add(i);
    const extra = rng.range(1, 4);
    for (let k = 0; k < extra; k++) {
      const target = order[sampleCumulative(popularity, rng.next())] as number;
      if (target !== wi && workloads[target]!.kind !== 'DaemonSet') calls.add(target);
    }
    if (infra.length && rng.chance(0.5)) calls.add(rng.pick(infra));
    w.calls = [...calls];
    if (w.calls.length === 0) w.calls.push(infra[0] ?? 0);
  });
  const externals: ExternalInfo[] = EXTERNAL_NAMES.map((name) => ({
    name, port: 443,
    ips: Array.from({ length: rng.range(2, 8) }, () => Buffer.from([rng.pick([3, 13, 18, 34, 52, 54, 104, 140, 151, 185]), rng.int(256), rng.int(256), 1 + rng.int(254)])),
  }));
  const world = deepFreeze({ identity: 2, cluster_name: '', namespace: '', pod_name: '', labels: ['reserved:world'], workloads: [] });
  return { cluster, nodes, namespaces, workloads, externals, world };
}

// ---------------------------------------------------------------------------------------------------------------
// Connections and their events.

interface Connection {
  kind: ConnectionKind;
  src: PodInfo;
  dst: PodInfo | null;
  dstWorkload: WorkloadInfo | null;
  external: ExternalInfo | null;
  externalIp: Buffer | null;
  /** Observed at the source's node (EGRESS) or the destination's (INGRESS). */
  egress: boolean;
  v6: boolean;
  sport: number;
  dport: number;
  firstSeen: bigint;
  cookie: number | null;
  srttBase: number;
  /** Events left, and how many were emitted. */
  left: number;
  emitted: number;
  dnsName: string;
  ip: Flow['ip'];
  replyIp: Flow['ip'];
  ethernet: Flow['ethernet'];
  replyEthernet: Flow['ethernet'];
}

function toNs(t: bigint | number | Date): bigint {
  if (typeof t === 'bigint') return t;
  if (t instanceof Date) return BigInt(t.getTime()) * 1_000_000n;
  return BigInt(Math.round(t)) * 1_000_000n;
}

const DROP_REASONS: Array<[DropReason, string, number]> = [
  ['POLICY_DENIED', 'NETFILTER_DROP', 0.7], ['STALE_OR_UNROUTABLE_IP', 'IP_OUTNOROUTES', 0.1],
  ['CT_MAP_INSERTION_FAILED', 'NOMEM', 0.05], ['SERVICE_BACKEND_NOT_FOUND', 'NO_SOCKET', 0.1], ['POLICY_DENY', 'NETFILTER_DROP', 0.05],
];

const EMITTER = deepFreeze({ name: 'lookback', version: '0.1.0' });
const EMPTY: readonly string[] = deepFreeze([]);
const SUMMARY: Record<string, string> = {
  NEW: 'TCP Flags: SYN', ESTABLISHED: 'TCP Flags: SYN, ACK', UPDATE: 'TCP Flags: ACK, PSH', CLOSED: 'TCP Flags: ACK, FIN', RESET: 'TCP Flags: RST',
};
const FLAGS: Record<string, number> = {
  NEW: TCP_FLAG.SYN, ESTABLISHED: TCP_FLAG.SYN | TCP_FLAG.ACK, UPDATE: TCP_FLAG.ACK | TCP_FLAG.PSH, CLOSED: TCP_FLAG.ACK | TCP_FLAG.FIN, RESET: TCP_FLAG.RST | TCP_FLAG.ACK,
};

/** A generator of flows for the options; `next()` returns the next flow, `topology` the cluster behind them. */
export function createFlowGenerator(opts: FlowGenOptions): { topology: Topology; next(): Flow; readonly emitted: number } {
  const seed = opts.seed ?? 1;
  const rng = createRng(seed);
  const topology = createTopology(opts);
  const endNs = opts.end !== undefined ? toNs(opts.end) : BigInt(Math.floor(Date.now() / 60_000) * 60_000) * 1_000_000n;
  const startNs = opts.start !== undefined ? toNs(opts.start) : endNs - 3_600_000_000_000n;
  if (endNs <= startNs) throw new RangeError('flowgen: end must be after start');
  const count = Math.max(1, opts.count);
  const stepNs = Number(endNs - startNs) / count;
  const mix = { ...DEFAULT_MIX, ...opts.mix };
  const kinds = Object.keys(mix) as ConnectionKind[];
  const kindCum = new Float64Array(kinds.length);
  {
    const total = kinds.reduce((s, k) => s + mix[k], 0);
    let acc = 0;
    kinds.forEach((k, i) => { acc += mix[k] / total; kindCum[i] = acc; });
  }
  const ipv6Share = opts.ipv6Share ?? 0.1;
  const talkers = topology.workloads.map((_, i) => i).filter((i) => topology.workloads[i]!.calls.length > 0);
  // Talker ranks in a seeded shuffled order, so the busiest workload is not always the first one.
  const talkerOrder = talkers.map((i) => ({ i, k: rng.next() })).sort((a, b) => a.k - b.k).map((x) => x.i);
  const talkerCum = zipfCumulative(talkerOrder.length, opts.zipf ?? 1.1);
  const coredns = topology.workloads.find((w) => w.protocol === 'dns') as WorkloadInfo;
  const kafkaWl = topology.workloads.find((w) => w.protocol === 'kafka') ?? null;

  let emitted = 0;
  let nowNs = startNs;

  function newConnection(): Connection {
    let kind = kinds[sampleCumulative(kindCum, rng.next())] as ConnectionKind;
    if (kind === 'kafka' && !kafkaWl) kind = 'tcp';
    const srcWl = topology.workloads[talkerOrder[sampleCumulative(talkerCum, rng.next())] as number] as WorkloadInfo;
    const src = rng.pick(srcWl.pods);
    let dstWl: WorkloadInfo | null = null;
    let external: ExternalInfo | null = null;
    if (kind === 'dns') dstWl = coredns;
    else if (kind === 'kafka') dstWl = kafkaWl;
    else if (kind === 'external') external = rng.pick(topology.externals);
    else {
      const calls = srcWl.calls;
      dstWl = topology.workloads[calls[Math.min(calls.length - 1, Math.floor(Math.pow(rng.next(), 2) * calls.length))] as number] as WorkloadInfo;
      if (kind === 'http' && dstWl.protocol !== 'http') kind = 'tcp';
    }
    const dst = dstWl ? rng.pick(dstWl.pods) : null;
    const v6 = kind !== 'external' && rng.chance(ipv6Share);
    const egress = dst === null || rng.chance(0.6);
    const sameNode = dst !== null && dst.node === src.node;
    const left = kind === 'dns' ? 2
      : kind === 'drop' ? rng.range(1, 4)
        : kind === 'http' ? rng.range(3, 12)
          : kind === 'kafka' ? rng.range(10, 60)
            : rng.chance(0.3) ? rng.range(8, 80) : rng.range(2, 5);
    const local = egress ? src : (dst as PodInfo);
    const externalIp = external ? rng.pick(external.ips) : null;
    const sIp = v6 ? src.ipv6 : src.ipv4;
    const dIp = dst ? (v6 ? dst.ipv6 : dst.ipv4) : (externalIp as Buffer);
    const ipVersion = v6 ? 'IPv6' : 'IPv4';
    const ip = deepFreeze({ source: sIp, destination: dIp, source_xlated: null, ip_version: ipVersion, encrypted: false } as const);
    const replyIp = deepFreeze({ source: dIp, destination: sIp, source_xlated: null, ip_version: ipVersion, encrypted: false } as const);
    const dMac = dst ? dst.mac : 0x0a58_0af4_0001;
    const c: Connection = {
      kind, src, dst, dstWorkload: dstWl, external, externalIp, egress, v6,
      sport: kind === 'dns' ? rng.range(32768, 60999) : rng.range(32768, 60999),
      dport: dstWl ? dstWl.port : (external as ExternalInfo).port,
      firstSeen: nowNs,
      cookie: kind !== 'dns' && kind !== 'drop' && rng.chance(0.6) ? (local.node.cookie += rng.range(1, 40)) : null,
      srttBase: external ? rng.range(5_000, 80_000) : sameNode ? rng.range(30, 120) : rng.range(150, 900),
      left, emitted: 0,
      dnsName: dstWl ? `${rng.pick(topology.workloads).name}.${rng.pick(topology.namespaces)}.svc.cluster.local.` : '',
      ip, replyIp,
      ethernet: deepFreeze({ source: src.mac, destination: dMac }),
      replyEthernet: deepFreeze({ source: dMac, destination: src.mac }),
    };
    if (kind === 'dns' && rng.chance(0.3)) c.dnsName = rng.pick(EXTERNAL_NAMES);
    return c;
  }

  const poolSize = Math.max(1, opts.activeConnections ?? 3000);
  const pool: Connection[] = Array.from({ length: poolSize }, newConnection);

  // UUIDv7, as the collector makes them (collector/uuid.ts): 48-bit Unix ms, a 12-bit counter within the ms,
  // 62 random bits.
  let uuidMs = -1;
  let uuidCounter = 0;
  function uuid(): Buffer {
    const ms = Number(nowNs / 1_000_000n);
    if (ms <= uuidMs) uuidCounter = (uuidCounter + 1) & 0xfff;
    else {
      uuidMs = ms;
      uuidCounter = 0;
    }
    const u = Buffer.allocUnsafe(16);
    u.writeUInt32BE(Math.floor(ms / 0x10000) >>> 0, 0);
    u.writeUInt16BE(ms & 0xffff, 4);
    u.writeUInt16BE(0x7000 | uuidCounter, 6);
    u.writeUInt32BE(rng.u32(), 8);
    u.writeUInt32BE(rng.u32(), 12);
    u[8] = 0x80 | ((u[8] as number) & 0x3f);
    return u;
  }

  function lognormal(median: number, sigma: number): number {
    return Math.max(1, Math.round(median * Math.exp(sigma * rng.gauss())));
  }

  function base(c: Connection, reply: boolean): Flow {
    const localPod = c.egress ? c.src : (c.dst as PodInfo);
    const srcEp = c.src.endpoint;
    const dstEp = c.dst ? c.dst.endpoint : topology.world;
    const names = c.external ? [c.external.name] : EMPTY;
    const service = c.dstWorkload?.service ?? null;
    return {
      time_ns: nowNs,
      uuid: uuid(),
      emitter: EMITTER,
      node_name: localPod.node.name,
      node_labels: localPod.node.labels as string[],
      cluster_name: topology.cluster,
      flow_type: 'L3_L4',
      verdict: 'FORWARDED',
      drop_reason_desc: null,
      drop_reason_kernel: null,
      flow_event: 'UPDATE',
      ethernet: reply ? c.replyEthernet : c.ethernet,
      ip: reply ? c.replyIp : c.ip,
      l4_protocol: 6,
      source_port: reply ? c.dport : c.sport,
      destination_port: reply ? c.sport : c.dport,
      tcp_flags: 0,
      icmp_type: 0,
      icmp_code: 0,
      source: reply ? dstEp : srcEp,
      destination: reply ? srcEp : dstEp,
      source_service: reply ? service : null,
      destination_service: reply ? null : service,
      source_names: (reply ? names : EMPTY) as string[],
      destination_names: (reply ? EMPTY : names) as string[],
      l7: null,
      traffic_direction: c.egress ? 'EGRESS' : 'INGRESS',
      is_reply: reply,
      trace_observation_point: c.egress ? 'TO_STACK' : 'TO_ENDPOINT',
      trace_reason: reply ? 'REPLY' : 'ESTABLISHED',
      interface: localPod.interface,
      event_type: c.egress ? TRACE_TO_STACK : TRACE_TO_ENDPOINT,
      summary: '',
      first_seen_ns: c.firstSeen,
      last_seen_ns: nowNs,
      bytes_fwd: 0,
      packets_fwd: 0,
      bytes_rev: 0,
      packets_rev: 0,
      sampling_rate: 1,
      socket_cookie: c.cookie,
      cgroup_id: localPod.cgroupId,
      tcp_srtt_us: null,
    };
  }

  function counters(f: Flow, medianBytes: number, revFactor: number): void {
    f.bytes_fwd = lognormal(medianBytes, 1.2);
    f.packets_fwd = Math.max(1, Math.round(f.bytes_fwd / rng.range(200, 1400)));
    f.bytes_rev = revFactor > 0 ? lognormal(medianBytes * revFactor, 1.4) : 0;
    f.packets_rev = f.bytes_rev > 0 ? Math.max(1, Math.round(f.bytes_rev / rng.range(300, 1448))) : 0;
  }

  function tcpEvent(c: Connection, f: Flow): void {
    const ev: FlowEvent = c.emitted === 0 ? 'NEW' : c.emitted === 1 ? 'ESTABLISHED' : c.left === 1 ? (rng.chance(0.9) ? 'CLOSED' : 'RESET') : 'UPDATE';
    f.flow_event = ev;
    f.tcp_flags = FLAGS[ev] as number;
    f.summary = SUMMARY[ev] as string;
    f.trace_reason = (ev === 'NEW' ? 'NEW' : 'ESTABLISHED') as TraceReason;
    f.is_reply = false;
    if (ev === 'NEW') {
      f.bytes_fwd = 60 + (c.v6 ? 20 : 0);
      f.packets_fwd = 1;
    } else {
      counters(f, c.kind === 'kafka' ? 40_000 : 3_000, c.kind === 'external' ? 6 : 3);
    }
    f.last_seen_ns = nowNs - BigInt(rng.int(250_000_000));
    if (f.last_seen_ns < c.firstSeen) f.last_seen_ns = c.firstSeen;
    f.tcp_srtt_us = ev === 'NEW' ? null : Math.round(c.srttBase * (0.7 + rng.next() * 0.8));
  }

  function next(): Flow {
    const slot = rng.int(poolSize);
    const c = pool[slot] as Connection;
    nowNs = startNs + BigInt(Math.floor(stepNs * emitted + rng.next() * stepNs));
    let f: Flow;
    switch (c.kind) {
      case 'dns': {
        const reply = c.emitted === 1;
        f = base(c, reply);
        f.l4_protocol = 17;
        f.flow_type = 'L7';
        f.event_type = L7_EVENT;
        f.trace_reason = reply ? 'REPLY' : 'NEW';
        f.cgroup_id = f.socket_cookie = null;
        f.bytes_fwd = 70 + c.dnsName.length;
        f.packets_fwd = 1;
        const external = c.dnsName.endsWith('.com.') || c.dnsName.endsWith('.io.');
        const ips = reply ? (external ? [Buffer.from([52, rng.int(256), rng.int(256), 1 + rng.int(254)])] : [c.dst ? c.dst.ipv4 : Buffer.from([10, 96, 0, 10])]) : [];
        const nx = reply && rng.chance(0.04);
        f.l7 = {
          type: reply ? 'RESPONSE' : 'REQUEST',
          latency_ns: reply ? rng.range(80_000, 4_000_000) : 0,
          dns: {
            query: c.dnsName, ips: nx ? [] : ips, ttl: reply ? (external ? rng.range(20, 300) : 30) : 0, cnames: EMPTY as string[],
            observation_source: 'lookback', rcode: nx ? 3 : 0, qtypes: rng.chance(0.5) ? QTYPE_A : QTYPE_AAAA, rrtypes: reply && !nx ? QTYPE_A : (EMPTY as string[]),
          },
          http: null,
          kafka: null,
        };
        f.summary = reply ? `DNS Answer "${c.dnsName}" TTL: ${f.l7.dns!.ttl}` : `DNS Query ${c.dnsName} ${f.l7.dns!.qtypes[0]}`;
        break;
      }
      case 'drop': {
        f = base(c, false);
        f.verdict = 'DROPPED';
        f.flow_event = 'FLOW_EVENT_UNKNOWN';
        const u = rng.next();
        let acc = 0;
        let reason = DROP_REASONS[0] as [DropReason, string, number];
        for (const r of DROP_REASONS) { acc += r[2]; if (u < acc) { reason = r; break; } }
        f.drop_reason_desc = reason[0];
        f.drop_reason_kernel = reason[1];
        f.event_type = { type: 1, sub_type: 133 };
        f.tcp_flags = TCP_FLAG.SYN;
        f.summary = 'TCP Flags: SYN';
        f.trace_reason = 'NEW';
        f.is_reply = null;
        f.bytes_fwd = 60;
        f.packets_fwd = 1;
        f.last_seen_ns = nowNs;
        break;
      }
      case 'http': {
        if (c.emitted < 2 || c.left === 1 || rng.chance(0.3)) {
          f = base(c, false);
          tcpEvent(c, f);
          break;
        }
        const reply = rng.chance(0.5);
        f = base(c, reply);
        f.flow_type = 'L7';
        f.event_type = L7_EVENT;
        const path = rng.pick(HTTP_PATHS);
        const method = rng.pick(HTTP_METHODS);
        const host = c.dstWorkload ? `${c.dstWorkload.name}.${c.dstWorkload.namespace}` : 'unknown';
        const url = `http://${host}:${c.dport}${path}${rng.chance(0.4) ? `?id=${rng.int(100_000)}` : ''}`;
        const code = reply ? (rng.chance(0.93) ? 200 : rng.pick([201, 204, 301, 400, 401, 403, 404, 500, 502, 503])) : 0;
        f.l7 = {
          type: reply ? 'RESPONSE' : 'REQUEST',
          latency_ns: reply ? lognormal(8_000_000, 1.0) : 0,
          dns: null,
          http: { code, method, url, protocol: 'HTTP/1.1', headers: HTTP_HEADERS },
          kafka: null,
        };
        f.summary = reply ? `HTTP/1.1 ${code} ${Math.round(f.l7.latency_ns / 1e6)}ms (${method} ${url})` : `HTTP/1.1 ${method} ${url}`;
        f.tcp_srtt_us = Math.round(c.srttBase * (0.7 + rng.next() * 0.8));
        break;
      }
      case 'kafka': {
        if (c.emitted < 2 || c.left === 1 || rng.chance(0.5)) {
          f = base(c, false);
          tcpEvent(c, f);
          break;
        }
        f = base(c, false);
        f.flow_type = 'L7';
        f.event_type = L7_EVENT;
        const apiKey = rng.pick(KAFKA_KEYS);
        const topic = rng.pick(KAFKA_TOPICS);
        f.l7 = {
          type: 'REQUEST', latency_ns: 0, dns: null, http: null,
          kafka: { error_code: rng.chance(0.99) ? 0 : rng.pick([3, 6, 7]), api_version: rng.range(3, 9), api_key: apiKey, correlation_id: c.emitted, topic, client_id: `${c.src.endpoint.workloads[0]?.name ?? 'client'}-${c.sport % 100}` },
        };
        f.summary = `Kafka request ${apiKey} correlation id ${c.emitted} topic '${topic}'`;
        break;
      }
      default:
        f = base(c, false);
        tcpEvent(c, f);
    }
    c.emitted++;
    c.left--;
    if (c.left <= 0) pool[slot] = newConnection();
    emitted++;
    return f;
  }

  return { topology, next, get emitted() { return emitted; } };
}

const TRACE_TO_STACK = deepFreeze({ type: 4, sub_type: 3 });
const TRACE_TO_ENDPOINT = deepFreeze({ type: 4, sub_type: 0 });
const L7_EVENT = deepFreeze({ type: 129, sub_type: 0 });
const QTYPE_A = deepFreeze(['A']) as string[];
const QTYPE_AAAA = deepFreeze(['AAAA']) as string[];
const HTTP_HEADERS = deepFreeze([{ key: 'user-agent', value: 'Go-http-client/1.1' }]) as Array<{ key: string; value: string }>;

/** `count` flows for the options, in time order. */
export function* generateFlows(opts: FlowGenOptions): Generator<Flow> {
  const gen = createFlowGenerator(opts);
  for (let i = 0; i < opts.count; i++) yield gen.next();
}

/** The same flows as RowBinary bodies of at most `batchRows` rows for `INSERT INTO flows ${FLOW_INSERT_COLUMN_LIST}`. */
export function* generateRowBinary(opts: FlowGenOptions & { batchRows?: number }): Generator<{ rows: number; body: Buffer }> {
  const gen = createFlowGenerator(opts);
  const batchRows = opts.batchRows ?? 100_000;
  const w = new RowBinaryWriter(batchRows * 700);
  let left = opts.count;
  while (left > 0) {
    const n = Math.min(batchRows, left);
    w.reset();
    for (let i = 0; i < n; i++) writeFlowRow(w, gen.next(), PERMISSIVE_LIMITS);
    left -= n;
    // A copy: the writer is reused for the next batch.
    yield { rows: n, body: Buffer.from(w.finish()) };
  }
}

/**
 * Generates flows and inserts them straight into `database.table` (default flows, or the flows_ingest landing
 * table to feed the roll-ups too) with RowBinary. Returns the rows inserted.
 */
export async function insertGeneratedFlows(client: ClickHouseClient, database: string, opts: FlowGenOptions & { batchRows?: number; table?: string; onBatch?: (rows: number) => void }): Promise<number> {
  let total = 0;
  for (const { rows, body } of generateRowBinary(opts)) {
    await insertBody(client, `INSERT INTO ${database}.${opts.table ?? 'flows'} ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, body, { max_partitions_per_insert_block: '1000' });
    total += rows;
    opts.onBatch?.(total);
  }
  return total;
}

// Run directly: print the generator's speed and mix.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.env['FLOWGEN_COUNT'] ?? 1_000_000);
  const end = Date.UTC(2026, 0, 1);
  const gen = createFlowGenerator({ seed: 1, count: n, start: end - 3_600_000, end });
  const t0 = process.hrtime.bigint();
  const tally = { l7dns: 0, l7http: 0, l7kafka: 0, drops: 0, v6: 0, world: 0, reply: 0 };
  for (let i = 0; i < n; i++) {
    const f = gen.next();
    if (f.l7?.dns) tally.l7dns++;
    else if (f.l7?.http) tally.l7http++;
    else if (f.l7?.kafka) tally.l7kafka++;
    if (f.verdict === 'DROPPED') tally.drops++;
    if (f.ip?.ip_version === 'IPv6') tally.v6++;
    if (f.destination.identity === 2 || f.source.identity === 2) tally.world++;
    if (f.is_reply) tally.reply++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  const pct = (k: keyof typeof tally): string => `${((100 * tally[k]) / n).toFixed(1)}%`;
  const t = gen.topology;
  console.log(`flowgen: ${n} flows in ${((ns * n) / 1e9).toFixed(2)} s, ${ns.toFixed(0)} ns/flow; topology: ${t.nodes.length} nodes, ${t.namespaces.length} namespaces, ${t.workloads.length} workloads, ${t.workloads.reduce((s, w) => s + w.pods.length, 0)} pods`);
  console.log(`flowgen mix: DNS ${pct('l7dns')}, HTTP ${pct('l7http')}, Kafka ${pct('l7kafka')}, drops ${pct('drops')}, IPv6 ${pct('v6')}, world ${pct('world')}, replies ${pct('reply')}`);
  const t1 = process.hrtime.bigint();
  let bytes = 0;
  let rows = 0;
  for (const b of generateRowBinary({ seed: 1, count: n, start: end - 3_600_000, end })) { bytes += b.body.length; rows += b.rows; }
  const ns2 = Number(process.hrtime.bigint() - t1) / rows;
  console.log(`flowgen RowBinary: ${ns2.toFixed(0)} ns/flow (generate + encode), ${(bytes / rows).toFixed(0)} bytes/flow uncompressed`);
}

/**
 * The collector's Prometheus endpoint (default 127.0.0.1:9965, Hubble's port): Hubble's metric families with the
 * names and labels Hubble users know (hubble_flows_processed_total, hubble_drop_total, hubble_tcp_flags_total,
 * hubble_dns_*, hubble_http_*, hubble_port_distribution_total, hubble_icmp_total, hubble_lost_events_total),
 * context labels from the config (source/destination namespace, pod, workload, app), and the collector's own
 * health (lookback_collector_*: queue depth, kernel loss, publish latency and errors, ...).
 *
 * Cardinality stays bounded: every family has a series cap, a series not updated for seriesTtl goes away, and a
 * deleted pod's series go at once when pod labels are in use. Per-flow updates find their series through caches
 * keyed by the (frozen, shared) endpoint objects, not by building label strings.
 */
import { silentLogger, type Logger } from '../common/log.js';
import type { Endpoint, Flow } from '../schemas/flow-types.js';
import type { L7Stats } from './l7/tracker.js';
import type { PipelineMetrics } from './pipeline.js';
import { Registry, serveMetrics, type CounterSeries, type Family, type MetricsServer, type Series } from './prom/registry.js';
import type { LostEventSource } from './ring.js';
import { icmpSummary } from './summary.js';

export type ContextLabel =
  | 'source_namespace' | 'source_pod' | 'source_workload' | 'source_app'
  | 'destination_namespace' | 'destination_pod' | 'destination_workload' | 'destination_app';

export interface CollectorMetricsConfig {
  address: string;
  port: number;
  contextLabels: ContextLabel[];
  seriesTtlMs: number;
  maxSeriesPerFamily: number;
}

export interface HealthSnapshot {
  queueDepth: number;
  queueBytes: number;
  publishLost: number;
  kernelLost: number;
  connections: number;
  dnsCacheEntries: number;
  ringFlows: number;
  interfaces: number;
  duplicates: number;
  dropsIgnored: number;
  l7: L7Stats;
  records: Record<string, number>;
  pipelineErrors: number;
}

export interface CollectorMetrics extends PipelineMetrics {
  publishSend(seconds: number, messages: number, ok: boolean): void;
  podDeleted(namespace: string, name: string): void;
  readonly registry: Registry;
  /** The bound port (after start). */
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const TRACE_SUBTYPES = ['to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'from-endpoint', 'from-proxy', 'from-host', 'from-stack', 'from-overlay', 'from-network', 'to-network'];
const TCP_FLAG_NAMES: [number, string][] = [[0x01, 'FIN'], [0x04, 'RST'], [0x08, 'PSH'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR'], [0x100, 'NS']];
const PROTOCOL_NAMES: Record<number, string> = { 1: 'ICMPv4', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

function contextValue(label: ContextLabel, ep: Endpoint): string {
  switch (label.slice(label.indexOf('_') + 1)) {
    case 'namespace': return ep.namespace;
    case 'pod': return ep.pod_name;
    case 'workload': return ep.workloads[0]?.name ?? '';
    case 'app': {
      const l = ep.labels.find((x) => x.startsWith('k8s:app=') || x.startsWith('k8s:app.kubernetes.io/name='));
      return l ? l.slice(l.indexOf('=') + 1) : '';
    }
    default: return '';
  }
}

/**
 * The context label values of endpoints, interned: each endpoint maps (once) to a small id per side, the id of its
 * tuple of context values (its namespace, pod, ...). Endpoints are frozen objects shared by every flow of a pod,
 * so they key the Maps directly; a pair of ids is a number.
 */
class ContextIndex {
  private readonly ids: [Map<Endpoint, number>, Map<Endpoint, number>] = [new Map(), new Map()];
  private readonly tupleIds = new Map<string, number>();
  private readonly tuples: string[][] = [];
  constructor(private readonly labels: readonly ContextLabel[]) {}

  /**
   * The last two pairs looked up: a connection's flows tend to come together, both ways (requests and replies
   * alternate), so most lookups are one of these again.
   */
  private lastSource: Endpoint | null = null;
  private lastDestination: Endpoint | null = null;
  private lastPair = 0;
  private prevSource: Endpoint | null = null;
  private prevDestination: Endpoint | null = null;
  private prevPair = 0;

  /** The pair id of a flow's (source, destination) context. */
  pair(f: Flow): number {
    const src = f.source, dst = f.destination;
    if (src === this.lastSource && dst === this.lastDestination) return this.lastPair;
    let pair: number;
    if (src === this.prevSource && dst === this.prevDestination) pair = this.prevPair;
    else pair = this.side(0, src) * 65536 + this.side(1, dst);
    this.prevSource = this.lastSource;
    this.prevDestination = this.lastDestination;
    this.prevPair = this.lastPair;
    this.lastSource = src;
    this.lastDestination = dst;
    this.lastPair = pair;
    return pair;
  }

  /** The context label values of a pair id, in the order of the configured labels. */
  values(pair: number): string[] {
    const src = this.tuples[Math.floor(pair / 65536)] ?? [];
    const dst = this.tuples[pair % 65536] ?? [];
    let si = 0, di = 0;
    return this.labels.map((l) => (l.startsWith('source') ? src[si++] : dst[di++]) ?? '');
  }

  private side(which: 0 | 1, ep: Endpoint): number {
    const m = this.ids[which];
    let id = m.get(ep);
    if (id === undefined) {
      const prefix = which === 0 ? 'source' : 'destination';
      const vals = this.labels.filter((l) => l.startsWith(prefix)).map((l) => contextValue(l, ep));
      const k = vals.join('\u0001');
      id = this.tupleIds.get(k);
      if (id === undefined) {
        id = this.tuples.length % 65536;
        this.tupleIds.set(k, id);
        this.tuples[id] = vals;
      }
      m.set(ep, id);
    }
    return id;
  }

  clear(): void {
    this.lastSource = this.lastDestination = this.prevSource = this.prevDestination = null;
    this.ids[0].clear();
    this.ids[1].clear();
    if (this.tuples.length > 60_000) {
      this.tupleIds.clear();
      this.tuples.length = 0;
    }
  }
}

const RECENT_SERIES_BITS = 8;
const RECENT_SERIES = 1 << RECENT_SERIES_BITS;

/** Series of one family by (context pair, small numeric key), found without building strings. */
class PairCache<S extends Series> {
  private cache = new Map<number, Map<number, S>>();
  /**
   * Series found recently, direct-mapped by (pair, key): the flows of a batch use few series, and one slot costs a
   * hash and three comparisons where the Maps cost two lookups. (Only the last one, as before, missed for most
   * flows: a connection's flows alternate direction and kind.)
   */
  private readonly recentPair = new Float64Array(RECENT_SERIES).fill(-1);
  private readonly recentKey = new Float64Array(RECENT_SERIES).fill(-1);
  private readonly recentSeries: (S | null)[] = new Array<S | null>(RECENT_SERIES).fill(null);
  constructor(private readonly family: Family<S>, private readonly ctx: ContextIndex, private readonly labels: (key: number, f: Flow, ctx: string[]) => readonly string[]) {}

  get(f: Flow, key: number): S {
    const pair = this.ctx.pair(f);
    // Pairs and keys are non-negative integers below 2^53; ToInt32 (by Math.imul) of each is enough to spread them.
    const i = (Math.imul(pair, 0x9e3779b1) ^ Math.imul(key, 0x85ebca6b)) >>> (32 - RECENT_SERIES_BITS);
    const known = this.recentSeries[i]!;
    if (known !== null && this.recentPair[i] === pair && this.recentKey[i] === key && !known.removed) return known;
    const s = this.lookup(f, pair, key);
    this.recentPair[i] = pair;
    this.recentKey[i] = key;
    this.recentSeries[i] = s;
    return s;
  }

  private lookup(f: Flow, pair: number, key: number): S {
    let byKey = this.cache.get(pair);
    if (byKey === undefined) this.cache.set(pair, (byKey = new Map()));
    let s = byKey.get(key);
    if (s === undefined || s.removed) {
      s = this.family.child(this.labels(key, f, this.ctx.values(pair)));
      byKey.set(key, s);
    }
    return s;
  }

  clear(): void {
    this.cache = new Map();
    this.recentSeries.fill(null);
  }
}

/** Series by a small numeric key (label values derived from the flow on a miss). */
class KeyCache<S extends Series> {
  private cache = new Map<number, S>();
  constructor(private readonly family: Family<S>, private readonly labels: (f: Flow) => readonly string[]) {}
  get(f: Flow, key: number): S {
    let s = this.cache.get(key);
    if (s === undefined || s.removed) this.cache.set(key, (s = this.family.child(this.labels(f))));
    return s;
  }
  clear(): void {
    this.cache = new Map();
  }
}

export function createCollectorMetrics(cfg: CollectorMetricsConfig, deps: { health: () => HealthSnapshot; log?: Logger }): CollectorMetrics {
  const log = deps.log ?? silentLogger;
  const reg = new Registry({ maxSeries: cfg.maxSeriesPerFamily });
  const ctxNames = cfg.contextLabels;
  const ctxOf = (f: Flow): readonly string[] => ctxNames.map((l) => contextValue(l, l.startsWith('source') ? f.source : f.destination));

  const flowsProcessed = reg.counter('hubble_flows_processed_total', 'Total number of flows processed', ['type', 'subtype', 'verdict', ...ctxNames]);
  const drops = reg.counter('hubble_drop_total', 'Number of drops', ['reason', 'protocol', ...ctxNames]);
  const tcpFlags = reg.counter('hubble_tcp_flags_total', 'TCP flag occurrences', ['flag', 'family']);
  const ports = reg.counter('hubble_port_distribution_total', 'Numbers of packets distributed by destination port', ['protocol', 'port']);
  const icmp = reg.counter('hubble_icmp_total', 'Number of ICMP messages', ['family', 'type']);
  const dnsQueries = reg.counter('hubble_dns_queries_total', 'Number of DNS queries observed', ['rcode', 'qtypes', 'ips_returned', ...ctxNames]);
  const dnsResponses = reg.counter('hubble_dns_responses_total', 'Number of DNS responses observed', ['rcode', 'qtypes', 'ips_returned', ...ctxNames]);
  const dnsTypes = reg.counter('hubble_dns_response_types_total', 'Number of DNS response types', ['type', 'qtypes']);
  const httpRequests = reg.counter('hubble_http_requests_total', 'Count of HTTP requests', ['method', 'protocol', 'reporter', ...ctxNames]);
  const httpResponses = reg.counter('hubble_http_responses_total', 'Count of HTTP responses', ['method', 'protocol', 'status', 'reporter', ...ctxNames]);
  const httpDuration = reg.histogram('hubble_http_request_duration_seconds', 'Quantiles of HTTP request duration in seconds', ['method', 'reporter', ...ctxNames]);
  const lost = reg.counter('hubble_lost_events_total', 'Number of lost events', ['source']);

  const publishLatency = reg.histogram('lookback_collector_publish_latency_seconds', 'Time to send one batch to Kafka (acks=all)', ['result'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  const publishMessages = reg.counter('lookback_collector_publish_messages_total', 'Flows sent to Kafka', []);
  const publishErrors = reg.counter('lookback_collector_publish_errors_total', 'Failed sends to Kafka (each is retried)', []);
  const h = (): HealthSnapshot => deps.health();
  let snap: HealthSnapshot | undefined;
  const health = (): HealthSnapshot => (snap ??= h());
  reg.gauge('lookback_collector_queue_depth', 'Flows waiting to be sent to Kafka', [], () => health().queueDepth);
  reg.gauge('lookback_collector_queue_bytes', 'Encoded bytes waiting to be sent to Kafka', [], () => health().queueBytes);
  reg.counterFunc('lookback_collector_publish_lost_total', 'Flows dropped because the publish queue was full', [], () => health().publishLost);
  reg.counterFunc('lookback_collector_kernel_lost_total', 'Probe records the kernel could not queue (ring buffer full)', [], () => health().kernelLost);
  reg.counterFunc('lookback_collector_records_total', 'Probe records received, by kind', ['kind'], () => Object.entries(health().records).map(([k, v]) => [[k], v]));
  reg.counterFunc('lookback_collector_duplicate_observations_total', 'Probe records of a connection from an interface that does not own it (late reports; its packets are counted at the owner)', [], () => health().duplicates);
  reg.counterFunc('lookback_collector_drops_ignored_total', 'Kernel drops about neither a tracked connection nor a local pod (loopback, other namespaces)', [], () => health().dropsIgnored);
  reg.counterFunc('lookback_collector_l7_parse_errors_total', 'Payloads that could not be parsed, by protocol and reason', ['protocol', 'reason'], () => {
    const l7 = health().l7;
    const out: [string[], number][] = [];
    for (const reason of ['malformed', 'truncated'] as const) for (const [p, n] of Object.entries(l7[reason])) out.push([[p, reason], n]);
    return out;
  });
  reg.counterFunc('lookback_collector_l7_unmatched_total', 'L7 responses without their request', [], () => health().l7.unmatched);
  reg.counterFunc('lookback_collector_pipeline_errors_total', 'Batches whose processing failed and flows that could not be encoded (capture went on)', [], () => health().pipelineErrors);
  reg.gauge('lookback_collector_connections', 'Connections tracked', [], () => health().connections);
  reg.gauge('lookback_collector_dns_cache_entries', 'Addresses with DNS names', [], () => health().dnsCacheEntries);
  reg.gauge('lookback_collector_ring_flows', 'Events in the Observer ring', [], () => health().ringFlows);
  reg.gauge('lookback_collector_interfaces', 'Interfaces the probe is attached to', [], () => health().interfaces);

  // Per-flow caches.
  const VERDICTS = ['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'];
  const verdictIndex: Record<string, number> = Object.fromEntries(VERDICTS.map((v, i) => [v, i]));
  // The two verdicts the collector writes by comparison (interned literals: pointer comparisons), the rest by the
  // table: a keyed lookup with changing keys is a megamorphic property load.
  const verdictOf = (v: string): number => (v === 'FORWARDED' ? 1 : v === 'DROPPED' ? 2 : verdictIndex[v] ?? 0);
  const ctxIndex = new ContextIndex(ctxNames);
  const processed = new PairCache(flowsProcessed, ctxIndex, (key, _f, ctx) => {
    const type = Math.floor(key / 1000);
    const sub = Math.floor(key / 10) % 100;
    const typeName = ['Trace', 'Drop', 'L7'][type] ?? '';
    const subName = type === 0 ? TRACE_SUBTYPES[sub] ?? String(sub) : type === 2 ? ['DNS', 'HTTP', 'Kafka'][sub] ?? '' : '';
    return [typeName, subName, VERDICTS[key % 10] ?? '', ...ctx];
  });
  const dropCache = new PairCache(drops, ctxIndex, (key, f, ctx) => [f.drop_reason_desc ?? 'DROP_REASON_UNKNOWN', PROTOCOL_NAMES[key % 256] ?? String(key % 256), ...ctx]);
  const reasonIndex = new Map<string, number>();
  /** The series to increment for each (TCP flags, family): computed once per distinct value. */
  const flagSets: (CounterSeries[] | undefined)[] = [];
  const portCache = new KeyCache(ports, (f) => [PROTOCOL_NAMES[f.l4_protocol] ?? '', String(f.destination_port)]);
  const icmpCache = new KeyCache(icmp, (f) => {
    const text = icmpSummary(f.l4_protocol === 58, f.icmp_type, f.icmp_code);
    return [f.l4_protocol === 58 ? 'IPv6' : 'IPv4', text.slice(text.indexOf(' ') + 1)];
  });
  // HTTP series by endpoints and (method, protocol, status, reporter) as small numbers. Methods come from the
  // wire (any token a client sends), so the word table is bounded: past WORDS_MAX words, new ones share one id
  // (label "other"), which also keeps every id below the 4096 the key packs it into.
  const WORDS_MAX = 4095;
  const OTHER = WORDS_MAX;
  const words = new Map<string, number>();
  const wordList: string[] = [];
  const wordId = (w: string): number => {
    let id = words.get(w);
    if (id === undefined) {
      if (wordList.length >= WORDS_MAX) return OTHER;
      id = wordList.length;
      words.set(w, id);
      wordList.push(w);
    }
    return id;
  };
  const wordOf = (id: number): string => (id === OTHER ? 'other' : wordList[id] ?? '');
  const httpKey = (method: string, protocol: string, code: number, reporter: number): number => ((wordId(method) * 4096 + wordId(protocol)) * 1000 + code) * 2 + reporter;
  const unpack = (key: number): { method: string; protocol: string; code: number; reporter: string } => {
    const reporter = key % 2 ? 'server' : 'client';
    const rest = Math.floor(key / 2);
    const code = rest % 1000;
    const mp = Math.floor(rest / 1000);
    return { method: wordOf(Math.floor(mp / 4096)), protocol: wordOf(mp % 4096), code, reporter };
  };
  const httpReqCache = new PairCache(httpRequests, ctxIndex, (k, _f, ctx) => { const u = unpack(k); return [u.method, u.protocol, u.reporter, ...ctx]; });
  const httpRespCache = new PairCache(httpResponses, ctxIndex, (k, _f, ctx) => { const u = unpack(k); return [u.method, u.protocol, String(u.code), u.reporter, ...ctx]; });
  const httpDurCache = new PairCache(httpDuration, ctxIndex, (k, _f, ctx) => { const u = unpack(k); return [u.method, u.reporter, ...ctx]; });

  // DNS series by endpoints and (query types, rcode, answer count) as small numbers; labels made on a miss only.
  // DNS words (query types, record types) apart from the HTTP ones.
  const dnsWords = new Map<string, number>();
  const dnsWordList: string[] = [];
  const dnsWordId = (w: string): number => {
    let id = dnsWords.get(w);
    if (id === undefined) {
      id = dnsWordList.length;
      dnsWords.set(w, id);
      dnsWordList.push(w);
    }
    return id;
  };
  const qtypesOf = (key: number): string => dnsWordList[key] ?? '';
  const dnsQueryCache = new PairCache(dnsQueries, ctxIndex, (q, _f, ctx) => ['', qtypesOf(q), '0', ...ctx]);
  const dnsRespCache = new PairCache(dnsResponses, ctxIndex, (k, _f, ctx) => {
    const ips = k % 1024;
    const rest = Math.floor(k / 1024);
    return [rcodeName(rest % 65536), qtypesOf(Math.floor(rest / 65536)), String(ips), ...ctx];
  });
  let dnsTypeCache = new Map<number, CounterSeries>();
  /** hubble_dns_response_types_total by (record type, query types) word ids. */
  function dnsTypeSeries(key: number): CounterSeries {
    let s = dnsTypeCache.get(key);
    if (s === undefined || s.removed) {
      if (dnsTypeCache.size > 10_000) dnsTypeCache = new Map();
      dnsTypeCache.set(key, (s = dnsTypes.child([qtypesOf(Math.floor(key / 65536)), qtypesOf(key % 65536)])));
    }
    return s;
  }

  function flagSeriesFor(flags: number, v6: boolean): CounterSeries[] {
    const k = flags * 2 + (v6 ? 1 : 0);
    let list = flagSets[k];
    if (list === undefined || anyRemoved(list)) {
      const family = v6 ? 'IPv6' : 'IPv4';
      list = [];
      if (flags & 0x02) list.push(tcpFlags.child([flags & 0x10 ? 'SYN-ACK' : 'SYN', family]));
      for (const [bit, name] of TCP_FLAG_NAMES) if (flags & bit) list.push(tcpFlags.child([name, family]));
      flagSets[k] = list;
    }
    return list;
  }

  function observe(f: Flow): void {
    const vi = verdictOf(f.verdict);
    const l7 = f.l7;
    let key: number;
    if (l7 !== null) {
      key = 2000 + (l7.dns ? 0 : l7.http ? 10 : 20) + vi;
    } else if (vi === 2) {
      key = 1002;
      const reason = f.drop_reason_desc ?? 'DROP_REASON_UNKNOWN';
      let ri = reasonIndex.get(reason);
      if (ri === undefined) reasonIndex.set(reason, (ri = reasonIndex.size));
      dropCache.get(f, ri * 256 + f.l4_protocol).inc();
    } else {
      key = f.event_type.sub_type * 10 + vi;
    }
    processed.get(f, key).inc();
    if (l7 !== null) {
      observeL7(f);
      return;
    }
    const proto = f.l4_protocol;
    // Final events carry the flags of the whole connection, not of a packet: Hubble counts packets' flags.
    if (proto === 6 && f.tcp_flags !== 0 && !(vi === 1 && f.trace_reason === 'TRACE_REASON_UNKNOWN')) {
      const list = flagSeriesFor(f.tcp_flags, f.ip?.ip_version === 'IPv6');
      for (let i = 0; i < list.length; i++) list[i]!.inc();
    }
    if ((proto === 6 || proto === 17 || proto === 132) && f.is_reply === false && vi === 1) {
      portCache.get(f, f.destination_port * 256 + proto).inc();
    }
    if (proto === 1 || proto === 58) {
      icmpCache.get(f, (proto === 58 ? 0x10000 : 0) | (f.icmp_type << 8) | f.icmp_code).inc();
    }
  }

  function observeL7(f: Flow): void {
    const l7 = f.l7!;
    if (l7.dns) {
      const d = l7.dns;
      // One query type is the rule: its string is the label as is, nothing is joined.
      const qtypes = d.qtypes.length === 1 ? d.qtypes[0]! : d.qtypes.join(',');
      const q = dnsWordId(qtypes);
      // Cached while the numbers fit their slots in the key (always, short of a flood of odd query types).
      const cacheable = q < 65536 && dnsWordList.length < 65536 && d.rcode >= 0 && d.rcode < 65536 && d.ips.length < 1024;
      if (l7.type === 'REQUEST' && cacheable) {
        dnsQueryCache.get(f, q).inc();
      } else if (l7.type === 'REQUEST') {
        dnsQueries.child(['', qtypes, '0', ...ctxOf(f)]).inc();
      } else if (cacheable) {
        dnsRespCache.get(f, (q * 65536 + d.rcode) * 1024 + d.ips.length).inc();
        for (const t of d.rrtypes) dnsTypeSeries(dnsWordId(t) * 65536 + q).inc();
      } else {
        dnsResponses.child([rcodeName(d.rcode), qtypes, String(d.ips.length), ...ctxOf(f)]).inc();
        for (const t of d.rrtypes) dnsTypes.child([t, qtypes]).inc();
      }
    } else if (l7.http) {
      const x = l7.http;
      const rep = f.traffic_direction === 'INGRESS' ? 1 : 0;
      if (l7.type === 'REQUEST') {
        httpReqCache.get(f, httpKey(x.method, x.protocol, 0, rep)).inc();
      } else {
        httpRespCache.get(f, httpKey(x.method, x.protocol, x.code % 1000, rep)).inc();
        httpDurCache.get(f, httpKey(x.method, '', 0, rep)).observe(l7.latency_ns / 1e9);
      }
    }
  }

  let server: MetricsServer | undefined;
  let expiry: NodeJS.Timeout | undefined;
  const hasPod = ctxNames.includes('source_pod') || ctxNames.includes('destination_pod');

  return {
    registry: reg,
    get port() {
      return server?.port ?? 0;
    },
    observeFlows(flows) {
      for (const f of flows) observe(f);
    },
    lostEvents(source: LostEventSource, count: number) {
      lost.child([source]).inc(count);
    },
    publishSend(seconds, messages, ok) {
      publishLatency.child([ok ? 'ok' : 'error']).observe(seconds);
      if (ok) publishMessages.child([]).inc(messages);
      else publishErrors.child([]).inc();
    },
    podDeleted(namespace, name) {
      if (!hasPod) return;
      let n = 0;
      for (const side of ['source', 'destination']) {
        const match: Record<string, string> = { [`${side}_pod`]: name };
        if (ctxNames.includes(`${side}_namespace` as ContextLabel)) match[`${side}_namespace`] = namespace;
        n += reg.deleteWhere(match);
      }
      if (n > 0) log.debug('removed series of a deleted pod', { namespace, name, series: n });
    },
    async start() {
      server = await serveMetrics(reg, { address: cfg.address, port: cfg.port, beforeScrape: () => { snap = undefined; } });
      expiry = setInterval(() => {
        reg.expire(Date.now() - cfg.seriesTtlMs);
        // Forget cached series of endpoints that may be gone (the caches hold their objects).
        for (const c of [processed, dropCache, httpReqCache, httpRespCache, httpDurCache, dnsQueryCache, dnsRespCache]) c.clear();
        ctxIndex.clear();
      }, Math.max(1000, Math.min(60_000, cfg.seriesTtlMs / 4)));
      expiry.unref();
      log.info('metrics listening', { address: cfg.address, port: server.port });
    },
    async stop() {
      if (expiry) clearInterval(expiry);
      await server?.stop();
      server = undefined;
    },
  };
}

function anyRemoved(list: readonly Series[]): boolean {
  for (let i = 0; i < list.length; i++) if (list[i]!.removed) return true;
  return false;
}

const RCODE_NAMES: Record<number, string> = { 0: 'No Error', 1: 'Format Error', 2: 'Server Failure', 3: 'Non-Existent Domain', 4: 'Not Implemented', 5: 'Query Refused' };
function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}

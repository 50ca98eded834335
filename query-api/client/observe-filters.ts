/**
 * `lookback observe` filter flags to FlowFilter lists, built the way the hubble CLI builds them so that a server
 * sees the same request from either tool:
 * - each flag adds to the whitelist, or with `--not` in front to the blacklist (for that one flag);
 * - a flag with a direction (`--from-pod`, `--to-port`) sets that field in the filter; a flag without one
 *   (`--pod`, `--ip`, `--label`, `--port`, `--fqdn`, `--service`) makes two filters, source side OR destination side;
 * - `--namespace NS` turns pod and service values without a namespace into `NS/value`, one filter per side;
 * - repeating a flag adds values (OR); different flags combine (AND).
 */
import { LookbackError } from '../../common/errors.js';
import type { FlowFilter, TCPFlagsFilter } from '../../common/flow-filter/types.js';

type Mutable = FlowFilter & Record<string, unknown>;

class Tracker {
  left: Mutable | null = null;
  right: Mutable | null = null;
  ns: string[] = [];
  srcNs: string[] = [];
  dstNs: string[] = [];
  readonly seen = new Set<string>();

  both(update: (f: Mutable) => void): void {
    this.l(update);
    this.r(update);
  }
  l(update: (f: Mutable) => void): void {
    this.left ??= {};
    update(this.left);
  }
  r(update: (f: Mutable) => void): void {
    this.right ??= {};
    update(this.right);
  }

  filters(): FlowFilter[] {
    if (!this.left && !this.right && this.ns.length + this.srcNs.length + this.dstNs.length === 0) return [];
    const left: Mutable = this.left ?? {};
    const right: Mutable = this.right ?? {};
    const withNs = (values: string[] | undefined, ns: string[]): string[] | undefined => {
      if (!values || ns.length === 0) return values;
      return values.flatMap((v) => (v.includes('/') ? [v] : ns.map((n) => `${n}/${v}`)));
    };
    const applySrc = (f: Mutable, ns: string[]): void => {
      if (!f.source_pod?.length && !f.source_service?.length) f.source_pod = [''];
      f.source_pod = withNs(f.source_pod, ns);
      if (f.source_service) f.source_service = withNs(f.source_service, ns);
    };
    const applyDst = (f: Mutable, ns: string[]): void => {
      if (!f.destination_pod?.length && !f.destination_service?.length) f.destination_pod = [''];
      f.destination_pod = withNs(f.destination_pod, ns);
      if (f.destination_service) f.destination_service = withNs(f.destination_service, ns);
    };
    if (this.dstNs.length) { applyDst(left, this.dstNs); applyDst(right, this.dstNs); }
    if (this.srcNs.length) { applySrc(left, this.srcNs); applySrc(right, this.srcNs); }
    if (this.ns.length) { applySrc(left, this.ns); applyDst(right, this.ns); }
    return JSON.stringify(left) === JSON.stringify(right) ? [left] : [left, right];
  }
}

/** Flag groups that cannot be combined in one list (the hubble CLI's rules, for the flags lookback has). */
const CONFLICTS: string[][] = [
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-namespace', 'namespace', 'all-namespaces'],
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-pod', 'pod'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-namespace', 'namespace', 'all-namespaces'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-pod', 'pod'],
  ['to-pod', 'namespace', 'all-namespaces'],
  ['from-pod', 'namespace', 'all-namespaces'],
  ['label', 'from-label'], ['label', 'to-label'],
  ['service', 'from-service'], ['service', 'to-service'],
  ['port', 'to-port'], ['port', 'from-port'],
  ['identity', 'to-identity'], ['identity', 'from-identity'],
];

const TRACE_POINTS: Record<string, number> = {
  'to-endpoint': 0, 'to-proxy': 1, 'to-host': 2, 'to-stack': 3, 'to-overlay': 4, 'from-endpoint': 5, 'from-proxy': 6,
  'from-host': 7, 'from-stack': 8, 'from-overlay': 9, 'from-network': 10, 'to-network': 11, 'from-crypto': 12, 'to-crypto': 13,
};
const EVENT_TYPES: Record<string, number> = { drop: 1, debug: 2, capture: 3, trace: 4, 'policy-verdict': 5, 'trace-sock': 7, l7: 129, agent: 130 };
const RESERVED_IDENTITIES: Record<string, number> = {
  unknown: 0, host: 1, world: 2, unmanaged: 3, health: 4, init: 5, 'remote-node': 6, 'kube-apiserver': 7, ingress: 8, 'world-ipv4': 9, 'world-ipv6': 10,
};
const VERDICTS = ['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'];

/** The flags this builder understands (all take a value). */
export const FILTER_FLAGS = [
  'uuid', 'pod', 'from-pod', 'to-pod', 'namespace', 'from-namespace', 'to-namespace', 'ip', 'from-ip', 'to-ip', 'snat-ip',
  'label', 'from-label', 'to-label', 'fqdn', 'from-fqdn', 'to-fqdn', 'port', 'from-port', 'to-port', 'service',
  'from-service', 'to-service', 'identity', 'from-identity', 'to-identity', 'workload', 'from-workload', 'to-workload',
  'cluster', 'from-cluster', 'to-cluster', 'verdict', 'drop-reason-desc', 'type', 'http-status', 'http-method',
  'http-path', 'http-url', 'http-header', 'protocol', 'tcp-flags', 'node-name', 'node-label', 'traffic-direction',
  'ip-version', 'trace-id',
] as const;
/** Flags without a value. */
export const FILTER_SWITCHES = ['all-namespaces', 'from-all-namespaces', 'to-all-namespaces', 'ipv4', 'ipv6', 'reply', 'not-reply', 'encrypted', 'unencrypted'] as const;

function bad(message: string): LookbackError {
  return new LookbackError('invalid_argument', message);
}

function push<K extends keyof FlowFilter>(f: Mutable, key: K, value: NonNullable<FlowFilter[K]> extends (infer T)[] ? T : never): void {
  const list = (f[key] as unknown[] | undefined) ?? [];
  list.push(value);
  (f as Record<string, unknown>)[key] = list;
}

function identity(v: string): number {
  if (v in RESERVED_IDENTITIES) return RESERVED_IDENTITIES[v]!;
  if (/^\d+$/.test(v) && Number(v) <= 0xffffffff) return Number(v);
  throw bad(`invalid security identity ${JSON.stringify(v)}: expected one of ${Object.keys(RESERVED_IDENTITIES).join(', ')} or a number`);
}

function workload(v: string): { name?: string; kind?: string } {
  const [a, b] = v.split('/');
  return b === undefined ? { name: a } : { kind: a, name: b };
}

function tcpFlags(v: string): TCPFlagsFilter {
  const out: Record<string, boolean> = {};
  for (const f of v.split(',')) {
    const name = f.trim().toUpperCase();
    if (!['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'].includes(name)) throw bad(`unknown tcp flag: ${f}`);
    out[name] = true;
  }
  return out as TCPFlagsFilter;
}

function eventType(v: string): { type: number; match_sub_type?: boolean; sub_type?: number } {
  const [t, sub] = v.split(':', 2) as [string, string | undefined];
  const type = EVENT_TYPES[t] ?? (/^\d+$/.test(t) ? Number(t) : NaN);
  if (Number.isNaN(type)) throw bad(`unable to parse type ${JSON.stringify(t)}: not a known type name (${Object.keys(EVENT_TYPES).join(', ')}) nor a number`);
  if (sub === undefined) return { type };
  const named = type === 4 ? TRACE_POINTS[sub] : undefined;
  const subType = named ?? (/^\d+$/.test(sub) ? Number(sub) : NaN);
  if (Number.isNaN(subType)) throw bad(`unable to parse event sub-type ${JSON.stringify(sub)}`);
  return { type, match_sub_type: true, sub_type: subType };
}

export interface FilterBuilder {
  /** One flag, in command-line order (`not` marks the next flag as a blacklist flag). */
  add(flag: string, value: string | true): void;
  result(): { whitelist: FlowFilter[]; blacklist: FlowFilter[] };
}

export function createFilterBuilder(): FilterBuilder {
  const white = new Tracker();
  const black = new Tracker();
  let negate = false;
  return {
    add(flag, value) {
      if (flag === 'not') {
        if (negate) throw bad('consecutive --not statements');
        negate = true;
        return;
      }
      const t = negate ? black : white;
      negate = false;
      t.seen.add(flag);
      for (const group of CONFLICTS) {
        if (!group.includes(flag)) continue;
        const other = group.find((g) => g !== flag && t.seen.has(g));
        if (other) throw bad(`filters --${flag} and --${other} cannot be combined`);
      }
      const v = typeof value === 'string' ? value : '';
      switch (flag) {
        case 'uuid': t.both((f) => push(f, 'uuid', v)); break;
        case 'pod': t.l((f) => push(f, 'source_pod', v)); t.r((f) => push(f, 'destination_pod', v)); break;
        case 'from-pod': t.both((f) => push(f, 'source_pod', v)); break;
        case 'to-pod': t.both((f) => push(f, 'destination_pod', v)); break;
        case 'namespace': t.ns.push(v); break;
        case 'from-namespace': t.srcNs.push(v); break;
        case 'to-namespace': t.dstNs.push(v); break;
        case 'all-namespaces': t.ns.push(''); break;
        case 'from-all-namespaces': t.srcNs.push(''); break;
        case 'to-all-namespaces': t.dstNs.push(''); break;
        case 'ip': t.l((f) => push(f, 'source_ip', v)); t.r((f) => push(f, 'destination_ip', v)); break;
        case 'from-ip': t.both((f) => push(f, 'source_ip', v)); break;
        case 'to-ip': t.both((f) => push(f, 'destination_ip', v)); break;
        case 'snat-ip': t.both((f) => push(f, 'source_ip_xlated', v)); break;
        case 'label': t.l((f) => push(f, 'source_label', v)); t.r((f) => push(f, 'destination_label', v)); break;
        case 'from-label': t.both((f) => push(f, 'source_label', v)); break;
        case 'to-label': t.both((f) => push(f, 'destination_label', v)); break;
        case 'fqdn': t.l((f) => push(f, 'source_fqdn', v)); t.r((f) => push(f, 'destination_fqdn', v)); break;
        case 'from-fqdn': t.both((f) => push(f, 'source_fqdn', v)); break;
        case 'to-fqdn': t.both((f) => push(f, 'destination_fqdn', v)); break;
        case 'port': t.l((f) => push(f, 'source_port', v)); t.r((f) => push(f, 'destination_port', v)); break;
        case 'from-port': t.both((f) => push(f, 'source_port', v)); break;
        case 'to-port': t.both((f) => push(f, 'destination_port', v)); break;
        case 'service': t.l((f) => push(f, 'source_service', v)); t.r((f) => push(f, 'destination_service', v)); break;
        case 'from-service': t.both((f) => push(f, 'source_service', v)); break;
        case 'to-service': t.both((f) => push(f, 'destination_service', v)); break;
        case 'identity': { const id = identity(v); t.l((f) => push(f, 'source_identity', id)); t.r((f) => push(f, 'destination_identity', id)); break; }
        case 'from-identity': { const id = identity(v); t.both((f) => push(f, 'source_identity', id)); break; }
        case 'to-identity': { const id = identity(v); t.both((f) => push(f, 'destination_identity', id)); break; }
        case 'workload': t.l((f) => push(f, 'source_workload', workload(v))); t.r((f) => push(f, 'destination_workload', workload(v))); break;
        case 'from-workload': t.both((f) => push(f, 'source_workload', workload(v))); break;
        case 'to-workload': t.both((f) => push(f, 'destination_workload', workload(v))); break;
        case 'cluster': t.l((f) => push(f, 'source_cluster_name', v)); t.r((f) => push(f, 'destination_cluster_name', v)); break;
        case 'from-cluster': t.both((f) => push(f, 'source_cluster_name', v)); break;
        case 'to-cluster': t.both((f) => push(f, 'destination_cluster_name', v)); break;
        case 'verdict':
          if (!VERDICTS.includes(v)) throw bad(`invalid --verdict value: ${v} (allowed: ${VERDICTS.slice(1).join(', ')})`);
          t.both((f) => push(f, 'verdict', v));
          break;
        case 'drop-reason-desc': t.both((f) => push(f, 'drop_reason_desc', v)); break;
        case 'type': { const e = eventType(v); t.both((f) => push(f, 'event_type', e)); break; }
        case 'http-status': t.both((f) => push(f, 'http_status_code', v)); break;
        case 'http-method': t.both((f) => push(f, 'http_method', v)); break;
        case 'http-path': t.both((f) => push(f, 'http_path', v)); break;
        case 'http-url': t.both((f) => push(f, 'http_url', v)); break;
        case 'http-header': {
          const i = v.indexOf(':');
          if (i < 0) throw bad(`invalid http-header value ${JSON.stringify(v)}, expected name:value`);
          t.both((f) => push(f, 'http_header', { key: v.slice(0, i), value: v.slice(i + 1) }));
          break;
        }
        case 'protocol': t.both((f) => push(f, 'protocol', v)); break;
        case 'tcp-flags': { const fl = tcpFlags(v); t.both((f) => push(f, 'tcp_flags', fl)); break; }
        case 'node-name': t.both((f) => push(f, 'node_name', v)); break;
        case 'node-label': t.both((f) => push(f, 'node_labels', v)); break;
        case 'trace-id': t.both((f) => push(f, 'trace_id', v)); break;
        case 'traffic-direction': {
          const d = v.toLowerCase();
          if (d !== 'ingress' && d !== 'egress') throw bad(`${v}: invalid traffic direction, expected ingress or egress`);
          t.both((f) => push(f, 'traffic_direction', d.toUpperCase()));
          break;
        }
        case 'ipv4': t.both((f) => push(f, 'ip_version', 'IPv4')); break;
        case 'ipv6': t.both((f) => push(f, 'ip_version', 'IPv6')); break;
        case 'ip-version': {
          const lv = v.toLowerCase();
          const ver = ['4', 'v4', 'ipv4', 'ip4'].includes(lv) ? 'IPv4' : ['6', 'v6', 'ipv6', 'ip6'].includes(lv) ? 'IPv6' : 'IP_NOT_USED';
          t.both((f) => push(f, 'ip_version', ver));
          break;
        }
        case 'reply': t.both((f) => push(f, 'reply', true)); break;
        case 'not-reply': t.both((f) => push(f, 'reply', false)); break;
        case 'encrypted': t.both((f) => push(f, 'encrypted', true)); break;
        case 'unencrypted': t.both((f) => push(f, 'encrypted', false)); break;
        default: throw bad(`unknown filter flag --${flag}`);
      }
    },
    result() {
      if (negate) throw bad('--not must be followed by a filter flag');
      return { whitelist: white.filters(), blacklist: black.filters() };
    },
  };
}

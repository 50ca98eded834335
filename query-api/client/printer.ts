/**
 * Prints GetFlowsResponse objects (decoded by schemas/proto-loader.ts) the way the hubble CLI does, so that
 * `lookback observe` output reads the same against lookback or a Hubble Relay:
 *   compact  `Nov 26 08:01:52.066: default/xwing:51000 (ID:12001) -> www.disney.com:443 (world) to-stack FORWARDED (TCP Flags: SYN)`
 *   dict     TIMESTAMP / SOURCE / DESTINATION / TYPE / VERDICT / SUMMARY blocks separated by dashes
 *   table    aligned columns with a header
 *   json     one JSON object per response, protobuf JSON style (defaults omitted, times as RFC 3339)
 */
import { toProtoJson } from '../proto-json.js';

type Obj = Record<string, unknown>;

/** The paths the hubble CLI masks compact/dict/table output with, plus the DNS names its printer can use. */
export const HUBBLE_PRINT_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name', 'destination.identity',
  'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type', 'source_service',
  'destination_service', 'is_reply', 'Summary', 'ip_trace_id', 'source_names', 'destination_names',
  'policy_match_type', 'traffic_direction', 'auth_type',
];

export type OutputFormat = 'compact' | 'dict' | 'table' | 'json';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Reserved security identities by number, as Cilium names them. */
const RESERVED_IDENTITIES = [
  'unknown', 'host', 'world', 'unmanaged', 'health', 'init', 'remote-node', 'kube-apiserver', 'ingress', 'world-ipv4',
  'world-ipv6', 'aggregate-cluster', 'aggregate-cluster-mesh', 'aggregate-world', 'aggregate-remote-node',
];

/** Trace observation points by the numbers event_type.sub_type carries. */
const TRACE_POINTS = [
  'to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'from-endpoint', 'from-proxy', 'from-host', 'from-stack',
  'from-overlay', 'from-network', 'to-network', 'from-crypto', 'to-crypto',
];

/** Cilium's drop reason texts by code (what Hubble prints as the TYPE of a drop). */
const DROP_TEXT: Record<number, string> = {
  0: 'Success', 2: 'Invalid packet', 3: 'Interface', 4: 'Interface Decrypted', 5: 'LB, sock cgroup: No backend slot entry found',
  6: 'LB, sock cgroup: No backend entry found', 7: 'LB, sock cgroup: Reverse entry update failed', 8: 'LB, sock cgroup: Reverse entry stale',
  9: 'Fragmented packet', 10: 'Fragmented packet entry update failed', 11: 'Missed tail call to custom program', 12: 'Interface Decrypting',
  13: 'Interface Encrypting', 14: 'LB: sock cgroup: Reverse entry delete succeeded', 15: 'MTU error message',
  130: 'Invalid source mac', 131: 'Invalid destination mac', 132: 'Invalid source ip', 133: 'Policy denied', 134: 'Invalid packet',
  135: 'CT: Truncated or invalid header', 136: 'Fragmentation needed', 137: 'CT: Unknown L4 protocol', 138: "CT: Can't create entry from packet",
  139: 'Unsupported L3 protocol', 140: 'Missed tail call', 141: 'Error writing to packet', 142: 'Unknown L4 protocol',
  143: 'Unknown ICMPv4 code', 144: 'Unknown ICMPv4 type', 145: 'Unknown ICMPv6 code', 146: 'Unknown ICMPv6 type',
  147: 'Error retrieving tunnel key', 148: 'Error retrieving tunnel options', 149: 'Invalid Geneve option', 150: 'Unknown L3 target address',
  151: 'Stale or unroutable IP', 152: 'No matching local container found', 153: 'Error while correcting L3 checksum',
  154: 'Error while correcting L4 checksum', 155: 'CT: Map insertion failed', 156: 'Invalid IPv6 extension header',
  157: 'IP fragmentation not supported', 158: 'Service backend not found', 160: 'No tunnel/encapsulation endpoint (datapath BUG!)',
  161: 'NAT 46/64 not enabled', 162: 'Reached EDT rate-limiting drop horizon', 163: 'Unknown connection tracking state',
  164: 'Local host is unreachable', 165: 'No configuration available to perform policy decision', 166: 'Unsupported L2 protocol',
  167: 'No mapping for NAT masquerade', 168: 'Unsupported protocol for NAT masquerade', 169: 'FIB lookup failed',
  170: 'Encapsulation traffic is prohibited', 171: 'Invalid identity', 172: 'Unknown sender', 173: 'NAT not needed', 174: 'Is a ClusterIP',
  175: 'First logical datagram fragment not found', 176: 'Forbidden ICMPv6 message', 177: 'Denied by LB src range check',
  178: 'Socket lookup failed', 179: 'Socket assign failed', 180: 'Proxy redirection not supported for protocol', 181: 'Policy denied by denylist',
  182: 'VLAN traffic disallowed by VLAN filter', 183: 'Incorrect VNI from VTEP', 184: 'Failed to update or lookup TC buffer',
  185: 'No SID was found for the IP address', 186: 'SRv6 state was removed during tail call', 187: 'L3 translation from IPv4 to IPv6 failed (NAT46)',
  188: 'L3 translation from IPv6 to IPv4 failed (NAT64)', 189: 'Authentication required', 190: 'No conntrack map found', 191: 'No nat map found',
  192: 'Invalid ClusterID', 193: 'Unsupported packet protocol for DSR encapsulation', 194: 'No egress gateway found', 195: 'Traffic is unencrypted',
  196: 'TTL exceeded', 197: 'No node ID found', 198: 'Rate limited', 199: 'IGMP handled', 200: 'IGMP subscribed', 201: 'Multicast handled',
  202: 'Host datapath not ready', 203: 'Endpoint policy program not available', 204: 'No Egress IP configured', 205: 'Punt to proxy',
  206: 'No device', 207: 'First logical datagram fragment not found from world',
};

const POLICY_MATCH = ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'];
const SOCK_XLATE: Record<string, string> = {
  SOCK_XLATE_POINT_PRE_DIRECTION_FWD: 'pre-xlate-fwd', SOCK_XLATE_POINT_POST_DIRECTION_FWD: 'post-xlate-fwd',
  SOCK_XLATE_POINT_PRE_DIRECTION_REV: 'pre-xlate-rev', SOCK_XLATE_POINT_POST_DIRECTION_REV: 'post-xlate-rev',
};

const o = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const s = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const n = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

/** Go's "Jan _2 15:04:05.000" in local time. */
export function formatStampMilli(ts: unknown): string {
  const t = o(ts);
  if (t['seconds'] === undefined) return 'N/A';
  const d = new Date(Number(t['seconds']) * 1000 + Math.floor(n(t['nanos']) / 1e6));
  const pad = (x: number, w = 2): string => String(x).padStart(w, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function identityText(id: number): string {
  return id < RESERVED_IDENTITIES.length ? `(${RESERVED_IDENTITIES[id]})` : `(ID:${id})`;
}

export function flowType(f: Obj): string {
  const l7 = f['l7'];
  if (l7) {
    const l = o(l7);
    let type = s(l['type']).toLowerCase();
    let proto = 'l7';
    if (l['http']) proto = 'http';
    else if (l['dns']) {
      proto = 'dns';
      type += ` ${s(o(l['dns'])['observation_source'])}`;
    }
    return `${proto}-${type}`;
  }
  const e = o(f['event_type']);
  const sub = n(e['sub_type']) & 0xff;
  switch (n(e['type'])) {
    case 4: return TRACE_POINTS[sub] ?? String(sub);
    case 1: return DROP_TEXT[sub] ?? `${sub}, 0`;
    case 5: return `policy-verdict:${POLICY_MATCH[n(f['policy_match_type'])] ?? 'unknown'} ${s(f['traffic_direction'])}`;
    case 3: return s(f['debug_capture_point']) || 'DBG_CAPTURE_POINT_UNKNOWN';
    case 7: return SOCK_XLATE[s(f['sock_xlate_point'])] ?? 'SOCK_XLATE_POINT_UNKNOWN';
    default: return 'UNKNOWN';
  }
}

function verdictText(f: Obj): string {
  const v = s(f['verdict']) || 'VERDICT_UNKNOWN';
  if (n(o(f['event_type'])['type']) !== 5) return v;
  if (v === 'FORWARDED' || v === 'REDIRECTED') return 'ALLOWED';
  if (v === 'DROPPED' || v === 'ERROR') return 'DENIED';
  if (v === 'AUDIT') return 'AUDITED';
  return v;
}

function ports(f: Obj): [string, string] {
  const l4 = o(f['l4']);
  for (const p of ['TCP', 'UDP', 'SCTP']) {
    if (l4[p]) return [String(n(o(l4[p])['source_port'])), String(n(o(l4[p])['destination_port']))];
  }
  return ['', ''];
}

function joinHostPort(host: string, port: string): string {
  if (port === '' || port === '0') return host;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function hostName(ip: string, port: string, ns: string, pod: string, svc: string, names: unknown): string {
  let host = ip;
  const list = Array.isArray(names) ? (names as string[]) : [];
  if (pod) host = ns ? `${ns}/${pod}` : pod;
  else if (svc) host = ns ? `${ns}/${svc}` : svc;
  else if (list.length > 0) host = list.join(',');
  return joinHostPort(host, port);
}

export function hostNames(f: Obj): [string, string] {
  if (!f['IP']) {
    const eth = o(f['ethernet']);
    return f['ethernet'] ? [s(eth['source']), s(eth['destination'])] : ['', ''];
  }
  const ip = o(f['IP']);
  const src = o(f['source']);
  const dst = o(f['destination']);
  let srcNs = s(src['namespace']);
  let dstNs = s(dst['namespace']);
  let srcSvc = '';
  let dstSvc = '';
  if (f['source_service']) { srcNs = s(o(f['source_service'])['namespace']); srcSvc = s(o(f['source_service'])['name']); }
  if (f['destination_service']) { dstNs = s(o(f['destination_service'])['namespace']); dstSvc = s(o(f['destination_service'])['name']); }
  const [sp, dp] = ports(f);
  return [
    hostName(s(ip['source']), sp, srcNs, s(src['pod_name']), srcSvc, f['source_names']),
    hostName(s(ip['destination']), dp, dstNs, s(dst['pod_name']), dstSvc, f['destination_names']),
  ];
}

function summary(f: Obj): string {
  const trace = o(f['ip_trace_id']);
  const prefix = trace['trace_id'] && s(trace['trace_id']) !== '0' ? `IP Trace ID: ${s(trace['trace_id'])}; ` : '';
  const auth = s(f['auth_type']);
  return `${prefix}${s(f['Summary'])}${auth && auth !== 'DISABLED' ? `; Auth: ${auth}` : ''}`;
}

export function compactLine(res: Obj, opts: { nodeName?: boolean } = {}): string {
  const f = o(res['flow']);
  let [src, dst] = hostNames(f);
  let srcId = identityText(n(o(f['source'])['identity']));
  let dstId = identityText(n(o(f['destination'])['identity']));
  let arrow = '->';
  const reply = f['is_reply'];
  if (reply === null || reply === undefined) arrow = '<>';
  else if (o(reply)['value'] === true) {
    [src, dst] = [dst, src];
    [srcId, dstId] = [dstId, srcId];
    arrow = '<-';
  }
  const node = opts.nodeName ? ` [${s(f['node_name'])}]` : '';
  return `${formatStampMilli(f['time'])}${node}: ${src} ${srcId} ${arrow} ${dst} ${dstId} ${flowType(f)} ${verdictText(f)} (${summary(f)})`;
}

export interface Printer {
  write(res: Obj): void;
  /** Flushes what a format buffers (table). */
  close(): void;
}

export function createPrinter(format: OutputFormat, out: (text: string) => void, opts: { nodeName?: boolean } = {}): Printer {
  let line = 0;
  const rows: string[][] = [];
  return {
    write(res) {
      if (!res['flow']) return;
      const f = o(res['flow']);
      switch (format) {
        case 'json':
          out(`${JSON.stringify(toProtoJson(res) ?? {})}\n`);
          break;
        case 'compact':
          out(`${compactLine(res, opts)}\n`);
          break;
        case 'dict': {
          const [src, dst] = hostNames(f);
          if (line > 0) out('------------\n');
          out(`  TIMESTAMP: ${formatStampMilli(f['time'])}\n${opts.nodeName ? `       NODE: ${s(f['node_name'])}\n` : ''}     SOURCE: ${src}\nDESTINATION: ${dst}\n       TYPE: ${flowType(f)}\n    VERDICT: ${verdictText(f)}\n    SUMMARY: ${summary(f)}\n`);
          break;
        }
        case 'table': {
          const [src, dst] = hostNames(f);
          if (line === 0) rows.push(['TIMESTAMP', ...(opts.nodeName ? ['NODE'] : []), 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY']);
          rows.push([formatStampMilli(f['time']), ...(opts.nodeName ? [s(f['node_name'])] : []), src, dst, flowType(f), verdictText(f), summary(f)]);
          break;
        }
      }
      line++;
    },
    close() {
      if (format !== 'table' || rows.length === 0) return;
      const widths = rows[0]!.map((_, i) => Math.max(2, ...rows.map((r) => (r[i] ?? '').length)));
      for (const r of rows) out(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')}\n`);
      rows.length = 0;
    },
  };
}

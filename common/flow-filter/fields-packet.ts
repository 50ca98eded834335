/**
 * FlowFilter fields about the event and the packet: uuid, event type, verdict, drop reason, direction, reply,
 * encryption, L4 protocol, ports, TCP flags, IP version, interface, node, trace ids.
 */
import {
  DROP_REASON_CODES, IP_VERSIONS, L4_PROTOCOL, TCP_FLAG, TRAFFIC_DIRECTIONS, VERDICTS, formatUuid,
  type DropReason, type Flow, type IPVersion, type TcpFlagName,
} from '../../schemas/flow-types.js';
import { invalidFilter, shown } from './limits.js';
import { compileNodeNamePatterns } from './patterns.js';
import { HAS_PORTS, INTERFACE_PRESENT, L7_DNS, L7_HTTP, QUALIFIED_NODE_NAME } from './row-sql.js';
import type { Condition, EventTypeFilter, FlowFilter, InterfaceFilter, TCPFlagsFilter } from './types.js';
import { booleans, enumNames, numberMap, objects, strings, uint64s, type BuildContext } from './values.js';

const VERDICT_BY_NUMBER = numberMap(VERDICTS);
const DIRECTION_BY_NUMBER = numberMap(TRAFFIC_DIRECTIONS);
const IP_VERSION_BY_NUMBER = numberMap(IP_VERSIONS);
const DROP_REASON_BY_NUMBER: ReadonlyMap<number, DropReason> = new Map(
  Object.entries(DROP_REASON_CODES).map(([name, code]) => [code, name as DropReason]),
);

const always: Condition = { match: () => true, sql: () => '1' };
const never: Condition = { match: () => false, sql: () => '0' };

function setCondition<T>(values: T[], get: (f: Flow) => T, column: string, type: string): Condition {
  const set = new Set(values);
  return { match: (f) => set.has(get(f)), sql: (p) => `${column} IN ${p.add(values, type)}` };
}

/** A flow whose ip is absent (or says IP_NOT_USED) reads as Hubble's nil IP. */
function ipVersionOf(f: Flow): IPVersion {
  return f.ip?.ip_version ?? 'IP_NOT_USED';
}

function hasPorts(f: Flow): boolean {
  return f.l4_protocol === L4_PROTOCOL.TCP || f.l4_protocol === L4_PROTOCOL.UDP || f.l4_protocol === L4_PROTOCOL.SCTP;
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Protocol names Hubble's filter knows, and what each tests. */
const PROTOCOLS: Record<string, { match: (f: Flow) => boolean; sql: string }> = {
  tcp: { match: (f) => f.l4_protocol === L4_PROTOCOL.TCP, sql: 'l4_protocol = 6' },
  udp: { match: (f) => f.l4_protocol === L4_PROTOCOL.UDP, sql: 'l4_protocol = 17' },
  sctp: { match: (f) => f.l4_protocol === L4_PROTOCOL.SCTP, sql: 'l4_protocol = 132' },
  icmp: { match: (f) => f.l4_protocol === L4_PROTOCOL.ICMPv4 || f.l4_protocol === L4_PROTOCOL.ICMPv6, sql: 'l4_protocol IN (1, 58)' },
  icmpv4: { match: (f) => f.l4_protocol === L4_PROTOCOL.ICMPv4, sql: 'l4_protocol = 1' },
  icmpv6: { match: (f) => f.l4_protocol === L4_PROTOCOL.ICMPv6, sql: 'l4_protocol = 58' },
  vrrp: { match: (f) => f.l4_protocol === L4_PROTOCOL.VRRP, sql: 'l4_protocol = 112' },
  igmp: { match: (f) => f.l4_protocol === L4_PROTOCOL.IGMP, sql: 'l4_protocol = 2' },
  dns: { match: (f) => f.l7?.dns != null, sql: L7_DNS },
  http: { match: (f) => f.l7?.http != null, sql: L7_HTTP },
};

function parsePorts(values: string[], where: string): number[] {
  return values.map((v, i) => {
    if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw invalidFilter(`${where}[${i}]`, `${shown(v)} is not a port number (0 to 65535)`);
    return Number(v);
  });
}

function flagMask(flags: TCPFlagsFilter, where: string): number {
  let mask = 0;
  for (const [name, set] of Object.entries(flags)) {
    if (!(name in TCP_FLAG)) throw invalidFilter(where, `${shown(name)} is not a TCP flag (allowed: ${Object.keys(TCP_FLAG).join(', ')})`);
    if (typeof set !== 'boolean') throw invalidFilter(where, `TCP flag ${name} must be true or false`);
    if (set) mask |= TCP_FLAG[name as TcpFlagName];
  }
  return mask;
}

function int32(value: unknown, where: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
    throw invalidFilter(where, `${shown(JSON.stringify(value))} is not a 32-bit integer`);
  }
  return value;
}

export function packetConditions(ff: FlowFilter, where: string, ctx: BuildContext): Condition[] {
  const out: Condition[] = [];
  const at = (field: string): string => `${where}.${field}`;

  const uuids = strings(ff, 'uuid', where, ctx);
  if (uuids) {
    // Hubble compares the text: only the canonical lowercase form can equal a flow's uuid.
    const valid = uuids.filter((u) => UUID_TEXT.test(u));
    const set = new Set(valid);
    out.push(valid.length === 0 ? never : { match: (f) => set.has(formatUuid(f.uuid)), sql: (p) => `uuid IN ${p.add(valid, 'Array(UUID)')}` });
  }

  const eventTypes = objects<EventTypeFilter>(ff, 'event_type', where, ctx);
  if (eventTypes) {
    const types = eventTypes.map((t, i) => ({
      type: int32(t.type, `${at('event_type')}[${i}].type`),
      matchSub: t.match_sub_type === true,
      sub: int32(t.sub_type, `${at('event_type')}[${i}].sub_type`),
    }));
    out.push({
      match: (f) => types.some((t) => (t.type === 0 || t.type === f.event_type.type) && (!t.matchSub || t.sub === f.event_type.sub_type)),
      sql: (p) => `(${types.map((t) => {
        const conds: string[] = [];
        if (t.type !== 0) conds.push(`event_type = ${p.add(t.type, 'Int64')}`);
        if (t.matchSub) conds.push(`event_sub_type = ${p.add(t.sub, 'Int64')}`);
        return conds.length > 0 ? `(${conds.join(' AND ')})` : '1';
      }).join(' OR ')})`,
    });
  }

  const verdicts = enumNames(ff, 'verdict', where, ctx, VERDICT_BY_NUMBER);
  if (verdicts) out.push(setCondition(verdicts, (f) => f.verdict, 'verdict', 'Array(String)'));

  const dropReasons = enumNames(ff, 'drop_reason_desc', where, ctx, DROP_REASON_BY_NUMBER);
  if (dropReasons) {
    const set = new Set<string>(dropReasons);
    out.push({
      match: (f) => f.verdict === 'DROPPED' && set.has(f.drop_reason_desc ?? 'DROP_REASON_UNKNOWN'),
      sql: (p) => `(verdict = 'DROPPED' AND if(drop_reason_desc = '', 'DROP_REASON_UNKNOWN', drop_reason_desc) IN ${p.add(dropReasons, 'Array(String)')})`,
    });
  }

  const directions = enumNames(ff, 'traffic_direction', where, ctx, DIRECTION_BY_NUMBER);
  if (directions) out.push(setCondition(directions, (f) => f.traffic_direction, 'traffic_direction', 'Array(String)'));

  const reply = booleans(ff, 'reply', where, ctx);
  if (reply) {
    const wantTrue = reply.includes(true);
    const wantFalse = reply.includes(false);
    // Unknown direction (is_reply null) only counts, as false, on a drop: Hubble's rule.
    const known = (f: Flow): boolean => f.is_reply !== null || f.verdict === 'DROPPED';
    out.push({
      match: (f) => known(f) && ((f.is_reply ?? false) ? wantTrue : wantFalse),
      sql: () => {
        const k = "(is_reply IS NOT NULL OR verdict = 'DROPPED')";
        if (wantTrue && wantFalse) return k;
        return wantTrue ? `(${k} AND ifNull(is_reply, false))` : `(${k} AND NOT ifNull(is_reply, false))`;
      },
    });
  }

  const encrypted = booleans(ff, 'encrypted', where, ctx);
  if (encrypted) {
    const t = encrypted.includes(true);
    const fa = encrypted.includes(false);
    out.push(t && fa ? always : {
      match: (f) => (f.ip?.encrypted ?? false) === t,
      sql: () => (t ? 'ip_encrypted' : 'NOT ip_encrypted'),
    });
  }

  const protocols = strings(ff, 'protocol', where, ctx);
  if (protocols) {
    const tests = protocols.map((name, i) => {
      const t = PROTOCOLS[name.toLowerCase()];
      if (!t) throw invalidFilter(`${at('protocol')}[${i}]`, `unknown protocol ${shown(name)} (allowed: ${Object.keys(PROTOCOLS).join(', ')})`);
      return t;
    });
    out.push({ match: (f) => tests.some((t) => t.match(f)), sql: () => `(${tests.map((t) => t.sql).join(' OR ')})` });
  }

  for (const side of ['source', 'destination'] as const) {
    const ports = strings(ff, `${side}_port`, where, ctx);
    if (ports) {
      const nums = parsePorts(ports, at(`${side}_port`));
      const set = new Set(nums);
      const key = side === 'source' ? 'source_port' : 'destination_port';
      out.push({ match: (f) => hasPorts(f) && set.has(f[key]), sql: (p) => `(${HAS_PORTS} AND ${key} IN ${p.add(nums, 'Array(UInt16)')})` });
    }
  }

  const tcpFlags = objects<TCPFlagsFilter>(ff, 'tcp_flags', where, ctx);
  if (tcpFlags) {
    const masks = tcpFlags.map((fl, i) => flagMask(fl, `${at('tcp_flags')}[${i}]`));
    out.push({
      match: (f) => f.l4_protocol === L4_PROTOCOL.TCP && masks.some((m) => (f.tcp_flags & m) === m),
      sql: (p) => `(l4_protocol = 6 AND (${masks.map((m) => {
        const mp = p.add(m, 'UInt16');
        return `bitAnd(tcp_flags, ${mp}) = ${mp}`;
      }).join(' OR ')}))`,
    });
  }

  const ipVersions = enumNames(ff, 'ip_version', where, ctx, IP_VERSION_BY_NUMBER);
  if (ipVersions) {
    const set = new Set<IPVersion>(ipVersions);
    const numbers = ipVersions.map((v) => IP_VERSIONS.indexOf(v));
    out.push({ match: (f) => set.has(ipVersionOf(f)), sql: (p) => `ip_version IN ${p.add(numbers, 'Array(UInt8)')}` });
  }

  const interfaces = objects<InterfaceFilter>(ff, 'interface', where, ctx);
  if (interfaces) {
    const ifs = interfaces.map((x, i) => {
      const index = x.index ?? 0;
      const name = x.name ?? '';
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 0xffffffff || typeof name !== 'string') {
        throw invalidFilter(`${at('interface')}[${i}]`, 'index must be an unsigned 32-bit integer and name a string');
      }
      return { index, name };
    });
    out.push({
      match: (f) => {
        const itf = f.interface;
        if (!itf || (itf.index === 0 && itf.name === '')) return false;
        return ifs.some((x) => (x.index === 0 || x.index === itf.index) && (x.name === '' || x.name === itf.name));
      },
      sql: (p) => `(${INTERFACE_PRESENT} AND (${ifs.map((x) => {
        const conds: string[] = [];
        if (x.index !== 0) conds.push(`interface_index = ${p.add(x.index, 'UInt32')}`);
        if (x.name !== '') conds.push(`interface_name = ${p.add(x.name, 'String')}`);
        return conds.length > 0 ? `(${conds.join(' AND ')})` : '1';
      }).join(' OR ')}))`,
    });
  }

  const nodeNames = strings(ff, 'node_name', where, ctx);
  if (nodeNames) {
    const re = compileNodeNamePatterns(nodeNames, at('node_name'), ctx.limits);
    out.push({
      match: (f) => f.node_name !== '' && re.test(qualifiedNodeName(f)),
      sql: (p) => `(node_name != '' AND match(${QUALIFIED_NODE_NAME}, ${p.add(re.sqlPattern, 'String')}))`,
    });
  }

  // lookback records neither W3C trace contexts nor IP trace ids: a flow's are '' and 0, as in a Hubble flow without them.
  const traceIds = strings(ff, 'trace_id', where, ctx);
  if (traceIds) out.push(traceIds.includes('') ? always : never);
  const ipTraceIds = uint64s(ff, 'ip_trace_id', where, ctx);
  if (ipTraceIds) out.push(ipTraceIds.includes(0n) ? always : never);

  const cel = ff.experimental?.cel_expression;
  if (Array.isArray(cel) && cel.length > 0) {
    throw invalidFilter(at('experimental.cel_expression'), 'CEL expressions are not supported by lookback; use the other filter fields');
  }
  return out;
}

/** Hubble's node name for filters and for Flow.node_name: `cluster/node` (the `default` cluster when none is known). */
export function qualifiedNodeName(f: Flow): string {
  if (f.node_name.includes('/')) return f.node_name;
  return `${f.cluster_name === '' ? 'default' : f.cluster_name}/${f.node_name}`;
}

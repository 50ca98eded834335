/**
 * Flow.Summary as Hubble writes it, so that `hubble observe` prints the same text for our flows: the TCP flags of
 * the packet ("TCP Flags: SYN, ACK", Hubble's flag order), the ICMP type and code in gopacket's words
 * ("ICMPv4 EchoRequest", "ICMPv6 DestinationUnreachable(PortUnreachable)"), the last layer's name otherwise
 * ("UDP"), and for L7 records the access-log summaries of Hubble's seven parser.
 */
import { formatIPv6 } from '../bpf/addresses.js';
import type { DNS, HTTP, Kafka, L7FlowType } from '../schemas/flow-types.js';

const TCP_FLAG_ORDER: readonly [number, string][] = [
  [0x02, 'SYN'], [0x10, 'ACK'], [0x04, 'RST'], [0x01, 'FIN'], [0x08, 'PSH'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR'], [0x100, 'NS'],
];

const tcpSummaries: string[] = [];

/** "TCP Flags: SYN, ACK" for a Flow.tcp_flags bitmask (cached: 512 possible values). */
export function tcpSummary(flags: number): string {
  const f = flags & 0x1ff;
  let s = tcpSummaries[f];
  if (s === undefined) {
    s = `TCP Flags: ${TCP_FLAG_ORDER.filter(([bit]) => f & bit).map(([, name]) => name).join(', ')}`;
    tcpSummaries[f] = s;
  }
  return s;
}

const ICMP4_TYPES: Record<number, [string, Record<number, string>?]> = {
  0: ['EchoReply'],
  3: ['DestinationUnreachable', { 0: 'Net', 1: 'Host', 2: 'Protocol', 3: 'Port', 4: 'FragmentationNeeded', 5: 'SourceRoutingFailed', 6: 'NetUnknown', 7: 'HostUnknown', 8: 'SourceIsolated', 9: 'NetAdminProhibited', 10: 'HostAdminProhibited', 11: 'NetTOS', 12: 'HostTOS', 13: 'CommAdminProhibited', 14: 'HostPrecedence', 15: 'PrecedenceCutoff' }],
  4: ['SourceQuench'],
  5: ['Redirect', { 0: 'Network', 1: 'Host', 2: 'TOS+Network', 3: 'TOS+Host' }],
  8: ['EchoRequest'],
  9: ['RouterAdvertisement'],
  10: ['RouterSolicitation'],
  11: ['TimeExceeded', { 0: 'TTLExceeded', 1: 'FragmentReassemblyTimeExceeded' }],
  12: ['ParameterProblem', { 0: 'PointerIndicatesError', 1: 'MissingOption', 2: 'BadLength' }],
  13: ['TimestampRequest'],
  14: ['TimestampReply'],
  15: ['InfoRequest'],
  16: ['InfoReply'],
  17: ['AddressMaskRequest'],
  18: ['AddressMaskReply'],
};

const ICMP6_TYPES: Record<number, [string, Record<number, string>?]> = {
  1: ['DestinationUnreachable', { 0: 'NoRouteToDst', 1: 'AdminProhibited', 2: 'BeyondScopeOfSrc', 3: 'AddressUnreachable', 4: 'PortUnreachable', 5: 'SrcAddressFailedPolicy', 6: 'RejectRouteToDst' }],
  2: ['PacketTooBig'],
  3: ['TimeExceeded', { 0: 'HopLimitExceeded', 1: 'FragmentReassemblyTimeExceeded' }],
  4: ['ParameterProblem', { 0: 'ErroneousHeaderField', 1: 'UnrecognizedNextHeader', 2: 'UnrecognizedIPv6Option' }],
  128: ['EchoRequest'],
  129: ['EchoReply'],
  133: ['RouterSolicitation'],
  134: ['RouterAdvertisement'],
  135: ['NeighborSolicitation'],
  136: ['NeighborAdvertisement'],
  137: ['Redirect'],
};

const icmpCache = new Map<number, string>();

/** "ICMPv4 EchoRequest"; v6 selects the ICMPv6 table. */
export function icmpSummary(v6: boolean, type: number, code: number): string {
  const k = (v6 ? 0x10000 : 0) | (type << 8) | code;
  let s = icmpCache.get(k);
  if (s === undefined) {
    const entry = (v6 ? ICMP6_TYPES : ICMP4_TYPES)[type];
    let text: string;
    if (!entry) text = `${type}(${code})`;
    else if (!entry[1]) text = entry[0];
    else text = `${entry[0]}(${entry[1][code] ?? `Code: ${code}`})`;
    s = `${v6 ? 'ICMPv6' : 'ICMPv4'} ${text}`;
    icmpCache.set(k, s);
  }
  return s;
}

/** Summary of an L3/L4 event by protocol number. */
export function l4Summary(proto: number, family: 4 | 6, tcpFlags: number, icmpType: number, icmpCode: number): string {
  switch (proto) {
    case 6: return tcpSummary(tcpFlags);
    case 17: return 'UDP';
    case 132: return 'SCTP';
    case 1: return icmpSummary(false, icmpType, icmpCode);
    case 58: return icmpSummary(true, icmpType, icmpCode);
    default: return family === 6 ? 'IPv6' : 'IPv4';
  }
}

/** DNS rcode names as gopacket prints them in Hubble's "RCode: ..." text. */
const RCODES: Record<number, string> = {
  0: 'No Error', 1: 'Format Error', 2: 'Server Failure', 3: 'Non-Existent Domain', 4: 'Not Implemented', 5: 'Query Refused',
  6: 'Name Exists when it should not', 7: 'RR Set Exists when it should not', 8: 'RR Set that should exist does not',
  9: 'Server Not Authoritative for zone', 10: 'Name not contained in zone',
};

/** Address bytes as text, the way the probe's decoder writes them (so the two can be compared). */
export function formatIpBytes(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return formatIPv6(b, 0);
}

export function dnsSummary(type: L7FlowType, dns: DNS): string {
  const qtypes = dns.qtypes.join(',');
  if (type === 'REQUEST') return `DNS Query ${dns.query} ${qtypes}`;
  let answer: string;
  if (dns.rcode !== 0) {
    answer = `RCode: ${RCODES[dns.rcode] ?? String(dns.rcode)}`;
  } else {
    const parts: string[] = [];
    if (dns.ips.length > 0) parts.push(JSON.stringify(dns.ips.map(formatIpBytes).join(',')));
    if (dns.cnames.length > 0) parts.push(`CNAMEs: ${JSON.stringify(dns.cnames.join(','))}`);
    answer = parts.join(' ');
  }
  return `DNS Answer ${answer} TTL: ${dns.ttl} (Query ${dns.query} ${qtypes})`;
}

export function httpSummary(type: L7FlowType, http: HTTP, latencyNs: number): string {
  const request = `${http.method} ${http.url}`;
  if (type === 'REQUEST') return `${http.protocol} ${request}`;
  return `${http.protocol} ${http.code} ${Math.floor(latencyNs / 1e6)}ms (${request})`;
}

export function kafkaSummary(type: L7FlowType, kafka: Kafka): string {
  if (type === 'REQUEST') return `Kafka request ${kafka.api_key} correlation id ${kafka.correlation_id} topic '${kafka.topic}'`;
  return `Kafka response ${kafka.api_key} correlation id ${kafka.correlation_id} topic '${kafka.topic}' return code ${kafka.error_code}`;
}

/**
 * The Hubble-compatible .proto files: numbers and types against ../shared/notes/hubble-api.md, round trips of what
 * the hubble CLI sends and what lookback answers, the same bytes read by an independent implementation (Go's
 * protobuf runtime, the one the hubble CLI is built on, through the `buf` binary from npm), and a real grpc-js
 * server and client speaking the Observer and health services over 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  OBSERVER_HEALTH_SERVICE,
  PROTO_ROOT,
  loadHubbleGrpc,
  loadProtoDefinitions,
  messageCodec,
  nanosFromTimestamp,
  timestampFromNanos,
} from './proto-loader.js';

type Obj = Record<string, unknown>;

// ---------- descriptor checks ----------

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

function fieldOf(typeName: string, field: string): FieldDescriptor {
  const def = loadProtoDefinitions()[typeName];
  assert.ok(def, `message ${typeName} is missing`);
  const found = (def.type as { field?: FieldDescriptor[] }).field?.find((f) => f.name === field);
  assert.ok(found, `field ${typeName}.${field} is missing`);
  return found;
}

interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

/** Top-level enums are entries of their own; nested ones (Tunnel.Protocol, ServingStatus) live in their message. */
function enumOf(enumName: string): EnumDescriptor | undefined {
  const defs = loadProtoDefinitions();
  const top = defs[enumName];
  if (top !== undefined) return top.type as EnumDescriptor;
  const dot = enumName.lastIndexOf('.');
  const parent = defs[enumName.slice(0, dot)]?.type as { enumType?: EnumDescriptor[] } | undefined;
  return parent?.enumType?.find((e) => e.name === enumName.slice(dot + 1));
}

function enumValue(enumName: string, valueName: string): number {
  const def = enumOf(enumName);
  assert.ok(def, `enum ${enumName} is missing`);
  const found = def.value.find((v) => v.name === valueName);
  assert.ok(found, `enum value ${enumName}.${valueName} is missing`);
  return found.number;
}

/** How a field's type reads in the notes: a scalar keyword, or a message/enum name. */
function typeOf(f: FieldDescriptor): string {
  if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') return f.typeName;
  return f.type.replace(/^TYPE_/, '').toLowerCase();
}

// [message, field, number, type, repeated] taken from hubble-api.md.
const FIELD_FACTS: [string, string, number, string, boolean][] = [
  ['flow.Flow', 'time', 1, 'google.protobuf.Timestamp', false],
  ['flow.Flow', 'uuid', 34, 'string', false],
  ['flow.Flow', 'emitter', 41, 'Emitter', false],
  ['flow.Flow', 'verdict', 2, 'Verdict', false],
  ['flow.Flow', 'drop_reason', 3, 'uint32', false],
  ['flow.Flow', 'IP', 5, 'IP', false],
  ['flow.Flow', 'l4', 6, 'Layer4', false],
  ['flow.Flow', 'tunnel', 39, 'Tunnel', false],
  ['flow.Flow', 'Type', 10, 'FlowType', false],
  ['flow.Flow', 'node_labels', 37, 'string', true],
  ['flow.Flow', 'destination_names', 14, 'string', true],
  ['flow.Flow', 'l7', 15, 'Layer7', false],
  ['flow.Flow', 'event_type', 19, 'CiliumEventType', false],
  ['flow.Flow', 'trace_observation_point', 24, 'TraceObservationPoint', false],
  ['flow.Flow', 'trace_reason', 36, 'TraceReason', false],
  ['flow.Flow', 'ip_trace_id', 40, 'IPTraceID', false],
  ['flow.Flow', 'drop_reason_desc', 25, 'DropReason', false],
  ['flow.Flow', 'is_reply', 26, 'google.protobuf.BoolValue', false],
  ['flow.Flow', 'interface', 28, 'NetworkInterface', false],
  ['flow.Flow', 'sock_xlate_point', 31, 'SocketTranslationPoint', false],
  ['flow.Flow', 'socket_cookie', 32, 'uint64', false],
  ['flow.Flow', 'Summary', 100000, 'string', false],
  ['flow.Flow', 'extensions', 150000, 'google.protobuf.Any', false],
  ['flow.Flow', 'egress_denied_by', 21004, 'Policy', true],
  ['flow.Flow', 'aggregate', 21007, 'Aggregate', false],
  ['flow.Endpoint', 'ID', 1, 'uint32', false],
  ['flow.Endpoint', 'cluster_name', 7, 'string', false],
  ['flow.Endpoint', 'workloads', 6, 'Workload', true],
  ['flow.IP', 'source_xlated', 5, 'string', false],
  ['flow.IP', 'ipVersion', 3, 'IPVersion', false],
  ['flow.Layer4', 'ICMPv6', 4, 'ICMPv6', false],
  ['flow.Layer4', 'IGMP', 7, 'IGMP', false],
  ['flow.TCP', 'flags', 3, 'TCPFlags', false],
  ['flow.TCPFlags', 'NS', 9, 'bool', false],
  ['flow.Layer7', 'latency_ns', 2, 'uint64', false],
  ['flow.Layer7', 'dns', 100, 'DNS', false],
  ['flow.Layer7', 'kafka', 102, 'Kafka', false],
  ['flow.DNS', 'rrtypes', 8, 'string', true],
  ['flow.HTTP', 'headers', 5, 'HTTPHeader', true],
  ['flow.Kafka', 'correlation_id', 4, 'int32', false],
  ['flow.LostEvent', 'cpu', 3, 'google.protobuf.Int32Value', false],
  ['flow.LostEvent', 'last', 5, 'google.protobuf.Timestamp', false],
  ['flow.Tunnel', 'vni', 4, 'uint32', false],
  ['flow.IPTraceID', 'trace_id', 1, 'uint64', false],
  ['flow.Policy', 'revision', 4, 'uint64', false],
  ['flow.FlowFilter', 'uuid', 29, 'string', true],
  ['flow.FlowFilter', 'source_ip_xlated', 34, 'string', true],
  ['flow.FlowFilter', 'destination_cluster_name', 38, 'string', true],
  ['flow.FlowFilter', 'drop_reason_desc', 33, 'DropReason', true],
  ['flow.FlowFilter', 'event_type', 6, 'EventTypeFilter', true],
  ['flow.FlowFilter', 'http_status_code', 9, 'string', true],
  ['flow.FlowFilter', 'reply', 15, 'bool', true],
  ['flow.FlowFilter', 'destination_identity', 20, 'uint32', true],
  ['flow.FlowFilter', 'http_url', 31, 'string', true],
  ['flow.FlowFilter', 'tcp_flags', 23, 'TCPFlags', true],
  ['flow.FlowFilter', 'ip_version', 25, 'IPVersion', true],
  ['flow.FlowFilter', 'ip_trace_id', 39, 'uint64', true],
  ['flow.FlowFilter', 'encrypted', 40, 'bool', true],
  ['flow.FlowFilter', 'experimental', 999, 'Experimental', false],
  ['flow.EventTypeFilter', 'sub_type', 3, 'int32', false],
  ['observer.GetFlowsRequest', 'number', 1, 'uint64', false],
  ['observer.GetFlowsRequest', 'first', 9, 'bool', false],
  ['observer.GetFlowsRequest', 'follow', 3, 'bool', false],
  ['observer.GetFlowsRequest', 'blacklist', 5, 'flow.FlowFilter', true],
  ['observer.GetFlowsRequest', 'whitelist', 6, 'flow.FlowFilter', true],
  ['observer.GetFlowsRequest', 'until', 8, 'google.protobuf.Timestamp', false],
  ['observer.GetFlowsRequest', 'field_mask', 10, 'google.protobuf.FieldMask', false],
  ['observer.GetFlowsRequest', 'extensions', 150000, 'google.protobuf.Any', false],
  ['observer.GetFlowsResponse', 'node_status', 2, 'relay.NodeStatusEvent', false],
  ['observer.GetFlowsResponse', 'lost_events', 3, 'flow.LostEvent', false],
  ['observer.GetFlowsResponse', 'node_name', 1000, 'string', false],
  ['observer.GetFlowsResponse', 'time', 1001, 'google.protobuf.Timestamp', false],
  ['observer.ServerStatusResponse', 'num_connected_nodes', 5, 'google.protobuf.UInt32Value', false],
  ['observer.ServerStatusResponse', 'unavailable_nodes', 7, 'string', true],
  ['observer.ServerStatusResponse', 'flows_rate', 9, 'double', false],
  ['observer.GetAgentEventsRequest', 'follow', 2, 'bool', false],
  ['observer.Node', 'state', 4, 'relay.NodeState', false],
  ['observer.Node', 'seen_flows', 9, 'uint64', false],
  ['observer.Namespace', 'namespace', 2, 'string', false],
  ['relay.NodeStatusEvent', 'node_names', 2, 'string', true],
  ['grpc.health.v1.HealthCheckResponse', 'status', 1, 'ServingStatus', false],
];

// [enum, value, number] taken from hubble-api.md.
const ENUM_FACTS: [string, string, number][] = [
  ['flow.Verdict', 'TRANSLATED', 7],
  ['flow.FlowType', 'SOCK', 3],
  ['flow.TraceObservationPoint', 'TO_ENDPOINT', 101],
  ['flow.TraceObservationPoint', 'FROM_ENDPOINT', 5],
  ['flow.TraceObservationPoint', 'TO_CRYPTO', 13],
  ['flow.TraceReason', 'ENCRYPT_OVERLAY', 8],
  ['flow.LostEventSource', 'HUBBLE_RING_BUFFER', 3],
  ['flow.AuthType', 'TEST_ALWAYS_FAIL', 2],
  ['flow.DebugCapturePoint', 'DBG_CAPTURE_DELIVERY', 4],
  ['flow.SocketTranslationPoint', 'SOCK_XLATE_POINT_POST_DIRECTION_REV', 4],
  ['flow.IPVersion', 'IPv6', 2],
  ['flow.Tunnel.Protocol', 'GENEVE', 2],
  ['flow.L7FlowType', 'SAMPLE', 3],
  ['flow.DropReason', 'POLICY_DENIED', 133],
  ['flow.DropReason', 'SERVICE_BACKEND_NOT_FOUND', 158],
  ['flow.DropReason', 'NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT', 160],
  ['flow.DropReason', 'POLICY_DENY', 181],
  ['flow.DropReason', 'UNENCRYPTED_TRAFFIC', 195],
  ['flow.DropReason', 'DROP_PUNT_PROXY', 205],
  ['relay.NodeState', 'NODE_ERROR', 4],
  ['grpc.health.v1.HealthCheckResponse.ServingStatus', 'SERVICE_UNKNOWN', 3],
];

describe('descriptors match the Hubble wire facts', () => {
  test(`${FIELD_FACTS.length} field spot checks: number, type and repetition`, () => {
    assert.ok(FIELD_FACTS.length >= 25);
    for (const [message, field, number, type, repeated] of FIELD_FACTS) {
      const f = fieldOf(message, field);
      const where = `${message}.${field}`;
      assert.equal(f.number, number, `${where} number`);
      const actual = typeOf(f);
      assert.ok(actual === type || type.endsWith(`.${actual}`), `${where} type: expected ${type}, got ${actual}`);
      assert.equal(f.label === 'LABEL_REPEATED', repeated, `${where} repeated`);
    }
  });

  test(`${ENUM_FACTS.length} enum spot checks, and DropReason is complete (0, 130-158, 160-205)`, () => {
    for (const [enumName, valueName, number] of ENUM_FACTS) {
      assert.equal(enumValue(enumName, valueName), number, `${enumName}.${valueName}`);
    }
    const drop = (loadProtoDefinitions()['flow.DropReason']?.type as { value: { number: number }[] }).value;
    const numbers = drop.map((v) => v.number).sort((a, b) => a - b);
    const expected = [0];
    for (let n = 130; n <= 205; n++) if (n !== 159) expected.push(n);
    assert.deepEqual(numbers, expected);
  });

  test('the Flow keeps Hubble reserved numbers free and every service method has its gRPC path', () => {
    const flow = loadProtoDefinitions()['flow.Flow']?.type as { field: FieldDescriptor[]; reservedRange: object[] };
    const used = new Set(flow.field.map((f) => f.number));
    for (const n of [7, 12, 17, 18]) assert.ok(!used.has(n), `Flow field ${n} is reserved`);
    assert.equal(flow.reservedRange.length, 4);

    const { observerService, healthService } = loadHubbleGrpc();
    const paths = Object.values(observerService).map((m) => `${m.path}${m.responseStream ? ' (stream)' : ''}`);
    assert.deepEqual(paths.sort(), [
      '/observer.Observer/GetAgentEvents (stream)',
      '/observer.Observer/GetDebugEvents (stream)',
      '/observer.Observer/GetFlows (stream)',
      '/observer.Observer/GetNamespaces',
      '/observer.Observer/GetNodes',
      '/observer.Observer/ServerStatus',
    ]);
    assert.deepEqual(
      Object.values(healthService).map((m) => `${m.path}${m.responseStream ? ' (stream)' : ''}`),
      ['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch (stream)'],
    );
  });

  test('loading resolves the well-known types without warnings or a google/ directory of our own', () => {
    const moduleUrl = new URL('./proto-loader.js', import.meta.url).href;
    const script = `import { loadHubbleGrpc, loadProtoDefinitions } from ${JSON.stringify(moduleUrl)};
      loadHubbleGrpc();
      const names = Object.keys(loadProtoDefinitions()).filter((n) => n.startsWith('google.protobuf.'));
      console.log(names.filter((n) => ['Timestamp', 'Any', 'BoolValue', 'UInt32Value', 'Int32Value', 'FieldMask']
        .includes(n.slice('google.protobuf.'.length))).length);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.equal(run.stdout.trim(), '6');
  });
});

// ---------- round trips ----------

/** Enum names whose number is 0: what an unset enum field reads as. */
const ZERO_ENUM_NAMES = new Set(
  Object.values(loadProtoDefinitions())
    .filter((d) => d.format === 'Protocol Buffer 3 EnumDescriptorProto')
    .flatMap((d) => (d.type as { value: { name: string; number: number }[] }).value)
    .filter((v) => v.number === 0)
    .map((v) => v.name),
);

/**
 * Drops what `defaults: true` adds for unset fields (null, [], '', 0, '0', false, zero enum names), keeping
 * present-but-empty messages as {}. Test data avoids setting fields to those values on purpose.
 */
function pruneDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruneDefaults);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined || v === '' || v === 0 || v === '0' || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'string' && ZERO_ENUM_NAMES.has(v)) continue;
    out[k] = pruneDefaults(v);
  }
  return out;
}

/** The compact-output field mask the hubble CLI sends (hubble-api.md). */
const CLI_FIELD_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name',
  'destination.identity', 'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type',
  'source_service', 'destination_service', 'is_reply', 'Summary', 'ip_trace_id',
];

/** `hubble observe --namespace default --verdict DROPPED --not --from-label k8s:app=xwing --type l7
 *  --http-status 5+ --tcp-flags SYN --since ... --until ...` as the CLI builds it: the namespace flag makes two
 *  whitelist filters and every other flag is added to each of them. */
const CLI_FILTER_EXTRAS = { event_type: [{ type: 129 }], http_status_code: ['5+'], tcp_flags: [{ SYN: true }] };
const CLI_REQUEST = {
  number: 20,
  whitelist: [
    { source_pod: ['default/'], verdict: ['DROPPED'], ...CLI_FILTER_EXTRAS },
    { destination_pod: ['default/'], verdict: ['DROPPED'], ...CLI_FILTER_EXTRAS },
  ],
  blacklist: [{ source_label: ['k8s:app=xwing'] }],
  since: { seconds: '1763000000', nanos: 250000000 },
  until: { seconds: '1763003600', nanos: 750000000 },
  field_mask: { paths: CLI_FIELD_MASK },
};
/** What a server reads: 64-bit numbers as decimal strings. */
const CLI_REQUEST_READ = { ...CLI_REQUEST, number: '20' };

const ENDPOINT_XWING = {
  ID: 1701, identity: 21405, cluster_name: 'default', namespace: 'default', pod_name: 'xwing',
  labels: ['k8s:app.kubernetes.io/name=xwing', 'k8s:class=xwing', 'k8s:org=alliance'],
  workloads: [{ name: 'xwing', kind: 'Pod' }],
};
const ENDPOINT_COREDNS = {
  ID: 312, identity: 44, cluster_name: 'default', namespace: 'kube-system', pod_name: 'coredns-6f6b679f8f-7xk2p',
  labels: ['k8s:k8s-app=kube-dns'], workloads: [{ name: 'coredns', kind: 'Deployment' }],
};
const ENDPOINT_DEATHSTAR = {
  ID: 2210, identity: 8837, cluster_name: 'default', namespace: 'default', pod_name: 'deathstar-689f66b57d-4rwkf',
  labels: ['k8s:class=deathstar', 'k8s:org=empire'], workloads: [{ name: 'deathstar', kind: 'Deployment' }],
};

/** Seed scenario: xwing asks coredns, the DNS answer comes back (L7, is_reply true). */
const FLOW_DNS = {
  time: { seconds: '1763000123', nanos: 456789012 },
  uuid: '0b6c1f6e-3c5a-4b1e-9f1e-2f4f0d6d8a01',
  emitter: { name: 'lookback', version: '0.1.0' },
  verdict: 'FORWARDED',
  ethernet: { source: '0a:58:0a:f4:00:0a', destination: '0a:58:0a:f4:00:05' },
  IP: { source: '10.244.0.10', destination: '10.244.0.5', ipVersion: 'IPv4' },
  l4: { UDP: { source_port: 53, destination_port: 41234 }, protocol: 'UDP' },
  source: ENDPOINT_COREDNS,
  destination: ENDPOINT_XWING,
  Type: 'L7',
  node_name: 'kind-worker',
  node_labels: ['kubernetes.io/hostname=kind-worker'],
  source_names: ['kube-dns.kube-system.svc.cluster.local'],
  l7: {
    type: 'RESPONSE',
    latency_ns: '1843000',
    dns: {
      query: 'deathstar.default.svc.cluster.local.', ips: ['10.96.17.3'], ttl: 30, observation_source: 'proxy',
      qtypes: ['A'], rrtypes: ['A'],
    },
    record: 'dns',
  },
  is_reply: { value: true },
  event_type: { type: 129 },
  source_service: { name: 'kube-dns', namespace: 'kube-system' },
  traffic_direction: 'INGRESS',
  Summary: 'DNS Answer "10.96.17.3" TTL: 30 (Proxy deathstar.default.svc.cluster.local. A)',
};

/** Seed scenario: xwing -> deathstar:80 SYN dropped by policy; 64-bit values above 2^53 must survive exactly. */
const FLOW_DROP = {
  time: { seconds: '1763000124', nanos: 1 },
  uuid: '0b6c1f6e-3c5a-4b1e-9f1e-2f4f0d6d8a02',
  verdict: 'DROPPED',
  drop_reason: 133,
  drop_reason_desc: 'POLICY_DENIED',
  IP: { source: '10.244.0.10', destination: '10.244.1.7', ipVersion: 'IPv4' },
  l4: {
    TCP: { source_port: 51234, destination_port: 80, flags: { SYN: true } },
    protocol: 'TCP',
  },
  source: ENDPOINT_XWING,
  destination: ENDPOINT_DEATHSTAR,
  Type: 'L3_L4',
  node_name: 'kind-worker',
  event_type: { type: 1, sub_type: 133 },
  destination_service: { name: 'deathstar', namespace: 'default' },
  traffic_direction: 'EGRESS',
  interface: { index: 7, name: 'lxc1a2b3c' },
  ip_trace_id: { trace_id: '18446744073709551615', ip_option_type: 136 },
  socket_cookie: '9007199254740993',
  cgroup_id: '4294967297',
  egress_denied_by: [{ name: 'rule1', namespace: 'default', labels: ['k8s:io.cilium.k8s.policy.name=rule1'],
    revision: '12', kind: 'CiliumNetworkPolicy' }],
  Summary: 'TCP Flags: SYN',
};

/** An HTTP 503 answer, so both L7 records and the headers list go through. */
const FLOW_HTTP = {
  time: { seconds: '1763000125', nanos: 999999999 },
  verdict: 'FORWARDED',
  IP: { source: 'fd00::a', destination: 'fd00::b', ipVersion: 'IPv6' },
  l4: { TCP: { source_port: 80, destination_port: 51240, flags: { PSH: true, ACK: true } }, protocol: 'TCP' },
  source: ENDPOINT_DEATHSTAR,
  destination: ENDPOINT_XWING,
  Type: 'L7',
  node_name: 'kind-worker',
  l7: {
    type: 'RESPONSE',
    latency_ns: '12000000',
    http: {
      code: 503, method: 'PUT', url: 'http://deathstar.default.svc.cluster.local/v1/exhaust-port',
      protocol: 'HTTP/1.1', headers: [{ key: 'x-request-id', value: 'b9b3' }],
    },
    record: 'http',
  },
  event_type: { type: 129 },
  trace_observation_point: 'TO_ENDPOINT',
  Summary: 'HTTP/1.1 503 12ms (PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port)',
};

describe('round trips through the loaded definitions', () => {
  test('a GetFlowsRequest shaped like the hubble CLI’s survives the client->server path', () => {
    const method = loadHubbleGrpc().observerService['GetFlows'];
    assert.ok(method);
    const bytes = method.requestSerialize(CLI_REQUEST);
    const read = method.requestDeserialize(bytes) as Obj;
    assert.deepEqual(pruneDefaults(read), CLI_REQUEST_READ);
    // What a server relies on without pruning: absent fields are explicit defaults, not undefined.
    assert.equal(read['first'], false);
    assert.equal(read['follow'], false);
    assert.equal(read['experimental'], null);
    assert.deepEqual((read['field_mask'] as { paths: string[] }).paths, CLI_FIELD_MASK);
  });

  test('Flows (DNS, drop with TCP flags, HTTP) survive the server->client path inside GetFlowsResponse', () => {
    const method = loadHubbleGrpc().observerService['GetFlows'];
    assert.ok(method);
    for (const flow of [FLOW_DNS, FLOW_DROP, FLOW_HTTP]) {
      const response = { flow, node_name: 'kind-worker', time: flow.time };
      const read = method.responseDeserialize(method.responseSerialize(response)) as Obj;
      assert.equal(read['response_types'], 'flow');
      assert.deepEqual(pruneDefaults(read), { ...response, response_types: 'flow' });
    }
  });

  test('BoolValue keeps "false" apart from "unknown", and oneofs name their member', () => {
    const codec = messageCodec('flow.Flow');
    assert.deepEqual(codec.decode(codec.encode({ is_reply: { value: false } }))['is_reply'], { value: false });
    assert.equal(codec.decode(codec.encode({}))['is_reply'], null);
    const l4 = codec.decode(codec.encode({ l4: { ICMPv4: { type: 8, code: 0 } } }))['l4'] as Obj;
    assert.equal(l4['protocol'], 'ICMPv4');
    assert.deepEqual(l4['ICMPv4'], { type: 8, code: 0 });
    // Unset oneof members are absent (not null, unlike other unset message fields).
    assert.ok(!('TCP' in l4));
  });

  test('a node_status and a lost_events response decode with their oneof member', () => {
    const codec = messageCodec('observer.GetFlowsResponse');
    const status = codec.decode(codec.encode({
      node_status: { state_change: 'NODE_UNAVAILABLE', node_names: ['kind-worker2'], message: 'gone quiet' },
      node_name: 'lookback',
    }));
    assert.equal(status['response_types'], 'node_status');
    assert.deepEqual(status['node_status'], {
      state_change: 'NODE_UNAVAILABLE', node_names: ['kind-worker2'], message: 'gone quiet',
    });
    const lost = codec.decode(codec.encode({
      lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '7', cpu: { value: 0 } },
    }));
    assert.equal(lost['response_types'], 'lost_events');
    assert.deepEqual(pruneDefaults(lost['lost_events']), {
      source: 'HUBBLE_RING_BUFFER', num_events_lost: '7', cpu: {},
    });
  });

  test('numbers and enum names outside the schema: what a server sees', () => {
    const codec = messageCodec('observer.GetFlowsRequest');
    // A hostile `number` arrives exactly, so a server can refuse it instead of reading a rounded value.
    assert.equal(codec.decode(codec.encode({ number: '18446744073709551615' }))['number'], '18446744073709551615');
    // A verdict number from a newer Hubble is kept as a number; a misspelt name silently becomes 0 on encode.
    const filter = (codec.decode(codec.encode({ whitelist: [{ verdict: [99, 'DROPED'] }] }))['whitelist'] as Obj[])[0];
    assert.deepEqual(filter?.['verdict'], [99, 'VERDICT_UNKNOWN']);
    // Truncated input throws; a server maps that to InvalidArgument.
    assert.throws(() => codec.decode(Buffer.from([0x32, 0x05, 0x01])), /index out of range/);
    // protobufjs is lenient where Go is strict: a known field with the wrong wire type (here `number`, field 1,
    // sent length-delimited) is read anyway. Validation of values is the server's job, not the decoder's.
    assert.equal(codec.decode(Buffer.from([0x0a, 0x05]))['number'], '5');
  });

  test('timestamp helpers convert both ways, also before 1970 and at the nanosecond', () => {
    for (const ns of [0n, 1n, 1763000123456789012n, -1n, -1_500_000_000n]) {
      const ts = timestampFromNanos(ns);
      assert.ok(ts.nanos >= 0 && ts.nanos < 1e9);
      assert.equal(nanosFromTimestamp(ts), ns);
    }
    assert.deepEqual(timestampFromNanos(-1n), { seconds: '-1', nanos: 999999999 });
    assert.equal(nanosFromTimestamp(null), null);
    const codec = messageCodec('observer.GetFlowsRequest');
    const since = codec.decode(codec.encode({ since: timestampFromNanos(1763000123456789012n) }))['since'];
    assert.equal(nanosFromTimestamp(since as { seconds: string; nanos: number }), 1763000123456789012n);
  });
});

// ---------- the same bytes through Go's protobuf runtime (buf from npm) ----------

const requireHere = createRequire(import.meta.url);

function buf(args: string[], input: Buffer | string): Buffer {
  let bufScript: string;
  try {
    bufScript = requireHere.resolve('@bufbuild/buf/bin/buf');
  } catch {
    throw new Error('the buf CLI is missing: it is a devDependency of lookback, run `npm ci` in the repository');
  }
  const run = spawnSync(process.execPath, [bufScript, ...args], { input, maxBuffer: 16 << 20 });
  if (run.status !== 0) throw new Error(`buf ${args.join(' ')} failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** Go reads our bytes and prints them as protobuf text format (JSON cannot carry the CLI's field mask: Go's
 *  JSON mapping refuses paths like "IP" that do not survive camel-casing). */
function goText(type: string, bytes: Buffer): string {
  return buf(['convert', PROTO_ROOT, '--type', type, '--from', '-#format=binpb', '--to', '-#format=txtpb'], bytes)
    .toString('utf8');
}

function goJson(type: string, bytes: Buffer): unknown {
  return JSON.parse(
    buf(['convert', PROTO_ROOT, '--type', type, '--from', '-#format=binpb', '--to', '-#format=json'], bytes)
      .toString('utf8'),
  );
}

/** Go writes the bytes of a text-format message; we read them. */
function goEncode(type: string, text: string): Buffer {
  return buf(['convert', PROTO_ROOT, '--type', type, '--from', '-#format=txtpb', '--to', '-#format=binpb'], text);
}

/** Go's text output varies its spacing on purpose; compare token streams. */
const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

describe('an independent implementation reads the same bytes (Go protobuf via buf)', () => {
  test('buf compiles the files', () => {
    const image = buf(['build', PROTO_ROOT, '-o', '-#format=binpb'], '');
    assert.ok(image.length > 10_000, `buf build wrote ${image.length} bytes`);
  });

  const filterText = (podField: string): string =>
    `whitelist: { ${podField}: "default/" verdict: DROPPED event_type: { type: 129 } http_status_code: "5+" ` +
    'tcp_flags: { SYN: true } }';
  const CLI_REQUEST_TEXT =
    `number: 20 blacklist: { source_label: "k8s:app=xwing" } ${filterText('source_pod')} ` +
    `${filterText('destination_pod')} since: { seconds: 1763000000 nanos: 250000000 } ` +
    'until: { seconds: 1763003600 nanos: 750000000 } ' +
    `field_mask: { ${CLI_FIELD_MASK.map((p) => `paths: "${p}"`).join(' ')} }`;

  test('Go reads our CLI-shaped GetFlowsRequest field for field', () => {
    const bytes = messageCodec('observer.GetFlowsRequest').encode(CLI_REQUEST);
    assert.equal(squash(goText('observer.GetFlowsRequest', bytes)), squash(CLI_REQUEST_TEXT));
  });

  test('we read the GetFlowsRequest Go writes from the same text', () => {
    const bytes = goEncode('observer.GetFlowsRequest', CLI_REQUEST_TEXT);
    const read = messageCodec('observer.GetFlowsRequest').decode(bytes);
    assert.deepEqual(pruneDefaults(read), CLI_REQUEST_READ);
  });

  test('Go reads our drop Flow as the JSON Hubble prints', () => {
    const bytes = messageCodec('flow.Flow').encode(FLOW_DROP);
    const xwing = {
      ID: 1701, identity: 21405, clusterName: 'default', namespace: 'default', podName: 'xwing',
      labels: ENDPOINT_XWING.labels, workloads: ENDPOINT_XWING.workloads,
    };
    const deathstar = {
      ID: 2210, identity: 8837, clusterName: 'default', namespace: 'default', podName: 'deathstar-689f66b57d-4rwkf',
      labels: ENDPOINT_DEATHSTAR.labels, workloads: ENDPOINT_DEATHSTAR.workloads,
    };
    assert.deepEqual(goJson('flow.Flow', bytes), {
      time: '2025-11-13T02:15:24.000000001Z',
      uuid: FLOW_DROP.uuid,
      verdict: 'DROPPED',
      dropReason: 133,
      dropReasonDesc: 'POLICY_DENIED',
      IP: { source: '10.244.0.10', destination: '10.244.1.7', ipVersion: 'IPv4' },
      l4: { TCP: { sourcePort: 51234, destinationPort: 80, flags: { SYN: true } } },
      source: xwing,
      destination: deathstar,
      Type: 'L3_L4',
      nodeName: 'kind-worker',
      eventType: { type: 1, subType: 133 },
      destinationService: { name: 'deathstar', namespace: 'default' },
      trafficDirection: 'EGRESS',
      interface: { index: 7, name: 'lxc1a2b3c' },
      ipTraceId: { traceId: '18446744073709551615', ipOptionType: 136 },
      socketCookie: '9007199254740993',
      cgroupId: '4294967297',
      egressDeniedBy: [FLOW_DROP.egress_denied_by[0]],
      Summary: 'TCP Flags: SYN',
    });
  });

  test('we read the DNS Flow Go writes, with is_reply and the L7 record', () => {
    const text = `time: { seconds: 1763000123 nanos: 456789012 } verdict: FORWARDED Type: L7
      IP: { source: "10.244.0.10" destination: "10.244.0.5" ipVersion: IPv4 }
      l4: { UDP: { source_port: 53 destination_port: 41234 } }
      source: { namespace: "kube-system" pod_name: "coredns-6f6b679f8f-7xk2p" identity: 44 }
      destination: { namespace: "default" pod_name: "xwing" labels: "k8s:class=xwing" }
      l7: { type: RESPONSE latency_ns: 1843000 dns: { query: "deathstar.default.svc.cluster.local." ips: "10.96.17.3"
        ttl: 30 qtypes: "A" } }
      is_reply: { value: true } event_type: { type: 129 } Summary: "DNS Answer"
      ip_trace_id: { trace_id: 18446744073709551615 }`;
    const read = messageCodec('flow.Flow').decode(goEncode('flow.Flow', text));
    assert.deepEqual(pruneDefaults(read), {
      time: { seconds: '1763000123', nanos: 456789012 },
      verdict: 'FORWARDED',
      Type: 'L7',
      IP: { source: '10.244.0.10', destination: '10.244.0.5', ipVersion: 'IPv4' },
      l4: { UDP: { source_port: 53, destination_port: 41234 }, protocol: 'UDP' },
      source: { namespace: 'kube-system', pod_name: 'coredns-6f6b679f8f-7xk2p', identity: 44 },
      destination: { namespace: 'default', pod_name: 'xwing', labels: ['k8s:class=xwing'] },
      l7: {
        type: 'RESPONSE', latency_ns: '1843000', record: 'dns',
        dns: { query: 'deathstar.default.svc.cluster.local.', ips: ['10.96.17.3'], ttl: 30, qtypes: ['A'] },
      },
      is_reply: { value: true },
      event_type: { type: 129 },
      Summary: 'DNS Answer',
      ip_trace_id: { trace_id: '18446744073709551615' },
    });
  });
});

// ---------- a real grpc-js server and client ----------

describe('grpc-js serves and calls the Observer and health services on 127.0.0.1', () => {
  const { observerService, healthService, ObserverClient, HealthClient } = loadHubbleGrpc();
  const server = new grpc.Server();
  let address = '';
  const requestsSeen: Obj[] = [];

  before(async () => {
    server.addService(healthService, {
      Check(call: grpc.ServerUnaryCall<Obj, Obj>, done: grpc.sendUnaryData<Obj>) {
        const service = call.request['service'];
        if (service === OBSERVER_HEALTH_SERVICE || service === '') done(null, { status: 'SERVING' });
        else done({ code: grpc.status.NOT_FOUND, details: `unknown service ${String(service)}` });
      },
      Watch(call: grpc.ServerWritableStream<Obj, Obj>) {
        call.write({ status: call.request['service'] === OBSERVER_HEALTH_SERVICE ? 'SERVING' : 'SERVICE_UNKNOWN' });
        call.end();
      },
    });
    server.addService(observerService, {
      ServerStatus(_call: grpc.ServerUnaryCall<Obj, Obj>, done: grpc.sendUnaryData<Obj>) {
        done(null, {
          num_flows: '9007199254740993', max_flows: '0', seen_flows: '12', uptime_ns: '3600000000000',
          num_connected_nodes: { value: 2 }, num_unavailable_nodes: { value: 0 }, version: 'lookback 0.1.0',
          flows_rate: 1.5,
        });
      },
      GetFlows(call: grpc.ServerWritableStream<Obj, Obj>) {
        requestsSeen.push(call.request);
        call.write({ flow: FLOW_DNS, node_name: 'kind-worker', time: FLOW_DNS.time });
        call.write({ lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '3' }, node_name: 'lookback' });
        call.write({ flow: FLOW_DROP, node_name: 'kind-worker', time: FLOW_DROP.time });
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    address = `127.0.0.1:${port}`;
  });

  after(() => server.forceShutdown());

  type UnaryMethod = (req: Obj, cb: (err: grpc.ServiceError | null, res: Obj) => void) => void;
  type StreamMethod = (req: Obj) => grpc.ClientReadableStream<Obj>;
  /** Generated clients carry their methods by name; grpc-js types them only as Function. */
  const methodOf = <T>(client: grpc.Client, method: string): T | undefined =>
    (client as unknown as Record<string, T | undefined>)[method];

  function unary(client: grpc.Client, method: string, request: Obj): Promise<Obj> {
    const fn = methodOf<UnaryMethod>(client, method);
    assert.ok(fn, `client has no ${method}`);
    return new Promise((resolve, reject) => fn.call(client, request, (err, res) => (err ? reject(err) : resolve(res))));
  }

  function stream(client: grpc.Client, method: string, request: Obj): Promise<Obj[]> {
    const fn = methodOf<StreamMethod>(client, method);
    assert.ok(fn, `client has no ${method}`);
    const call = fn.call(client, request);
    return new Promise((resolve, reject) => {
      const got: Obj[] = [];
      call.on('data', (m: Obj) => got.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(got));
    });
  }

  test('health Check answers SERVING for hubble.server.Observer and NOT_FOUND otherwise; Watch streams', async () => {
    const health = new HealthClient(address, grpc.credentials.createInsecure());
    try {
      assert.deepEqual(await unary(health, 'Check', { service: OBSERVER_HEALTH_SERVICE }), { status: 'SERVING' });
      await assert.rejects(unary(health, 'Check', { service: 'nope' }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        return true;
      });
      assert.deepEqual(await stream(health, 'Watch', { service: OBSERVER_HEALTH_SERVICE }), [{ status: 'SERVING' }]);
    } finally {
      health.close();
    }
  });

  test('ServerStatus returns every field, 64-bit counters exact', async () => {
    const observer = new ObserverClient(address, grpc.credentials.createInsecure());
    try {
      assert.deepEqual(await unary(observer, 'ServerStatus', {}), {
        num_flows: '9007199254740993', max_flows: '0', seen_flows: '12', uptime_ns: '3600000000000',
        num_connected_nodes: { value: 2 }, num_unavailable_nodes: { value: 0 }, unavailable_nodes: [],
        version: 'lookback 0.1.0', flows_rate: 1.5,
      });
    } finally {
      observer.close();
    }
  });

  test('GetFlows: the server reads the CLI request, the client reads flows and a lost event in order', async () => {
    const observer = new ObserverClient(address, grpc.credentials.createInsecure());
    try {
      const responses = await stream(observer, 'GetFlows', CLI_REQUEST);
      assert.equal(requestsSeen.length, 1);
      assert.deepEqual(pruneDefaults(requestsSeen[0]), CLI_REQUEST_READ);
      assert.deepEqual(responses.map((r) => r['response_types']), ['flow', 'lost_events', 'flow']);
      assert.deepEqual(pruneDefaults(responses[0]), {
        flow: FLOW_DNS, node_name: 'kind-worker', time: FLOW_DNS.time, response_types: 'flow',
      });
      assert.deepEqual(pruneDefaults(responses[1]), {
        lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '3' }, node_name: 'lookback',
        response_types: 'lost_events',
      });
      assert.deepEqual((responses[2]?.['flow'] as Obj)['ip_trace_id'], FLOW_DROP.ip_trace_id);
    } finally {
      observer.close();
    }
  });

  test('a method the server does not implement answers UNIMPLEMENTED', async () => {
    const observer = new ObserverClient(address, grpc.credentials.createInsecure());
    try {
      await assert.rejects(unary(observer, 'GetNodes', {}), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNIMPLEMENTED);
        return true;
      });
    } finally {
      observer.close();
    }
  });
});

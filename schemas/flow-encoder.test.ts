/**
 * The hand-written flow encoder must write exactly the bytes avsc writes (downstream consumers read the topic with
 * their own Avro tools): many varied flows are encoded both ways and compared, and avsc decodes them back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LookbackError } from '../common/errors.js';
import { sampleFlows, typicalFlow, typicalSharedFlow } from '../test/fixtures/sample-flows.js';
import { prng } from '../test/fixtures/prng.js';
import { createFlowCodec } from './avro-codec.js';
import { avroTypeFor } from './avro-types.js';
import { createFlowWriter, FLOW_ENCODER_FINGERPRINT, type FlowWriter } from './flow-encoder.js';
import { loadFlowSchemas } from './flow-schema.js';
import * as types from './flow-types.js';
import { deepFreeze, emptyFlow, type Flow } from './flow-types.js';

const schemas = loadFlowSchemas();
const avsc = avroTypeFor(schemas.current.schema);

const STRINGS = [
  '', 'a', 'node-1', 'k8s:app=frontend', 'x'.repeat(23), 'y'.repeat(24), 'z'.repeat(63), 'w'.repeat(64), 'v'.repeat(65),
  'q'.repeat(200), 'é', 'Zürich-Straße', '日本語のポッド名', '😀 emoji', 'a😀'.repeat(30), 'ü'.repeat(40),
  '\ud800 lone high', 'lone low \udc00', `${'n'.repeat(70)}\ud800`, '\u0000nul\u007f', 'ascii then é at 23 chars',
];
const LONGS = [0, 1, -1, 63, 64, -64, -65, 0x3fffffff, 0x40000000, -0x40000000, -0x40000001, 2 ** 31, -(2 ** 31), 2 ** 32, 0xaabbccddeeff, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
const INTS = [0, 1, -1, 63, 64, 127, 128, 8080, 65535, 2 ** 30, -(2 ** 30) - 1, 2 ** 31 - 1, -(2 ** 31)];
const TIMES = [0n, 1n, -1n, 1_764_140_000_123_456_789n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 32n)];

function randomFlow(rnd: () => number): Flow {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const maybe = <T>(v: () => T): T | null => (rnd() < 0.5 ? null : v());
  const strs = (): string[] => Array.from({ length: Math.floor(rnd() * 4) }, () => pick(STRINGS));
  const addr = (): Buffer => Buffer.from(Array.from({ length: rnd() < 0.7 ? 4 : 16 }, () => Math.floor(rnd() * 256)));
  const endpoint = (): types.Endpoint => ({
    identity: pick(INTS), cluster_name: pick(STRINGS), namespace: pick(STRINGS), pod_name: pick(STRINGS), labels: strs(),
    workloads: Array.from({ length: Math.floor(rnd() * 3) }, () => ({ name: pick(STRINGS), kind: pick(STRINGS) })),
  });
  const f = emptyFlow();
  f.time_ns = pick(TIMES);
  f.uuid = Buffer.from(Array.from({ length: 16 }, () => Math.floor(rnd() * 256)));
  f.emitter = { name: pick(STRINGS), version: pick(STRINGS) };
  f.node_name = pick(STRINGS);
  f.node_labels = strs();
  f.cluster_name = pick(STRINGS);
  f.flow_type = pick(types.FLOW_TYPES);
  f.verdict = pick(types.VERDICTS);
  f.drop_reason_desc = maybe(() => pick(Object.keys(types.DROP_REASON_CODES) as types.DropReason[]));
  f.drop_reason_kernel = maybe(() => pick(STRINGS));
  f.flow_event = pick(types.FLOW_EVENTS);
  f.ethernet = maybe(() => ({ source: pick(LONGS), destination: pick(LONGS) }));
  f.ip = maybe(() => ({ source: addr(), destination: addr(), source_xlated: maybe(addr), ip_version: pick(types.IP_VERSIONS), encrypted: rnd() < 0.5 }));
  f.l4_protocol = pick(INTS);
  f.source_port = pick(INTS);
  f.destination_port = pick(INTS);
  f.tcp_flags = pick(INTS);
  f.icmp_type = pick(INTS);
  f.icmp_code = pick(INTS);
  f.source = endpoint();
  f.destination = endpoint();
  f.source_service = maybe(() => ({ name: pick(STRINGS), namespace: pick(STRINGS) }));
  f.destination_service = maybe(() => ({ name: pick(STRINGS), namespace: pick(STRINGS) }));
  f.source_names = strs();
  f.destination_names = strs();
  f.l7 = maybe(() => layer7(rnd, pick, strs, addr));
  f.traffic_direction = pick(types.TRAFFIC_DIRECTIONS);
  f.is_reply = maybe(() => rnd() < 0.5);
  f.trace_observation_point = pick(Object.keys(types.TRACE_OBSERVATION_POINTS) as types.TraceObservationPoint[]);
  f.trace_reason = pick(types.TRACE_REASONS);
  f.interface = maybe(() => ({ index: pick(INTS), name: pick(STRINGS) }));
  f.event_type = { type: pick(INTS), sub_type: pick(INTS) };
  f.summary = pick(STRINGS);
  f.first_seen_ns = rnd() < 0.5 ? f.time_ns : pick(TIMES);
  f.last_seen_ns = rnd() < 0.5 ? f.time_ns : pick(TIMES);
  f.bytes_fwd = pick(LONGS);
  f.packets_fwd = pick(LONGS);
  f.bytes_rev = pick(LONGS);
  f.packets_rev = pick(LONGS);
  f.sampling_rate = pick(INTS);
  f.socket_cookie = maybe(() => pick(LONGS));
  f.cgroup_id = maybe(() => pick(LONGS));
  f.tcp_srtt_us = maybe(() => pick(INTS));
  return f;
}

function layer7(rnd: () => number, pick: <T>(xs: readonly T[]) => T, strs: () => string[], addr: () => Buffer): types.Layer7 {
  const l7: types.Layer7 = { type: pick(types.L7_FLOW_TYPES), latency_ns: pick([0, 812_345, 2 ** 40, Number.MAX_SAFE_INTEGER]), dns: null, http: null, kafka: null };
  const kind = Math.floor(rnd() * 3);
  if (kind === 0) {
    l7.dns = {
      query: pick(STRINGS), ips: Array.from({ length: Math.floor(rnd() * 3) }, addr), ttl: pick([0, 30, 4_294_967_295]),
      cnames: strs(), observation_source: pick(STRINGS), rcode: pick([0, 3, 5]), qtypes: strs(), rrtypes: strs(),
    };
  } else if (kind === 1) {
    l7.http = {
      code: pick([0, 200, 404, 503]), method: pick(['GET', 'POST', '']), url: pick(STRINGS), protocol: pick(['HTTP/1.1', 'HTTP/1.0']),
      headers: Array.from({ length: Math.floor(rnd() * 3) }, () => ({ key: pick(STRINGS), value: pick(STRINGS) })),
    };
  } else {
    l7.kafka = { error_code: pick(INTS), api_version: pick(INTS), api_key: pick(['Produce', 'Fetch']), correlation_id: pick(INTS), topic: pick(STRINGS), client_id: pick(STRINGS) };
  }
  return l7;
}

function writer(size?: number): FlowWriter {
  const w = createFlowWriter(schemas.current.schema, size);
  assert.ok(w, `flow-encoder.ts encodes schema ${FLOW_ENCODER_FINGERPRINT}, not the current flow.avsc: update it (and this test) with the schema`);
  return w;
}

function encode(w: FlowWriter, f: Flow): Buffer {
  w.pos = 0;
  w.writeFlow(f);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Encodes with both, asserts equal bytes, and that avsc reads them back as the flow. */
function assertSame(w: FlowWriter, f: Flow, label: string): void {
  const expected = avsc.toBuffer(f);
  const actual = encode(w, f);
  assert.ok(actual.equals(expected), `${label}: ${actual.toString('hex')} != ${expected.toString('hex')}`);
  assert.ok(avsc.isValid(avsc.fromBuffer(actual)), `${label}: decodes`);
}

describe('the hand-written flow encoder', () => {
  it('implements the current schema', () => {
    assert.equal(schemas.current.fingerprint.toString('hex'), FLOW_ENCODER_FINGERPRINT);
    writer();
  });

  it('writes the bytes avsc writes for the sample flows, shared or fresh, and they decode back', () => {
    const w = writer();
    const flows = [...sampleFlows(), typicalFlow(7), typicalSharedFlow(8), typicalSharedFlow(9), emptyFlow()];
    for (const [i, f] of flows.entries()) {
      assertSame(w, f, `sample ${i}`);
      assertSame(w, f, `sample ${i} again (remembered encodings)`);
      assert.deepEqual(avsc.fromBuffer(encode(w, f)), avsc.fromBuffer(avsc.toBuffer(f)));
    }
  });

  it('writes the bytes avsc writes for thousands of random flows', () => {
    const rnd = prng(42);
    const w = writer(64); // a tiny buffer: every flow grows it or fits exactly at some point
    for (let i = 0; i < 3000; i++) assertSame(w, randomFlow(rnd), `random flow ${i}`);
  });

  it('remembers deep-frozen values and never a value that can still change', () => {
    const w = writer();
    const rnd = prng(7);
    const frozen = deepFreeze(randomFlow(rnd));
    for (let i = 0; i < 3; i++) assertSame(w, frozen, `frozen ${i}`);
    // Frozen on the outside only: the labels can change between flows.
    const f = typicalFlow(1);
    f.source = Object.freeze({ ...f.source, labels: ['k8s:app=one'] });
    assertSame(w, f, 'shallow frozen');
    f.source.labels.push('k8s:app=two');
    assertSame(w, f, 'shallow frozen, changed');
    // The same summary string in another flow, and after the cache started over.
    for (let i = 0; i < 5000; i++) {
      const g = typicalFlow(i);
      g.summary = `TCP Flags: ${i % 4097}`;
      if (i % 997 === 0) assertSame(w, g, `summary ${i}`);
      else encode(w, g);
    }
  });

  it('copies the remembered emitter .. cluster_name run only while all four values are the same', () => {
    const w = writer();
    const emitter = deepFreeze({ name: 'lookback', version: '1.0.0' });
    const labels = deepFreeze(['kubernetes.io/hostname=node-1', 'topology.kubernetes.io/zone=z1']);
    const flow = (change: Partial<Flow> = {}): Flow => ({ ...typicalFlow(3), emitter, node_labels: labels, node_name: 'node-1', cluster_name: 'c1', ...change });
    assertSame(w, flow(), 'first');
    assertSame(w, flow(), 'remembered');
    assertSame(w, flow({ node_name: 'node-2' }), 'another node name');
    assertSame(w, flow({ cluster_name: 'c2' }), 'another cluster');
    assertSame(w, flow({ emitter: deepFreeze({ name: 'lookback', version: '1.0.1' }) }), 'another emitter');
    assertSame(w, flow({ node_labels: deepFreeze(['a=b']) }), 'other labels');
    assertSame(w, flow({ node_labels: deepFreeze([]) }), 'frozen empty labels');
    // Labels that are not frozen can change between flows: never remembered as part of the run.
    const open = ['a=b'];
    assertSame(w, flow({ node_labels: open }), 'open labels');
    open.push('c=d');
    assertSame(w, flow({ node_labels: open }), 'open labels, changed');
    const openEmitter = { name: 'x', version: 'y' };
    assertSame(w, flow({ emitter: openEmitter }), 'open emitter');
    openEmitter.version = 'z';
    assertSame(w, flow({ emitter: openEmitter }), 'open emitter, changed');
    assertSame(w, flow(), 'back to the first');
  });

  it("writes a connection's flows like avsc while its endpoints, services and names change between events", async () => {
    // The collector shares one frozen ip record per connection and direction, and keeps each end's endpoint, service
    // and names until the store or the DNS cache changes: anything the encoder remembers per connection (or per
    // object) must follow when those objects are replaced, or changed when they are not frozen.
    const rnd = prng(11);
    const frozen = <T>(v: T): T => deepFreeze(structuredClone(v));
    const ipOut = deepFreeze(randomFlow(rnd).ip ?? typicalFlow(1).ip!);
    const ipBack = deepFreeze({ ...typicalFlow(1).ip!, source: Buffer.from([10, 0, 0, 9]) });
    const ends = Array.from({ length: 3 }, () => frozen(randomFlow(rnd).source));
    const services = [null, frozen({ name: 'cart', namespace: 'shop' }), frozen({ name: 'cart', namespace: 'shop-2' })];
    const names = [deepFreeze([] as string[]), deepFreeze(['cart.shop.svc.cluster.local']), deepFreeze(['a.example', 'b.example'])];
    const open = { ...typicalFlow(1).destination, labels: ['k8s:app=open'] };
    const openNames = ['open.example'];
    const flows: Flow[] = [];
    for (let i = 0; i < 400; i++) {
      const reply = i % 2 === 1;
      const f = typicalSharedFlow(i);
      f.ip = reply ? ipBack : ipOut;
      // Mostly the same objects event after event, now and then another one (as after a store or DNS change).
      const pick = <T>(xs: readonly T[]): T => xs[i % 37 < 30 ? 0 : Math.floor(rnd() * xs.length)] as T;
      f.source = pick(ends);
      f.destination = i % 53 === 0 ? open : pick(ends.slice().reverse());
      f.source_service = pick(services);
      f.destination_service = pick(services.slice().reverse());
      f.source_names = pick(names);
      f.destination_names = i % 41 === 0 ? openNames : pick(names);
      if (i % 53 === 0) open.labels.push(`k8s:n=${i}`);
      if (i % 41 === 0) openNames.push(`n${i}.example`);
      flows.push(f);
    }
    const w = writer(4096); // small: the buffer is replaced now and then
    for (const [i, f] of flows.entries()) assertSame(w, f, `event ${i}`);
    // Through the codec, which hands out views of its buffers: in batches, with a single encode() and a refused
    // flow (whose bytes are given back and written over) in between.
    const codec = await createFlowCodec({ framing: 'single-object' });
    for (let from = 0; from < flows.length; from += 50) {
      const batch = flows.slice(from, from + 50);
      const values = codec.encodeBatch(batch);
      for (const [i, f] of batch.entries()) assert.ok((values[i] as Buffer).subarray(10).equals(avsc.toBuffer(f)), `batch event ${from + i}`);
      assert.ok(codec.encode(batch[0] as Flow).subarray(10).equals(avsc.toBuffer(batch[0])));
      assert.throws(() => codec.encodeBatch([{ ...(batch[1] as Flow), summary: 5 } as unknown as Flow]));
    }
  });

  it('copies a remembered source .. destination_names run only from bytes that stay written, and only of values that cannot change', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const rnd = prng(21);
    const ends = Array.from({ length: 3 }, () => deepFreeze(structuredClone(randomFlow(rnd).source)));
    const service = deepFreeze({ name: 'cart', namespace: 'shop' });
    const names = deepFreeze(['cart.shop.svc.cluster.local']);
    const none = deepFreeze([] as string[]);
    const flowOf = (i: number, src: types.Endpoint, dst: types.Endpoint): Flow => ({
      ...typicalSharedFlow(i), source: src, destination: dst, source_service: null, destination_service: service, source_names: none, destination_names: names,
    });
    const check = (values: Buffer[], flows: Flow[], label: string): void => {
      for (const [i, f] of flows.entries()) assert.ok((values[i] as Buffer).subarray(10).equals(avsc.toBuffer(f)), `${label}: flow ${i}`);
    };
    // A single encode() writes its run after the bytes handed out, then gives that room back: the next batch writes
    // another run there, and a flow with encode()'s six values must not copy it.
    const a = flowOf(1, ends[0]!, ends[1]!);
    const b = flowOf(2, ends[2]!, ends[0]!);
    for (let round = 0; round < 3; round++) {
      assert.ok(codec.encode(a).subarray(10).equals(avsc.toBuffer(a)));
      check(codec.encodeBatch([b, a, a, b]), [b, a, a, b], `after encode(), round ${round}`);
      check(codec.encodeBatch([flowOf(3, ends[1]!, ends[2]!)]), [flowOf(3, ends[1]!, ends[2]!)], `another run, round ${round}`);
    }
    // Values that can still change (not frozen) are written every time, flow after flow.
    const open = { ...structuredClone(ends[0]!), labels: ['k8s:app=open'] };
    const openNames: string[] = [];
    for (let i = 0; i < 4; i++) {
      const f = { ...flowOf(10 + i, open, ends[1]!), destination_names: openNames };
      check(codec.encodeBatch([f, f]), [f, f], `open values, step ${i}`);
      open.labels.push(`k8s:step=${i}`);
      openNames.push(`n${i}.example`);
    }
  });

  it('writes ints, longs and enums on their one-byte fast paths and past them', () => {
    const w = writer();
    for (const n of [0, -0, 1, 62, 63, 64, 65, -1, -63, -64, 127, 128, 8191, 8192]) {
      assertSame(w, { ...typicalFlow(4), tcp_flags: n, icmp_code: n, bytes_fwd: n, packets_rev: n }, `int/long ${n}`);
    }
    for (const point of Object.keys(types.TRACE_OBSERVATION_POINTS) as types.TraceObservationPoint[]) {
      assertSame(w, { ...typicalFlow(5), trace_observation_point: point }, `point ${point}`);
    }
    for (const reason of Object.keys(types.DROP_REASON_CODES) as types.DropReason[]) {
      assertSame(w, { ...typicalFlow(6), verdict: 'DROPPED', drop_reason_desc: reason }, `drop reason ${reason}`);
    }
    // Symbols built at run time (not the interned literals) are the same symbols.
    assertSame(w, { ...typicalFlow(7), verdict: ['FORW', 'ARDED'].join('') as types.Verdict }, 'a built symbol');
  });

  it('writes defaults for undefined fields, as avsc does', () => {
    const w = writer();
    const f = typicalFlow(1) as unknown as Record<string, unknown>;
    for (const k of Object.keys(f)) {
      const g = { ...f, [k]: undefined } as unknown as Flow;
      assertSame(w, g, `without ${k}`);
    }
    assertSame(w, {} as Flow, 'an empty object');
    const nested = typicalFlow(2);
    nested.ip = { source: nested.ip!.source } as types.IP;
    nested.source = { identity: 5 } as types.Endpoint;
    nested.l7 = { type: 'REQUEST', http: { code: 200 } } as types.Layer7;
    nested.interface = { index: 3 } as types.NetworkInterface;
    assertSame(w, nested, 'partial records');
  });

  it('throws where avsc throws, and the codec names the field', async () => {
    const w = writer();
    const bad: [string, unknown][] = [
      ['time_ns', 5], ['time_ns', 2n ** 63n], ['uuid', Buffer.alloc(15)], ['node_name', 7], ['node_labels', 'x'],
      ['verdict', 'NOPE'], ['drop_reason_desc', 'NOPE'], ['l4_protocol', 1.5], ['source_port', 2 ** 31], ['bytes_fwd', 2 ** 53],
      ['bytes_fwd', 1n], ['is_reply', 1], ['source', null], ['ip', { source: 'not bytes' }], ['sampling_rate', '1'],
      ['tcp_flags', 1.5], ['tcp_flags', '3'], ['tcp_flags', 3n], ['packets_fwd', '3'], ['packets_fwd', 0.5], ['uuid', new Uint8Array(16)],
      ['ip', { source: new Uint8Array(4), destination: Buffer.alloc(4) }], ['flow_event', 'new'],
    ];
    for (const [field, value] of bad) {
      const f = { ...typicalFlow(1), [field]: value } as unknown as Flow;
      assert.throws(() => avsc.toBuffer(f), `avsc refuses ${field}`);
      assert.throws(() => encode(w, f), `the encoder refuses ${field} = ${String(value)}`);
    }
    const codec = await createFlowCodec({ framing: 'single-object' });
    assert.throws(() => codec.encodeBatch([{ ...typicalFlow(1), verdict: 'NOPE' } as unknown as Flow]), (err: unknown) => {
      assert.ok(err instanceof LookbackError && err.code === 'invalid_argument');
      assert.match(err.message, /verdict/);
      return true;
    });
  });

  it('frames batches like the avsc path: single-object and Confluent headers', async () => {
    const flows = [...sampleFlows(), typicalSharedFlow(3)];
    const codec = await createFlowCodec({ framing: 'single-object' });
    const values = codec.encodeBatch(flows);
    for (const [i, f] of flows.entries()) {
      const v = values[i] as Buffer;
      assert.deepEqual([...v.subarray(0, 2)], [0xc3, 0x01]);
      assert.ok(v.subarray(2, 10).equals(schemas.current.fingerprint));
      assert.ok(v.subarray(10).equals(avsc.toBuffer(f)), `flow ${i}`);
      assert.ok(codec.encode(f).equals(v));
      assert.ok(avsc.toBuffer(codec.decode(v)).equals(v.subarray(10)), `flow ${i} decodes back`);
    }
    const registry = { url: 'memory:', register: async () => 77, lookup: async () => ({ id: 77 }), getSchema: async () => schemas.current.text };
    const confluent = await createFlowCodec({ framing: 'confluent', registry: registry as never });
    for (const [i, v] of confluent.encodeBatch(flows).entries()) {
      assert.deepEqual([...v.subarray(0, 5)], [0, 0, 0, 0, 77]);
      assert.ok(v.subarray(5).equals(avsc.toBuffer(flows[i] as Flow)), `confluent flow ${i}`);
    }
  });
});

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { dnsMessage } from '../testing.js';
import { parseDns } from './dns.js';
import { parseHttp, requestUrl } from './http.js';
import { parseKafka } from './kafka.js';

/** A deterministic byte generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** Mutations of a valid message: truncations, bit flips, random bytes, random lengths. */
function* mutations(valid: Buffer, seed: number, n: number): Generator<Buffer> {
  const r = rng(seed);
  for (let len = 0; len <= valid.length; len++) yield valid.subarray(0, len);
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(valid);
    const flips = 1 + (r() % 8);
    for (let j = 0; j < flips; j++) b[r() % b.length] = r() & 0xff;
    yield r() % 3 === 0 ? b.subarray(0, r() % (b.length + 1)) : b;
  }
  for (let i = 0; i < n / 4; i++) {
    const len = r() % 600;
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = r() & 0xff;
    yield b;
  }
}

const kafkaHeader = (apiKey: number, version: number, corr: number, clientId: string, body: Buffer): Buffer => {
  const cid = Buffer.from(clientId);
  const head = Buffer.alloc(10 + cid.length);
  head.writeInt16BE(apiKey, 0);
  head.writeInt16BE(version, 2);
  head.writeInt32BE(corr, 4);
  head.writeInt16BE(cid.length, 8);
  cid.copy(head, 10);
  const msg = Buffer.concat([head, body]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(msg.length);
  return Buffer.concat([len, msg]);
};
const str16 = (s: string): Buffer => {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(Buffer.byteLength(s));
  b.write(s, 2);
  return b;
};
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

describe('DNS parser', () => {
  test('queries and answers, with compression and CNAMEs', () => {
    const q = parseDns(dnsMessage({ id: 0x1234, name: 'www.example.com', qtype: 28 }));
    assert.ok(typeof q === 'object');
    assert.equal(q.id, 0x1234);
    assert.equal(q.response, false);
    assert.equal(q.query, 'www.example.com.');
    assert.deepEqual(q.qtypes, [28]);
    const a = parseDns(dnsMessage({ id: 1, name: 'www.example.com', response: true, answers: [{ cname: 'edge.example.net', ttl: 300 }, { ip: '192.0.2.1', ttl: 20 }, { ip: '2001:db8::1', ttl: 40 }] }));
    assert.ok(typeof a === 'object');
    assert.equal(a.response, true);
    assert.equal(a.answers.length, 3);
    assert.equal(a.answers[0]!.cname, 'edge.example.net.');
    assert.deepEqual([...a.answers[1]!.ip!], [192, 0, 2, 1]);
    assert.equal(a.answers[2]!.ip!.length, 16);
    assert.equal(a.truncated, false);
    const nx = parseDns(dnsMessage({ id: 2, name: 'nope.example', response: true, rcode: 3 }));
    assert.ok(typeof nx === 'object' && nx.rcode === 3);
  });

  test('a snippet cut inside the answers keeps the answers read; one cut in the question is truncated', () => {
    const full = dnsMessage({ id: 3, name: 'x.example', response: true, answers: [{ ip: '192.0.2.1' }, { ip: '192.0.2.2' }] });
    const cut = parseDns(full.subarray(0, full.length - 3));
    assert.ok(typeof cut === 'object');
    assert.equal(cut.truncated, true);
    assert.equal(cut.answers.length, 1);
    assert.equal(parseDns(full.subarray(0, 15)), 'truncated');
  });

  test('compression loops and forward pointers are malformed, not a hang', () => {
    const loop = Buffer.concat([dnsMessage({ id: 4, name: 'a' }).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    assert.equal(parseDns(loop), 'malformed');
  });

  test('fuzz: 20,000 mutated and random messages never throw', () => {
    const valid = dnsMessage({ id: 9, name: 'api.shop.svc.cluster.local', response: true, answers: [{ cname: 'a.b.c' }, { ip: '10.0.0.1' }, { ip: 'fd00::1' }] });
    let n = 0;
    for (const b of mutations(valid, 42, 20_000)) {
      const r = parseDns(b);
      assert.ok(r === 'malformed' || r === 'truncated' || typeof r === 'object');
      n++;
    }
    assert.ok(n > 20_000);
  });
});

describe('HTTP parser', () => {
  const wanted = new Set(['user-agent', 'x-request-id']);
  test('request line, Host and chosen headers; the absolute URL Hubble shows', () => {
    const r = parseHttp(Buffer.from('POST /api/v1/items?x=1 HTTP/1.1\r\nHost: shop.local:8080\r\nUser-Agent: k6\r\nX-Request-Id: abc\r\nCookie: secret\r\n\r\n{}'), wanted);
    assert.ok(typeof r === 'object' && r.kind === 'request');
    assert.equal(r.method, 'POST');
    assert.equal(r.protocol, 'HTTP/1.1');
    assert.deepEqual(r.headers, [{ key: 'User-Agent', value: 'k6' }, { key: 'X-Request-Id', value: 'abc' }]);
    assert.equal(requestUrl(r, '10.0.0.1', 8080), 'http://shop.local:8080/api/v1/items?x=1');
    const noHost = parseHttp(Buffer.from('GET / HTTP/1.0\r\n\r\n'), wanted);
    assert.ok(typeof noHost === 'object' && noHost.kind === 'request');
    assert.equal(requestUrl(noHost, 'fd00::2', 8080), 'http://[fd00::2]:8080/');
  });

  test('status lines; bodies are skipped; cut or broken starts are counted kinds', () => {
    const r = parseHttp(Buffer.from('HTTP/1.1 503 Service Unavailable\r\nUser-Agent: x\r\n'), wanted);
    assert.ok(typeof r === 'object' && r.kind === 'response' && r.code === 503);
    assert.equal(parseHttp(Buffer.from('{"json": "body"}'), wanted), 'skip');
    assert.equal(parseHttp(Buffer.from('GET /no-end-of-line'), wanted), 'truncated');
    assert.equal(parseHttp(Buffer.from('GET /a b c HTTP/1.1\r\n'), wanted), 'malformed');
    assert.equal(parseHttp(Buffer.from('HTTP/2 200\r\n'), wanted), 'malformed');
  });

  test('fuzz: 20,000 mutated and random segments never throw', () => {
    const valid = Buffer.from('GET /index.html?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\n\r\n');
    const resp = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
    for (const b of [...mutations(valid, 7, 10_000), ...mutations(resp, 8, 10_000)]) {
      const r = parseHttp(b, wanted);
      assert.ok(typeof r === 'string' || r.kind === 'request' || r.kind === 'response');
    }
  });
});

describe('Kafka parser', () => {
  test('Produce v7: header and topic', () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.from([0, 1]), i32(30000), i32(1), str16('orders')]);
    const r = parseKafka(kafkaHeader(0, 7, 99, 'producer-1', body), true);
    assert.ok(typeof r === 'object' && r.kind === 'request');
    assert.equal(r.apiKey, 0);
    assert.equal(r.apiVersion, 7);
    assert.equal(r.correlationId, 99);
    assert.equal(r.clientId, 'producer-1');
    assert.equal(r.topic, 'orders');
  });

  test('Fetch v11 and Metadata v4 topics; a response header; flexible Produce v9', () => {
    const fetch = Buffer.concat([i32(-1), i32(500), i32(1), i32(1 << 20), Buffer.from([0]), i32(0), i32(-1), i32(1), str16('payments')]);
    const f = parseKafka(kafkaHeader(1, 11, 5, 'c', fetch), true);
    assert.ok(typeof f === 'object' && f.kind === 'request' && f.topic === 'payments');
    const meta = parseKafka(kafkaHeader(3, 4, 6, 'c', Buffer.concat([i32(1), str16('audit'), Buffer.from([1])])), true);
    assert.ok(typeof meta === 'object' && meta.kind === 'request' && meta.topic === 'audit');
    // Flexible: tagged fields after the header, compact strings (length + 1).
    const flex = Buffer.concat([Buffer.from([0]), Buffer.from([0]), Buffer.from([0, 1]), i32(1000), Buffer.from([2]), Buffer.from([7]), Buffer.from('events')]);
    const p = parseKafka(kafkaHeader(0, 9, 7, 'c', flex), true);
    assert.ok(typeof p === 'object' && p.kind === 'request' && p.topic === 'events', JSON.stringify(p));
    const resp = parseKafka(Buffer.concat([i32(20), i32(7), Buffer.alloc(16)]), false);
    assert.ok(typeof resp === 'object' && resp.kind === 'response' && resp.correlationId === 7);
  });

  test('a request whose topic lies beyond the snippet still yields its header', () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.from([0, 1]), i32(30000), i32(1), str16('orders')]);
    const full = kafkaHeader(0, 7, 1, 'client', body);
    const r = parseKafka(full.subarray(0, 24), true);
    assert.ok(typeof r === 'object' && r.kind === 'request' && r.topic === '' && r.clientId === 'client');
    assert.equal(parseKafka(full.subarray(0, 10), true), 'truncated');
  });

  test('fuzz: 20,000 mutated and random segments never throw', () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.from([0, 1]), i32(30000), i32(1), str16('orders')]);
    for (const b of mutations(kafkaHeader(0, 7, 3, 'fuzz', body), 3, 20_000)) {
      for (const toServer of [true, false]) {
        const r = parseKafka(b, toServer);
        assert.ok(typeof r === 'string' || r.kind === 'request' || r.kind === 'response');
      }
    }
  });
});

test('random payloads through every parser: 5,000 x 3, none throws', () => {
  const outcomes = new Map<string, number>();
  const count = (r: unknown): void => {
    const k = typeof r === 'string' ? r : 'parsed';
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  };
  for (let i = 0; i < 5000; i++) {
    const b = crypto.randomBytes(i % 300);
    count(parseDns(b));
    count(parseHttp(b, new Set()));
    count(parseKafka(b, i % 2 === 0));
  }
  assert.equal([...outcomes.values()].reduce((a, b) => a + b, 0), 15_000);
  assert.ok((outcomes.get('skip') ?? 0) > 0 && (outcomes.get('malformed') ?? 0) + (outcomes.get('truncated') ?? 0) > 0);
});

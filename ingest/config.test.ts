import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeSpec, parseConfig } from '../common/config.js';
import { LookbackError } from '../common/errors.js';
import { ingestSpec } from './config.js';

test('the defaults validate and match the issue: 50,000 rows or 1 s, retention 15/7/90/365 days', () => {
  const cfg = parseConfig(ingestSpec, {});
  assert.equal(cfg.batch.maxRows, 50_000);
  assert.equal(cfg.batch.maxAge, 1000);
  assert.deepEqual(cfg.retention, { rawDays: 15, minuteDays: 7, fiveMinuteDays: 90, hourDays: 365 });
  assert.equal(cfg.kafka.topic, 'lookback.flows.v1');
  assert.equal(cfg.kafka.deadLetterTopic, '');
  assert.equal(cfg.metrics.host, '127.0.0.1');
  assert.ok(describeSpec(ingestSpec).some((l) => l.startsWith('batch.maxAge = 1000')));
});

test('a bad value is refused with the key, the value and what is allowed', () => {
  try {
    parseConfig(ingestSpec, { batch: { maxRows: 0 } });
    assert.fail('expected a config error');
  } catch (err) {
    assert.ok(err instanceof LookbackError && err.code === 'config');
    assert.match(err.message, /batch\.maxRows = 0 is not valid: allowed an integer from 1 to 1000000/);
  }
  assert.throws(() => parseConfig(ingestSpec, { kafka: { brokers: ['nohost'] } }), /kafka\.brokers\[0\] = "nohost" is not valid: allowed host:port/);
  assert.throws(() => parseConfig(ingestSpec, { batch: { maxRowz: 1 } }), /unknown key batch\.maxRowz \(did you mean maxRows\?\)/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, section, int, str, bool, oneOf, duration, list, applyOverrides, describeSpec } from './config.js';
import { LookbackError } from './errors.js';

const spec = {
  kafka: section({
    brokers: list(str('', { pattern: /^[^\s:]+:\d+$/, describe: 'host:port' }), ['127.0.0.1:9092'], { minItems: 1 }),
    topic: str('lookback.flows.v1'),
    compression: oneOf('lz4', ['none', 'gzip', 'lz4', 'zstd'] as const),
  }),
  batch: section({ maxRows: int(50_000, { min: 1, max: 1_000_000 }), maxAge: duration('1s', { min: 10, max: 60_000 }) }),
  enabled: bool(true),
};

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LookbackError, 'a LookbackError');
    assert.equal(err.code, 'config');
    return err.message;
  }
  assert.fail('expected a config error');
}

test('defaults fill a missing tree', () => {
  const cfg = parseConfig(spec, undefined);
  assert.deepEqual(cfg, {
    kafka: { brokers: ['127.0.0.1:9092'], topic: 'lookback.flows.v1', compression: 'lz4' },
    batch: { maxRows: 50_000, maxAge: 1000 },
    enabled: true,
  });
});

test('an unknown key is refused with its path and a suggestion', () => {
  const msg = configError(() => parseConfig(spec, { batch: { maxRow: 5 } }));
  assert.match(msg, /unknown key batch\.maxRow/);
  assert.match(msg, /did you mean maxRows/);
  assert.match(msg, /allowed keys in batch: maxRows, maxAge/);
});

test('an out-of-range value names the key, the value and what is allowed', () => {
  const msg = configError(() => parseConfig(spec, { batch: { maxRows: 0 } }));
  assert.equal(msg, 'config: batch.maxRows = 0 is not valid: allowed an integer from 1 to 1000000');
  const msg2 = configError(() => parseConfig(spec, { kafka: { compression: 'snappy' } }));
  assert.match(msg2, /kafka\.compression = "snappy" is not valid: allowed one of "none", "gzip", "lz4", "zstd"/);
  const msg3 = configError(() => parseConfig(spec, { kafka: { brokers: ['nohost'] } }));
  assert.match(msg3, /kafka\.brokers\[0\] = "nohost" is not valid: allowed host:port/);
});

test('durations and string overrides parse', () => {
  const input = applyOverrides({ batch: { maxAge: '250ms' } }, ['batch.maxRows=1000', 'enabled=false', 'kafka.brokers=a:1,b:2']);
  const cfg = parseConfig(spec, input);
  assert.equal(cfg.batch.maxAge, 250);
  assert.equal(cfg.batch.maxRows, 1000);
  assert.equal(cfg.enabled, false);
  assert.deepEqual(cfg.kafka.brokers, ['a:1', 'b:2']);
  assert.match(configError(() => parseConfig(spec, { batch: { maxAge: '2h' } })), /batch\.maxAge = "2h"/);
});

test('describeSpec lists nested keys with defaults', () => {
  const lines = describeSpec(spec);
  assert.ok(lines.includes('batch.maxRows = 50000  # an integer from 1 to 1000000'), lines.join('\n'));
  assert.equal(lines.length, 6);
});

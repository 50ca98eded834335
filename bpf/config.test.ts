import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultProbeConfig, resolveProbeConfig, tcpStateMask } from './config.js';

test('the defaults validate', () => {
  assert.deepEqual(resolveProbeConfig(), defaultProbeConfig());
});

test('nested sections merge with their defaults', () => {
  const c = resolveProbeConfig({ drops: { enabled: false }, payloadPorts: { udp: [5353] } });
  assert.equal(c.drops.enabled, false);
  assert.deepEqual(c.drops.ignoreReasons, defaultProbeConfig().drops.ignoreReasons);
  assert.deepEqual(c.payloadPorts, { tcp: defaultProbeConfig().payloadPorts.tcp, udp: [5353] });
});

test('bad values name the key, the value and what is allowed', () => {
  assert.throws(() => resolveProbeConfig({ ringBytes: 3 << 20 }), /ringBytes = 3145728 is not allowed: a power of two/);
  assert.throws(() => resolveProbeConfig({ snapLength: 4096 }), /snapLength = 4096 is not allowed: an integer from 0 to 1024/);
  assert.throws(() => resolveProbeConfig({ payloadPorts: { tcp: [0] } }), /payloadPorts\.tcp\[\] = 0/);
  assert.throws(() => resolveProbeConfig({ attachMode: 'xdp' as never }), /attachMode = "xdp".*'auto', 'tcx' or 'tc'/);
  assert.throws(() => resolveProbeConfig({ tcp: { states: ['OPEN' as never] } }), /tcp\.states\[\] = "OPEN".*ESTABLISHED/);
  assert.throws(() => resolveProbeConfig({ flows: false, drops: { enabled: false }, tcp: { enabled: false } }), /at least one of/);
});

test('TCP state mask has one bit per state number', () => {
  assert.equal(tcpStateMask(['ESTABLISHED', 'CLOSE']), (1 << 1) | (1 << 7));
});

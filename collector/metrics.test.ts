import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleFlows } from '../test/fixtures/sample-flows.js';
import type { Flow } from '../schemas/flow-types.js';
import { newL7Stats } from './l7/tracker.js';
import { createCollectorMetrics } from './metrics.js';

function metrics() {
  return createCollectorMetrics({ address: '127.0.0.1', port: 0, contextLabels: ['source_namespace'], seriesTtlMs: 600_000, maxSeriesPerFamily: 100_000 }, {
    health: () => {
      return {
        queueDepth: 0, queueBytes: 0, publishLost: 0, kernelLost: 0, connections: 0, dnsCacheEntries: 0, ringFlows: 0, interfaces: 0,
        duplicates: 0, dropsIgnored: 0, records: {}, pipelineErrors: 0,
        l7: newL7Stats(),
      };
    },
  });
}

/** The HTTP response sample flow with another method. */
function withMethod(method: string): Flow {
  const f = sampleFlows().find((s) => s.l7?.http) as Flow;
  return { ...f, l7: { ...f.l7!, http: { ...f.l7!.http!, method } } };
}

test('HTTP series keep their own method label for thousands of methods (a client may send any token), past 4095 "other"', () => {
  const m = metrics();
  const methods = Array.from({ length: 4200 }, (_, i) => `M${i}`);
  m.observeFlows(methods.map(withMethod));
  m.observeFlows([withMethod('M70'), withMethod('M70')]);
  const text = m.registry.text();
  const count = (method: string): number => {
    const line = text.split('\n').find((l) => l.startsWith('hubble_http_responses_total{') && l.includes(`method="${method}"`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  assert.equal(count('M0'), 1);
  assert.equal(count('M64'), 1, 'the 65th method is a series of its own (it once collided with the first)');
  assert.equal(count('M70'), 3);
  // The word table is shared by methods and protocols: 'HTTP/1.1' and '' (the duration series have no protocol)
  // took two of its 4095 ids, so 4093 methods have ids of their own and the rest are "other".
  assert.equal(count('M4092'), 1);
  assert.equal(count('M4093'), 0);
  assert.equal(count('other'), 4200 - 4093);
});

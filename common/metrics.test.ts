import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics, serveMetrics } from './metrics.js';

test('renders counters, gauges and histograms in the Prometheus text format', () => {
  const m = createMetrics();
  const c = m.counter('lookback_test_total', 'A counter.', ['kind']);
  c.labels('a').inc();
  c.labels('a').inc(2);
  c.labels('b "quoted"\n').inc();
  const g = m.gauge('lookback_test_gauge', 'A gauge.');
  g.labels().set(42);
  const h = m.histogram('lookback_test_seconds', 'A histogram.', [], [0.1, 1]);
  h.labels().observe(0.05);
  h.labels().observe(0.5);
  h.labels().observe(5);
  let collected = 0;
  m.onCollect(() => { collected++; g.labels().set(43); });
  const text = m.text();
  assert.equal(collected, 1);
  assert.match(text, /# HELP lookback_test_total A counter\.\n# TYPE lookback_test_total counter\n/);
  assert.match(text, /lookback_test_total\{kind="a"\} 3\n/);
  assert.match(text, /lookback_test_total\{kind="b \\"quoted\\"\\n"\} 1\n/);
  assert.match(text, /lookback_test_gauge 43\n/);
  assert.match(text, /lookback_test_seconds_bucket\{le="0.1"\} 1\nlookback_test_seconds_bucket\{le="1"\} 2\nlookback_test_seconds_bucket\{le="\+Inf"\} 3\nlookback_test_seconds_sum 5.55\nlookback_test_seconds_count 3\n/);
});

test('bounds the series of a metric: extra label sets share one overflow series, and are counted', () => {
  const m = createMetrics();
  const c = m.counter('lookback_test_pods_total', 'Per pod.', ['pod'], { maxSeries: 3 });
  for (let i = 0; i < 10; i++) c.labels(`pod-${i}`).inc();
  const text = m.text();
  assert.equal((text.match(/^lookback_test_pods_total\{/gm) ?? []).length, 4, 'three series and the overflow one');
  assert.match(text, /lookback_test_pods_total\{pod="_overflow"\} 7\n/);
  assert.match(text, /lookback_metrics_overflow_total 7\n/);
  assert.throws(() => m.counter('lookback_test_pods_total', 'again'), /registered twice/);
  assert.throws(() => m.gauge('bad name', 'x'), /not valid/);
});

test('serves GET /metrics on 127.0.0.1 and nothing else', async () => {
  const m = createMetrics();
  m.counter('lookback_test_served_total', 'Served.').labels().inc(5);
  const server = await serveMetrics(m, { port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /lookback_test_served_total 5\n/);
    assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
  } finally {
    await server.stop();
  }
});

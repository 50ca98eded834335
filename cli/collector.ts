import { createLogger } from '../common/log.js';
import { collectorSpec } from '../collector/config.js';
import { createCollector } from '../collector/index.js';
import { applyCollectorV8Flags } from '../collector/v8-flags.js';
import { commandConfig, parseCommandArgs } from './args.js';

/**
 * `lookback collector --config FILE`: the per-node service. Captures with the eBPF probe (or replays recorded
 * batches), builds Hubble-shaped flows, enriches them, serves the live Observer (127.0.0.1:4244) and metrics
 * (127.0.0.1:9965), and publishes to Kafka. SIGINT/SIGTERM stop it: capture first (the last counters are
 * published), then the rest in reverse order.
 */
export async function run(argv: string[]): Promise<number> {
  applyCollectorV8Flags();
  const { values } = parseCommandArgs(argv, {
    replay: { type: 'string' },
    record: { type: 'string' },
    inventory: { type: 'string' },
  });
  const set: string[] = [];
  if (values.replay) set.push('source.kind=replay', `source.replayFile=${values.replay}`);
  if (values.record) set.push(`source.recordFile=${values.record}`);
  if (values.inventory) set.push('enrichment.source=inventory', `enrichment.inventoryFile=${values.inventory}`);
  const usage = [
    'usage: lookback collector [--config FILE] [--set key=value]... [--check] [--help-config]',
    '                          [--replay FILE] [--record FILE] [--inventory FILE]',
    '',
    '  --replay FILE     replay recorded probe batches instead of capturing (source.kind=replay)',
    '  --record FILE     while capturing, also record the probe batches to FILE (source.recordFile)',
    '  --inventory FILE  enrich from a static inventory file (enrichment.source=inventory)',
    '',
  ].join('\n');
  const cfg = commandConfig(collectorSpec, values, usage, set);
  if (typeof cfg === 'number') return cfg;

  const log = createLogger('collector');
  const collector = createCollector(cfg, { log });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping', { signal });
      await collector.stop();
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve) => {
    process.once('SIGINT', () => void stop('SIGINT').then(resolve));
    process.once('SIGTERM', () => void stop('SIGTERM').then(resolve));
  });
  try {
    await collector.start();
  } catch (err) {
    await collector.stop();
    throw err;
  }
  if (cfg.source.kind === 'replay') {
    // A replay ends: publish what it made, then stop.
    const src = collector.source as { done?: Promise<void> };
    await Promise.race([src.done, done]);
    await collector.publisher?.flush(30_000);
    await stop('end of replay');
    return 0;
  }
  await done;
  return 0;
}

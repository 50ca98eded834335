import { createLogger } from '../common/log.js';
import { describeError } from '../common/errors.js';
import { createIngest } from '../ingest/index.js';
import { ingestSpec } from '../ingest/config.js';
import { commandConfig, parseCommandArgs } from './args.js';
import { exitCodeFor } from './exit.js';

/**
 * `lookback ingest --config FILE`: the Kafka -> ClickHouse worker. Run as many as the topic has partitions; they
 * share them through the consumer group. SIGINT/SIGTERM stores and commits what is held, then exits 0.
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {});
  const cfg = commandConfig(ingestSpec, values, 'usage: lookback ingest [--config FILE] [--set key=value]... [--check] [--help-config]');
  if (typeof cfg === 'number') return cfg;

  const log = createLogger('ingest');
  let fatal: Error | undefined;
  let wake: (() => void) | undefined;
  const done = new Promise<void>((resolve) => { wake = resolve; });
  const ingest = createIngest(cfg, {
    log,
    onFatal: (err) => {
      fatal = err;
      wake?.();
    },
  });
  let signal: string | undefined;
  const onSignal = (s: string): void => {
    if (signal) return;
    signal = s;
    log.info('stopping', { signal: s });
    wake?.();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    await ingest.start();
  } catch (err) {
    await ingest.stop();
    throw err;
  }
  await done;
  await ingest.stop();
  if (fatal) {
    log.error('ingest stopped after a fatal consumer error', { error: describeError(fatal) });
    return exitCodeFor(fatal) || 1;
  }
  return 0;
}

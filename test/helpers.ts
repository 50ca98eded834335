import crypto from 'node:crypto';

/**
 * What tests share: the stack endpoints handed down by test/run.ts, and fresh names so that test files can run in
 * parallel against one stack without seeing each other's data.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
}

export interface TestEndpoints {
  clickhouseUrl?: string;
  kafkaBrokers?: string[];
  registryUrl?: string;
  redisUrl?: string;
}

/** Endpoints from the test runner's environment; empty fields mean "start your own" (a test file run alone). */
export function testEndpoints(): TestEndpoints {
  const env = process.env;
  const out: TestEndpoints = {};
  if (env['LOOKBACK_TEST_CLICKHOUSE_URL']) out.clickhouseUrl = env['LOOKBACK_TEST_CLICKHOUSE_URL'];
  if (env['LOOKBACK_TEST_KAFKA_BROKERS']) out.kafkaBrokers = env['LOOKBACK_TEST_KAFKA_BROKERS'].split(',');
  if (env['LOOKBACK_TEST_REGISTRY_URL']) out.registryUrl = env['LOOKBACK_TEST_REGISTRY_URL'];
  if (env['LOOKBACK_TEST_REDIS_URL']) out.redisUrl = env['LOOKBACK_TEST_REDIS_URL'];
  return out;
}

/**
 * The endpoints a test needs: the runner's stack when there is one, otherwise a stack of just those parts,
 * started here and stopped when the process exits (its children die with us in any case: see common/stack/child.ts).
 */
export async function ensureStack(needs: { clickhouse?: boolean; kafka?: boolean; registry?: boolean; redis?: boolean }): Promise<Required<TestEndpoints>> {
  const have = testEndpoints();
  const missing = (needs.clickhouse && !have.clickhouseUrl) || (needs.kafka && !have.kafkaBrokers) || (needs.registry && !have.registryUrl) || (needs.redis && !have.redisUrl);
  if (missing) {
    const { startLocalStack } = await import('../common/stack/index.js');
    const os = await import('node:os');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-test-own-'));
    const stack = await startLocalStack({
      dataDir,
      clickhouse: !!needs.clickhouse && !have.clickhouseUrl,
      kafka: !!needs.kafka && !have.kafkaBrokers,
      registry: !!needs.registry && !have.registryUrl,
      redis: !!needs.redis && !have.redisUrl,
    });
    process.once('beforeExit', () => void stack.stop().finally(() => fs.rmSync(dataDir, { recursive: true, force: true })));
    Object.assign(have, Object.fromEntries(Object.entries(stack.endpoints).filter(([, v]) => v !== undefined)));
  }
  return { clickhouseUrl: have.clickhouseUrl ?? '', kafkaBrokers: have.kafkaBrokers ?? [], registryUrl: have.registryUrl ?? '', redisUrl: have.redisUrl ?? '' };
}

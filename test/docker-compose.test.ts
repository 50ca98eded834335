import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseConfig, readConfigFile, type Spec } from '../common/config.js';
import { KAFKA_VERSION } from '../common/stack/kafka.js';
import { APICURIO_VERSION } from '../common/stack/registry.js';
import { CHDB_VERSION } from '../common/stack/clickhouse.js';
import { collectorSpec } from '../collector/config.js';
import { ingestSpec } from '../ingest/config.js';
import { queryApiSpec } from '../query-api/config.js';
import { migrateSpec } from '../cli/migrate.js';

/**
 * docker-compose.yml cannot run here (no Docker engine), so this reads it and checks it against what the code
 * reads: the same engine versions the tests run, lookback commands that exist, config files that validate against
 * each service's spec, addresses that point at compose services and their ports, and the collector's privileges.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
interface Service {
  image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; ports?: string[];
  volumes?: string[]; network_mode?: string; cap_add?: string[]; depends_on?: unknown;
}
const compose = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;

const SPECS: Record<string, Spec> = { collector: collectorSpec, ingest: ingestSpec, 'query-api': queryApiSpec, migrate: migrateSpec };
/** What lookback's own code reads from the environment. */
const ENV_READ = new Set(['LOOKBACK_LOG', 'LOOKBACK_LOG_FORMAT', 'LOOKBACK_DEBUG']);

const lookbackServices = Object.entries(services).filter(([, s]) => s.image?.startsWith('lookback:'));

function configOf(name: string): { command: string; file: string; config: Record<string, unknown> } {
  const svc = services[name]!;
  const [command, flag, inContainer] = svc.command ?? [];
  assert.equal(flag, '--config', `${name}: command is [<lookback command>, --config, FILE]`);
  const mount = (svc.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === inContainer);
  assert.ok(mount, `${name}: ${inContainer} is mounted from the repository`);
  const file = path.join(root, mount[0]!);
  return { command: command!, file, config: parseConfig(SPECS[command!]!, readConfigFile(file)) as Record<string, unknown> };
}

test('infrastructure images are the engines the tests run, pinned', () => {
  assert.equal(services['kafka']?.image, `apache/kafka:${KAFKA_VERSION}`);
  assert.equal(services['registry']?.image, `apicurio/apicurio-registry:${APICURIO_VERSION}`);
  assert.equal(services['clickhouse']?.image, `clickhouse/clickhouse-server:${CHDB_VERSION.split('.').slice(0, 2).join('.')}`);
  assert.match(services['redis']?.image ?? '', /^redis:7\.\d+$/);
  for (const [name, svc] of Object.entries(services)) assert.doesNotMatch(svc.image ?? '', /:latest$|^[^:]+$/, `${name} pins its image`);
});

test('every lookback service runs a command that exists, with a config file that validates', async () => {
  const main = fs.readFileSync(path.join(root, 'cli/main.ts'), 'utf8');
  assert.deepEqual(lookbackServices.map(([n]) => n).sort(), ['collector', 'ingest', 'migrate', 'query-api']);
  for (const [name] of lookbackServices) {
    const { command } = configOf(name);
    assert.ok(SPECS[command], `${name}: ${command} has a config spec`);
    assert.match(main, new RegExp(`['"]?${command}['"]?: \\{ summary`), `${name}: lookback ${command} is a command`);
  }
  assert.ok(lookbackServices.some(([, s]) => s.build !== undefined), 'one service builds the image');
});

test('environment variables are ones the code reads', () => {
  for (const [name, svc] of lookbackServices) {
    for (const key of Object.keys(svc.environment ?? {})) assert.ok(ENV_READ.has(key), `${name}: ${key} is read by lookback`);
  }
  for (const key of ENV_READ) {
    const used = ['common', 'cli'].some((dir) => grepTree(path.join(root, dir), `'${key}'`));
    assert.ok(used, `${key} is read somewhere in common/ or cli/`);
  }
});

test('addresses in the service configs point at compose services and the ports they serve', () => {
  const kafkaListeners = services['kafka']?.environment?.['KAFKA_ADVERTISED_LISTENERS'] ?? '';
  const kafkaAddrs = new Set(kafkaListeners.split(',').map((l) => l.replace(/^\w+:\/\//, '')));
  const check = (svc: string, what: string, addr: string): void => {
    if (addr.startsWith('127.0.0.1:') && services[svc]?.network_mode === 'host') {
      const port = addr.split(':')[1];
      const published = Object.values(services).flatMap((s) => s.ports ?? []).some((p) => p === `127.0.0.1:${port}:${port}`);
      assert.ok(published, `${svc}: ${what} ${addr} is published to the host`);
      return;
    }
    const host = addr.split(':')[0]!;
    assert.ok(services[host], `${svc}: ${what} ${addr} names a compose service`);
  };
  const ingest = configOf('ingest').config as { kafka: { brokers: string[] }; clickhouse: { url: string } };
  const query = configOf('query-api').config as { follow: { brokers: string[] }; clickhouse: { url: string }; grpc: { listen: string }; http: { listen: string } };
  const collector = configOf('collector').config as { kafka: { brokers: string[] }; observer: { port: number }; metrics: { port: number } };
  const migrate = configOf('migrate').config as { clickhouse: { url: string; database: string } };
  for (const b of [...ingest.kafka.brokers, ...query.follow.brokers, ...collector.kafka.brokers]) {
    assert.ok(kafkaAddrs.has(b), `broker ${b} is one of Kafka's advertised listeners (${[...kafkaAddrs].join(', ')})`);
  }
  check('collector', 'kafka.brokers', collector.kafka.brokers[0]!);
  for (const [svc, url] of [['ingest', ingest.clickhouse.url], ['query-api', query.clickhouse.url], ['migrate', migrate.clickhouse.url]] as const) {
    assert.equal(new URL(url).host, 'clickhouse:8123', `${svc}: clickhouse.url is the clickhouse service's HTTP port`);
  }
  // Every service uses the database migrate creates.
  assert.equal((ingest.clickhouse as unknown as { database: string }).database, migrate.clickhouse.database);
  // The query API publishes the ports it listens on.
  for (const listen of [query.grpc.listen, query.http.listen]) {
    const port = listen.split(':').at(-1);
    assert.ok(services['query-api']?.ports?.some((p) => p.endsWith(`:${port}:${port}`)), `query-api publishes ${port}`);
  }
  assert.equal(collector.observer.port, 4244);
  assert.equal(collector.metrics.port, 9965);
});

test('the collector has what capture needs: host network, BPF capabilities, BTF and bpffs', () => {
  const c = services['collector']!;
  assert.equal(c.network_mode, 'host');
  for (const cap of ['BPF', 'PERFMON', 'NET_ADMIN']) assert.ok(c.cap_add?.includes(cap), `cap_add has ${cap}`);
  for (const mount of ['/sys/kernel/btf', '/sys/fs/bpf']) assert.ok(c.volumes?.some((v) => v.split(':')[1] === mount), `mounts ${mount}`);
});

function grepTree(dir: string, needle: string): boolean {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) { if (grepTree(full, needle)) return true; }
    else if (entry.name.endsWith('.ts') && fs.readFileSync(full, 'utf8').includes(needle)) return true;
  }
  return false;
}

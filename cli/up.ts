import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { bool, duration, int, list, section, str, type ConfigOf } from '../common/config.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { retentionSection, retentionVars } from '../common/clickhouse/retention.js';
import { describeError, LookbackError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { sweepStaleNetworks } from '../common/netns.js';
import { startLocalStack, type LocalStack } from '../common/stack/index.js';
import { buildDir } from '../bpf/native.js';
import { startDemo, type Demo } from '../demo/index.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';
import { commandConfig, parseCommandArgs } from './args.js';
import { collectorConfig, ingestConfig, queryApiConfig } from './up-configs.js';
import { lockDataDir } from './up-lock.js';
import { choosePorts, type UpPorts } from './up-ports.js';
import { LOOKBACK_BIN, grpcServing, httpOk, metricValue, startService, type RunningService } from './up-services.js';

/**
 * `lookback up`: the whole pipeline on this machine. Starts the local real stack (ClickHouse, Kafka, Redis; the
 * schema registry when asked), applies the migrations, then ingest, the query API and a collector capturing on
 * this host, each a supervised process with a generated config, and waits until each answers. `--demo` first
 * builds Hubble's Star Wars demo as network-namespace pods (demo/) and points the collector at them. Ctrl-C or
 * SIGTERM stops in order: the demo's traffic, the collector (its last flows reach Kafka), the demo's pods, ingest
 * (stores and commits what it holds), the query API, the stack.
 */
const port = (def: number, doc: string) => int(def, { min: 0, max: 65535, doc: `${doc}; 0: any free port` });

export const upSpec = {
  dataDir: str('.lookback/data', { doc: 'where the stack keeps its data between runs (plus generated configs and logs)' }),
  fresh: bool(false, { doc: 'wipe the data directory before starting' }),
  registry: bool(false, { doc: 'also start the Confluent-compatible schema registry' }),
  database: str('lookback', { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, describe: 'an identifier' }),
  retention: retentionSection,
  node: section({
    name: str(os.hostname(), { doc: 'this node\'s name in flows' }),
    cluster: str('default', { doc: 'the cluster name in flows' }),
  }),
  capture: section({
    endpointInterfaces: list(str(''), ['lxc*', 'veth*'], { doc: "pods' host-side interfaces to capture on (globs; --demo uses its own pods')" }),
    networkInterfaces: list(str(''), [], { doc: "uplinks to capture on (globs), e.g. eth0; none by default" }),
  }),
  ports: section({
    grpc: port(4245, "the query API's Hubble Observer gRPC port (where `lookback observe` and `hubble` look)"),
    http: port(8090, "the query API's HTTP port (where `lookback deps` looks)"),
    observer: port(4244, "the collector's live Observer (moves to a free port when taken)"),
    collectorMetrics: port(9965, "the collector's metrics (moves when taken)"),
    ingestMetrics: port(9466, "ingest's metrics (moves when taken)"),
  }),
  kafkaPartitions: int(3, { min: 1, max: 1000, doc: 'partitions of the flow topic when it is created' }),
  startTimeout: duration('90s', { min: 1000, doc: 'how long each service may take to become ready' }),
  demo: section({
    enabled: bool(false, { doc: "run Hubble's Star Wars demo on network-namespace pods (--demo)" }),
    interval: duration('3s', { min: 200, doc: 'how often each demo client pod sends its traffic' }),
  }),
};
export type UpConfig = ConfigOf<typeof upSpec>;

const USAGE = `usage: lookback up [--demo] [--data-dir DIR] [--fresh] [--registry] [--config FILE] [--set key=value]...

  --demo           also run Hubble's Star Wars demo (pods in network namespaces, traffic on a loop)
  --data-dir DIR   where data, generated configs and logs live (default .lookback/data); kept between runs
  --fresh          wipe the data directory first
  --registry       also start the schema registry
  --help-config    every key of the config (ports, capture interfaces, retention, ...)
`;

/** What is running, in start order; stopped in the order the class comment gives. */
interface Running {
  stack?: LocalStack;
  demo?: Demo;
  services: Map<string, RunningService>;
}

function preflight(cfg: UpConfig): void {
  if (process.geteuid?.() !== 0) {
    throw new LookbackError('permission', 'lookback up captures with eBPF and --demo creates network namespaces: run it as root (sudo)');
  }
  const addon = path.join(buildDir(), 'Release', 'lookback_bpf.node');
  if (!fs.existsSync(addon)) {
    throw new LookbackError('missing_dependency', `lookback is not fully built (${addon} is missing): run \`bash scripts/setup.sh\` first (npm start does)`);
  }
  if (cfg.demo.enabled) {
    for (const tool of ['ip', 'nft']) {
      const found = (process.env['PATH'] ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, tool)));
      if (!found) throw new LookbackError('missing_dependency', `the demo needs \`${tool}\` (Debian: apt-get install ${tool === 'ip' ? 'iproute2' : 'nftables'})`);
    }
  }
}

function readyBlock(cfg: UpConfig, p: UpPorts, r: Running, dataDir: string, notes: string[], startMs: number, attached: number): string {
  const e = r.stack!.endpoints;
  const obsServer = p.grpc === 4245 ? '' : ` --server 127.0.0.1:${p.grpc}`;
  const depsServer = p.http === 8090 ? '' : ` --server http://127.0.0.1:${p.http}`;
  const bin = path.relative(process.cwd(), LOOKBACK_BIN) || LOOKBACK_BIN;
  const mib = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
  const rss = [...r.stack!.parts.map((x) => x.rssBytes()), ...[...r.services.values()].map((s) => s.child.rssBytes())].reduce((a, b) => a + b, 0);
  const capture = r.demo
    ? `the demo's ${r.demo.hostInterfaces.length} pods (${r.demo.topology.net.id}-*)`
    : `${[...cfg.capture.endpointInterfaces, ...cfg.capture.networkInterfaces].join(', ')} (${attached} interfaces now, more as they appear)`;
  const tries = r.demo
    ? [
        `lookback observe${obsServer} --since 1m --from-pod default/xwing`,
        `lookback observe${obsServer} --since 5m --verdict DROPPED`,
        `lookback observe${obsServer} --since 1m --type l7 --from-pod default/tiefighter`,
        `lookback deps${depsServer} --since 5m`,
      ]
    : [`lookback observe${obsServer} --since 5m`, `lookback deps${depsServer} --since 1h`];
  return [
    '',
    `lookback is up in ${(startMs / 1000).toFixed(1)} s${r.demo ? ", running Hubble's Star Wars demo" : ''}: capturing on ${capture}.`,
    `  Hubble API     127.0.0.1:${p.grpc} (gRPC; also \`hubble observe --server 127.0.0.1:${p.grpc}\`)`,
    `  HTTP API       http://127.0.0.1:${p.http}/v1/flows, /v1/graph, /openapi.json`,
    `  live Observer  127.0.0.1:${p.observer}    metrics http://127.0.0.1:${p.collectorMetrics}/metrics, http://127.0.0.1:${p.ingestMetrics}/metrics`,
    `  ClickHouse     ${e.clickhouseUrl} (database ${cfg.database})    Kafka ${e.kafkaBrokers?.join(',')} (topic ${DEFAULT_FLOW_TOPIC})`,
    ...(e.registryUrl ? [`  registry       ${e.registryUrl}`] : []),
    `  data and logs  ${dataDir} (${mib(rss)} RSS in all)`,
    ...notes.map((n) => `  note: ${n}`),
    `Try, in another terminal (lookback is \`node ${bin}\`):`,
    ...tries.map((t) => `  ${t}`),
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function stopAll(r: Running, log: Logger): Promise<void> {
  const step = async (what: string, fn: () => Promise<void> | undefined): Promise<void> => {
    const t0 = Date.now();
    try {
      await fn();
      log.info(`stopped ${what}`, { ms: Date.now() - t0 });
    } catch (err) {
      log.warn(`stopping ${what} failed`, { error: describeError(err) });
    }
  };
  const svc = async (name: string, graceMs: number): Promise<void> => {
    const s = r.services.get(name);
    if (s) await step(`the ${name}`, () => s.child.stop(graceMs));
  };
  // The demo's traffic first, so the collector's last flows are complete; the collector before ingest, so its
  // last flows reach Kafka; ingest before the stack, so it stores and commits them.
  if (r.demo) await step('demo traffic', () => Promise.all(r.demo!.traffic.map((c) => c.stop(2000))).then(() => undefined));
  await svc('collector', 30_000);
  if (r.demo) await step('demo pods', () => r.demo!.stop());
  await svc('ingest', 40_000);
  await svc('query-api', 10_000);
  if (r.stack) await step('local stack', () => r.stack!.stop());
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { 'data-dir': { type: 'string' }, fresh: { type: 'boolean' }, registry: { type: 'boolean' }, demo: { type: 'boolean' } });
  const set: string[] = [];
  if (values['data-dir']) set.push(`dataDir=${values['data-dir']}`);
  if (values.fresh) set.push('fresh=true');
  if (values.registry) set.push('registry=true');
  if (values.demo) set.push('demo.enabled=true');
  const cfg = commandConfig(upSpec, values, USAGE, set);
  if (typeof cfg === 'number') return cfg;

  const log = createLogger('up');
  preflight(cfg);
  const dataDir = path.resolve(cfg.dataDir);
  const lock = lockDataDir(dataDir);
  // Pods of a run that was killed (SIGKILL, power loss) outlive it: their owner is gone, so remove them now.
  const swept = sweepStaleNetworks();
  if (swept.length) log.info('removed pod networks left by runs that were killed', { networks: swept.join(',') });
  const t0 = Date.now();
  const running: Running = { services: new Map() };
  let stopReason: string | undefined;
  let wake: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => { wake = resolve; });
  const requestStop = (reason: string): void => {
    if (stopReason) {
      // A second Ctrl-C: leave now. Children die with us (pdeathsig); the demo's namespaces go in the exit handler.
      log.warn('stopping at once', { signal: reason });
      process.exit(130);
    }
    stopReason = reason;
    log.info('stopping', { reason });
    wake?.();
  };
  // Our children are unref'd: this timer is what keeps us running until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  process.on('SIGINT', () => requestStop('SIGINT'));
  process.on('SIGTERM', () => requestStop('SIGTERM'));
  const aborted = (): boolean => stopReason !== undefined;
  const checkpoint = (): void => {
    if (aborted()) throw new LookbackError('internal', `start-up interrupted by ${stopReason}`);
  };

  let exitCode = 0;
  try {
    const { ports, notes } = await choosePorts(cfg.ports);
    if (cfg.fresh) {
      for (const f of fs.readdirSync(dataDir)) if (f !== 'up.pid') fs.rmSync(path.join(dataDir, f), { recursive: true, force: true });
    }
    const runDir = path.join(dataDir, 'run');
    const logDir = path.join(dataDir, 'logs');

    // The stack and the demo's pods do not depend on each other: build them together.
    log.info('starting the local stack' + (cfg.demo.enabled ? " and the demo's pods" : ''), { dataDir });
    const [stack, demo] = await Promise.allSettled([
      startLocalStack({ dataDir, registry: cfg.registry, log }),
      cfg.demo.enabled
        ? startDemo({ workDir: path.join(dataDir, 'demo'), nodeName: cfg.node.name, cluster: cfg.node.cluster, intervalMs: cfg.demo.interval })
        : Promise.resolve(undefined),
    ]);
    if (stack.status === 'fulfilled') running.stack = stack.value;
    if (demo.status === 'fulfilled') running.demo = demo.value;
    if (stack.status === 'rejected') throw stack.reason;
    if (demo.status === 'rejected') throw demo.reason;
    checkpoint();

    const e = running.stack!.endpoints;
    const clickhouseUrl = e.clickhouseUrl!;
    const brokers = e.kafkaBrokers!;
    const ch = createClient({ url: clickhouseUrl });
    try {
      const res = await migrate(ch, { database: cfg.database, vars: retentionVars(cfg.retention), log: log.child('migrate') });
      log.info('migrations', { applied: res.applied.length, alreadyApplied: res.alreadyApplied });
    } finally {
      await ch.close();
    }
    checkpoint();

    const base = { runDir, logDir, timeoutMs: cfg.startTimeout, aborted };
    // A service that dies once started stops everything, quoting its log.
    const watch = (s: RunningService): void => {
      running.services.set(s.name, s);
      void s.child.exited.then((code) => {
        if (stopReason) return;
        const tail = s.child.tail(15).split('\n').map((l) => `    ${l}`).join('\n');
        process.stderr.write(`lookback up: the ${s.name} exited unexpectedly (${code}); stopping everything. Last lines of ${s.child.logFile}:\n${tail}\n`);
        exitCode = 1;
        requestStop(`${s.name} exited`);
      });
    };
    const started = await Promise.allSettled([
      startService({
        ...base, name: 'ingest', config: ingestConfig(cfg, ports, brokers, clickhouseUrl),
        ready: () => httpOk(`http://127.0.0.1:${ports.ingestMetrics}/metrics`),
      }),
      startService({
        ...base, name: 'query-api', config: queryApiConfig(cfg, ports, brokers, clickhouseUrl),
        ready: async () => (await httpOk(`http://127.0.0.1:${ports.http}/healthz`)) && grpcServing(`127.0.0.1:${ports.grpc}`),
      }),
    ]);
    for (const s of started) if (s.status === 'fulfilled') watch(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    checkpoint();

    // The collector last: everything it captures has somewhere to go. Ready once its Observer answers and the
    // probe is attached to the interfaces that exist (all the demo's pods with --demo).
    const wantInterfaces = running.demo?.hostInterfaces.length ?? 0;
    const collector = await startService({
      ...base, name: 'collector', config: collectorConfig(cfg, ports, brokers, running.demo),
      ready: async () => (await grpcServing(`127.0.0.1:${ports.observer}`))
        && ((await metricValue(`http://127.0.0.1:${ports.collectorMetrics}/metrics`, 'lookback_collector_interfaces')) ?? -1) >= wantInterfaces,
    });
    watch(collector);
    checkpoint();

    if (running.demo) {
      running.demo.startTraffic();
      // Ready means the first flows are stored: `lookback observe` then has something to show.
      const deadline = Date.now() + 30_000;
      const url = `http://127.0.0.1:${ports.ingestMetrics}/metrics`;
      const stored = async (): Promise<boolean> => ((await metricValue(url, 'lookback_ingest_rows_inserted_total').catch(() => 0)) ?? 0) > 0;
      while (!aborted() && Date.now() < deadline && !(await stored())) await new Promise((r) => setTimeout(r, 250));
      checkpoint();
      if (!(await stored())) log.warn('no flow was stored in the first 30 s: see the logs', { logs: logDir });
    }

    const attached = (await metricValue(`http://127.0.0.1:${ports.collectorMetrics}/metrics`, 'lookback_collector_interfaces').catch(() => undefined)) ?? 0;
    process.stdout.write(readyBlock(cfg, ports, running, dataDir, notes, Date.now() - t0, attached));
    await stopped;
  } catch (err) {
    if (!aborted()) {
      // The error itself is printed once, by the CLI edge.
      if (running.stack || running.demo || running.services.size) log.info('start-up failed: stopping what was started');
      await stopAll(running, log);
      lock.release();
      clearInterval(keepAlive);
      throw err;
    }
    log.info('start-up interrupted', { reason: stopReason });
  }
  await stopAll(running, log);
  lock.release();
  clearInterval(keepAlive);
  log.info('stopped', { reason: stopReason });
  return exitCode;
}

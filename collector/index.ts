/**
 * The collector, assembled: the composition root shared by `lookback collector` (cli/collector.ts) and the tests.
 * Components are built in order (enrichment, flow builder, ring, publisher, metrics, Observer, capture) and
 * stopped in reverse; stop() ends live connections in the probe so their last counters are published, then
 * flushes the publish queue.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { createFlowCodec, type FlowCodec } from '../schemas/avro-codec.js';
import { createRegistryClient } from '../schemas/registry-client.js';
import { valueSubject } from '../schemas/topics.js';
import type { CollectorConfig } from './config.js';
import { DnsCache } from './enrich/dns-cache.js';
import { createInventorySource } from './enrich/inventory.js';
import { createKubernetesSource, type KubernetesSourceOptions } from './enrich/kubernetes.js';
import { createEndpointStore, type EndpointStore } from './enrich/store.js';
import type { EnrichmentSource } from './enrich/types.js';
import { FlowBuilder } from './flow-builder.js';
import { InterfaceTable } from './interfaces.js';
import { createCollectorMetrics, type CollectorMetrics, type ContextLabel } from './metrics.js';
import { startObserverServer, type ObserverServer } from './observer/server.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { createProbeSource } from './probe-source.js';
import { assertPublisherConfig, createKafkaPublisher, type Publisher } from './publish/kafka-publisher.js';
import { createReplaySource } from './replay-source.js';
import { Ring } from './ring.js';
import type { CaptureSource } from './source.js';

export interface CollectorDeps {
  /** A capture source to use instead of the configured one (tests: a replay source). */
  source?: CaptureSource;
  /** A Kubernetes client configuration (tests: the fake API server). */
  kubeConfig?: KubernetesSourceOptions['kubeConfig'];
  log?: Logger;
}

export interface Collector {
  readonly config: CollectorConfig;
  readonly source: CaptureSource;
  readonly store: EndpointStore;
  readonly dnsCache: DnsCache;
  readonly builder: FlowBuilder;
  readonly ring: Ring;
  readonly pipeline: Pipeline;
  readonly publisher: Publisher | undefined;
  readonly metrics: CollectorMetrics | undefined;
  readonly observer: ObserverServer | undefined;
  readonly enrichment: EnrichmentSource | undefined;
  readonly version: string;
  start(): Promise<void>;
  /** Stops capture (publishing the last counters), then everything else in reverse order. */
  stop(): Promise<void>;
}

export function lookbackVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function payloadPorts(cfg: CollectorConfig): { tcp: number[]; udp: number[] } {
  const tcp = new Set([...cfg.l7.dnsPorts, ...cfg.l7.httpPorts, ...cfg.l7.kafkaPorts]);
  return { tcp: [...tcp].sort((a, b) => a - b), udp: [...new Set(cfg.l7.dnsPorts)].sort((a, b) => a - b) };
}

export function createCollector(cfg: CollectorConfig, deps: CollectorDeps = {}): Collector {
  const log = deps.log ?? silentLogger;
  const version = lookbackVersion();
  assertPublisherConfig({ ...cfg.kafka, lingerMs: cfg.kafka.linger, retryBackoffMinMs: cfg.kafka.retryBackoffMin, retryBackoffMaxMs: cfg.kafka.retryBackoffMax, requestTimeoutMs: cfg.kafka.requestTimeout });

  const source: CaptureSource = deps.source ?? (cfg.source.kind === 'replay'
    ? createReplaySource({ file: cfg.source.replayFile })
    : createProbeSource({
        endpointInterfaces: cfg.capture.endpointInterfaces,
        networkInterfaces: cfg.capture.networkInterfaces,
        rescanIntervalMs: cfg.capture.rescanInterval,
        attachMode: cfg.capture.attachMode,
        ringBytes: cfg.capture.ringBytes,
        flowTableSize: cfg.capture.flowTableSize,
        snapLength: cfg.capture.snapLength,
        activeTimeoutMs: cfg.capture.activeTimeout,
        idleTimeoutMs: cfg.capture.idleTimeout,
        closedIdleTimeoutMs: cfg.capture.closedIdleTimeout,
        sweepIntervalMs: cfg.capture.sweepInterval,
        coalesceMs: cfg.capture.coalesce,
        dropIgnoreReasons: cfg.capture.dropIgnoreReasons,
        payloadPorts: payloadPorts(cfg),
        recordFile: cfg.source.recordFile,
      }, { log: log.child('probe') }));

  const store = createEndpointStore({ nodeName: cfg.node.name, cluster: cfg.node.cluster });
  let enrichment: EnrichmentSource | undefined;
  if (cfg.enrichment.source === 'inventory') {
    enrichment = createInventorySource(store, { file: cfg.enrichment.inventoryFile, cluster: cfg.node.cluster, reloadIntervalMs: cfg.enrichment.inventoryReloadInterval, log: log.child('inventory') });
  } else if (cfg.enrichment.source === 'kubernetes') {
    enrichment = createKubernetesSource(store, {
      kubeconfig: cfg.enrichment.kubeconfig,
      ...(deps.kubeConfig ? { kubeConfig: deps.kubeConfig } : {}),
      reconnectBackoffMs: cfg.enrichment.reconnectBackoff,
      log: log.child('kubernetes'),
    });
  }

  const dnsCache = new DnsCache({ maxEntries: cfg.dns.cacheSize, maxNamesPerIp: cfg.dns.maxNamesPerIp, minTtlMs: cfg.dns.minTtl, maxTtlMs: cfg.dns.maxTtl });
  const builder = new FlowBuilder({
    nodeName: cfg.node.name,
    cluster: cfg.node.cluster,
    nodeLabels: cfg.node.labels,
    emitterVersion: version,
    l7: {
      dnsPorts: cfg.l7.dnsPorts, httpPorts: cfg.l7.httpPorts, kafkaPorts: cfg.l7.kafkaPorts, httpHeaders: cfg.l7.httpHeaders,
      pendingTimeoutMs: cfg.l7.pendingTimeout, maxPending: cfg.l7.maxPending,
    },
    connectionTableSize: cfg.flows.connectionTableSize,
    endedGraceMs: cfg.flows.endedGrace,
    connectionIdleMs: Math.max(cfg.capture.idleTimeout, cfg.capture.activeTimeout) * 2 + cfg.capture.sweepInterval + 60_000,
  }, {
    interfaces: new InterfaceTable((i) => source.interfaceName(i), cfg.capture.networkInterfaces),
    resolver: store,
    dnsCache,
    bootTimeNs: source.bootTimeNs,
    hostNetns: source.hostNetns,
  });
  const ring = new Ring(cfg.ring.capacity);

  let publisher: Publisher | undefined;
  let metrics: CollectorMetrics | undefined;
  let observer: ObserverServer | undefined;

  if (cfg.metrics.enabled) {
    metrics = createCollectorMetrics({
      address: cfg.metrics.address,
      port: cfg.metrics.port,
      contextLabels: cfg.metrics.contextLabels as ContextLabel[],
      seriesTtlMs: cfg.metrics.seriesTtl,
      maxSeriesPerFamily: cfg.metrics.maxSeriesPerFamily,
    }, {
      log: log.child('metrics'),
      health: () => ({
        queueDepth: publisher?.stats().queued ?? 0,
        queueBytes: publisher?.stats().queuedBytes ?? 0,
        publishLost: publisher?.stats().lost ?? 0,
        kernelLost: source.stats().kernelLost,
        connections: builder.conns.size,
        dnsCacheEntries: dnsCache.size,
        ringFlows: ring.length,
        interfaces: source.stats().interfaces,
        duplicates: builder.stats.duplicates,
        dropsIgnored: builder.stats.dropsIgnored,
        l7: builder.l7.stats,
        records: builder.stats.records,
        pipelineErrors: ((p) => p.errors + p.encodeErrors)(pipeline.stats()),
      }),
    });
    store.onPodDeleted((ns, name) => metrics?.podDeleted(ns, name));
  }

  // (The metrics' health closure above reads `pipeline` only when scraped, after this line ran.)
  const pipeline: Pipeline = createPipeline({ source, builder, ring, metrics, log: log.child('pipeline') });

  let started = false;
  const collector: Collector = {
    config: cfg,
    source,
    store,
    dnsCache,
    builder,
    ring,
    pipeline,
    version,
    enrichment,
    get publisher() { return publisher; },
    get metrics() { return metrics; },
    get observer() { return observer; },
    async start() {
      if (started) return;
      started = true;
      if (enrichment) await enrichment.start();
      // Flows are encoded once, for Kafka and for the ring (which keeps the values; see ring.ts).
      let codec: FlowCodec;
      if (cfg.kafka.enabled) {
        if (cfg.kafka.framing === 'confluent') {
          const registry = createRegistryClient({ url: cfg.kafka.registryUrl });
          codec = await createFlowCodec({ framing: 'confluent', registry, subject: valueSubject(cfg.kafka.topic) });
        } else {
          codec = await createFlowCodec({ framing: 'single-object' });
        }
        publisher = createKafkaPublisher({
          ...cfg.kafka,
          lingerMs: cfg.kafka.linger,
          retryBackoffMinMs: cfg.kafka.retryBackoffMin,
          retryBackoffMaxMs: cfg.kafka.retryBackoffMax,
          requestTimeoutMs: cfg.kafka.requestTimeout,
        }, {
          codec,
          log: log.child('kafka'),
          hooks: {
            onSend: (s, n, ok) => metrics?.publishSend(s, n, ok),
            onLoss: (n, first, last) => pipeline.publishLoss(n, first, last),
          },
        });
        await publisher.start();
      } else {
        codec = await createFlowCodec({ framing: 'single-object' });
      }
      if (metrics) await metrics.start();
      if (cfg.observer.enabled) {
        observer = await startObserverServer({
          address: cfg.observer.address, port: cfg.observer.port, nodeName: cfg.node.name, cluster: cfg.node.cluster,
          version: `lookback ${version}`, ring, namespaces: () => store.namespaces(), log: log.child('observer'),
        });
      }
      pipeline.start(publisher, codec);
      await source.start();
      log.info('collector started', {
        node: cfg.node.name, source: source.kind, enrichment: cfg.enrichment.source,
        observer: observer ? `${observer.address}:${observer.port}` : 'off', metrics: metrics ? `${cfg.metrics.address}:${metrics.port}` : 'off',
        kafka: cfg.kafka.enabled ? `${cfg.kafka.brokers.join(',')}/${cfg.kafka.topic}` : 'off',
      });
    },
    async stop() {
      if (!started) return;
      started = false;
      const step = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          log.warn(`stopping ${what} failed`, { error: describeError(err) });
        }
      };
      await step('capture', () => source.stop({ flush: true }));
      await step('pipeline', () => pipeline.stop());
      await step('observer', () => observer?.stop());
      await step('publisher', () => publisher?.stop(10_000));
      await step('metrics', () => metrics?.stop());
      await step('enrichment', () => enrichment?.stop());
      const p = publisher?.stats();
      log.info('collector stopped', {
        records: Object.values(builder.stats.records).reduce((a, b) => a + b, 0), flows: builder.stats.flows,
        duplicates: builder.stats.duplicates, kernelLost: builder.stats.kernelLost,
        ...(p ? { published: p.sent, publishLost: p.lost, sendErrors: p.sendErrors } : {}),
      });
    },
  };
  return collector;
}

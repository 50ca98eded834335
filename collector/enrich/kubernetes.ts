/**
 * The Kubernetes source: list/watch of pods, services, EndpointSlices, nodes and namespaces with
 * @kubernetes/client-node informers, turned into store updates. The informer relists when its resourceVersion
 * expires (410 Gone) and reports objects that vanished meanwhile as deletions; a watch the server closes is
 * resumed; a watch that fails (API server down, network) is restarted with exponential backoff, so the source
 * recovers by itself. start() waits for the first full list of every kind (bounded by initialSyncTimeout; the
 * collector runs unenriched until then rather than not at all).
 */
import * as k8s from '@kubernetes/client-node';
import { describeError, LookbackError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { EndpointSliceInfo, EnrichmentSink, EnrichmentSource, NodeInfo, PodInfo, ServiceInfo } from './types.js';
import { protocolNumber, workloadsOf } from './workloads.js';

export interface KubernetesSourceOptions {
  /** A kubeconfig file; '' = in-cluster service account, else KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** Or a ready KubeConfig (tests point it at a fake API server). */
  kubeConfig?: k8s.KubeConfig;
  reconnectBackoffMs: number;
  maxBackoffMs?: number;
  initialSyncTimeoutMs?: number;
  log?: Logger;
}

export function podInfo(p: k8s.V1Pod): PodInfo | null {
  const md = p.metadata;
  if (!md?.name) return null;
  const labels = md.labels ?? {};
  const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter((x): x is string => !!x);
  if (ips.length === 0 && p.status?.podIP) ips.push(p.status.podIP);
  return {
    namespace: md.namespace ?? 'default',
    name: md.name,
    ips,
    labels,
    node: p.spec?.nodeName ?? '',
    ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}),
    workloads: workloadsOf(md.ownerReferences?.map((o) => ({ kind: o.kind, name: o.name, controller: o.controller ?? false })), labels),
    hostNetwork: p.spec?.hostNetwork === true,
  };
}

export function serviceInfo(s: k8s.V1Service): ServiceInfo | null {
  const md = s.metadata;
  if (!md?.name) return null;
  const ips = [
    ...(s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : [])),
    ...(s.spec?.externalIPs ?? []),
    ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? ''),
  ].filter((ip) => ip && ip !== 'None');
  const ports = (s.spec?.ports ?? []).flatMap((p) => {
    const proto = protocolNumber(p.protocol);
    if (proto === undefined) return [];
    const target = typeof p.targetPort === 'number' ? p.targetPort : undefined;
    return [{ port: p.port, proto, ...(target !== undefined ? { targetPort: target } : {}), ...(p.name ? { name: p.name } : {}) }];
  });
  return { namespace: md.namespace ?? 'default', name: md.name, ips, ports };
}

export function sliceInfo(e: k8s.V1EndpointSlice): EndpointSliceInfo | null {
  const md = e.metadata;
  const service = md?.labels?.['kubernetes.io/service-name'];
  if (!md?.name || !service) return null;
  return {
    namespace: md.namespace ?? 'default',
    name: md.name,
    service,
    addresses: (e.endpoints ?? []).filter((x) => x.conditions?.ready !== false).flatMap((x) => x.addresses ?? []),
    ports: (e.ports ?? []).flatMap((p) => {
      const proto = protocolNumber(p.protocol);
      return proto === undefined || p.port === undefined ? [] : [{ port: p.port, proto }];
    }),
  };
}

export function nodeInfo(n: k8s.V1Node): NodeInfo | null {
  if (!n.metadata?.name) return null;
  return {
    name: n.metadata.name,
    ips: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address),
    labels: n.metadata.labels ?? {},
  };
}

interface Kind<T extends k8s.KubernetesObject> {
  name: string;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  upsert: (obj: T) => void;
  remove: (obj: T) => void;
}

export function createKubernetesSource(sink: EnrichmentSink, opts: KubernetesSourceOptions): EnrichmentSource {
  const log = opts.log ?? silentLogger;
  const kc = opts.kubeConfig ?? new k8s.KubeConfig();
  if (!opts.kubeConfig) {
    try {
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new LookbackError('config', `the Kubernetes configuration could not be loaded (${describeError(err)}); set enrichment.kubeconfig, KUBECONFIG, or run in a pod with a service account`, { cause: err });
    }
  }
  if (!kc.getCurrentCluster()) {
    throw new LookbackError('config', 'no Kubernetes cluster is configured: set enrichment.kubeconfig to a kubeconfig file, or run lookback in a pod with a service account');
  }
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const stats = { events: 0, errors: 0, restarts: 0, synced: 0 };
  const informers: { informer: k8s.ListWatch<k8s.KubernetesObject>; timer?: NodeJS.Timeout }[] = [];
  let stopped = false;

  const key = (o: k8s.KubernetesObject): [string, string] => [o.metadata?.namespace ?? 'default', o.metadata?.name ?? ''];
  const kinds: Kind<k8s.KubernetesObject>[] = [
    {
      name: 'namespaces', path: '/api/v1/namespaces', list: () => core.listNamespace(),
      upsert: (o) => { if (o.metadata?.name) sink.upsertNamespace({ name: o.metadata.name, labels: o.metadata.labels ?? {} }); },
      remove: (o) => { if (o.metadata?.name) sink.deleteNamespace(o.metadata.name); },
    },
    {
      name: 'nodes', path: '/api/v1/nodes', list: () => core.listNode(),
      upsert: (o) => { const n = nodeInfo(o as k8s.V1Node); if (n) sink.upsertNode(n); },
      remove: (o) => { if (o.metadata?.name) sink.deleteNode(o.metadata.name); },
    },
    {
      name: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces(),
      upsert: (o) => {
        const pod = o as k8s.V1Pod;
        // A finished pod no longer owns its address (Kubernetes may give it to a new pod).
        if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') sink.deletePod(...key(o));
        else { const p = podInfo(pod); if (p) sink.upsertPod(p); }
      },
      remove: (o) => sink.deletePod(...key(o)),
    },
    {
      name: 'services', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces(),
      upsert: (o) => { const s = serviceInfo(o as k8s.V1Service); if (s) sink.upsertService(s); },
      remove: (o) => sink.deleteService(...key(o)),
    },
    {
      name: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces(),
      upsert: (o) => { const e = sliceInfo(o as k8s.V1EndpointSlice); if (e) sink.upsertEndpointSlice(e); },
      remove: (o) => sink.deleteEndpointSlice(...key(o)),
    },
  ];

  function watchKind(kind: Kind<k8s.KubernetesObject>): Promise<void> {
    // Synced once a list has been applied: the informer applies it right after the list call returns, in the
    // same continuation, so a macrotask later it is in the store (the watch may still be connecting).
    const list = async (): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> => {
      const result = await kind.list();
      setImmediate(markSynced);
      return result;
    };
    const informer = new k8s.ListWatch(kind.path, new k8s.Watch(kc), list, false);
    const slot: (typeof informers)[number] = { informer };
    informers.push(slot);
    let backoff = opts.reconnectBackoffMs;
    let synced = false;
    let resolveSync!: () => void;
    const firstSync = new Promise<void>((r) => { resolveSync = r; });
    const onEvent = (fn: (o: k8s.KubernetesObject) => void) => (o: k8s.KubernetesObject): void => {
      stats.events++;
      backoff = opts.reconnectBackoffMs;
      try {
        fn(o);
      } catch (err) {
        log.warn('a Kubernetes object could not be used', { kind: kind.name, error: describeError(err) });
      }
    };
    informer.on('add', onEvent(kind.upsert));
    informer.on('update', onEvent(kind.upsert));
    informer.on('delete', onEvent(kind.remove));
    informer.on('error', (err: unknown) => {
      stats.errors++;
      if (stopped) return;
      log.warn('Kubernetes watch failed; restarting', { kind: kind.name, inMs: backoff, error: describeError(err) });
      slot.timer = setTimeout(() => {
        stats.restarts++;
        void start();
      }, backoff);
      slot.timer.unref();
      backoff = Math.min(maxBackoff, backoff * 2);
    });
    const start = async (): Promise<void> => {
      if (stopped) return;
      try {
        await informer.start();
      } catch (err) {
        stats.errors++;
        log.warn('Kubernetes list failed', { kind: kind.name, error: describeError(err) });
      }
    };
    function markSynced(): void {
      if (synced) return;
      synced = true;
      stats.synced++;
      resolveSync();
    }
    void start();
    return firstSync;
  }

  return {
    kind: 'kubernetes',
    async start() {
      const all = Promise.all(kinds.map(watchKind));
      const timeout = opts.initialSyncTimeoutMs ?? 30_000;
      const done = await Promise.race([all.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeout).unref())]);
      if (!done) log.warn('the Kubernetes API has not listed everything yet; flows stay unenriched until it does', { timeoutMs: timeout });
    },
    async stop() {
      stopped = true;
      for (const s of informers) {
        if (s.timer) clearTimeout(s.timer);
        await s.informer.stop().catch(() => undefined);
      }
    },
    stats: () => ({ ...stats }),
  };
}

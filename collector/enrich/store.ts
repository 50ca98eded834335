/**
 * The enrichment store: pods, services, endpoint slices, nodes and namespaces as the sources report them, and the
 * indexes the flow builder reads per flow (IP -> endpoint, IP:port -> service). Endpoints are built once per pod
 * change and deep-frozen, so every flow shares them and the Avro codec encodes each once.
 *
 * Labels follow Cilium's form: the pod's labels as `k8s:key=value`, the namespace's as
 * `k8s:io.cilium.k8s.namespace.labels.key=value`, plus the cluster, service account and namespace. The identity is
 * derived from that set (Cilium gives every pod with the same labels one identity); reserved identities are
 * Cilium's: 1 host, 2 world, 6 remote-node.
 */
import os from 'node:os';
import { deepFreeze, type Endpoint, type Service } from '../../schemas/flow-types.js';
import type { EndpointResolver, EndpointSliceInfo, EnrichmentSink, NamespaceInfo, NodeInfo, PodInfo, ServiceInfo } from './types.js';

/** Labels Cilium leaves out of identities (they differ per pod or per rollout). */
const IGNORED_LABELS = new Set([
  'pod-template-hash', 'controller-revision-hash', 'pod-template-generation', 'controller-uid',
  'batch.kubernetes.io/controller-uid', 'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index',
]);

const reserved = (identity: number, label: string): Endpoint =>
  deepFreeze({ identity, cluster_name: '', namespace: '', pod_name: '', labels: [label], workloads: [] });

export const WORLD: Endpoint = reserved(2, 'reserved:world');
export const HOST: Endpoint = reserved(1, 'reserved:host');
export const REMOTE_NODE: Endpoint = reserved(6, 'reserved:remote-node');

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A cluster-local identity in Cilium's range (256 and up, below 2^24) from a label set. */
export function identityOf(labels: readonly string[]): number {
  return 256 + (fnv1a(labels.join('\n')) % (0xffffff - 256));
}

export function podLabels(pod: PodInfo, cluster: string, nsLabels: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(pod.labels)) if (!IGNORED_LABELS.has(k)) out.push(`k8s:${k}=${v}`);
  for (const [k, v] of Object.entries(nsLabels ?? {})) out.push(`k8s:io.cilium.k8s.namespace.labels.${k}=${v}`);
  out.push(`k8s:io.cilium.k8s.policy.cluster=${cluster}`);
  if (pod.serviceAccount) out.push(`k8s:io.cilium.k8s.policy.serviceaccount=${pod.serviceAccount}`);
  out.push(`k8s:io.kubernetes.pod.namespace=${pod.namespace}`);
  return out.sort();
}

export interface EndpointStoreOptions {
  /** This node: its pods are local, its addresses are the host. */
  nodeName: string;
  cluster: string;
  /** Addresses of this node; default: every address of this machine's interfaces. */
  hostIps?: string[];
  /** Minimum time between rebuilds of the service index while changes keep coming. */
  serviceRebuildMs?: number;
}

export interface EndpointStore extends EndpointResolver, EnrichmentSink {
  /** Called with (namespace, pod) when a pod goes away (metrics expire its series). */
  onPodDeleted(cb: (namespace: string, name: string) => void): void;
  /** Namespaces with pods, for Observer.GetNamespaces. */
  namespaces(): { cluster: string; namespace: string }[];
  stats(): { pods: number; services: number; endpointSlices: number; nodes: number; ips: number };
}

const svcKey = (port: number, proto: number): number => port * 256 + proto;

export function createEndpointStore(opts: EndpointStoreOptions): EndpointStore {
  const pods = new Map<string, PodInfo>();
  const services = new Map<string, ServiceInfo>();
  const slices = new Map<string, EndpointSliceInfo>();
  const nodes = new Map<string, NodeInfo>();
  const namespaces = new Map<string, NamespaceInfo>();
  const byIp = new Map<string, { endpoint: Endpoint; podKey: string; local: boolean }>();
  const hostIps = new Set(opts.hostIps ?? Object.values(os.networkInterfaces()).flat().map((a) => a?.address ?? '').filter(Boolean));
  const remoteNodeIps = new Set<string>();
  const deleted: ((ns: string, name: string) => void)[] = [];
  let svcIndex = new Map<string, Map<number, Service>>();
  let svcDirty = false;
  let svcBuiltAt = 0;
  const rebuildMs = opts.serviceRebuildMs ?? 200;
  /** Bumped by every change that may change an answer of endpoint() or service() (see EndpointResolver.generation). */
  let gen = 0;

  const key = (ns: string, name: string): string => `${ns}/${name}`;

  function buildEndpoint(pod: PodInfo): Endpoint {
    const cluster = pod.cluster ?? opts.cluster;
    const labels = podLabels(pod, cluster, namespaces.get(pod.namespace)?.labels);
    return deepFreeze({
      identity: pod.identity ?? identityOf(labels),
      cluster_name: cluster,
      namespace: pod.namespace,
      pod_name: pod.name,
      labels,
      workloads: pod.workloads.map((w) => ({ name: w.name, kind: w.kind })),
    });
  }

  function unindexPod(k: string, pod: PodInfo): void {
    for (const ip of pod.ips) if (byIp.get(ip)?.podKey === k) byIp.delete(ip);
  }

  function indexPod(k: string, pod: PodInfo): void {
    if (pod.hostNetwork) return;
    const endpoint = buildEndpoint(pod);
    const local = pod.node === opts.nodeName;
    for (const ip of pod.ips) byIp.set(ip, { endpoint, podKey: k, local });
  }

  function rebuildServices(): void {
    const index = new Map<string, Map<number, Service>>();
    const add = (ip: string, port: number, proto: number, svc: Service): void => {
      let m = index.get(ip);
      if (!m) index.set(ip, (m = new Map()));
      if (!m.has(svcKey(port, proto))) m.set(svcKey(port, proto), svc);
    };
    const frozen = new Map<string, Service>();
    const serviceObj = (ns: string, name: string): Service => {
      const k = key(ns, name);
      let s = frozen.get(k);
      if (!s) frozen.set(k, (s = deepFreeze({ name, namespace: ns })));
      return s;
    };
    for (const svc of services.values()) {
      const s = serviceObj(svc.namespace, svc.name);
      for (const ip of svc.ips) for (const p of svc.ports) add(ip, p.port, p.proto, s);
      if (svc.selector && Object.keys(svc.selector).length > 0) {
        const sel = Object.entries(svc.selector);
        for (const pod of pods.values()) {
          if (pod.namespace !== svc.namespace || pod.hostNetwork) continue;
          if (!sel.every(([k, v]) => pod.labels[k] === v)) continue;
          for (const ip of pod.ips) for (const p of svc.ports) add(ip, p.targetPort ?? p.port, p.proto, s);
        }
      }
    }
    for (const slice of slices.values()) {
      const s = serviceObj(slice.namespace, slice.service);
      for (const ip of slice.addresses) for (const p of slice.ports) add(ip, p.port, p.proto, s);
    }
    svcIndex = index;
    svcDirty = false;
    gen++;
    svcBuiltAt = Date.now();
  }

  function refreshNamespace(ns: string): void {
    for (const [k, pod] of pods) {
      if (pod.namespace !== ns) continue;
      unindexPod(k, pod);
      indexPod(k, pod);
    }
  }

  function refreshNodes(): void {
    remoteNodeIps.clear();
    for (const n of nodes.values()) {
      if (n.name === opts.nodeName) for (const ip of n.ips) hostIps.add(ip);
      else for (const ip of n.ips) remoteNodeIps.add(ip);
    }
  }

  return {
    endpoint(ip) {
      const hit = byIp.get(ip);
      if (hit !== undefined) return hit.endpoint;
      if (hostIps.has(ip)) return HOST;
      if (remoteNodeIps.has(ip)) return REMOTE_NODE;
      return WORLD;
    },
    service(ip, port, proto) {
      if (svcDirty && Date.now() - svcBuiltAt >= rebuildMs) rebuildServices();
      const m = svcIndex.get(ip);
      return m === undefined ? null : m.get(svcKey(port, proto)) ?? null;
    },
    generation() {
      if (svcDirty && Date.now() - svcBuiltAt >= rebuildMs) rebuildServices();
      return gen;
    },
    isLocal(ip) {
      const hit = byIp.get(ip);
      return hit !== undefined ? hit.local : hostIps.has(ip);
    },
    upsertPod(pod) {
      gen++;
      const k = key(pod.namespace, pod.name);
      const old = pods.get(k);
      if (old) unindexPod(k, old);
      pods.set(k, pod);
      indexPod(k, pod);
      svcDirty = true;
    },
    deletePod(ns, name) {
      gen++;
      const k = key(ns, name);
      const old = pods.get(k);
      if (!old) return;
      unindexPod(k, old);
      pods.delete(k);
      svcDirty = true;
      for (const cb of deleted) cb(ns, name);
    },
    upsertService(svc) {
      gen++;
      services.set(key(svc.namespace, svc.name), svc);
      svcDirty = true;
    },
    deleteService(ns, name) {
      gen++;
      services.delete(key(ns, name));
      svcDirty = true;
    },
    upsertEndpointSlice(slice) {
      gen++;
      slices.set(key(slice.namespace, slice.name), slice);
      svcDirty = true;
    },
    deleteEndpointSlice(ns, name) {
      gen++;
      slices.delete(key(ns, name));
      svcDirty = true;
    },
    upsertNode(node) {
      gen++;
      nodes.set(node.name, node);
      refreshNodes();
    },
    deleteNode(name) {
      gen++;
      nodes.delete(name);
      refreshNodes();
    },
    upsertNamespace(ns) {
      const before = JSON.stringify(namespaces.get(ns.name)?.labels ?? {});
      namespaces.set(ns.name, ns);
      if (JSON.stringify(ns.labels) !== before) {
        gen++;
        refreshNamespace(ns.name);
      }
    },
    deleteNamespace(name) {
      if (namespaces.delete(name)) {
        gen++;
        refreshNamespace(name);
      }
    },
    onPodDeleted(cb) {
      deleted.push(cb);
    },
    namespaces() {
      const seen = new Map<string, { cluster: string; namespace: string }>();
      for (const p of pods.values()) {
        const cluster = p.cluster ?? opts.cluster;
        seen.set(`${cluster}/${p.namespace}`, { cluster, namespace: p.namespace });
      }
      return [...seen.values()].sort((a, b) => a.namespace.localeCompare(b.namespace));
    },
    stats: () => ({ pods: pods.size, services: services.size, endpointSlices: slices.size, nodes: nodes.size, ips: byIp.size }),
  };
}

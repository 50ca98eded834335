/**
 * Enrichment: what the collector knows about the addresses it sees. Two sources (a Kubernetes watch, a static
 * inventory file) feed one store (store.ts) through these plain records; the flow builder asks the store through
 * EndpointResolver only.
 */
import type { Endpoint, Service, Workload } from '../../schemas/flow-types.js';

export interface PodInfo {
  namespace: string;
  name: string;
  /** Cluster name; default: the collector's cluster. */
  cluster?: string;
  ips: string[];
  labels: Record<string, string>;
  /** The node the pod runs on. */
  node: string;
  serviceAccount?: string;
  /** Top-level owners (Deployment, StatefulSet, ...), already resolved from owner references. */
  workloads: Workload[];
  /** A fixed numeric identity; default: derived from the security-relevant labels, as Cilium shares one per label set. */
  identity?: number;
  /** Pods with hostNetwork share the node's address and are not indexed by IP. */
  hostNetwork?: boolean;
}

export interface ServicePort {
  port: number;
  /** IANA protocol number (6 TCP, 17 UDP, 132 SCTP). */
  proto: number;
  /** The port on the backends (EndpointSlice port or targetPort); default: port. */
  targetPort?: number;
  name?: string;
}

export interface ServiceInfo {
  namespace: string;
  name: string;
  /** Frontend addresses (ClusterIPs, external IPs, load-balancer IPs). */
  ips: string[];
  ports: ServicePort[];
  /** Pods selected by these labels are backends (inventory); Kubernetes uses EndpointSlices instead. */
  selector?: Record<string, string>;
}

/** One EndpointSlice: backend addresses and ports of a service. */
export interface EndpointSliceInfo {
  namespace: string;
  name: string;
  service: string;
  addresses: string[];
  ports: { port: number; proto: number }[];
}

export interface NodeInfo {
  name: string;
  ips: string[];
  labels: Record<string, string>;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

export interface EndpointResolver {
  /** The endpoint at this address: a deep-frozen object shared by every flow (reserved:world when unknown). */
  endpoint(ip: string): Endpoint;
  /** The service at this address and port (a frontend or a backend), frozen; null when none. */
  service(ip: string, port: number, proto: number): Service | null;
  /** True when the address belongs to a pod on this node, or to this node. */
  isLocal(ip: string): boolean;
  /**
   * Optional: a number that changes whenever an answer of endpoint() or service() may have changed (and applies any
   * change due, as service() would). While it stays the same, callers may keep the answers they got.
   */
  generation?(): number;
}

/** What a source tells the store. A source that lists everything again (a relist, a file reload) uses replace*. */
export interface EnrichmentSink {
  upsertPod(pod: PodInfo): void;
  deletePod(namespace: string, name: string): void;
  upsertService(svc: ServiceInfo): void;
  deleteService(namespace: string, name: string): void;
  upsertEndpointSlice(slice: EndpointSliceInfo): void;
  deleteEndpointSlice(namespace: string, name: string): void;
  upsertNode(node: NodeInfo): void;
  deleteNode(name: string): void;
  upsertNamespace(ns: NamespaceInfo): void;
  deleteNamespace(name: string): void;
}

export interface EnrichmentSource {
  readonly kind: 'inventory' | 'kubernetes';
  /** Resolves once the first full state is in the store. */
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, number>;
}

/**
 * The Star Wars scenario from Hubble's own demo (Cilium's examples/minikube/http-sw-app.yaml), as plain data: the
 * pods with their Kubernetes names and labels, the two services, the names coredns answers and the external
 * hosts. topology.ts turns it into network namespaces, inventory.ts into the collector's inventory.
 */
import crypto from 'node:crypto';

export interface DemoPod {
  /** The network-namespace pod's short name (common/netns.ts: 1-20 of a-z, 0-9, -). */
  key: 'xwing' | 'tiefighter' | 'deathstar-1' | 'deathstar-2' | 'coredns';
  namespace: string;
  /** The Kubernetes pod name (Deployment pods get a ReplicaSet hash and a suffix, as in a cluster). */
  name: string;
  labels: Record<string, string>;
  owner?: { kind: 'ReplicaSet'; name: string };
}

export interface DemoService {
  namespace: string;
  name: string;
  /** The service address clients use; translated to a backend inside each client pod (see topology.ts). */
  vip: string;
  port: number;
  protocols: Array<'TCP' | 'UDP'>;
  selector: Record<string, string>;
}

export interface ExternalHost {
  name: string;
  /** Documentation addresses (RFC 5737): they exist only in the demo's "outside world" namespace. */
  ip: string;
  port: number;
}

export interface Scenario {
  pods: DemoPod[];
  services: DemoService[];
  external: ExternalHost[];
  /** The HTTP request each client makes to the deathstar service. */
  landing: { host: string; path: string };
}

// Kubernetes' name suffix alphabet (no vowels, no look-alikes).
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function suffix(n: number): string {
  return Array.from(crypto.randomBytes(n), (b) => ALPHABET[b % ALPHABET.length]).join('');
}

export const DEATHSTAR_HOST = 'deathstar.default.svc.cluster.local';
export const KUBE_DNS_HOST = 'kube-dns.kube-system.svc.cluster.local';

/** A fresh scenario: pod names get new hashes each run, like a redeployed cluster. */
export function createScenario(): Scenario {
  const deathstarRs = `deathstar-${suffix(10)}`;
  const corednsRs = `coredns-${suffix(10)}`;
  const deathstar = (key: 'deathstar-1' | 'deathstar-2'): DemoPod => ({
    key,
    namespace: 'default',
    name: `${deathstarRs}-${suffix(5)}`,
    labels: { class: 'deathstar', org: 'empire', 'app.kubernetes.io/name': 'deathstar', 'pod-template-hash': deathstarRs.slice('deathstar-'.length) },
    owner: { kind: 'ReplicaSet', name: deathstarRs },
  });
  return {
    pods: [
      // xwing and tiefighter are bare pods in Hubble's demo: no owner, so no workload.
      { key: 'xwing', namespace: 'default', name: 'xwing', labels: { class: 'xwing', org: 'alliance', 'app.kubernetes.io/name': 'xwing' } },
      { key: 'tiefighter', namespace: 'default', name: 'tiefighter', labels: { class: 'tiefighter', org: 'empire', 'app.kubernetes.io/name': 'tiefighter' } },
      deathstar('deathstar-1'),
      deathstar('deathstar-2'),
      {
        key: 'coredns',
        namespace: 'kube-system',
        name: `${corednsRs}-${suffix(5)}`,
        labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': corednsRs.slice('coredns-'.length) },
        owner: { kind: 'ReplicaSet', name: corednsRs },
      },
    ],
    services: [
      { namespace: 'default', name: 'deathstar', vip: '10.96.0.20', port: 80, protocols: ['TCP'], selector: { class: 'deathstar', org: 'empire' } },
      { namespace: 'kube-system', name: 'kube-dns', vip: '10.96.0.10', port: 53, protocols: ['UDP', 'TCP'], selector: { 'k8s-app': 'kube-dns' } },
    ],
    external: [
      { name: 'www.disney.com', ip: '198.51.100.10', port: 443 },
      { name: 'api.twitter.com', ip: '203.0.113.20', port: 443 },
    ],
    landing: { host: DEATHSTAR_HOST, path: '/v1/request-landing' },
  };
}

/** The zone coredns serves: service names to their addresses, external names to theirs. */
export function dnsZone(s: Scenario): Record<string, string[]> {
  const zone: Record<string, string[]> = {};
  for (const svc of s.services) zone[`${svc.name}.${svc.namespace}.svc.cluster.local`] = [svc.vip];
  for (const h of s.external) zone[h.name] = [h.ip];
  return zone;
}

/**
 * A pod's workloads from its controller owner reference, as Hubble names them: a ReplicaSet made by a Deployment
 * is the Deployment (its name is the Deployment's plus the pod-template-hash), a Job made by a CronJob is the
 * CronJob (its name is the CronJob's plus a scheduled-time suffix), anything else is itself.
 */
import type { Workload } from '../../schemas/flow-types.js';

export interface OwnerRef {
  kind: string;
  name: string;
  controller?: boolean;
}

export function workloadsOf(owners: readonly OwnerRef[] | undefined, labels: Record<string, string>): Workload[] {
  const owner = owners?.find((o) => o.controller) ?? owners?.[0];
  if (!owner) return [];
  const hash = labels['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
    return [{ name: owner.name.slice(0, -hash.length - 1), kind: 'Deployment' }];
  }
  if (owner.kind === 'Job') {
    const m = /^(.+)-\d{8,}$/.exec(owner.name);
    if (m) return [{ name: m[1]!, kind: 'CronJob' }];
  }
  return [{ name: owner.name, kind: owner.kind }];
}

const PROTOCOLS: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** Kubernetes protocol names to IANA numbers (TCP when absent, as Kubernetes defaults). */
export function protocolNumber(name: string | undefined): number | undefined {
  return PROTOCOLS[(name ?? 'TCP').toUpperCase()];
}

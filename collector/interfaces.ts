/**
 * What an interface is to the node, and so where a packet seen on it was observed. Pods' host-side interfaces
 * (veth, lxc): TC ingress carries what the pod sends (from-endpoint), egress what it receives (to-endpoint).
 * Uplinks: ingress is from the network, egress to it. Names are matched against glob patterns from the config.
 */
import { TRACE_OBSERVATION_POINTS, type NetworkInterface, type TraceObservationPoint } from '../schemas/flow-types.js';

export type InterfaceClass = 'endpoint' | 'network';

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function matchesAny(name: string, patterns: readonly RegExp[]): boolean {
  return patterns.some((p) => p.test(name));
}

/** Hubble's trace sub_type for an observation point (the monitor's TRACE_* numbers; TO_ENDPOINT is 0 there). */
export function traceSubType(point: TraceObservationPoint): number {
  return point === 'TO_ENDPOINT' ? 0 : TRACE_OBSERVATION_POINTS[point];
}

export function observationPoint(cls: InterfaceClass, egress: boolean): TraceObservationPoint {
  if (cls === 'network') return egress ? 'TO_NETWORK' : 'FROM_NETWORK';
  return egress ? 'TO_ENDPOINT' : 'FROM_ENDPOINT';
}

/** Whether the sender of a packet seen on this interface is on the local side (the pod, or the node). */
export function senderIsLocal(cls: InterfaceClass, egress: boolean): boolean {
  return cls === 'network' ? egress : !egress;
}

export interface InterfaceInfo {
  index: number;
  name: string;
  cls: InterfaceClass;
  /** Frozen, shared by every flow seen on it. */
  flowInterface: NetworkInterface;
}

/** Interface facts by index, cached; names come from the capture source. */
export class InterfaceTable {
  private readonly byIndex = new Map<number, InterfaceInfo>();
  private readonly network: RegExp[];

  constructor(private readonly nameOf: (ifindex: number) => string, networkPatterns: readonly string[]) {
    this.network = networkPatterns.map(globToRegExp);
  }

  get(index: number): InterfaceInfo {
    let info = this.byIndex.get(index);
    if (info === undefined) {
      const name = this.nameOf(index);
      info = {
        index,
        name,
        cls: name && matchesAny(name, this.network) ? 'network' : 'endpoint',
        flowInterface: Object.freeze({ index, name }),
      };
      // An unnamed interface may get its name later (created after the first packet): do not cache that.
      if (name) this.byIndex.set(index, info);
    }
    return info;
  }

  /** Forget an interface (it was deleted; its index may be reused). */
  forget(index: number): void {
    this.byIndex.delete(index);
  }
}

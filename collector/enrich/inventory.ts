/**
 * The static inventory source: pods, services, nodes and namespaces from a YAML file, for hosts without
 * Kubernetes and for the demo (format: collector/inventory.example.yaml). The file is checked every reload
 * interval and re-read when it changed; a file that does not validate is reported and the previous state kept.
 * Changes reach the store as upserts and deletions, so deleted pods expire their metrics like in Kubernetes.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { describeError, LookbackError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { parseIp } from '../../common/ip.js';
import type { EnrichmentSink, EnrichmentSource, NamespaceInfo, NodeInfo, PodInfo, ServiceInfo } from './types.js';
import { protocolNumber, workloadsOf, type OwnerRef } from './workloads.js';

export interface Inventory {
  pods: PodInfo[];
  services: ServiceInfo[];
  nodes: NodeInfo[];
  namespaces: NamespaceInfo[];
}

class Bad extends Error {}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Bad(`${where} must be a mapping`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Bad(`${where} must be a list`);
  return v;
}
function text(v: unknown, where: string, required = true): string {
  if (v === undefined || v === null) {
    if (required) throw new Bad(`${where} is missing`);
    return '';
  }
  if (typeof v !== 'string' || (required && v === '')) throw new Bad(`${where} must be a non-empty string`);
  return v;
}
function labels(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = obj(v, where);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') throw new Bad(`${where}.${k} must be a string`);
    out[k] = String(val);
  }
  return out;
}
function ips(v: unknown, where: string): string[] {
  return arr(v, where).map((x, i) => {
    const s = text(x, `${where}[${i}]`);
    const b = parseIp(s);
    if (!b) throw new Bad(`${where}[${i}] = ${JSON.stringify(s)} is not an IPv4 or IPv6 address`);
    return s;
  });
}
function port(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new Bad(`${where} must be a port number (1-65535)`);
  return v;
}

/** Validates an inventory document; errors name the path of the bad value. */
export function parseInventory(doc: unknown, defaultCluster: string): Inventory {
  const root = doc === null || doc === undefined ? {} : obj(doc, 'the inventory');
  const known = new Set(['cluster', 'nodes', 'namespaces', 'pods', 'services']);
  for (const k of Object.keys(root)) if (!known.has(k)) throw new Bad(`unknown key ${k} (allowed: ${[...known].join(', ')})`);
  const cluster = root['cluster'] === undefined ? defaultCluster : text(root['cluster'], 'cluster');
  const nodes = arr(root['nodes'], 'nodes').map((n, i): NodeInfo => {
    const o = obj(n, `nodes[${i}]`);
    return { name: text(o['name'], `nodes[${i}].name`), ips: ips(o['ips'], `nodes[${i}].ips`), labels: labels(o['labels'], `nodes[${i}].labels`) };
  });
  const namespaces = arr(root['namespaces'], 'namespaces').map((n, i): NamespaceInfo => {
    const o = obj(n, `namespaces[${i}]`);
    return { name: text(o['name'], `namespaces[${i}].name`), labels: labels(o['labels'], `namespaces[${i}].labels`) };
  });
  const pods = arr(root['pods'], 'pods').map((p, i): PodInfo => {
    const w = `pods[${i}]`;
    const o = obj(p, w);
    const podLabels = labels(o['labels'], `${w}.labels`);
    let workloads = arr(o['workloads'], `${w}.workloads`).map((x, j) => {
      const wo = obj(x, `${w}.workloads[${j}]`);
      return { kind: text(wo['kind'], `${w}.workloads[${j}].kind`), name: text(wo['name'], `${w}.workloads[${j}].name`) };
    });
    if (workloads.length === 0 && o['owner'] !== undefined) {
      const ow = obj(o['owner'], `${w}.owner`);
      const ref: OwnerRef = { kind: text(ow['kind'], `${w}.owner.kind`), name: text(ow['name'], `${w}.owner.name`), controller: true };
      workloads = workloadsOf([ref], podLabels);
    }
    const identity = o['identity'];
    if (identity !== undefined && (typeof identity !== 'number' || !Number.isInteger(identity) || identity < 1 || identity > 0xffffffff)) {
      throw new Bad(`${w}.identity must be a positive integer`);
    }
    return {
      namespace: text(o['namespace'] ?? 'default', `${w}.namespace`),
      name: text(o['name'], `${w}.name`),
      cluster: o['cluster'] === undefined ? cluster : text(o['cluster'], `${w}.cluster`),
      ips: ips(o['ips'], `${w}.ips`),
      labels: podLabels,
      node: text(o['node'], `${w}.node`, false),
      ...(o['serviceAccount'] !== undefined ? { serviceAccount: text(o['serviceAccount'], `${w}.serviceAccount`) } : {}),
      workloads,
      ...(typeof identity === 'number' ? { identity } : {}),
      hostNetwork: o['hostNetwork'] === true,
    };
  });
  const services = arr(root['services'], 'services').map((s, i): ServiceInfo => {
    const w = `services[${i}]`;
    const o = obj(s, w);
    return {
      namespace: text(o['namespace'] ?? 'default', `${w}.namespace`),
      name: text(o['name'], `${w}.name`),
      ips: ips(o['ips'], `${w}.ips`),
      ports: arr(o['ports'], `${w}.ports`).map((p, j) => {
        const po = obj(p, `${w}.ports[${j}]`);
        const proto = protocolNumber(po['protocol'] === undefined ? undefined : text(po['protocol'], `${w}.ports[${j}].protocol`));
        if (proto === undefined) throw new Bad(`${w}.ports[${j}].protocol must be TCP, UDP or SCTP`);
        return {
          port: port(po['port'], `${w}.ports[${j}].port`),
          proto,
          ...(po['targetPort'] !== undefined ? { targetPort: port(po['targetPort'], `${w}.ports[${j}].targetPort`) } : {}),
        };
      }),
      ...(o['selector'] !== undefined ? { selector: labels(o['selector'], `${w}.selector`) } : {}),
    };
  });
  return { pods, services, nodes, namespaces };
}

export function readInventoryFile(file: string, defaultCluster: string): Inventory {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LookbackError('config', `inventory file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseInventory(YAML.parse(raw), defaultCluster);
  } catch (err) {
    throw new LookbackError('config', `inventory file ${file}: ${describeError(err)}`, { cause: err });
  }
}

export interface InventorySourceOptions {
  file: string;
  cluster: string;
  reloadIntervalMs: number;
  log?: Logger;
}

export function createInventorySource(sink: EnrichmentSink, opts: InventorySourceOptions): EnrichmentSource {
  const log = opts.log ?? silentLogger;
  let applied: { pods: Map<string, string>; services: Map<string, string>; nodes: Map<string, string>; namespaces: Map<string, string> } = {
    pods: new Map(), services: new Map(), nodes: new Map(), namespaces: new Map(),
  };
  let stamp = '';
  let timer: NodeJS.Timeout | undefined;
  const stats = { loads: 0, reloadErrors: 0, pods: 0, services: 0 };

  function apply(inv: Inventory): void {
    const next = { pods: new Map<string, string>(), services: new Map<string, string>(), nodes: new Map<string, string>(), namespaces: new Map<string, string>() };
    // Namespaces first: pods' labels include their namespace's.
    for (const ns of inv.namespaces) {
      const j = JSON.stringify(ns);
      next.namespaces.set(ns.name, j);
      if (applied.namespaces.get(ns.name) !== j) sink.upsertNamespace(ns);
    }
    for (const n of inv.nodes) {
      const j = JSON.stringify(n);
      next.nodes.set(n.name, j);
      if (applied.nodes.get(n.name) !== j) sink.upsertNode(n);
    }
    for (const p of inv.pods) {
      const k = `${p.namespace}/${p.name}`;
      const j = JSON.stringify(p);
      next.pods.set(k, j);
      if (applied.pods.get(k) !== j) sink.upsertPod(p);
    }
    for (const s of inv.services) {
      const k = `${s.namespace}/${s.name}`;
      const j = JSON.stringify(s);
      next.services.set(k, j);
      if (applied.services.get(k) !== j) sink.upsertService(s);
    }
    const split = (k: string): [string, string] => [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)];
    for (const k of applied.pods.keys()) if (!next.pods.has(k)) sink.deletePod(...split(k));
    for (const k of applied.services.keys()) if (!next.services.has(k)) sink.deleteService(...split(k));
    for (const k of applied.nodes.keys()) if (!next.nodes.has(k)) sink.deleteNode(k);
    for (const k of applied.namespaces.keys()) if (!next.namespaces.has(k)) sink.deleteNamespace(k);
    applied = next;
    stats.loads++;
    stats.pods = inv.pods.length;
    stats.services = inv.services.length;
  }

  function fileStamp(): string {
    try {
      const st = fs.statSync(opts.file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  function check(): void {
    const now = fileStamp();
    if (now === stamp) return;
    stamp = now;
    try {
      apply(readInventoryFile(opts.file, opts.cluster));
      log.info('inventory loaded', { file: opts.file, pods: stats.pods, services: stats.services });
    } catch (err) {
      stats.reloadErrors++;
      log.error('inventory not reloaded; keeping the previous one', { error: describeError(err) });
    }
  }

  return {
    kind: 'inventory',
    async start() {
      stamp = fileStamp();
      apply(readInventoryFile(opts.file, opts.cluster)); // the first load must succeed: a bad file is a config error
      timer = setInterval(check, opts.reloadIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
    },
    stats: () => ({ ...stats }),
  };
}

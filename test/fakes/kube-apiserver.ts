/**
 * A FAKE Kubernetes API server for tests: just the list/watch protocol of the resources lookback's collector
 * watches (namespaces, nodes, pods, services, EndpointSlices), over plain HTTP on 127.0.0.1. No real Kubernetes
 * runs on the test machines, so the Kubernetes enrichment source is tested against this.
 *
 * What it speaks, as the real API server does: `GET /api/v1/pods` lists with the collection's resourceVersion;
 * `?watch=true&resourceVersion=N` streams newline-delimited {type, object} events after N (ADDED, MODIFIED,
 * DELETED), and answers a resourceVersion older than its history with a single ERROR event (410 Expired) before
 * closing, which makes clients list again. Test controls: create/update/remove objects, close every open watch
 * (server-side timeout), compact history (next resume gets 410), stop and start again on the same port (outage).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Kind = 'namespaces' | 'nodes' | 'pods' | 'services' | 'endpointslices';

const KINDS: Record<Kind, { path: RegExp; apiVersion: string; kind: string; namespaced: boolean }> = {
  namespaces: { path: /^\/api\/v1\/namespaces$/, apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  nodes: { path: /^\/api\/v1\/nodes$/, apiVersion: 'v1', kind: 'Node', namespaced: false },
  pods: { path: /^\/api\/v1\/pods$/, apiVersion: 'v1', kind: 'Pod', namespaced: true },
  services: { path: /^\/api\/v1\/services$/, apiVersion: 'v1', kind: 'Service', namespaced: true },
  endpointslices: { path: /^\/apis\/discovery\.k8s\.io\/v1\/endpointslices$/, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespaced: true },
};

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown }; [k: string]: unknown };

interface Event {
  rv: number;
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

export interface FakeKubeApiServer {
  readonly url: string;
  readonly port: number;
  create(kind: Kind, obj: Obj): void;
  update(kind: Kind, obj: Obj): void;
  remove(kind: Kind, namespace: string | undefined, name: string): void;
  /** Ends every open watch stream, as the server does at its watch timeout. */
  closeWatches(): void;
  /** Forgets the event history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Stops listening (connections refused), keeping the objects. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  readonly stats: { lists: Record<Kind, number>; watches: Record<Kind, number>; expired: number };
  /** Open watch streams per kind. */
  openWatches(kind?: Kind): number;
  close(): Promise<void>;
}

const zero = (): Record<Kind, number> => ({ namespaces: 0, nodes: 0, pods: 0, services: 0, endpointslices: 0 });

export async function startFakeKubeApiServer(): Promise<FakeKubeApiServer> {
  const objects: Record<Kind, Map<string, Obj>> = { namespaces: new Map(), nodes: new Map(), pods: new Map(), services: new Map(), endpointslices: new Map() };
  let history: Event[] = [];
  let oldestRv = 1;
  let rv = 1;
  let uid = 0;
  const watchers = new Set<{ kind: Kind; res: http.ServerResponse }>();
  const stats = { lists: zero(), watches: zero(), expired: 0 };
  const sockets = new Set<import('node:net').Socket>();

  const keyOf = (o: Obj): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

  function record(kind: Kind, type: Event['type'], obj: Obj): void {
    rv++;
    const stamped: Obj = {
      apiVersion: KINDS[kind].apiVersion, kind: KINDS[kind].kind, ...obj,
      metadata: { uid: obj.metadata.uid ?? `uid-${++uid}`, ...obj.metadata, resourceVersion: String(rv) },
    };
    if (type === 'DELETED') objects[kind].delete(keyOf(obj));
    else objects[kind].set(keyOf(obj), stamped);
    const ev: Event = { rv, kind, type, object: stamped };
    history.push(ev);
    for (const w of watchers) if (w.kind === kind) w.res.write(JSON.stringify({ type, object: stamped }) + '\n');
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry = (Object.entries(KINDS) as [Kind, (typeof KINDS)[Kind]][]).find(([, k]) => k.path.test(url.pathname));
    if (!entry || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound', message: `the fake API server does not serve ${req.method} ${url.pathname}` }));
      return;
    }
    const [kind, meta] = entry;
    if (url.searchParams.get('watch') === 'true') {
      stats.watches[kind]++;
      const from = Number(url.searchParams.get('resourceVersion') || '0');
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      if (from < oldestRv - 1) {
        stats.expired++;
        res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${oldestRv})` } }) + '\n');
        return;
      }
      for (const ev of history) if (ev.kind === kind && ev.rv > from) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
      const w = { kind, res };
      watchers.add(w);
      req.on('close', () => watchers.delete(w));
      return;
    }
    stats.lists[kind]++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      apiVersion: meta.apiVersion, kind: `${meta.kind}List`, metadata: { resourceVersion: String(rv) }, items: [...objects[kind].values()],
    }));
  }

  const server = http.createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;

  const dropConnections = (): void => {
    for (const w of watchers) w.res.end();
    watchers.clear();
    for (const s of sockets) s.destroy();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    create: (kind, obj) => record(kind, 'ADDED', obj),
    update: (kind, obj) => record(kind, 'MODIFIED', obj),
    remove(kind, namespace, name) {
      const existing = objects[kind].get(`${namespace ?? ''}/${name}`);
      if (existing) record(kind, 'DELETED', existing);
    },
    closeWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    compact() {
      history = [];
      oldestRv = rv + 1;
    },
    async pause() {
      await new Promise<void>((r) => {
        server.close(() => r());
        dropConnections();
      });
    },
    async resume() {
      await new Promise<void>((r, j) => {
        server.once('error', j);
        server.listen(port, '127.0.0.1', () => r());
      });
    },
    openWatches: (kind) => [...watchers].filter((w) => kind === undefined || w.kind === kind).length,
    async close() {
      dropConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Kubernetes objects as the API server serializes them (only the fields lookback reads). */
export const k8sObjects = {
  pod(p: { namespace: string; name: string; ip: string; node: string; labels?: Record<string, string>; owner?: { kind: string; name: string }; serviceAccount?: string; phase?: string }): Obj {
    return {
      metadata: {
        name: p.name, namespace: p.namespace, labels: p.labels ?? {},
        ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'owner', controller: true }] } : {}),
      },
      spec: { nodeName: p.node, serviceAccountName: p.serviceAccount ?? 'default', containers: [{ name: 'c', image: 'x' }] },
      status: { phase: p.phase ?? 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
    };
  },
  service(s: { namespace: string; name: string; clusterIP: string; port: number; targetPort?: number; protocol?: string }): Obj {
    return {
      metadata: { name: s.name, namespace: s.namespace },
      spec: { clusterIP: s.clusterIP, clusterIPs: [s.clusterIP], ports: [{ port: s.port, protocol: s.protocol ?? 'TCP', targetPort: s.targetPort ?? s.port }] },
    };
  },
  endpointSlice(e: { namespace: string; name: string; service: string; addresses: string[]; port: number; protocol?: string }): Obj {
    return {
      metadata: { name: e.name, namespace: e.namespace, labels: { 'kubernetes.io/service-name': e.service } },
      addressType: 'IPv4',
      endpoints: e.addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ port: e.port, protocol: e.protocol ?? 'TCP' }],
    };
  },
  node(n: { name: string; ip: string; labels?: Record<string, string> }): Obj {
    return { metadata: { name: n.name, labels: n.labels ?? {} }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } };
  },
  namespace(n: { name: string; labels?: Record<string, string> }): Obj {
    return { metadata: { name: n.name, labels: n.labels ?? {} } };
  },
};

/**
 * The collector's live Observer: Hubble's Observer gRPC API over the ring (default 127.0.0.1:4244, Hubble's port),
 * so an unmodified `hubble observe --server 127.0.0.1:4244` and `hubble status` work against a node. GetFlows
 * takes number, first, follow, since/until, whitelist/blacklist (the shared FlowFilter engine) and field_mask;
 * a reader that falls behind the ring gets a LostEvent (HUBBLE_RING_BUFFER) with the count it missed, then
 * continues with the oldest event still there. The gRPC health service answers SERVING for
 * hubble.server.Observer, which `hubble status` checks first.
 */
import * as grpc from '@grpc/grpc-js';
import { isLookbackError, describeError } from '../../common/errors.js';
import { compileFlowFilters, type CompiledFlowFilters } from '../../common/flow-filter/index.js';
import { createFieldMask, nodeNameOf, toHubbleFlow, type FieldMask } from '../../common/hubble-flow.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { loadHubbleGrpc, nanosFromTimestamp, OBSERVER_HEALTH_SERVICE, timestampFromNanos } from '../../schemas/proto-loader.js';
import type { Ring, RingEntry } from '../ring.js';

export interface ObserverServerOptions {
  address: string;
  port: number;
  /** Node name as flows carry it, and the cluster (Hubble names nodes cluster/node). */
  nodeName: string;
  cluster: string;
  version: string;
  ring: Ring;
  /** Namespaces known to enrichment, for GetNamespaces (namespaces seen in the ring are added). */
  namespaces?: () => { cluster: string; namespace: string }[];
  log?: Logger;
}

export interface ObserverServer {
  /** The port actually bound (differs from the option when it was 0). */
  readonly port: number;
  readonly address: string;
  /** Streams in progress (GetFlows, health Watch). */
  activeStreams(): number;
  stop(): Promise<void>;
}

type Req = Record<string, unknown>;

const U64_MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function toCount(v: unknown): number {
  try {
    const n = BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0);
    return n > U64_MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(n < 0n ? 0n : n);
  } catch {
    return 0;
  }
}

/** Ends a server stream with a status: grpc-js sends the status of an 'error' event (destroy() would send none). */
function fail(call: grpc.ServerWritableStream<Req, unknown>, err: unknown): void {
  call.emit('error', Object.assign(new Error(describeError(err)), grpcError(err)));
}

function grpcError(err: unknown): Partial<grpc.StatusObject> {
  if (isLookbackError(err) && err.code === 'invalid_argument') return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.INTERNAL, details: describeError(err) };
}

export async function startObserverServer(opts: ObserverServerOptions): Promise<ObserverServer> {
  const log = opts.log ?? silentLogger;
  const { observerService, healthService } = loadHubbleGrpc();
  const ring = opts.ring;
  const startedAt = process.hrtime.bigint();
  const nodeName = opts.cluster ? `${opts.cluster}/${opts.nodeName}` : opts.nodeName;
  const streams = new Set<grpc.ServerWritableStream<Req, unknown>>();

  // flows_rate: events per second over the last minute, from samples taken every second.
  const samples: [number, number][] = [];
  const sampler = setInterval(() => {
    samples.push([Date.now(), ring.total]);
    if (samples.length > 61) samples.shift();
  }, 1000);
  sampler.unref();
  const flowsRate = (): number => {
    const first = samples[0];
    if (!first) return 0;
    const dt = (Date.now() - first[0]) / 1000;
    return dt > 0 ? (ring.total - first[1]) / dt : 0;
  };
  const uptimeNs = (): string => String(process.hrtime.bigint() - startedAt);

  function response(e: RingEntry, mask: FieldMask): Record<string, unknown> {
    if (e.kind === 'flow') {
      return { flow: mask.apply(toHubbleFlow(e.flow)), node_name: nodeNameOf(e.flow), time: timestampFromNanos(e.timeNs) };
    }
    return {
      lost_events: {
        source: e.lost.source, num_events_lost: String(e.lost.count), cpu: null,
        first: timestampFromNanos(e.lost.firstNs), last: timestampFromNanos(e.lost.lastNs),
      },
      node_name: nodeName,
      time: timestampFromNanos(e.timeNs),
    };
  }

  function ringLost(count: number): Record<string, unknown> {
    const now = timestampFromNanos(BigInt(Date.now()) * 1_000_000n);
    return { lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: String(count), cpu: null, first: null, last: null }, node_name: nodeName, time: now };
  }

  async function getFlows(call: grpc.ServerWritableStream<Req, unknown>): Promise<void> {
    const req = call.request;
    let filters: CompiledFlowFilters;
    try {
      filters = compileFlowFilters({ whitelist: req['whitelist'] as never, blacklist: req['blacklist'] as never });
    } catch (err) {
      fail(call, err);
      return;
    }
    const mask = createFieldMask((req['field_mask'] as { paths?: string[] } | null)?.paths);
    const since = nanosFromTimestamp(req['since'] as never);
    const until = nanosFromTimestamp(req['until'] as never);
    const follow = req['follow'] === true;
    const first = req['first'] === true;
    const number = Math.min(toCount(req['number']), ring.capacity);
    const abort = new AbortController();
    const onGone = (): void => abort.abort();
    call.on('cancelled', onGone);
    call.on('close', onGone);
    call.on('error', onGone);
    streams.add(call);

    const inTime = (t: bigint): boolean => (since === null || t >= since) && (until === null || t <= until);
    const matches = (e: RingEntry): boolean => e.kind === 'lost' ? inTime(e.timeNs) : inTime(e.timeNs) && filters.matches(e.flow);

    const end = ring.next;
    let pos: number;
    if (first || (number === 0 && (!follow || since !== null))) {
      pos = ring.oldest;
    } else if (number > 0) {
      // The newest `number` matching flows: find where they start, then stream forwards.
      pos = end;
      let found = 0;
      for (let seq = end - 1; seq >= ring.oldest && found < number; seq--) {
        const r = ring.read(seq);
        if (r && 'entry' in r) {
          pos = seq;
          if (r.entry.kind === 'flow' && matches(r.entry)) found++;
        }
      }
    } else {
      pos = end; // follow without history
    }

    const drain = (): Promise<void> => new Promise((resolve) => {
      const done = (): void => {
        call.removeListener('drain', done);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      call.once('drain', done);
      abort.signal.addEventListener('abort', done, { once: true });
    });
    const send = async (msg: Record<string, unknown>): Promise<void> => {
      if (!call.write(msg)) await drain();
    };

    let emitted = 0;
    try {
      while (!abort.signal.aborted) {
        if (!follow && pos >= end) break;
        if (first && number > 0 && emitted >= number) break;
        const r = ring.read(pos);
        if (r === null) {
          await ring.waitFor(pos, abort.signal);
          continue;
        }
        if ('lost' in r) {
          await send(ringLost(r.lost));
          pos = r.next;
          continue;
        }
        pos++;
        if (!matches(r.entry)) continue;
        await send(response(r.entry, mask));
        if (r.entry.kind === 'flow') emitted++;
      }
      if (!abort.signal.aborted) call.end();
    } catch (err) {
      log.warn('GetFlows failed', { error: describeError(err) });
      fail(call, err);
    } finally {
      streams.delete(call);
    }
  }

  const observer: grpc.UntypedServiceImplementation = {
    GetFlows: (call: grpc.ServerWritableStream<Req, unknown>) => void getFlows(call),
    GetAgentEvents: (call: grpc.ServerWritableStream<Req, unknown>) => call.end(),
    GetDebugEvents: (call: grpc.ServerWritableStream<Req, unknown>) => call.end(),
    GetNodes: (_call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, {
        nodes: [{
          name: nodeName, version: opts.version, address: `${opts.address}:${bound}`, state: 'NODE_CONNECTED',
          tls: { enabled: false, server_name: '' }, uptime_ns: uptimeNs(), num_flows: String(ring.length),
          max_flows: String(ring.capacity), seen_flows: String(ring.total),
        }],
      });
    },
    GetNamespaces: (_call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const seen = new Map<string, { cluster: string; namespace: string }>();
      for (const ns of opts.namespaces?.() ?? []) seen.set(`${ns.cluster}/${ns.namespace}`, ns);
      for (let seq = ring.oldest; seq < ring.next; seq++) {
        const r = ring.read(seq);
        if (!r || !('entry' in r) || r.entry.kind !== 'flow') continue;
        for (const ep of [r.entry.flow.source, r.entry.flow.destination]) {
          if (ep.namespace) seen.set(`${ep.cluster_name}/${ep.namespace}`, { cluster: ep.cluster_name, namespace: ep.namespace });
        }
      }
      cb(null, { namespaces: [...seen.values()].sort((a, b) => a.namespace.localeCompare(b.namespace)) });
    },
    ServerStatus: (_call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, {
        num_flows: String(ring.length), max_flows: String(ring.capacity), seen_flows: String(ring.total),
        uptime_ns: uptimeNs(), num_connected_nodes: { value: 1 }, num_unavailable_nodes: { value: 0 },
        unavailable_nodes: [], version: opts.version, flows_rate: flowsRate(),
      });
    },
  };

  const serving = (service: unknown): boolean => service === '' || service === OBSERVER_HEALTH_SERVICE || service === 'observer.Observer';
  const health: grpc.UntypedServiceImplementation = {
    Check: (call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (serving(call.request['service'])) cb(null, { status: 'SERVING' });
      else cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${String(call.request['service'])}` });
    },
    Watch: (call: grpc.ServerWritableStream<Req, unknown>) => {
      call.write({ status: serving(call.request['service']) ? 'SERVING' : 'SERVICE_UNKNOWN' });
      streams.add(call);
      call.on('cancelled', () => streams.delete(call));
      call.on('close', () => streams.delete(call));
    },
  };

  const server = new grpc.Server({ 'grpc.max_send_message_length': 16 << 20 });
  server.addService(observerService, observer);
  server.addService(healthService, health);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${opts.address.includes(':') ? `[${opts.address}]` : opts.address}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve(port);
    });
  });
  log.info('observer listening', { address: opts.address, port: bound });

  return {
    port: bound,
    address: opts.address,
    activeStreams: () => streams.size,
    async stop() {
      clearInterval(sampler);
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    },
  };
}

/**
 * Hubble's Observer service over lookback's history: GetFlows (with follow through the live tail), ServerStatus,
 * GetNodes, GetNamespaces, and empty agent/debug event streams (lookback records neither). Each response carries
 * the flow's node name and time, as Hubble's do. Errors leave through one mapping (errors.ts).
 */
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { LookbackError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { nodeNameOf, toHubbleFlow, type FieldMask } from '../common/hubble-flow.js';
import { timestampFromNanos } from '../schemas/proto-loader.js';
import type { Flow } from '../schemas/flow-types.js';
import { grpcError } from './errors.js';
import type { FlowStore } from './flow-store.js';
import { parseFlowsRequest, type FlowsRequest } from './flows-request.js';
import type { Inventory } from './inventory.js';
import type { LiveTail } from './live-tail.js';

export interface ObserverDeps {
  store: FlowStore;
  inventory: Inventory;
  liveTail: LiveTail | null;
  log: Logger;
  version: string;
  /** Checks the caller's credentials; throws a LookbackError('permission') when they are missing or wrong. */
  authorize(metadata: grpc.Metadata): void;
  /** History streams served at once (follow streams have their own bound). */
  maxConcurrentStreams: number;
}

type Obj = Record<string, unknown>;

/** Marks a request the decoder could not read (see grpc-server.ts): answered with InvalidArgument. */
export const MALFORMED = Symbol('malformed request');

function checkRequest(request: unknown): Obj {
  const r = request as Obj & { [MALFORMED]?: string };
  if (r[MALFORMED]) throw new LookbackError('invalid_argument', r[MALFORMED]);
  return r;
}

export function flowResponse(flow: Flow, mask: FieldMask): Obj {
  return { flow: mask.apply(toHubbleFlow(flow)), node_name: nodeNameOf(flow), time: timestampFromNanos(flow.time_ns) };
}

export function createObserverHandlers(deps: ObserverDeps): grpc.UntypedServiceImplementation {
  const started = Date.now();
  let streaming = 0;
  const uptimeNs = (): string => String(BigInt(Date.now() - started) * 1_000_000n);

  async function getFlows(call: grpc.ServerWritableStream<Obj, Obj>): Promise<void> {
    const abort = new AbortController();
    const onCancel = (): void => abort.abort();
    call.on('cancelled', onCancel);
    call.on('close', onCancel);
    let sent = 0;
    const write = async (msg: Obj): Promise<void> => {
      if (abort.signal.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
      sent++;
      if (!call.write(msg)) {
        await Promise.race([once(call, 'drain'), once(abort.signal, 'abort')]);
      }
    };
    try {
      deps.authorize(call.metadata);
      const req: FlowsRequest = parseFlowsRequest(checkRequest(call.request));
      if (req.follow) {
        if (!deps.liveTail) throw new LookbackError('unavailable', 'follow is not available: this query API has no live tail (follow.enabled is false or Kafka is not configured)');
        await deps.liveTail.follow(req, (flow) => write(flowResponse(flow, req.mask)), abort.signal);
      } else {
        if (streaming >= deps.maxConcurrentStreams) {
          throw new LookbackError('resource_exhausted', `too many GetFlows requests in progress (limits.maxConcurrentQueries = ${deps.maxConcurrentStreams}); retry shortly`);
        }
        streaming++;
        try {
          await deps.store.stream(req, (flow) => write(flowResponse(flow, req.mask)), abort.signal);
        } finally {
          streaming--;
        }
      }
      if (!abort.signal.aborted) call.end();
    } catch (err) {
      if (abort.signal.aborted) return;
      deps.log.debug('GetFlows failed', { error: (err as Error).message, sent });
      call.emit('error', grpcError(err));
    } finally {
      call.off('cancelled', onCancel);
    }
  }

  function unary<T>(name: string, body: (req: Obj) => Promise<T>) {
    return (call: grpc.ServerUnaryCall<Obj, T>, callback: grpc.sendUnaryData<T>): void => {
      Promise.resolve()
        .then(() => {
          deps.authorize(call.metadata);
          return body(checkRequest(call.request));
        })
        .then((res) => callback(null, res))
        .catch((err: unknown) => {
          deps.log.debug(`${name} failed`, { error: (err as Error).message });
          callback(grpcError(err));
        });
    };
  }

  function emptyStream(call: grpc.ServerWritableStream<Obj, Obj>): void {
    try {
      deps.authorize(call.metadata);
      checkRequest(call.request);
      call.end();
    } catch (err) {
      call.emit('error', grpcError(err));
    }
  }

  return {
    GetFlows: getFlows,
    GetAgentEvents: emptyStream,
    GetDebugEvents: emptyStream,
    ServerStatus: unary('ServerStatus', async () => {
      const s = await deps.inventory.status();
      return {
        num_flows: String(s.numFlows),
        max_flows: '0',
        seen_flows: String(s.seenFlows),
        uptime_ns: uptimeNs(),
        num_connected_nodes: { value: s.nodes.length },
        num_unavailable_nodes: { value: 0 },
        unavailable_nodes: [],
        version: deps.version,
        flows_rate: s.flowsLastMinute / 60,
      };
    }),
    GetNodes: unary('GetNodes', async () => {
      const nodes = await deps.inventory.nodes();
      return {
        nodes: nodes.map((n) => ({
          name: n.name, version: n.version, address: '', state: 'NODE_CONNECTED', tls: { enabled: false, server_name: '' },
          uptime_ns: '0', num_flows: String(n.flows), max_flows: '0', seen_flows: String(n.flows),
        })),
      };
    }),
    GetNamespaces: unary('GetNamespaces', async () => ({ namespaces: await deps.inventory.namespaces() })),
  };
}

/** The standard health service: SERVING for the Observer (what `hubble status` checks first) and for the server. */
export function createHealthHandlers(authorize: (m: grpc.Metadata) => void, services: readonly string[]): grpc.UntypedServiceImplementation {
  const known = new Set(['', ...services]);
  return {
    Check(call: grpc.ServerUnaryCall<Obj, Obj>, callback: grpc.sendUnaryData<Obj>) {
      try {
        authorize(call.metadata);
        const service = String((call.request as Obj)['service'] ?? '');
        if (!known.has(service)) throw new LookbackError('not_found', `unknown service ${JSON.stringify(service)}`);
        callback(null, { status: 'SERVING' });
      } catch (err) {
        callback(grpcError(err));
      }
    },
    Watch(call: grpc.ServerWritableStream<Obj, Obj>) {
      try {
        authorize(call.metadata);
        const service = String((call.request as Obj)['service'] ?? '');
        call.write({ status: known.has(service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
        // Nothing ever changes: keep the stream open until the client leaves.
      } catch (err) {
        call.emit('error', grpcError(err));
      }
    },
  };
}

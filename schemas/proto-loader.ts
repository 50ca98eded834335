/**
 * Loads lookback's Hubble-compatible .proto files (schemas/proto) for grpc-js, once per process.
 *
 * Object shapes (the options below decide them; every server and client of ours sees the same):
 * - keepCase: field names exactly as Hubble spells them (`IP`, `Type`, `Summary`, `source_pod`), so the objects
 *   read like Hubble's JSON output and like the notes.
 * - longs: String. Every 64-bit field arrives as a decimal string and may be written as a number or a decimal
 *   string. Number would silently round above 2^53, and several uint64 fields are identifiers or hostile input,
 *   not small counters: IPTraceID.trace_id and FlowFilter.ip_trace_id are random 64-bit values, socket_cookie and
 *   cgroup_id are kernel identifiers, and GetFlowsRequest.number can be 2^64-1 from a hostile client, which we
 *   must see exactly to refuse it. Counters (num_flows, seen_flows, uptime_ns) and Timestamp.seconds pay a
 *   Number()/BigInt() at the edge; the timestamp helpers below do it once.
 * - enums: String. Verdicts, drop reasons and observation points read as Hubble's names (`DROPPED`); a number
 *   this file does not know (a newer Cilium drop code) comes through as the number instead of being lost.
 * - defaults: true. Absent scalars read as their zero value, repeated fields as [], absent messages as null, so
 *   wrapper types keep "absent" apart from "false" (Flow.is_reply is null when unknown).
 * - oneofs: true. A oneof also reads as the name of the member that is set
 *   (GetFlowsResponse.response_types === 'flow', Layer4.protocol === 'TCP', Layer7.record === 'dns').
 * Well-known types (Timestamp, Any, FieldMask, wrappers, ...) come from protobufjs's bundled copies, which
 * proto-loader resolves before looking on disk; no google/ directory is needed next to our files.
 *
 * Unset oneof members are absent from decoded objects (not null); the oneof's name says which one is set.
 * Decoding is protobufjs's and lenient: truncated input throws, but a known field sent with the wrong wire type
 * is read anyway, so servers validate values rather than rely on the decoder. On encode, an enum name this file
 * does not know silently becomes 0: write names from the .proto files or numbers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LookbackError, describeError } from '../common/errors.js';

/** The files, relative to the include root; imports inside them use the same form (`flow/flow.proto`). */
export const PROTO_FILES = [
  'flow/flow.proto',
  'relay/relay.proto',
  'observer/observer.proto',
  'grpc/health/v1/health.proto',
] as const;

/** The health-check service name the hubble CLI asks about; it must answer SERVING. */
export const OBSERVER_HEALTH_SERVICE = 'hubble.server.Observer';

/**
 * Where the .proto files live. The compiled module runs from dist/schemas/ while the files stay in schemas/proto,
 * so look beside this module first (a build that copies them) and then in the source tree.
 */
function findProtoRoot(): string {
  const candidates = [new URL('./proto/', import.meta.url), new URL('../../schemas/proto/', import.meta.url)].map(
    (u) => fileURLToPath(u),
  );
  for (const dir of candidates) {
    if (existsSync(`${dir}flow/flow.proto`)) return dir;
  }
  throw new LookbackError(
    'missing_dependency',
    `lookback's Hubble .proto files were not found (looked for flow/flow.proto in ${candidates.join(' and ')}); ` +
      'run lookback from a complete checkout or copy schemas/proto next to the compiled schemas module',
  );
}

export const PROTO_ROOT: string = findProtoRoot();

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition of all our files (messages, enums, services, file descriptors), loaded once. */
export function loadProtoDefinitions(): protoLoader.PackageDefinition {
  if (cached === undefined) {
    try {
      cached = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
    } catch (err) {
      const message = `the Hubble .proto files in ${PROTO_ROOT} could not be loaded: ${describeError(err)}`;
      throw new LookbackError('schema', message, { cause: err });
    }
  }
  return cached;
}

export interface HubbleGrpc {
  /** For server.addService: /observer.Observer/GetFlows, ServerStatus, ... */
  observerService: grpc.ServiceDefinition;
  /** For server.addService: /grpc.health.v1.Health/Check and Watch. */
  healthService: grpc.ServiceDefinition;
  ObserverClient: grpc.ServiceClientConstructor;
  HealthClient: grpc.ServiceClientConstructor;
}

let grpcCached: HubbleGrpc | undefined;

/** Service definitions and client constructors for grpc-js. */
export function loadHubbleGrpc(): HubbleGrpc {
  if (grpcCached === undefined) {
    const loaded = grpc.loadPackageDefinition(loadProtoDefinitions());
    const ObserverClient = lookupService(loaded, ['observer', 'Observer']);
    const HealthClient = lookupService(loaded, ['grpc', 'health', 'v1', 'Health']);
    grpcCached = {
      observerService: ObserverClient.service,
      healthService: HealthClient.service,
      ObserverClient,
      HealthClient,
    };
  }
  return grpcCached;
}

function lookupService(obj: grpc.GrpcObject, path: string[]): grpc.ServiceClientConstructor {
  let node: unknown = obj;
  for (const part of path) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function' || !('service' in node)) {
    throw new LookbackError('schema', `service ${path.join('.')} is missing from the .proto files in ${PROTO_ROOT}`);
  }
  return node as grpc.ServiceClientConstructor;
}

export interface MessageCodec {
  /** Plain object (shape as above; enums by name or number, 64-bit as string/number) to protobuf bytes. */
  encode(value: object): Buffer;
  /** Protobuf bytes to a plain object; throws on malformed input. */
  decode(bytes: Buffer | Uint8Array): Record<string, unknown>;
}

/** Encoder/decoder for one message type by full name, e.g. 'flow.Flow', 'observer.GetFlowsRequest'. */
export function messageCodec(typeName: string): MessageCodec {
  const def = loadProtoDefinitions()[typeName];
  if (def === undefined || def.format !== 'Protocol Buffer 3 DescriptorProto') {
    throw new LookbackError('internal', `${typeName} is not a message type of the .proto files in ${PROTO_ROOT}`);
  }
  const message = def as protoLoader.MessageTypeDefinition<object, Record<string, unknown>>;
  return {
    encode: (value) => message.serialize(value),
    decode: (bytes) => message.deserialize(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)),
  };
}

/** A google.protobuf.Timestamp as these options read it (seconds as a decimal string) or as callers may write it. */
export interface TimestampObject {
  seconds: string | number;
  nanos: number;
}

const NS_PER_S = 1_000_000_000n;

/** Nanoseconds since the epoch to a Timestamp; nanos is always 0..999999999, also before 1970. */
export function timestampFromNanos(ns: bigint): TimestampObject {
  let seconds = ns / NS_PER_S;
  let nanos = ns % NS_PER_S;
  if (nanos < 0n) {
    nanos += NS_PER_S;
    seconds -= 1n;
  }
  return { seconds: seconds.toString(), nanos: Number(nanos) };
}

/** A Timestamp to nanoseconds since the epoch; null when absent (e.g. no `since` in the request). */
export function nanosFromTimestamp(ts: Partial<TimestampObject> | null | undefined): bigint | null {
  if (ts === null || ts === undefined) return null;
  return BigInt(ts.seconds ?? 0) * NS_PER_S + BigInt(ts.nanos ?? 0);
}

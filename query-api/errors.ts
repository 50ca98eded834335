/**
 * The query API's one error mapping: LookbackError codes and ClickHouse errors to a gRPC status and an HTTP status,
 * with a message a user can act on. A query stopped by a limit is the user's to narrow, not a server fault.
 */
import * as grpc from '@grpc/grpc-js';
import { ClickHouseError } from '@clickhouse/client';
import { LookbackError, describeError, type ErrorCode } from '../common/errors.js';

export interface MappedError {
  grpc: grpc.status;
  http: number;
  /** A short machine-readable name for HTTP error bodies. */
  code: string;
  message: string;
}

const BY_CODE: Record<ErrorCode, [grpc.status, number]> = {
  invalid_argument: [grpc.status.INVALID_ARGUMENT, 400],
  config: [grpc.status.INVALID_ARGUMENT, 400],
  not_found: [grpc.status.NOT_FOUND, 404],
  // The query API raises 'permission' only for a missing or wrong bearer token.
  permission: [grpc.status.UNAUTHENTICATED, 401],
  resource_exhausted: [grpc.status.RESOURCE_EXHAUSTED, 429],
  unavailable: [grpc.status.UNAVAILABLE, 503],
  missing_dependency: [grpc.status.UNAVAILABLE, 503],
  schema: [grpc.status.FAILED_PRECONDITION, 500],
  internal: [grpc.status.INTERNAL, 500],
};

/** ClickHouse error codes that mean "this query asked too much" (limits), and those that mean "bad query". */
const CH_LIMITS = new Set(['159', '241', '396', '158', '307', '160', '161', '290']);
const CH_BAD_QUERY = new Set(['62', '47', '46', '43', '53', '36', '44', '386', '48', '60', '81', '497', '164', '425', '6', '27', '69', '70', '395']);

export function mapError(err: unknown): MappedError {
  if (err instanceof LookbackError) {
    const [g, h] = BY_CODE[err.code];
    return { grpc: g, http: h, code: err.code, message: err.message };
  }
  if (err instanceof ClickHouseError) {
    const first = err.message.split('\n')[0]!.replace(/\s*\(version [^)]*\)\s*$/, '').slice(0, 600);
    // A query stopped by a cost limit is the caller's to narrow: 400 over HTTP, RESOURCE_EXHAUSTED over gRPC.
    if (CH_LIMITS.has(err.code)) return { grpc: grpc.status.RESOURCE_EXHAUSTED, http: 400, code: 'resource_exhausted', message: `the query hit a limit: ${first}` };
    if (CH_BAD_QUERY.has(err.code)) return { grpc: grpc.status.INVALID_ARGUMENT, http: 400, code: 'invalid_argument', message: `ClickHouse refused the query: ${first}` };
    return { grpc: grpc.status.INTERNAL, http: 500, code: 'internal', message: `ClickHouse error ${err.code}: ${first}` };
  }
  const msg = describeError(err);
  if (/ECONNREFUSED|ECONNRESET|socket hang up|Timeout error/i.test(msg)) {
    return { grpc: grpc.status.UNAVAILABLE, http: 503, code: 'unavailable', message: `ClickHouse is not reachable: ${msg}` };
  }
  if ((err as Error)?.name === 'AbortError') return { grpc: grpc.status.CANCELLED, http: 499, code: 'cancelled', message: 'cancelled' };
  return { grpc: grpc.status.INTERNAL, http: 500, code: 'internal', message: msg };
}

export function grpcError(err: unknown): grpc.ServiceError {
  const m = mapError(err);
  const e = new Error(m.message) as grpc.ServiceError;
  e.code = m.grpc;
  e.details = m.message;
  e.metadata = new grpc.Metadata();
  return e;
}

/**
 * One error type for all of lookback. Each edge (gRPC status, HTTP status, CLI exit code) maps it once.
 * Callers decide on `retriable`, never on message text (the kafkajs convention).
 */
export type ErrorCode =
  | 'config' // a configuration key is missing, unknown or out of range
  | 'invalid_argument' // user input (filter, query, request) is malformed
  | 'not_found'
  | 'unavailable' // a dependency (Kafka, ClickHouse, Redis, registry) cannot be reached
  | 'missing_dependency' // something that must be installed is not
  | 'schema' // a storage or wire schema does not match what we expect
  | 'resource_exhausted' // a limit was reached (queue full, query too large)
  | 'permission' // not root, no capability
  | 'internal';

export class LookbackError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message);
    this.name = 'LookbackError';
    this.code = code;
    this.retriable = opts.retriable ?? code === 'unavailable';
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

export function isLookbackError(err: unknown): err is LookbackError {
  return err instanceof LookbackError;
}

/** A one-line description of any thrown value, for logs and user-facing messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A GetFlowsRequest (decoded protobuf, or the same model as JSON from the HTTP API) checked and compiled once:
 * filters through the shared FlowFilter engine, times as nanoseconds, `number` exactly (a uint64 arrives as a
 * decimal string; the hubble CLI's `--all` sends 2^64-1), field mask paths. Every refusal is an InvalidArgument
 * whose message says what is wrong.
 */
import { LookbackError } from '../common/errors.js';
import { compileFlowFilters, type CompiledFlowFilters, type FlowFilter } from '../common/flow-filter/index.js';
import { createFieldMask, type FieldMask } from '../common/hubble-flow.js';
import { columnsForMask } from './columns.js';

export interface FlowsRequest {
  filters: CompiledFlowFilters;
  sinceNs: bigint | null;
  untilNs: bigint | null;
  number: bigint;
  first: boolean;
  follow: boolean;
  mask: FieldMask;
  /** The columns the mask needs (null: all). */
  columns: string[] | null;
}

/** Go's Timestamp.CheckValid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
const MAX_UINT64 = 2n ** 64n - 1n;

function bad(message: string): LookbackError {
  return new LookbackError('invalid_argument', message);
}

/** A Timestamp ({seconds, nanos}) or, from JSON, an RFC 3339 string; null when absent. */
export function parseTime(value: unknown, name: string): bigint | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms)) throw bad(`${name}: ${JSON.stringify(value.slice(0, 60))} is not an RFC 3339 time (like 2025-11-26T08:00:00Z)`);
    const frac = /\.(\d{1,9})/.exec(value)?.[1];
    const ns = BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + (frac ? BigInt(frac.padEnd(9, '0')) : 0n);
    return ns;
  }
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(`${name} must be a Timestamp {seconds, nanos}`);
  const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
  const secText = seconds === undefined || seconds === null ? '0' : String(seconds);
  if (!/^-?\d{1,20}$/.test(secText)) throw bad(`${name}.seconds: ${JSON.stringify(secText.slice(0, 40))} is not an integer`);
  const s = BigInt(secText);
  if (s < MIN_SECONDS || s > MAX_SECONDS) throw bad(`${name}.seconds = ${s} is outside the valid range of a Timestamp (years 1 to 9999)`);
  const n = nanos === undefined || nanos === null ? 0 : nanos;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999_999_999) throw bad(`${name}.nanos = ${JSON.stringify(n)} is outside 0..999999999`);
  return s * 1_000_000_000n + BigInt(n);
}

function parseNumber(value: unknown): bigint {
  if (value === undefined || value === null || value === '') return 0n;
  const text = String(value);
  if (!/^\d{1,20}$/.test(text)) throw bad(`number: ${JSON.stringify(text.slice(0, 40))} is not an unsigned integer`);
  const n = BigInt(text);
  if (n > MAX_UINT64) throw bad(`number: ${text} does not fit in 64 bits`);
  return n;
}

function parseBool(value: unknown, name: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw bad(`${name} must be true or false`);
  return value;
}

function maskPaths(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const paths = (value as { paths?: unknown }).paths;
  if (paths === undefined || paths === null) return [];
  if (!Array.isArray(paths) || paths.length > 1000) throw bad('field_mask.paths must be a list of at most 1000 field paths');
  return paths.filter((p): p is string => typeof p === 'string' && p.length <= 256);
}

export function parseFlowsRequest(req: Record<string, unknown>): FlowsRequest {
  const first = parseBool(req['first'], 'first');
  const follow = parseBool(req['follow'], 'follow');
  if (first && follow) throw bad('first cannot be specified with follow');
  const filters = compileFlowFilters({
    whitelist: req['whitelist'] as FlowFilter[] | undefined,
    blacklist: req['blacklist'] as FlowFilter[] | undefined,
  });
  const paths = maskPaths(req['field_mask']);
  return {
    filters,
    sinceNs: parseTime(req['since'], 'since'),
    untilNs: parseTime(req['until'], 'until'),
    number: parseNumber(req['number']),
    first,
    follow,
    mask: createFieldMask(paths),
    columns: columnsForMask(paths),
  };
}

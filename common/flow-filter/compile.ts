/**
 * Compiles a request's whitelist and blacklist once into both back-ends. Hubble's rule: a flow is returned when it
 * matches ANY whitelist filter (an empty whitelist matches all) and NO blacklist filter; inside a filter every set
 * field must match (AND); inside a field any value may match (OR).
 */
import type { Flow } from '../../schemas/flow-types.js';
import { endpointConditions } from './fields-endpoints.js';
import { l7Conditions } from './fields-l7.js';
import { packetConditions } from './fields-packet.js';
import { DEFAULT_FILTER_LIMITS, invalidFilter, type FilterLimits } from './limits.js';
import type { CompiledFlowFilters, Condition, FlowFilter, SqlParams } from './types.js';
import { BuildContext } from './values.js';

export interface FilterRequest {
  whitelist?: readonly FlowFilter[] | null;
  blacklist?: readonly FlowFilter[] | null;
}

type CompiledFilter = Condition[];

function compileOne(ff: unknown, where: string, ctx: BuildContext): CompiledFilter {
  if (ff === null || typeof ff !== 'object' || Array.isArray(ff)) throw invalidFilter(where, 'a filter must be an object');
  const filter = ff as FlowFilter;
  return [...packetConditions(filter, where, ctx), ...endpointConditions(filter, where, ctx), ...l7Conditions(filter, where, ctx)];
}

function matchAll(conds: CompiledFilter, flow: Flow): boolean {
  for (const c of conds) if (!c.match(flow)) return false;
  return true;
}

function sqlAll(conds: CompiledFilter, p: SqlParams): string {
  return conds.length === 0 ? '1' : `(${conds.map((c) => c.sql(p)).join(' AND ')})`;
}

function list(value: unknown, name: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidFilter(name, 'must be a list of filters');
  return value;
}

export function compileFlowFilters(req: FilterRequest, limits: FilterLimits = DEFAULT_FILTER_LIMITS): CompiledFlowFilters {
  const whiteIn = list(req.whitelist, 'whitelist');
  const blackIn = list(req.blacklist, 'blacklist');
  const total = whiteIn.length + blackIn.length;
  if (total > limits.maxFilters) {
    throw invalidFilter('whitelist/blacklist', `${total} filters; at most ${limits.maxFilters} are allowed in one request`);
  }
  const ctx = new BuildContext(limits);
  const white = whiteIn.map((f, i) => compileOne(f, `whitelist[${i}]`, ctx));
  const black = blackIn.map((f, i) => compileOne(f, `blacklist[${i}]`, ctx));
  return {
    empty: white.length === 0 && black.length === 0,
    matches(flow) {
      if (white.length > 0 && !white.some((c) => matchAll(c, flow))) return false;
      return !black.some((c) => matchAll(c, flow));
    },
    sql(p) {
      const parts: string[] = [];
      if (white.length > 0) parts.push(`(${white.map((c) => sqlAll(c, p)).join(' OR ')})`);
      if (black.length > 0) parts.push(`NOT (${black.map((c) => sqlAll(c, p)).join(' OR ')})`);
      return parts.length === 0 ? '1' : parts.join(' AND ');
    },
  };
}

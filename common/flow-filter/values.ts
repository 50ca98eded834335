/**
 * Reading the values of one FlowFilter field: type checks (the HTTP API hands us parsed JSON, not decoded
 * protobuf) and the request-wide budgets of limits.ts. An empty list means the field is not set, as in protobuf.
 */
import { invalidFilter, shown, type FilterLimits } from './limits.js';
import type { FlowFilter } from './types.js';

export class BuildContext {
  private values = 0;
  private chars = 0;

  constructor(readonly limits: FilterLimits) {}

  /** Counts values against the request's budgets. */
  count(where: string, n: number, chars: number): void {
    const l = this.limits;
    if (n > l.maxValuesPerField) throw invalidFilter(where, `${n} values; at most ${l.maxValuesPerField} are allowed in one field`);
    this.values += n;
    this.chars += chars;
    if (this.values > l.maxValues) throw invalidFilter(where, `the request holds more than ${l.maxValues} filter values in total`);
    if (this.chars > l.maxTotalChars) throw invalidFilter(where, `the request's filter values exceed ${l.maxTotalChars} characters in total`);
  }
}

function list(ff: FlowFilter, field: keyof FlowFilter, where: string): unknown[] | undefined {
  const v = (ff as Record<string, unknown>)[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalidFilter(`${where}.${field}`, 'must be a list');
  return v.length === 0 ? undefined : v;
}

export function strings(ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext): string[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  let chars = 0;
  v.forEach((s, i) => {
    if (typeof s !== 'string') throw invalidFilter(`${where}.${field}[${i}]`, `${shown(JSON.stringify(s))} is not a string`);
    if (s.length > ctx.limits.maxValueLength) throw invalidFilter(`${where}.${field}[${i}]`, `a value of ${s.length} characters; at most ${ctx.limits.maxValueLength} are allowed`);
    chars += s.length;
  });
  ctx.count(`${where}.${field}`, v.length, chars);
  return v as string[];
}

export function booleans(ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext): boolean[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  v.forEach((b, i) => {
    if (typeof b !== 'boolean') throw invalidFilter(`${where}.${field}[${i}]`, `${shown(JSON.stringify(b))} is not true or false`);
  });
  ctx.count(`${where}.${field}`, v.length, v.length);
  return v as boolean[];
}

/** uint32 values (identities). */
export function uint32s(ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext): number[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  const out = v.map((n, i) => {
    const num = typeof n === 'string' && /^[0-9]{1,10}$/.test(n) ? Number(n) : n;
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num > 0xffffffff) {
      throw invalidFilter(`${where}.${field}[${i}]`, `${shown(JSON.stringify(n))} is not an unsigned 32-bit integer`);
    }
    return num;
  });
  ctx.count(`${where}.${field}`, v.length, v.length);
  return out;
}

/** uint64 values, as the proto loader gives them (decimal strings) or as safe integers. */
export function uint64s(ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext): bigint[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  const out = v.map((n, i) => {
    const ok = (typeof n === 'string' && /^[0-9]{1,20}$/.test(n)) || (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0);
    const big = ok ? BigInt(n as string | number) : -1n;
    if (big < 0n || big >= 2n ** 64n) throw invalidFilter(`${where}.${field}[${i}]`, `${shown(JSON.stringify(n))} is not an unsigned 64-bit integer`);
    return big;
  });
  ctx.count(`${where}.${field}`, v.length, v.length);
  return out;
}

export function objects<T extends object>(ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext): T[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  let chars = 0;
  v.forEach((o, i) => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw invalidFilter(`${where}.${field}[${i}]`, 'must be an object');
    for (const inner of Object.values(o)) if (typeof inner === 'string') chars += inner.length;
  });
  ctx.count(`${where}.${field}`, v.length, chars);
  return v as T[];
}

/**
 * Enum values by name or number. A number this build does not know (a newer Hubble's) matches nothing; a name it
 * does not know is a mistake in the request.
 */
export function enumNames<N extends string>(
  ff: FlowFilter, field: keyof FlowFilter, where: string, ctx: BuildContext, byNumber: ReadonlyMap<number, N>,
): N[] | undefined {
  const v = list(ff, field, where);
  if (!v) return undefined;
  const names = new Set<string>(byNumber.values());
  const out: N[] = [];
  v.forEach((e, i) => {
    if (typeof e === 'number' && Number.isInteger(e)) {
      const name = byNumber.get(e);
      if (name !== undefined) out.push(name);
      return;
    }
    if (typeof e === 'string' && names.has(e)) { out.push(e as N); return; }
    const allowed = [...names].slice(0, 12).join(', ') + (names.size > 12 ? ', ...' : '');
    throw invalidFilter(`${where}.${field}[${i}]`, `${shown(String(e))} is not a known value (allowed: ${allowed}, or the number)`);
  });
  ctx.count(`${where}.${field}`, v.length, v.length);
  return out;
}

export function numberMap<N extends string>(names: readonly N[]): ReadonlyMap<number, N> {
  return new Map(names.map((n, i) => [i, n]));
}

/**
 * Label filters (`source_label`, `destination_label`, `node_labels`): Kubernetes label-selector syntax over Cilium's
 * labels, as Hubble reads it.
 * - A selector is requirements joined by `,` (AND): `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`,
 *   `key notin (a,b)`, `key>N`, `key<N`.
 * - Keys name a Cilium label source: `k8s:app` looks for source `k8s`, key `app`; a key without `:` matches any
 *   source (`app=xwing` matches `k8s:app=xwing`).
 * - A flow's label `src:key=value` has source `src` (`$name` means source `reserved`; no `:` means `unspec`), key up to
 *   the first `=`, value after it. A requirement looks at the FIRST label whose source and key fit, as Cilium's
 *   lookup does; `!=` and `notin` also match when there is no such label.
 * Both back-ends come from the same parsed requirements.
 */
import { invalidFilter, shown } from './limits.js';
import type { SqlParams } from './types.js';

type Op = 'exists' | 'not_exists' | 'in' | 'not_in' | 'gt' | 'lt';

interface Requirement {
  /** Label source to match, or null for any source. */
  source: string | null;
  key: string;
  op: Op;
  values: string[];
  /** For gt/lt. */
  bound: bigint;
}

export interface LabelSelector {
  match(labels: readonly string[]): boolean;
  sql(column: string, params: SqlParams): string;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INT = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

type Token = { kind: 'id'; text: string } | { kind: 'op'; text: string };

function tokenize(selector: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < selector.length) {
    const c = selector[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const two = selector.slice(i, i + 2);
    if (two === '==' || two === '!=') { tokens.push({ kind: 'op', text: two }); i += 2; continue; }
    if ('!=(),<>'.includes(c)) { tokens.push({ kind: 'op', text: c }); i++; continue; }
    let j = i;
    while (j < selector.length && !/\s/.test(selector[j]!) && !'!=(),<>'.includes(selector[j]!)) j++;
    tokens.push({ kind: 'id', text: selector.slice(i, j) });
    i = j;
  }
  if (tokens.length === 0) throw invalidFilter(where, 'an empty label selector');
  return tokens;
}

/** Cilium's translation: `src:key` becomes source/key; a key without a source matches any source. */
function splitKey(raw: string, where: string): { source: string | null; key: string } {
  const translated = raw.includes(':') ? raw.replace(':', '.') : `any.${raw}`;
  validateQualifiedKey(translated, raw, where);
  if (translated.startsWith('$')) return { source: 'reserved', key: translated.slice(1) };
  const dot = translated.indexOf('.');
  const source = translated.slice(0, dot);
  return { source: source === 'any' ? null : source, key: translated.slice(dot + 1) };
}

function validateQualifiedKey(key: string, raw: string, where: string): void {
  const parts = key.split('/');
  const bad = (why: string): never => {
    throw invalidFilter(where, `label key ${shown(raw)} is not valid: ${why}`);
  };
  if (parts.length > 2) bad('at most one "/" is allowed');
  const name = parts[parts.length - 1]!;
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) {
    bad('the name must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit');
  }
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) bad('the prefix must be a lowercase DNS subdomain');
  }
}

function checkValue(value: string, where: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw invalidFilter(where, `label value ${shown(value)} is not valid: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
  return value;
}

function parseBound(value: string, where: string): bigint {
  if (!INT.test(value)) throw invalidFilter(where, `${shown(value)} is not an integer (">" and "<" compare numbers)`);
  const n = BigInt(value);
  if (n < INT64_MIN || n > INT64_MAX) throw invalidFilter(where, `${shown(value)} does not fit in 64 bits`);
  return n;
}

export function parseLabelSelector(selector: string, where: string): LabelSelector {
  const tokens = tokenize(selector, where);
  const reqs: Requirement[] = [];
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const expectId = (what: string): string => {
    const t = tokens[i++];
    if (!t || t.kind !== 'id') throw invalidFilter(where, `label selector ${shown(selector)}: expected ${what}${t ? ` before ${shown(t.text)}` : ' at the end'}`);
    return t.text;
  };
  const expectOp = (text: string): void => {
    const t = tokens[i++];
    if (!t || t.kind !== 'op' || t.text !== text) throw invalidFilter(where, `label selector ${shown(selector)}: expected "${text}"${t ? ` before ${shown(t.text)}` : ' at the end'}`);
  };
  for (;;) {
    let negated = false;
    if (peek()?.kind === 'op' && peek()!.text === '!') { negated = true; i++; }
    const rawKey = expectId('a label key');
    const { source, key } = splitKey(rawKey, where);
    const base = { source, key, values: [] as string[], bound: 0n };
    const next = peek();
    if (negated) {
      reqs.push({ ...base, op: 'not_exists' });
    } else if (!next || (next.kind === 'op' && next.text === ',')) {
      reqs.push({ ...base, op: 'exists' });
    } else if (next.kind === 'op' && ['=', '==', '!='].includes(next.text)) {
      i++;
      // `key=` is allowed: the value is the empty string.
      const t = peek();
      const value = t && t.kind === 'id' ? (i++, t.text) : '';
      reqs.push({ ...base, op: next.text === '!=' ? 'not_in' : 'in', values: [checkValue(value, where)] });
    } else if (next.kind === 'op' && (next.text === '>' || next.text === '<')) {
      i++;
      const value = expectId('a number');
      reqs.push({ ...base, op: next.text === '>' ? 'gt' : 'lt', bound: parseBound(value, where) });
    } else if (next.kind === 'id' && (next.text === 'in' || next.text === 'notin')) {
      i++;
      expectOp('(');
      const values: string[] = [];
      for (;;) {
        const t = peek();
        if (t && t.kind === 'id') { values.push(checkValue(t.text, where)); i++; }
        else values.push('');
        const sep = tokens[i++];
        if (sep && sep.kind === 'op' && sep.text === ')') break;
        if (!sep || sep.kind !== 'op' || sep.text !== ',') throw invalidFilter(where, `label selector ${shown(selector)}: expected "," or ")" in the value list`);
      }
      if (values.length === 1 && values[0] === '') throw invalidFilter(where, `label selector ${shown(selector)}: "${next.text}" needs at least one value`);
      reqs.push({ ...base, op: next.text === 'in' ? 'in' : 'not_in', values });
    } else {
      throw invalidFilter(where, `label selector ${shown(selector)}: unexpected ${shown(next.text)} after key ${shown(rawKey)}`);
    }
    const sep = tokens[i++];
    if (!sep) break;
    if (sep.kind !== 'op' || sep.text !== ',') throw invalidFilter(where, `label selector ${shown(selector)}: expected "," before ${shown(sep.text)}`);
  }
  return {
    match: (labels) => reqs.every((r) => matchRequirement(r, labels)),
    sql: (column, params) => reqs.map((r) => requirementSql(r, column, params)).join(' AND '),
  };
}

/** A flow label split the way Cilium parses it. */
function parseFlowLabel(label: string): { source: string; key: string; value: string } {
  let source: string;
  let rest: string;
  const colon = label.indexOf(':');
  if (label.startsWith('$')) { source = 'reserved'; rest = label.slice(1); }
  else if (colon >= 0) { source = label.slice(0, colon); rest = label.slice(colon + 1); }
  else { source = 'unspec'; rest = label; }
  const eq = rest.indexOf('=');
  return eq >= 0 ? { source, key: rest.slice(0, eq), value: rest.slice(eq + 1) } : { source, key: rest, value: '' };
}

function matchRequirement(r: Requirement, labels: readonly string[]): boolean {
  let found: string | undefined;
  for (const l of labels) {
    const p = parseFlowLabel(l);
    if (p.key === r.key && (r.source === null || p.source === r.source)) { found = p.value; break; }
  }
  switch (r.op) {
    case 'exists': return found !== undefined;
    case 'not_exists': return found === undefined;
    case 'in': return found !== undefined && r.values.includes(found);
    case 'not_in': return found === undefined || !r.values.includes(found);
    case 'gt':
    case 'lt': {
      if (found === undefined || !INT.test(found)) return false;
      const n = BigInt(found);
      if (n < INT64_MIN || n > INT64_MAX) return false;
      return r.op === 'gt' ? n > r.bound : n < r.bound;
    }
  }
}

/** The labels column as an array of (source, key, value) tuples, parsed like parseFlowLabel. */
function parsedLabelsSql(column: string): string {
  const split =
    `arrayMap(l -> multiIf(startsWith(l, '$'), ('reserved', substring(l, 2)), ` +
    `position(l, ':') > 0, (substring(l, 1, position(l, ':') - 1), substring(l, position(l, ':') + 1)), ('unspec', l)), ${column})`;
  return (
    `arrayMap(t -> (t.1, if(position(t.2, '=') > 0, substring(t.2, 1, position(t.2, '=') - 1), t.2), ` +
    `if(position(t.2, '=') > 0, substring(t.2, position(t.2, '=') + 1), '')), ${split})`
  );
}

function requirementSql(r: Requirement, column: string, params: SqlParams): string {
  const parsed = parsedLabelsSql(column);
  const key = params.add(r.key, 'String');
  const sourceCond = r.source === null ? '' : ` AND t.1 = ${params.add(r.source, 'String')}`;
  const idx = `arrayFirstIndex(t -> t.2 = ${key}${sourceCond}, ${parsed})`;
  const value = `arrayElement(${parsed}, ${idx}).3`;
  switch (r.op) {
    case 'exists': return `(${idx} > 0)`;
    case 'not_exists': return `(${idx} = 0)`;
    case 'in': return `(${idx} > 0 AND has(${params.add(r.values, 'Array(String)')}, ${value}))`;
    case 'not_in': return `(${idx} = 0 OR NOT has(${params.add(r.values, 'Array(String)')}, ${value}))`;
    case 'gt':
    case 'lt': {
      const bound = params.add(r.bound.toString(), 'Int64');
      const cmp = r.op === 'gt' ? '>' : '<';
      return `(${idx} > 0 AND match(${value}, '^[+-]?[0-9]+$') AND ifNull(toInt64OrNull(${value}) ${cmp} ${bound}, 0))`;
    }
  }
}

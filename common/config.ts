import fs from 'node:fs';
import YAML from 'yaml';
import { LookbackError } from './errors.js';

/**
 * Typed configuration with defaults, validated once at start-up. A spec is a tree of fields built with the
 * helpers below; `parseConfig(spec, input)` returns the typed value or throws a LookbackError('config') whose
 * message names the key, the bad value and what is allowed. Unknown keys are refused (a typo must not be silently
 * ignored), so every key a service reads is declared in exactly one spec.
 */
export interface Field<T> {
  readonly kind: string;
  readonly doc: string;
  readonly defaultValue: () => T;
  /** Validates `value` (undefined means "not given": use the default) found at `path`. */
  readonly parse: (value: unknown, path: string) => T;
  /** A short description of what is allowed, used in error messages and `--help-config`. */
  readonly allowed: string;
}

export type Spec = Record<string, Field<unknown>>;
export type ConfigOf<S extends Spec> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

function fail(path: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  throw new LookbackError('config', `config: ${path || '(root)'} = ${shown} is not valid: allowed ${allowed}`);
}

export function int(def: number, opts: { min?: number; max?: number; doc?: string } = {}): Field<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const allowed = `an integer from ${min} to ${max}`;
  return {
    kind: 'int', doc: opts.doc ?? '', allowed, defaultValue: () => def,
    parse(value, path) {
      if (value === undefined) return def;
      const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(path, value, allowed);
      return n;
    },
  };
}

export function num(def: number, opts: { min?: number; max?: number; doc?: string } = {}): Field<number> {
  const min = opts.min ?? -Infinity;
  const max = opts.max ?? Infinity;
  const allowed = `a number from ${min} to ${max}`;
  return {
    kind: 'number', doc: opts.doc ?? '', allowed, defaultValue: () => def,
    parse(value, path) {
      if (value === undefined) return def;
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) fail(path, value, allowed);
      return n;
    },
  };
}

export function str(def: string, opts: { pattern?: RegExp; doc?: string; describe?: string } = {}): Field<string> {
  const allowed = opts.describe ?? (opts.pattern ? `a string matching ${String(opts.pattern)}` : 'a string');
  return {
    kind: 'string', doc: opts.doc ?? '', allowed, defaultValue: () => def,
    parse(value, path) {
      if (value === undefined) return def;
      if (typeof value !== 'string' || (opts.pattern && !opts.pattern.test(value))) fail(path, value, allowed);
      return value;
    },
  };
}

export function bool(def: boolean, opts: { doc?: string } = {}): Field<boolean> {
  return {
    kind: 'bool', doc: opts.doc ?? '', allowed: 'true or false', defaultValue: () => def,
    parse(value, path) {
      if (value === undefined) return def;
      if (value === 'true') return true;
      if (value === 'false') return false;
      if (typeof value !== 'boolean') fail(path, value, 'true or false');
      return value;
    },
  };
}

export function oneOf<const T extends string>(def: T, values: readonly T[], opts: { doc?: string } = {}): Field<T> {
  const allowed = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return {
    kind: 'enum', doc: opts.doc ?? '', allowed, defaultValue: () => def,
    parse(value, path) {
      if (value === undefined) return def;
      if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) fail(path, value, allowed);
      return value as T;
    },
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds, written as a number of ms or a string like "500ms", "30s", "5m", "15d". */
export function duration(def: string | number, opts: { min?: number; max?: number; doc?: string } = {}): Field<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const allowed = `a duration such as 500ms, 30s, 5m, 2h, 15d (or milliseconds) from ${min} ms to ${max} ms`;
  const toMs = (value: unknown): number | undefined => {
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value !== 'string') return undefined;
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
    if (!m) return undefined;
    return Number(m[1]) * (DURATION_UNITS[m[2] ?? 'ms'] ?? 1);
  };
  const defMs = toMs(def);
  if (defMs === undefined) throw new Error(`bad default duration ${String(def)}`);
  return {
    kind: 'duration', doc: opts.doc ?? '', allowed, defaultValue: () => defMs,
    parse(value, path) {
      if (value === undefined) return defMs;
      const ms = toMs(value);
      if (ms === undefined || ms < min || ms > max) fail(path, value, allowed);
      return ms;
    },
  };
}

export function list<T>(item: Field<T>, def: T[], opts: { maxItems?: number; minItems?: number; doc?: string } = {}): Field<T[]> {
  const maxItems = opts.maxItems ?? 10_000;
  const minItems = opts.minItems ?? 0;
  const allowed = `a list of ${minItems}..${maxItems} items, each ${item.allowed}`;
  return {
    kind: 'list', doc: opts.doc ?? '', allowed, defaultValue: () => [...def],
    parse(value, path) {
      if (value === undefined) return [...def];
      // A comma-separated string is accepted for lists of scalars (environment variables, --set).
      const arr = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
      if (!Array.isArray(arr) || arr.length > maxItems || arr.length < minItems) fail(path, value, allowed);
      return arr.map((v, i) => item.parse(v, `${path}[${i}]`));
    },
  };
}

/** A nested object whose keys are declared by `spec`; unknown keys are refused. */
export function section<S extends Spec>(spec: S, opts: { doc?: string } = {}): Field<ConfigOf<S>> {
  const keys = Object.keys(spec);
  const field: Field<ConfigOf<S>> = {
    kind: 'section', doc: opts.doc ?? '', allowed: `an object with keys ${keys.join(', ')}`,
    defaultValue: () => parseSection(spec, undefined, ''),
    parse: (value, path) => parseSection(spec, value, path),
  };
  sectionSpecs.set(field as Field<unknown>, spec);
  return field;
}

const sectionSpecs = new WeakMap<Field<unknown>, Spec>();

function parseSection<S extends Spec>(spec: S, value: unknown, path: string): ConfigOf<S> {
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    fail(path, value, `an object with keys ${Object.keys(spec).join(', ')}`);
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.prototype.hasOwnProperty.call(spec, key)) {
      const where = path ? `${path}.${key}` : key;
      throw new LookbackError(
        'config',
        `config: unknown key ${where}${suggest(key, Object.keys(spec))}; allowed keys${path ? ` in ${path}` : ''}: ${Object.keys(spec).join(', ')}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    out[key] = field.parse(input[key], path ? `${path}.${key}` : key);
  }
  return out as ConfigOf<S>;
}

function suggest(key: string, known: string[]): string {
  const lower = key.toLowerCase();
  const close = known.find((k) => k.toLowerCase() === lower || editDistance(k.toLowerCase(), lower) <= 2);
  return close ? ` (did you mean ${close}?)` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export function parseConfig<S extends Spec>(spec: S, input: unknown): ConfigOf<S> {
  return parseSection(spec, input, '');
}

/** Reads a YAML or JSON config file (YAML is a superset of JSON). A missing file is a config error. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LookbackError('config', `config: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return YAML.parse(text) ?? {};
  } catch (err) {
    throw new LookbackError('config', `config: ${file} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Applies `--set a.b.c=value` overrides onto a parsed-but-unvalidated config tree. Values stay strings; the
 * field parsers accept strings for numbers, booleans, durations and lists.
 */
export function applyOverrides(input: unknown, overrides: string[]): unknown {
  const root = (input && typeof input === 'object' ? structuredClone(input) : {}) as Record<string, unknown>;
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new LookbackError('config', `config: --set ${JSON.stringify(o)} is not of the form key.path=value`);
    const keys = o.slice(0, eq).split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (next === undefined || next === null || typeof next !== 'object') node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = o.slice(eq + 1);
  }
  return root;
}

/** Prints every key of a spec with its default and what it allows: `lookback <service> --help-config`. */
export function describeSpec(spec: Spec, prefix = ''): string[] {
  const lines: string[] = [];
  for (const [key, field] of Object.entries(spec)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const nested = sectionSpecs.get(field);
    if (nested) {
      lines.push(...describeSpec(nested, path));
      continue;
    }
    lines.push(`${path} = ${JSON.stringify(field.defaultValue())}  # ${field.allowed}${field.doc ? `; ${field.doc}` : ''}`);
  }
  return lines;
}

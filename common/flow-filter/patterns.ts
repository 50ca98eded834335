/**
 * Regular expressions for both back-ends. Hubble's filters use Go's regexp (RE2 syntax, linear time) and ClickHouse
 * uses RE2 itself, so the in-memory side uses RE2JS, a linear-time RE2 port: a hostile pattern such as `(a+)+$` costs
 * the same as any other, and a pattern means the same thing in the collector, in `follow` and in SQL. JavaScript's
 * backtracking RegExp never sees a user pattern.
 *
 * FQDN and node-name filters are wildcard patterns (`*.cilium.io`, `k8s*`), turned into an anchored regex the way
 * Hubble does it: lowercase, one trailing dot dropped, `*` matching `[-.0-9a-z]*`, nothing else but letters, digits,
 * `-`, `_` and `.` allowed.
 */
import { RE2JS } from 're2js';
import { invalidFilter, shown, type FilterLimits } from './limits.js';

export interface CompiledRegex {
  /** Hubble's MatchString: a match anywhere in the text. */
  test(text: string): boolean;
  /** The pattern to hand to ClickHouse's match(); same meaning there (`.` does not match a newline, as in Go). */
  sqlPattern: string;
}

export function compileRegex(pattern: string, where: string, limits: FilterLimits): CompiledRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw invalidFilter(where, `${shown(pattern)} is not a valid RE2 regular expression: ${(err as Error).message}`);
  }
  const size = re.programSize();
  if (size > limits.maxRegexProgramSize) {
    throw invalidFilter(where, `regular expression ${shown(pattern)} is too large (program size ${size}, at most ${limits.maxRegexProgramSize})`);
  }
  // ClickHouse compiles with dot_nl on; Go and RE2JS do not. The group also keeps flags set inside the pattern
  // local to it. The pattern parsed above, so wrapping cannot change its structure.
  return { test: (text) => re.test(text), sqlPattern: `(?-s:${pattern})` };
}

const FQDN_LABEL = '(?:[-0-9_a-z]+(?:\\.[-0-9_a-z]+)*)';

function fqdnPatternRegex(raw: string, where: string): string {
  const p = raw.trim().replace(/\.$/, '').toLowerCase();
  if (p === '') throw invalidFilter(where, `${shown(raw)} is an empty name pattern`);
  if (p.endsWith('.')) throw invalidFilter(where, `${shown(raw)} has more than one trailing dot`);
  let out = '';
  for (const ch of p) {
    if (ch === '.') out += '\\.';
    else if (ch === '*') out += '[-.0-9a-z]*';
    else if (/[-0-9_a-z]/.test(ch)) out += ch;
    else throw invalidFilter(where, `${shown(raw)} has the character ${JSON.stringify(ch)}, which a name pattern cannot hold (allowed: letters, digits, '-', '_', '.', '*')`);
  }
  return out;
}

/** `source_fqdn` / `destination_fqdn`: all values of one field become one anchored alternation. */
export function compileFqdnPatterns(values: string[], where: string, limits: FilterLimits): CompiledRegex {
  const body = values.map((v, i) => fqdnPatternRegex(v, `${where}[${i}]`)).join('|');
  return anchored(body, where, limits);
}

/** `node_name`: `node`, `cluster/node`, with wildcards in either part; a missing part matches any name. */
export function compileNodeNamePatterns(values: string[], where: string, limits: FilterLimits): CompiledRegex {
  const parts = values.map((v, i) => {
    const at = `${where}[${i}]`;
    if (v === '') throw invalidFilter(at, 'an empty node name pattern');
    const elems = v.split('/');
    if (elems.length > 2) throw invalidFilter(at, `${shown(v)} has more than one '/' (allowed: node or cluster/node)`);
    const [cluster, node] = elems.length === 2 ? [elems[0]!, elems[1]!] : ['', elems[0]!];
    const c = cluster === '' ? FQDN_LABEL : fqdnPatternRegex(cluster, at);
    const n = node === '' ? FQDN_LABEL : fqdnPatternRegex(node, at);
    return `${c}/${n}`;
  });
  return anchored(parts.join('|'), where, limits);
}

function anchored(body: string, where: string, limits: FilterLimits): CompiledRegex {
  const pattern = `\\A(?:${body})\\z`;
  const compiled = compileRegex(pattern, where, limits);
  return { test: compiled.test, sqlPattern: pattern };
}

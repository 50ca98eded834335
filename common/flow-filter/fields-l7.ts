/**
 * FlowFilter fields about Layer 7 records: HTTP status, method, path, URL, headers, and DNS queries.
 * As in Hubble, an HTTP field next to an event_type filter that cannot match L7 events (type 129) is refused.
 */
import type { Flow, HTTP } from '../../schemas/flow-types.js';
import { invalidFilter, shown } from './limits.js';
import { compileRegex } from './patterns.js';
import { L7_DNS, L7_HTTP, URL_PATH_PATTERN } from './row-sql.js';
import type { Condition, FlowFilter, HTTPHeaderFilter } from './types.js';
import { objects, strings, type BuildContext } from './values.js';

const ACCESS_LOG_EVENT = 129;
const FULL_STATUS = /^[1-5][0-9]{2}$/;
const STATUS_PREFIX = /^[1-5][0-9]?\+$/;
const URL_PATH = new RegExp(URL_PATH_PATTERN);

function httpOf(f: Flow): HTTP | null {
  return f.l7?.http ?? null;
}

/** ASCII-only lowercasing, the same in JavaScript and in ClickHouse's lower(). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The path of an absolute URL or absolute path, as ClickHouse's extract() with URL_PATH_PATTERN reads it. */
export function urlPath(url: string): string | null {
  const m = URL_PATH.exec(url);
  return m ? m[1]! : null;
}

export function l7Conditions(ff: FlowFilter, where: string, ctx: BuildContext): Condition[] {
  const out: Condition[] = [];
  const at = (field: string): string => `${where}.${field}`;
  const eventTypes = Array.isArray(ff.event_type) ? ff.event_type : [];
  const l7Compatible = eventTypes.length === 0 || eventTypes.some((t) => t?.type === ACCESS_LOG_EVENT);
  const requireL7 = (field: string): void => {
    if (!l7Compatible) throw invalidFilter(at(field), `filtering by ${field} needs the event_type filter to match L7 events (type ${ACCESS_LOG_EVENT})`);
  };

  const statuses = strings(ff, 'http_status_code', where, ctx);
  if (statuses) {
    requireL7('http_status_code');
    const full: string[] = [];
    const prefixes: string[] = [];
    statuses.forEach((s, i) => {
      if (FULL_STATUS.test(s)) full.push(s);
      else if (STATUS_PREFIX.test(s)) prefixes.push(s.slice(0, -1));
      else throw invalidFilter(`${at('http_status_code')}[${i}]`, `${shown(s)} is not a status code (like 404) or prefix (like 5+ or 40+)`);
    });
    out.push({
      match: (f) => {
        const h = httpOf(f);
        if (!h || h.code === 0) return false;
        const text = String(h.code).padStart(3, '0');
        return full.includes(text) || prefixes.some((p) => text.startsWith(p));
      },
      sql: (p) => {
        const text = "leftPad(toString(http_code), 3, '0')";
        return `(${L7_HTTP} AND http_code != 0 AND (has(${p.add(full, 'Array(String)')}, ${text}) OR ` +
          `arrayExists(x -> startsWith(${text}, x), ${p.add(prefixes, 'Array(String)')})))`;
      },
    });
  }

  const methods = strings(ff, 'http_method', where, ctx);
  if (methods) {
    requireL7('http_method');
    const lowered = methods.map(asciiLower);
    out.push({
      match: (f) => {
        const h = httpOf(f);
        return !!h && h.method !== '' && lowered.includes(asciiLower(h.method));
      },
      sql: (p) => `(${L7_HTTP} AND http_method != '' AND has(${p.add(lowered, 'Array(String)')}, lower(http_method)))`,
    });
  }

  const paths = strings(ff, 'http_path', where, ctx);
  if (paths) {
    requireL7('http_path');
    const res = paths.map((r, i) => compileRegex(r, `${at('http_path')}[${i}]`, ctx.limits));
    out.push({
      match: (f) => {
        const h = httpOf(f);
        if (!h || h.url === '') return false;
        const path = urlPath(h.url);
        return path !== null && res.some((re) => re.test(path));
      },
      sql: (p) => {
        const pattern = p.add(URL_PATH_PATTERN, 'String');
        const matches = res.map((re) => `match(extract(http_url, ${pattern}), ${p.add(re.sqlPattern, 'String')})`);
        return `(${L7_HTTP} AND http_url != '' AND match(http_url, ${pattern}) AND (${matches.join(' OR ')}))`;
      },
    });
  }

  const urls = strings(ff, 'http_url', where, ctx);
  if (urls) {
    requireL7('http_url');
    const res = urls.map((r, i) => compileRegex(r, `${at('http_url')}[${i}]`, ctx.limits));
    out.push({
      match: (f) => {
        const h = httpOf(f);
        return !!h && h.url !== '' && res.some((re) => re.test(h.url));
      },
      sql: (p) => `(${L7_HTTP} AND http_url != '' AND (${res.map((re) => `match(http_url, ${p.add(re.sqlPattern, 'String')})`).join(' OR ')}))`,
    });
  }

  const headers = objects<HTTPHeaderFilter>(ff, 'http_header', where, ctx);
  if (headers) {
    requireL7('http_header');
    const pairs = headers.map((h, i) => {
      const key = h.key ?? '';
      const value = h.value ?? '';
      if (typeof key !== 'string' || typeof value !== 'string') throw invalidFilter(`${at('http_header')}[${i}]`, 'key and value must be strings');
      return { key, value };
    });
    out.push({
      match: (f) => {
        const h = httpOf(f);
        return !!h && h.headers.some((fh) => pairs.some((x) => x.key === fh.key && x.value === fh.value));
      },
      sql: (p) => `(${L7_HTTP} AND arrayExists((k, v) -> mapContains(http_headers, k) AND http_headers[k] = v, ` +
        `${p.add(pairs.map((x) => x.key), 'Array(String)')}, ${p.add(pairs.map((x) => x.value), 'Array(String)')}))`,
    });
  }

  const queries = strings(ff, 'dns_query', where, ctx);
  if (queries) {
    const res = queries.map((r, i) => compileRegex(r, `${at('dns_query')}[${i}]`, ctx.limits));
    out.push({
      match: (f) => {
        const dns = f.l7?.dns;
        return !!dns && res.some((re) => re.test(dns.query));
      },
      sql: (p) => `(${L7_DNS} AND (${res.map((re) => `match(dns_query, ${p.add(re.sqlPattern, 'String')})`).join(' OR ')}))`,
    });
  }
  return out;
}

/**
 * Read-only SQL for analysts. Three fences, each enough to stop a write:
 * 1. ClickHouse's own parser classifies the statement (EXPLAIN AST): only SELECT (with UNION, INTERSECT, WITH) runs;
 * 2. the same tree names every table the query reads: only lookback's own database (unqualified names resolve
 *    there); system tables (system.users, system.grants, ...), information_schema and other databases are refused,
 *    and so are table functions (url(), file(), remote(), ...);
 * 3. the query runs with readonly=1, which also forbids overriding the limits below from inside the query:
 *    max_result_rows and max_result_bytes (result_overflow_mode=throw), max_execution_time, max_memory_usage.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { LookbackError } from '../common/errors.js';

export interface SqlLimits {
  maxResultRows: number;
  maxResultBytes: number;
  maxExecutionTimeMs: number;
  maxMemoryUsage: number;
  maxQueryBytes: number;
}

export interface SqlResult {
  columns: Array<{ name: string; type: string }>;
  rows: unknown[][];
  statistics: { elapsed_ms: number; rows_read: number; bytes_read: number };
}

export interface SqlEndpoint {
  run(query: string, signal?: AbortSignal): Promise<SqlResult>;
}

const SELECT_ROOTS = new Set(['SelectWithUnionQuery', 'SelectIntersectExceptQuery']);
const FORBIDDEN_DATABASES = new Set(['system', 'information_schema', 'INFORMATION_SCHEMA']);

function bad(message: string): LookbackError {
  return new LookbackError('invalid_argument', message);
}

/** Checks the EXPLAIN AST lines of a query: statement kind, tables, table functions. */
export function checkAst(lines: string[], database: string): void {
  const root = lines[0]?.trim().split(/\s+/)[0] ?? '';
  if (!SELECT_ROOTS.has(root)) {
    const kind = root.replace(/Query$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase() || 'this statement';
    throw bad(`only SELECT queries are allowed here; this is ${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind} statement`);
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const table = /^TableIdentifier (\S+)/.exec(line);
    if (table) {
      const name = table[1]!;
      const dot = name.indexOf('.');
      const db = dot >= 0 ? name.slice(0, dot) : null;
      if (db !== null && (FORBIDDEN_DATABASES.has(db) || db !== database)) {
        throw bad(`${name} is not readable here: the SQL endpoint reads lookback's tables only (database ${database}: flows, flows_1m, flows_5m, flows_1h, inventory_*)`);
      }
      continue;
    }
    // A table function sits right under a TableExpression, where a table name would be.
    if (/^TableExpression\b/.test(line)) {
      const next = lines[i + 1]?.trim() ?? '';
      const fn = /^Function (\S+)/.exec(next);
      if (fn) throw bad(`table function ${fn[1]}() is not allowed here: the SQL endpoint reads lookback's tables only`);
    }
  }
}

export function createSqlEndpoint(client: ClickHouseClient, database: string, limits: SqlLimits): SqlEndpoint {
  const settings: ClickHouseSettings = {
    readonly: '1',
    max_result_rows: String(limits.maxResultRows),
    max_result_bytes: String(limits.maxResultBytes),
    result_overflow_mode: 'throw',
    max_execution_time: Math.max(1, Math.ceil(limits.maxExecutionTimeMs / 1000)),
    max_memory_usage: String(limits.maxMemoryUsage),
  };
  return {
    async run(query, signal) {
      if (typeof query !== 'string' || query.trim() === '') throw bad('query must be a non-empty string of SQL');
      if (Buffer.byteLength(query) > limits.maxQueryBytes) throw bad(`the query is ${Buffer.byteLength(query)} bytes; at most ${limits.maxQueryBytes} are allowed`);
      const text = query.trim().replace(/;\s*$/, '');
      // The statement is parsed by ClickHouse itself, read-only: even a query crafted against this EXPLAIN cannot write.
      const ast = await client.query({ query: `EXPLAIN AST ${text}`, format: 'TabSeparatedRaw', clickhouse_settings: { readonly: '1', max_execution_time: 5 }, ...(signal ? { abort_signal: signal } : {}) });
      checkAst((await ast.text()).split('\n').filter((l) => l.trim() !== ''), database);
      const started = Date.now();
      const rs = await client.query({ query: text, format: 'JSONCompact', clickhouse_settings: settings, ...(signal ? { abort_signal: signal } : {}) });
      const body = (await rs.json()) as unknown as { meta: Array<{ name: string; type: string }>; data: unknown[][]; statistics?: { elapsed: number; rows_read: number; bytes_read: number } };
      return {
        columns: body.meta,
        rows: body.data,
        statistics: {
          elapsed_ms: body.statistics ? Math.round(body.statistics.elapsed * 1000 * 1000) / 1000 : Date.now() - started,
          rows_read: body.statistics?.rows_read ?? 0,
          bytes_read: body.statistics?.bytes_read ?? 0,
        },
      };
    },
  };
}

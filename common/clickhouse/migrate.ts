import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { LookbackError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';

/**
 * ClickHouse schema migrations. Each file `schemas/clickhouse/NNNN_name.sql` is one version: statements separated
 * by `;` at the end of a line, with `{{var}}` placeholders (the database name, retention days) filled from
 * validated values. The ledger table `lookback_migrations` records `started` and `done` rows per version, because
 * ClickHouse has no DDL transactions: a version with `started` but no `done` was half-applied.
 *
 * Refuses to touch a database that holds tables but no ledger (a foreign schema), a ledger written by a newer
 * lookback, a migration whose text changed after it was applied, and a half-applied version (unless `resume`,
 * which is safe because every statement is written to be idempotent: IF NOT EXISTS, ADD COLUMN IF NOT EXISTS).
 */
export interface Migration {
  version: number;
  name: string;
  /** The template, before placeholders are filled; its hash is what the ledger records. */
  template: string;
  checksum: string;
}

export interface MigrateOptions {
  database: string;
  /** Values for `{{name}}` placeholders besides `{{db}}`. */
  vars?: Record<string, string | number>;
  /** Folder of NNNN_name.sql files; defaults to schemas/clickhouse. */
  dir?: string;
  /** Re-apply a half-applied version instead of refusing. */
  resume?: boolean;
  log?: Logger;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export const LEDGER = 'lookback_migrations';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function defaultMigrationsDir(): string {
  // This file lives in common/clickhouse/ (or dist/common/clickhouse/); the SQL files are not compiled.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../schemas/clickhouse'), path.resolve(here, '../../../schemas/clickhouse')];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0]!;
}

export function loadMigrations(dir = defaultMigrationsDir()): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const template = fs.readFileSync(path.join(dir, file), 'utf8');
    const version = Number(file.slice(0, 4));
    if (out.some((m) => m.version === version)) throw new LookbackError('schema', `two migrations share version ${version} in ${dir}`);
    out.push({ version, name: file.replace(/\.sql$/, ''), template, checksum: crypto.createHash('sha256').update(template).digest('hex').slice(0, 16) });
  }
  return out;
}

/** Splits a migration into statements and fills placeholders. Unknown placeholders are an error, not an empty string. */
export function renderStatements(m: Migration, vars: Record<string, string | number>): string[] {
  const filled = m.template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new LookbackError('schema', `migration ${m.name} uses {{${name}}}, which has no value`);
    return String(v);
  });
  return filled
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}

function checkVars(vars: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(vars)) {
    const ok = typeof v === 'number' ? Number.isInteger(v) && v >= 0 : IDENT.test(v);
    if (!ok) throw new LookbackError('config', `migration variable ${k} = ${JSON.stringify(v)} is not valid: allowed an identifier or a non-negative integer`);
  }
}

/** The tables and views a migration creates, to verify that they still exist. */
export function createdObjects(statements: string[]): string[] {
  const names: string[] = [];
  for (const s of statements) {
    const m = /^CREATE\s+(?:TABLE|MATERIALIZED\s+VIEW|VIEW|DICTIONARY)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:`?\w+`?\.)?`?(\w+)`?/i.exec(s);
    if (m) names.push(m[1]!);
  }
  return names;
}

interface LedgerRow { version: number; name: string; checksum: string; state: string }

async function rows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function migrate(client: ClickHouseClient, opts: MigrateOptions): Promise<MigrateResult> {
  const log = opts.log ?? silentLogger;
  const db = opts.database;
  if (!IDENT.test(db)) throw new LookbackError('config', `database name ${JSON.stringify(db)} is not valid: allowed letters, digits and _`);
  const vars = { ...opts.vars, db };
  checkVars(vars);
  const migrations = loadMigrations(opts.dir);

  const dbExists = (await rows(client, 'SELECT name FROM system.databases WHERE name = {db:String}', { db })).length > 0;
  if (dbExists) {
    const tables = (await rows<{ name: string }>(client, 'SELECT name FROM system.tables WHERE database = {db:String}', { db })).map((t) => t.name);
    if (tables.length > 0 && !tables.includes(LEDGER)) {
      throw new LookbackError(
        'schema',
        `database ${db} holds tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}) but no ${LEDGER} ledger: ` +
          'it is not a lookback schema, and lookback will not modify it. Choose another database name (clickhouse.database).',
      );
    }
  }
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.${LEDGER} (version UInt32, name String, checksum String, state LowCardinality(String), at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY (version, at)`,
  });

  const ledger = await rows<LedgerRow>(client, `SELECT version, name, checksum, argMax(state, at) AS state FROM ${db}.${LEDGER} GROUP BY version, name, checksum ORDER BY version`);
  const known = new Map(migrations.map((m) => [m.version, m]));
  const done = new Set<number>();
  for (const row of ledger) {
    const m = known.get(row.version);
    if (!m) {
      throw new LookbackError('schema', `database ${db} was migrated to version ${row.version} (${row.name}) by a newer lookback; this one knows up to ${migrations.at(-1)?.version ?? 0}. Upgrade lookback.`);
    }
    if (row.checksum !== m.checksum) {
      throw new LookbackError('schema', `migration ${m.name} changed after it was applied to ${db} (checksum ${row.checksum}, now ${m.checksum}): add a new migration instead of editing an applied one.`);
    }
    if (row.state === 'started' && !opts.resume) {
      throw new LookbackError('schema', `migration ${m.name} was half-applied to ${db} (started, never finished). Inspect the database, then run \`lookback migrate --resume\` to re-apply it (its statements are idempotent).`);
    }
    if (row.state === 'done') done.add(row.version);
  }

  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const statements = renderStatements(m, vars);
    log.info('applying migration', { database: db, migration: m.name, statements: statements.length });
    await recordState(client, db, m, 'started');
    for (const sql of statements) {
      try {
        await client.command({ query: sql });
      } catch (err) {
        throw new LookbackError('schema', `migration ${m.name} failed on statement: ${sql.slice(0, 120)}...: ${(err as Error).message}`, { cause: err });
      }
    }
    await recordState(client, db, m, 'done');
    applied.push(m.name);
  }
  await verifySchema(client, { database: db, dir: opts.dir, vars: opts.vars });
  return { applied, alreadyApplied: done.size };
}

async function recordState(client: ClickHouseClient, db: string, m: Migration, state: 'started' | 'done'): Promise<void> {
  await client.insert({ table: `${db}.${LEDGER}`, values: [{ version: m.version, name: m.name, checksum: m.checksum, state }], format: 'JSONEachRow' });
}

/**
 * Services call this at start-up: the database is at the latest version this lookback knows and every table the
 * migrations create exists. The error says which and what to run.
 */
export async function verifySchema(client: ClickHouseClient, opts: { database: string; dir?: string; vars?: Record<string, string | number> }): Promise<void> {
  const db = opts.database;
  const migrations = loadMigrations(opts.dir);
  const hasLedger = (await rows(client, 'SELECT name FROM system.tables WHERE database = {db:String} AND name = {t:String}', { db, t: LEDGER })).length > 0;
  if (!hasLedger) {
    throw new LookbackError('schema', `database ${db} has no lookback schema (no ${LEDGER} table): run \`lookback migrate\` first`);
  }
  const ledger = await rows<{ version: number; state: string }>(client, `SELECT version, argMax(state, at) AS state FROM ${db}.${LEDGER} GROUP BY version`);
  const doneVersions = new Set(ledger.filter((r) => r.state === 'done').map((r) => Number(r.version)));
  const pending = migrations.filter((m) => !doneVersions.has(m.version)).map((m) => m.name);
  if (pending.length > 0) throw new LookbackError('schema', `database ${db} is missing migrations ${pending.join(', ')}: run \`lookback migrate\``);
  const present = new Set((await rows<{ name: string }>(client, 'SELECT name FROM system.tables WHERE database = {db:String}', { db })).map((t) => t.name));
  const vars = { ...placeholderDefaults(migrations), ...opts.vars, db };
  for (const m of migrations) {
    for (const obj of createdObjects(renderStatements(m, vars))) {
      if (!present.has(obj)) {
        throw new LookbackError('schema', `database ${db} is missing ${obj}, created by migration ${m.name}; it was dropped by hand? Restore it or recreate the database.`);
      }
    }
  }
}

/** Any value renders a name just as well for `createdObjects`, whose names never depend on numeric placeholders. */
function placeholderDefaults(migrations: Migration[]): Record<string, string | number> {
  const vars: Record<string, number> = {};
  for (const m of migrations) for (const [, name] of m.template.matchAll(/\{\{(\w+)\}\}/g)) vars[name!] = 1;
  return vars;
}

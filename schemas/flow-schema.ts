/**
 * The flow schema files: `schemas/flow.avsc` (the current version, what producers write and readers resolve into)
 * and `schemas/avro/flow.vN.avsc` (every released version, frozen; see schemas/avro/README.md). They are read from
 * the source tree at run time, so that the .avsc files stay the single source of truth for every language.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LookbackError } from '../common/errors.js';
import { schemaFingerprint } from './fingerprint.js';

export const FLOW_SCHEMA_NAME = 'lookback.flow.Flow';

export interface FlowSchemaVersion {
  /** The N of flow.vN.avsc. */
  version: number;
  file: string;
  /** The file's text, as registered with a schema registry. */
  text: string;
  /** Parsed JSON. */
  schema: unknown;
  /** CRC-64-AVRO of the Parsing Canonical Form, 8 bytes little-endian (as in the single-object header). */
  fingerprint: Buffer;
}

export interface FlowSchemas {
  /** schemas/flow.avsc. */
  current: FlowSchemaVersion;
  /** schemas/avro/flow.vN.avsc, oldest first. */
  released: FlowSchemaVersion[];
}

/**
 * Where the schema files are: next to this module when it runs from the source tree, or `schemas/` of the package
 * when it runs compiled from `dist/schemas/`.
 */
export function flowSchemaDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '../../schemas')];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'flow.avsc')));
  if (!found) {
    throw new LookbackError('missing_dependency', `flow.avsc not found in ${candidates.join(' or ')}: the schemas/ folder of the lookback package must be present at run time`);
  }
  return found;
}

function readVersion(file: string, version: number): FlowSchemaVersion {
  const text = fs.readFileSync(file, 'utf8');
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    throw new LookbackError('schema', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return { version, file, text, schema, fingerprint: schemaFingerprint(schema) };
}

/** Reads flow.avsc and every released version from `dir` (default: flowSchemaDir()). */
export function loadFlowSchemas(dir: string = flowSchemaDir()): FlowSchemas {
  const releasedDir = path.join(dir, 'avro');
  const files = fs.existsSync(releasedDir) ? fs.readdirSync(releasedDir) : [];
  const released = files
    .map((name) => ({ name, m: /^flow\.v(\d+)\.avsc$/.exec(name) }))
    .filter((f): f is { name: string; m: RegExpExecArray } => f.m !== null)
    .map((f) => readVersion(path.join(releasedDir, f.name), Number(f.m[1])))
    .sort((a, b) => a.version - b.version);
  if (released.length === 0) {
    throw new LookbackError('schema', `no released flow schema (flow.vN.avsc) in ${releasedDir}`);
  }
  const latest = released[released.length - 1] as FlowSchemaVersion;
  const current = readVersion(path.join(dir, 'flow.avsc'), latest.version);
  // flow.avsc is always the newest released version (doc-only edits keep the fingerprint): an unreleased change
  // would write data that no fingerprint identifies.
  if (!latest.fingerprint.equals(current.fingerprint)) {
    throw new LookbackError('schema', `${current.file} differs from the newest released version ${latest.file}: release the change as flow.v${latest.version + 1}.avsc (see schemas/avro/README.md)`);
  }
  return { current, released };
}

/**
 * The flow codec: Flow objects to Kafka record values and back, in either framing.
 * - single-object: the Avro spec's single-object encoding, 0xC3 0x01 + the writer schema's 8-byte CRC-64-AVRO
 *   fingerprint (little-endian) + the Avro binary body. Needs no registry: the fingerprint names one of the
 *   released schemas in schemas/avro/.
 * - confluent: 0x00 + the writer schema's 4-byte big-endian registry id + the body, as Confluent's serializers
 *   write it; the schema is registered under `<topic>-value` through a Confluent-compatible registry.
 * Decoding detects the framing from the first bytes, finds the writer schema (fingerprint or id) and resolves the
 * body into the current schema with Avro schema resolution, so older and newer writers both decode.
 */
import { LookbackError } from '../common/errors.js';
import { avroTypeFor, type AvroType } from './avro-types.js';
import { canonicalForm } from './fingerprint.js';
import { createFlowWriter } from './flow-encoder.js';
import { FLOW_SCHEMA_NAME, loadFlowSchemas, type FlowSchemas } from './flow-schema.js';
import type { Flow } from './flow-types.js';
import type { RegistryClient } from './registry-client.js';
import { DEFAULT_FLOW_TOPIC, valueSubject } from './topics.js';

export type Framing = 'single-object' | 'confluent';

export interface FlowCodecOptions {
  /** How encode() frames records. decode() accepts both whatever this is. */
  framing: Framing;
  /** Required for the confluent framing; used by decode() for Confluent-framed records in any case. */
  registry?: RegistryClient;
  /** Subject the current schema is registered under (default: `lookback.flows.v1-value`). */
  subject?: string;
  /** Register the schema if the subject lacks it (default true); false only looks it up and fails if absent. */
  autoRegister?: boolean;
  /** Where flow.avsc and avro/ are (default: the package's schemas/ folder). */
  schemas?: FlowSchemas;
}

export interface FlowCodec {
  readonly framing: Framing;
  /** Registry id of the current schema (confluent framing), else undefined. */
  readonly schemaId: number | undefined;
  /** CRC-64-AVRO fingerprint of the current schema, 8 bytes little-endian. */
  readonly fingerprint: Buffer;
  /** One record value in the configured framing, in a buffer of its own. */
  encode(flow: Flow): Buffer;
  /**
   * Many record values, each a view into a slab shared with other values (of this batch and of others, about a
   * thousand per slab); no value is ever written again once returned. A view keeps its whole slab alive.
   */
  encodeBatch(flows: readonly Flow[]): Buffer[];
  /**
   * Decodes a record value. Synchronous: the writer schema must be known, which it always is for single-object
   * records of released versions and for Confluent ids already seen; call prefetch() (or decodeAsync) first for
   * Confluent ids that may be new. Throws LookbackError: 'invalid_argument' for bytes that are not a flow (garbage,
   * an unknown fingerprint or id, a schema that cannot be read as a flow), 'not_found' for an id not fetched yet.
   * Decoded endpoints may be shared between flows and are then deep-frozen: copy one before changing it.
   */
  decode(value: Uint8Array): Flow;
  /** decode(), fetching an unknown Confluent schema id from the registry first. */
  decodeAsync(value: Uint8Array): Promise<Flow>;
  /**
   * Fetches the writer schemas of all Confluent-framed values not seen yet, so that decode() can run synchronously.
   * Bad ids are remembered (decode() then reports them); only an unreachable registry throws ('unavailable').
   */
  prefetch(values: Iterable<Uint8Array>): Promise<void>;
}

const SINGLE_OBJECT_MAGIC = [0xc3, 0x01] as const;
const SINGLE_OBJECT_HEADER = 10;
const CONFLUENT_MAGIC = 0x00;
const CONFLUENT_HEADER = 5;
/** The encoder's buffers: about a thousand typical flows each (~1 KB, mostly endpoint labels). */
const SLAB_SIZE = 1024 * 1024;

/** How to read one writer schema: the resolver into the current schema, or none when it is the current schema. */
interface Reader {
  label: string;
  resolver: unknown;
}
/** A writer schema that cannot be read (unknown id, not a flow schema): decode() reports `reason`. */
interface Unreadable {
  label: string;
  reason: string;
}
type WriterEntry = Reader | Unreadable;

type Decode = (buf: Buffer, pos: number, resolver?: unknown) => { value: unknown; offset: number };

export async function createFlowCodec(opts: FlowCodecOptions): Promise<FlowCodec> {
  const schemas = opts.schemas ?? loadFlowSchemas();
  const current = schemas.current;
  const type: AvroType = avroTypeFor(current.schema);
  const currentCanonical = canonicalForm(current.schema);
  const decodeWith = type.decode.bind(type) as Decode;

  // Writers known without a registry: every released version, by fingerprint.
  const byFingerprint = new Map<string, WriterEntry>();
  for (const v of schemas.released) {
    const entry = v.fingerprint.equals(current.fingerprint)
      ? { label: `flow schema v${v.version}`, resolver: undefined }
      : readerFor(v.schema, `flow schema v${v.version}`);
    if ('reason' in entry) throw new LookbackError('schema', `released ${v.file} cannot be read by the current flow schema: ${entry.reason}`);
    byFingerprint.set(v.fingerprint.toString('hex'), entry);
  }
  const byId = new Map<number, WriterEntry>();

  function readerFor(schema: unknown, label: string): WriterEntry {
    try {
      if (canonicalForm(schema) === currentCanonical) return { label, resolver: undefined };
      const writer = avroTypeFor(schema);
      if (writer.name !== FLOW_SCHEMA_NAME) return { label, reason: `${label} is ${writer.name ?? writer.typeName}, not ${FLOW_SCHEMA_NAME}` };
      return { label, resolver: type.createResolver(writer) };
    } catch (err) {
      return { label, reason: `${label} cannot be read as ${FLOW_SCHEMA_NAME} v${current.version}: ${(err as Error).message}` };
    }
  }

  // The framing header of the configured framing, written once at the start of the scratch buffer.
  let schemaId: number | undefined;
  let header: Buffer;
  if (opts.framing === 'confluent') {
    const registry = opts.registry;
    if (!registry) throw new LookbackError('config', 'the confluent framing needs a schema registry: set its URL, or use the single-object framing');
    const subject = opts.subject ?? valueSubject(DEFAULT_FLOW_TOPIC);
    if (opts.autoRegister === false) {
      const found = await registry.lookup(subject, current.text);
      if (!found) throw new LookbackError('schema', `subject ${subject} at ${registry.url} does not hold flow schema v${current.version}, and automatic registration is off`);
      schemaId = found.id;
    } else {
      schemaId = await registry.register(subject, current.text);
    }
    byId.set(schemaId, { label: `schema id ${schemaId}`, resolver: undefined });
    header = Buffer.alloc(CONFLUENT_HEADER);
    header[0] = CONFLUENT_MAGIC;
    header.writeUInt32BE(schemaId, 1);
  } else if (opts.framing === 'single-object') {
    header = Buffer.concat([Buffer.from(SINGLE_OBJECT_MAGIC), current.fingerprint]);
  } else {
    throw new LookbackError('config', `unknown framing ${JSON.stringify(opts.framing)}: use 'single-object' or 'confluent'`);
  }
  const headerLen = header.length;
  // The hand-written encoder when it implements this schema (byte for byte what avsc writes, faster), else avsc.
  // Its buffers are slabs that encodeBatch() hands out views of (see there).
  const writer = createFlowWriter(current.schema, SLAB_SIZE);
  let scratch = Buffer.allocUnsafe(writer ? 0 : 64 * 1024);

  /** Appends the framing header and one flow at `pos` of the output buffer; returns the end offset. */
  function encodeAt(flow: Flow, pos: number): number {
    if (writer) {
      writer.pos = pos;
      writer.raw(header);
      try {
        writer.writeFlow(flow);
      } catch (err) {
        throw invalidFlow(flow, err);
      }
      return writer.pos;
    }
    ensureCapacity(pos, pos + headerLen);
    for (let h = 0; h < headerLen; h++) scratch[pos + h] = header[h] as number; // 5 or 10 bytes: a loop beats a native copy
    pos += headerLen;
    for (;;) {
      let end: number;
      try {
        end = type.encode(flow, scratch, pos);
      } catch (err) {
        throw invalidFlow(flow, err);
      }
      if (end > 0) return end;
      // avsc returns minus the missing byte count when the buffer is too small.
      ensureCapacity(pos, scratch.length - end + 1024);
    }
  }

  /** Grows the scratch buffer to at least `size` bytes, keeping its first `keep` bytes. */
  function ensureCapacity(keep: number, size: number): void {
    if (size <= scratch.length) return;
    const grown = Buffer.allocUnsafe(Math.max(scratch.length * 2, size));
    scratch.copy(grown, 0, 0, keep);
    scratch = grown;
  }

  function invalidFlow(flow: unknown, err: unknown): LookbackError {
    const problems: string[] = [];
    type.isValid(flow, {
      errorHook: (path: string[], val: unknown, t: AvroType) => {
        if (problems.length < 5) problems.push(`${path.join('.') || '(record)'}: ${describe(val)} is not a valid ${t.typeName}`);
      },
    });
    const why = problems.length ? problems.join('; ') : (err as Error).message;
    return new LookbackError('invalid_argument', `cannot encode a flow as ${FLOW_SCHEMA_NAME}: ${why}`, { cause: err });
  }

  const currentSingleObject = { entry: byFingerprint.get(current.fingerprint.toString('hex')), pos: SINGLE_OBJECT_HEADER, framing: 'single-object' };
  const fpLo = current.fingerprint.readUInt32LE(0);
  const fpHi = current.fingerprint.readUInt32LE(4);

  function writerOf(buf: Buffer): { entry: WriterEntry | undefined; pos: number; framing: string; id?: number } {
    if (buf.length >= SINGLE_OBJECT_HEADER && buf[0] === SINGLE_OBJECT_MAGIC[0] && buf[1] === SINGLE_OBJECT_MAGIC[1]) {
      // Fast path: the current schema's fingerprint, compared as two 32-bit words.
      if (buf.readUInt32LE(2) === fpLo && buf.readUInt32LE(6) === fpHi) return currentSingleObject;
      const fp = buf.toString('hex', 2, SINGLE_OBJECT_HEADER);
      const entry = byFingerprint.get(fp) ?? {
        label: `fingerprint ${fp}`,
        reason: `unknown schema fingerprint ${fp} in a single-object-encoded record: it is none of the released flow schemas (${schemas.released.map((v) => `v${v.version}`).join(', ')}); a newer lookback may have written it`,
      };
      return { entry, pos: SINGLE_OBJECT_HEADER, framing: 'single-object' };
    }
    if (buf.length >= CONFLUENT_HEADER && buf[0] === CONFLUENT_MAGIC) {
      const id = buf.readUInt32BE(1);
      return { entry: byId.get(id), pos: CONFLUENT_HEADER, framing: 'confluent', id };
    }
    const first = [...buf.subarray(0, 2)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ') || 'none';
    throw new LookbackError('invalid_argument', `not a flow record: ${buf.length} bytes starting ${first}; expected 0xc3 0x01 (Avro single-object encoding, at least ${SINGLE_OBJECT_HEADER} bytes) or 0x00 (Confluent framing, at least ${CONFLUENT_HEADER} bytes)`);
  }

  function decode(value: Uint8Array): Flow {
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const { entry, pos, framing, id } = writerOf(buf);
    if (!entry) {
      if (!opts.registry) throw new LookbackError('invalid_argument', `Confluent-framed record with schema id ${id} but no schema registry is configured to resolve it`);
      throw new LookbackError('not_found', `schema id ${id} has not been fetched from ${opts.registry.url} yet: call prefetch() or decodeAsync()`);
    }
    if ('reason' in entry) throw new LookbackError('invalid_argument', entry.reason);
    let result: { value: unknown; offset: number };
    try {
      result = decodeWith(buf, pos, entry.resolver);
    } catch (err) {
      throw new LookbackError('invalid_argument', `corrupt ${framing} flow record (${entry.label}, ${buf.length} bytes): ${(err as Error).message}`, { cause: err });
    }
    if (result.offset < 0) throw new LookbackError('invalid_argument', `truncated ${framing} flow record (${entry.label}): ${buf.length} bytes end inside the record`);
    if (result.offset !== buf.length) throw new LookbackError('invalid_argument', `corrupt ${framing} flow record (${entry.label}): ${buf.length - result.offset} bytes left over after the record`);
    return result.value as Flow;
  }

  async function fetchId(id: number): Promise<void> {
    const registry = opts.registry;
    if (!registry || byId.has(id)) return;
    let text: string;
    try {
      text = await registry.getSchema(id);
    } catch (err) {
      if (err instanceof LookbackError && err.code === 'not_found') {
        byId.set(id, { label: `schema id ${id}`, reason: `unknown schema id ${id}: the registry at ${registry.url} does not have it` });
        return;
      }
      throw err;
    }
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch {
      byId.set(id, { label: `schema id ${id}`, reason: `schema id ${id} from ${registry.url} is not JSON (not an Avro schema)` });
      return;
    }
    byId.set(id, readerFor(schema, `schema id ${id}`));
  }

  async function prefetch(values: Iterable<Uint8Array>): Promise<void> {
    const wanted = new Set<number>();
    for (const v of values) {
      if (v.length >= CONFLUENT_HEADER && v[0] === CONFLUENT_MAGIC) {
        const id = ((v[1] as number) * 2 ** 24) + ((v[2] as number) << 16) + ((v[3] as number) << 8) + (v[4] as number);
        if (!byId.has(id)) wanted.add(id);
      }
    }
    await Promise.all([...wanted].map(fetchId));
  }

  return {
    framing: opts.framing,
    schemaId,
    fingerprint: Buffer.from(current.fingerprint),

    encode(flow) {
      if (writer) {
        // Written after the bytes already handed out, copied out, and the room given back.
        try {
          encodeAt(flow, writer.pos);
          return Buffer.from(writer.buf.subarray(writer.keepFrom, writer.pos));
        } finally {
          writer.rewind();
        }
      }
      const end = encodeAt(flow, 0);
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      return out;
    },

    encodeBatch(flows) {
      const out: Buffer[] = new Array<Buffer>(flows.length);
      if (writer) {
        // Each value is written once, into the writer's current slab, and handed out as a view of it: the bytes
        // before writer.keepFrom are never written again (a full slab is left to its views and a new one started,
        // taking along only the flow in progress), so values stay intact for as long as anyone holds them. A
        // copy into a buffer of the batch's own would read and write every byte a second time (~1 KB per flow).
        try {
          for (let i = 0; i < flows.length; i++) {
            encodeAt(flows[i] as Flow, writer.pos);
            out[i] = writer.view(writer.keepFrom, writer.pos);
            writer.keepFrom = writer.pos;
          }
        } catch (err) {
          writer.rewind();
          throw err;
        }
        return out;
      }
      // avsc: everything back to back into the scratch buffer, then copied once into one allocation.
      const ends: number[] = new Array<number>(flows.length);
      let pos = 0;
      for (let i = 0; i < flows.length; i++) {
        pos = encodeAt(flows[i] as Flow, pos);
        ends[i] = pos;
      }
      const all = Buffer.allocUnsafe(pos);
      scratch.copy(all, 0, 0, pos);
      let start = 0;
      for (let i = 0; i < flows.length; i++) {
        out[i] = all.subarray(start, ends[i]);
        start = ends[i] as number;
      }
      return out;
    },

    decode,

    async decodeAsync(value) {
      await prefetch([value]);
      return decode(value);
    },

    prefetch,
  };
}

function describe(val: unknown): string {
  if (typeof val === 'bigint') return `${val}n`;
  if (Buffer.isBuffer(val)) return `<Buffer of ${val.length} bytes>`;
  try {
    const s = JSON.stringify(val);
    return s === undefined ? String(val) : s.length > 60 ? `${s.slice(0, 60)}...` : s;
  } catch {
    return String(val);
  }
}

/** The framing of a record value by its first bytes, or undefined when it is neither. */
export function detectFraming(value: Uint8Array): Framing | undefined {
  if (value.length >= SINGLE_OBJECT_HEADER && value[0] === 0xc3 && value[1] === 0x01) return 'single-object';
  if (value.length >= CONFLUENT_HEADER && value[0] === CONFLUENT_MAGIC) return 'confluent';
  return undefined;
}


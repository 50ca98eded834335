/**
 * One Kafka record value to one RowBinary row. Records written with the current schema go through the Avro
 * transcoder (bytes to bytes); any other writer (an older or newer release, a Confluent id of another schema)
 * through the codec's schema resolution and the Flow encoder. Confluent-framed records need their writer schema
 * from the registry: `prefetch` gets every unknown id of a fetch at once, before the synchronous `encode`.
 */
import { LookbackError } from '../common/errors.js';
import { canonicalForm } from '../schemas/fingerprint.js';
import type { FlowCodec } from '../schemas/avro-codec.js';
import type { FlowSchemas } from '../schemas/flow-schema.js';
import type { RegistryClient } from '../schemas/registry-client.js';
import { createTranscoder, TRANSCODER_SCHEMA_VERSION, type AvroRowTranscoder } from './avro-transcoder.js';
import { writeFlowRow } from './flow-row-binary.js';
import { invalidFlow, type FlowLimits } from './limits.js';
import type { RowBinaryWriter } from './row-binary.js';

export type DeadLetterKind = 'empty' | 'oversized' | 'undecodable' | 'unknown_schema' | 'invalid_value' | 'rejected';

/** A record that cannot be stored: why, in a sentence, and the kind for the metric. */
export class BadRecord extends Error {
  constructor(readonly kind: DeadLetterKind, message: string) {
    super(message);
    this.name = 'BadRecord';
  }
}

export interface RecordEncoder {
  /** Whether the transcoder serves current-schema records (false: every record is decoded, slower). */
  readonly fastPath: boolean;
  /** Appends the row of `value` to `w`, or throws BadRecord (and leaves `w` as it was). */
  encode(value: Buffer | null, w: RowBinaryWriter, limits: FlowLimits): void;
  /** Fetches the writer schemas of unknown Confluent ids among `values`. Throws 'unavailable' if the registry is down. */
  prefetch(values: ReadonlyArray<Buffer | null>): Promise<void>;
  /** Records through each path so far. */
  readonly counts: { transcoded: number; resolved: number };
}

export interface RecordEncoderOptions {
  codec: FlowCodec;
  schemas: FlowSchemas;
  registry?: RegistryClient;
  maxRecordBytes: number;
}

const SO_HEADER = 10;
const CF_HEADER = 5;

export function createRecordEncoder(opts: RecordEncoderOptions): RecordEncoder {
  const { codec, schemas, registry, maxRecordBytes } = opts;
  const current = schemas.current;
  const transcoder: AvroRowTranscoder | undefined = current.version === TRANSCODER_SCHEMA_VERSION ? createTranscoder(current.schema) : undefined;
  const fp = codec.fingerprint;
  const fpLo = fp.readUInt32LE(0);
  const fpHi = fp.readUInt32LE(4);
  const currentCanonical = canonicalForm(current.schema);
  /** Confluent ids whose schema is the current one (transcodable), or not. */
  const idIsCurrent = new Map<number, boolean>();
  const counts = { transcoded: 0, resolved: 0 };

  function classify(err: unknown): BadRecord {
    if (err instanceof BadRecord) return err;
    const msg = (err as Error).message ?? String(err);
    if (err instanceof LookbackError && err.code === 'invalid_argument') {
      const kind: DeadLetterKind = /out of range|outside the accepted window|bytes long, more than|an IP address has|uuid has/.test(msg)
        ? 'invalid_value'
        : /unknown schema|schema id|fingerprint|cannot be read as|not lookback\.flow/i.test(msg) ? 'unknown_schema' : 'undecodable';
      return new BadRecord(kind, msg);
    }
    return new BadRecord('undecodable', msg);
  }

  return {
    fastPath: transcoder !== undefined,
    counts,

    encode(value, w, limits) {
      if (!value || value.length === 0) throw new BadRecord('empty', 'empty record value (a tombstone or an empty message): not a flow');
      if (value.length > maxRecordBytes) throw new BadRecord('oversized', `record value of ${value.length} bytes is larger than limits.maxRecordBytes (${maxRecordBytes})`);
      const at = w.pos;
      try {
        if (transcoder) {
          if (value.length >= SO_HEADER && value[0] === 0xc3 && value[1] === 0x01 && value.readUInt32LE(2) === fpLo && value.readUInt32LE(6) === fpHi) {
            transcoder.transcode(value, SO_HEADER, value.length, w, limits);
            counts.transcoded++;
            return;
          }
          if (value.length >= CF_HEADER && value[0] === 0x00 && idIsCurrent.get(value.readUInt32BE(1)) === true) {
            transcoder.transcode(value, CF_HEADER, value.length, w, limits);
            counts.transcoded++;
            return;
          }
        }
        const flow = codec.decode(value);
        writeFlowRow(w, flow, limits);
        counts.resolved++;
      } catch (err) {
        w.pos = at;
        if (err instanceof LookbackError && err.code === 'not_found') throw err; // an id not prefetched: a bug, not a bad record
        throw classify(err);
      }
    },

    async prefetch(values) {
      const ids = new Set<number>();
      for (const v of values) {
        if (v && v.length >= CF_HEADER && v[0] === 0x00) {
          const id = v.readUInt32BE(1);
          if (!idIsCurrent.has(id)) ids.add(id);
        }
      }
      if (ids.size === 0) return;
      if (!registry) {
        // Without a registry the codec reports these records as undecodable; remember them as "not current".
        for (const id of ids) idIsCurrent.set(id, false);
        return;
      }
      await codec.prefetch(values.filter((v): v is Buffer => v !== null));
      for (const id of ids) {
        try {
          idIsCurrent.set(id, canonicalForm(JSON.parse(await registry.getSchema(id))) === currentCanonical);
        } catch (err) {
          if (err instanceof LookbackError && err.retriable) throw err;
          idIsCurrent.set(id, false); // unknown id or not a schema: the codec dead-letters it
        }
      }
    },
  };
}

export { invalidFlow };

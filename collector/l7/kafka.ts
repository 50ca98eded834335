/**
 * Kafka request headers (API key and version, correlation id, client id) and, where the snippet holds it, the
 * first topic name of Produce, Fetch, ListOffsets and Metadata requests; response headers (correlation id).
 * Versions that name topics by id only (Produce 13+, Fetch 13+, Metadata 10+ with a null name) give no topic.
 * Bounds-checked throughout; never throws on hostile input.
 */

/** API names as Cilium's Kafka parser writes Kafka.api_key. */
const API_KEYS: readonly string[] = [
  'produce', 'fetch', 'offsets', 'metadata', 'leaderandisr', 'stopreplica', 'updatemetadata', 'controlledshutdown',
  'offsetcommit', 'offsetfetch', 'findcoordinator', 'joingroup', 'heartbeat', 'leavegroup', 'syncgroup',
  'describegroups', 'listgroups', 'saslhandshake', 'apiversions', 'createtopics', 'deletetopics', 'deleterecords',
  'initproducerid', 'offsetforleaderepoch', 'addpartitionstotxn', 'addoffsetstotxn', 'endtxn', 'writetxnmarkers',
  'txnoffsetcommit', 'describeacls', 'createacls', 'deleteacls', 'describeconfigs', 'alterconfigs',
  'alterreplicalogdirs', 'describelogdirs', 'saslauthenticate', 'createpartitions', 'createdelegationtoken',
  'renewdelegationtoken', 'expiredelegationtoken', 'describedelegationtoken', 'deletegroups', 'electleaders',
  'incrementalalterconfigs', 'alterpartitionreassignments', 'listpartitionreassignments', 'offsetdelete',
  'describeclientquotas', 'alterclientquotas', 'describeuserscramcredentials', 'alteruserscramcredentials',
  'vote', 'beginquorumepoch', 'endquorumepoch', 'describequorum', 'alterpartition', 'updatefeatures', 'envelope',
  'fetchsnapshot', 'describecluster', 'describeproducers', 'brokerregistration', 'brokerheartbeat',
  'unregisterbroker', 'describetransactions', 'listtransactions', 'allocateproducerids', 'consumergroupheartbeat',
  'consumergroupdescribe', 'controllerregistration', 'gettelemetrysubscriptions', 'pushtelemetry',
  'assignreplicastodirs', 'listclientmetricsresources', 'describetopicpartitions', 'sharegroupheartbeat',
  'sharegroupdescribe', 'sharefetch', 'shareacknowledge', 'addraftvoter', 'removeraftvoter', 'updateraftvoter',
  'initializesharegroupstate', 'readsharegroupstate', 'writesharegroupstate', 'deletesharegroupstate',
  'readsharegroupstatesummary', 'streamsgroupheartbeat', 'streamsgroupdescribe', 'describesharegroupoffsets',
  'altersharegroupoffsets', 'deletesharegroupoffsets',
];

export function kafkaApiName(key: number): string {
  return API_KEYS[key] ?? String(key);
}

export interface KafkaRequest {
  kind: 'request';
  /** Bytes of the whole request (the length prefix included): where the next one starts. */
  size: number;
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string;
  topic: string;
}

export interface KafkaResponse {
  kind: 'response';
  size: number;
  correlationId: number;
}

export type KafkaParse = KafkaRequest | KafkaResponse | 'skip' | 'malformed' | 'truncated';

const MAX_MESSAGE = 256 << 20;

class Short extends Error {}

class Reader {
  constructor(private readonly buf: Buffer, public off: number) {}
  need(n: number): void {
    if (this.off + n > this.buf.length) throw new Short();
  }
  i8(): number { this.need(1); return this.buf.readInt8(this.off++); }
  i16(): number { this.need(2); const v = this.buf.readInt16BE(this.off); this.off += 2; return v; }
  i32(): number { this.need(4); const v = this.buf.readInt32BE(this.off); this.off += 4; return v; }
  skip(n: number): void { this.need(n); this.off += n; }
  uvarint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.i8() & 0xff;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new Short();
  }
  /** STRING / NULLABLE_STRING (int16 length, -1 = null). */
  str(): string {
    const len = this.i16();
    if (len < 0) return '';
    this.need(len);
    const s = this.buf.toString('utf8', this.off, this.off + len);
    this.off += len;
    return s;
  }
  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (uvarint length + 1, 0 = null). */
  compactStr(): string {
    const n = this.uvarint();
    if (n === 0) return '';
    this.need(n - 1);
    const s = this.buf.toString('utf8', this.off, this.off + n - 1);
    this.off += n - 1;
    return s;
  }
  /** Skips a tagged-fields section. */
  tags(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
}

/** First version of each API with flexible (compact) encoding. */
const FLEXIBLE_FROM: Record<number, number> = { 0: 9, 1: 12, 2: 6, 3: 9 };

function topicOf(r: Reader, apiKey: number, v: number): string {
  const flexible = v >= (FLEXIBLE_FROM[apiKey] ?? 1 << 30);
  const arrayCount = (): number => (flexible ? r.uvarint() - 1 : r.i32());
  const name = (): string => (flexible ? r.compactStr() : r.str());
  switch (apiKey) {
    case 0: { // Produce
      if (v >= 13) return '';
      if (v >= 3) name(); // transactional_id
      r.skip(2 + 4); // acks, timeout_ms
      return arrayCount() > 0 ? name() : '';
    }
    case 1: { // Fetch
      if (v >= 13) return '';
      if (v < 15) r.skip(4); // replica_id
      r.skip(4 + 4); // max_wait_ms, min_bytes
      if (v >= 3) r.skip(4); // max_bytes
      if (v >= 4) r.skip(1); // isolation_level
      if (v >= 7) r.skip(4 + 4); // session_id, session_epoch
      return arrayCount() > 0 ? name() : '';
    }
    case 2: { // ListOffsets
      r.skip(4); // replica_id
      if (v >= 2) r.skip(1); // isolation_level
      return arrayCount() > 0 ? name() : '';
    }
    case 3: { // Metadata
      if (arrayCount() <= 0) return '';
      if (v >= 10) r.skip(16); // topic_id
      return name();
    }
    default:
      return '';
  }
}

/** Parses the start of a request (toServer) or a response. */
export function parseKafka(buf: Buffer, toServer: boolean): KafkaParse {
  if (buf.length < 8) return buf.length === 0 ? 'skip' : 'truncated';
  const length = buf.readInt32BE(0);
  if (length < 4 || length > MAX_MESSAGE) return 'skip';
  if (!toServer) return { kind: 'response', size: length + 4, correlationId: buf.readInt32BE(4) };
  if (buf.length < 12) return 'truncated';
  const apiKey = buf.readInt16BE(4);
  const apiVersion = buf.readInt16BE(6);
  // A segment that starts inside a message rarely looks like a known API at a sane version.
  if (apiKey < 0 || apiKey >= API_KEYS.length || apiVersion < 0 || apiVersion > 30) return 'skip';
  const r = new Reader(buf, 8);
  let clientId = '';
  let correlationId = 0;
  try {
    correlationId = r.i32();
    clientId = r.str();
  } catch {
    return 'truncated';
  }
  let topic = '';
  try {
    if (apiVersion >= (FLEXIBLE_FROM[apiKey] ?? 1 << 30)) r.tags();
    topic = topicOf(r, apiKey, apiVersion);
  } catch {
    // The topic lies beyond the snippet: the header alone is still worth a record.
    topic = '';
  }
  return { kind: 'request', size: length + 4, apiKey, apiVersion, correlationId, clientId, topic };
}

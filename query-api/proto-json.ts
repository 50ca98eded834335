/**
 * Protobuf's JSON style for decoded Observer messages, as the hubble CLI's `-o json` and the HTTP API print them:
 * default values omitted, Timestamps as RFC 3339, wrapper types unwrapped, oneof markers of the loader dropped,
 * a set message printed even when empty.
 */
type Obj = Record<string, unknown>;

const n = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
const s = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

const ENUM_ZERO = new Set([
  'VERDICT_UNKNOWN', 'UNKNOWN_TYPE', 'TRAFFIC_DIRECTION_UNKNOWN', 'UNKNOWN_POINT', 'TRACE_REASON_UNKNOWN', 'DROP_REASON_UNKNOWN',
  'IP_NOT_USED', 'UNKNOWN_L7_TYPE', 'DISABLED', 'DBG_CAPTURE_POINT_UNKNOWN', 'SOCK_XLATE_POINT_UNKNOWN', 'UNKNOWN_LOST_EVENT_SOURCE',
  'UNKNOWN_NODE_STATE',
]);
const ONEOF_MARKERS = new Set(['protocol', 'record', 'response_types', 'notification']);

function rfc3339(ts: Obj): string {
  const secs = BigInt(s(ts['seconds']) || '0');
  const nanos = n(ts['nanos']);
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  if (nanos === 0) return `${base}Z`;
  const frac = String(nanos).padStart(9, '0');
  const digits = frac.endsWith('000000') ? 3 : frac.endsWith('000') ? 6 : 9;
  return `${base}.${frac.slice(0, digits)}Z`;
}

/** The protobuf-JSON form of a decoded message (`key` is the field name it sits under, for wrapper types). */
export function toProtoJson(value: unknown, key = ''): unknown {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    const items = value.map((v) => toProtoJson(v) ?? {}).filter((v) => v !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (typeof value === 'object') {
    const obj = value as Obj;
    const keys = Object.keys(obj);
    if (keys.length === 2 && 'seconds' in obj && 'nanos' in obj) return rfc3339(obj);
    if (keys.length === 1 && 'value' in obj && /^is_|_nodes$|^cpu$/.test(key)) return obj['value'];
    const out: Obj = {};
    for (const k of keys) {
      if (ONEOF_MARKERS.has(k) && typeof obj[k] === 'string') continue;
      const v = toProtoJson(obj[k], k);
      if (v !== undefined) out[k] = v;
    }
    // A message that is set prints, even empty (`"source":{}`); an unset one is null and was dropped above.
    return out;
  }
  if (value === '' || value === 0 || value === false || value === '0' || (typeof value === 'string' && ENUM_ZERO.has(value))) return undefined;
  return value;
}


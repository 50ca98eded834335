/**
 * Avro schema identity without a registry: the Parsing Canonical Form (PCF) of a schema and its CRC-64-AVRO
 * fingerprint, both as the Avro specification defines them ("Parsing Canonical Form for Schemas" and "Schema
 * Fingerprints"). The single-object encoding puts this fingerprint, little-endian, after the 0xC3 0x01 marker.
 * Written from the spec rather than taken from avsc, which has no CRC-64 and whose canonical output is an
 * implementation detail; the tests check that the two agree.
 */

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
// [ORDER]: the only attributes PCF keeps, in this order.
const KEPT = ['name', 'type', 'fields', 'symbols', 'items', 'values', 'size'] as const;

/** The Parsing Canonical Form of a schema given as parsed JSON (an object, array or string). */
export function canonicalForm(schema: unknown): string {
  return JSON.stringify(canonical(schema, '', new Set<string>()));
}

function fullName(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function canonical(schema: unknown, namespace: string, seen: Set<string>): unknown {
  if (typeof schema === 'string') {
    // [PRIMITIVES] stay as they are; [FULLNAMES] a reference to a named type becomes its full name.
    return PRIMITIVES.has(schema) ? schema : fullName(schema, namespace);
  }
  if (Array.isArray(schema)) return schema.map((branch) => canonical(branch, namespace, seen));
  if (schema === null || typeof schema !== 'object') throw new Error(`not an Avro schema: ${JSON.stringify(schema)}`);
  const obj = schema as Record<string, unknown>;
  const type = obj['type'];
  // [PRIMITIVES] {"type": "int", ...} (any extra attributes such as logicalType are stripped) is just "int".
  if (typeof type === 'string' && PRIMITIVES.has(type)) return type;
  if (type === 'record' || type === 'error' || type === 'enum' || type === 'fixed') {
    const ns = typeof obj['namespace'] === 'string' ? obj['namespace'] : namespace;
    const name = fullName(String(obj['name']), ns);
    // A named type is spelled out once; later occurrences are references (the JSON parser already saw it).
    if (seen.has(name)) return name;
    seen.add(name);
    const innerNs = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
    const out: Record<string, unknown> = {};
    for (const key of KEPT) {
      if (!(key in obj)) continue;
      if (key === 'name') out['name'] = name;
      else if (key === 'type') out['type'] = type;
      else if (key === 'fields') {
        out['fields'] = (obj['fields'] as Array<Record<string, unknown>>).map((f) => ({
          name: f['name'],
          type: canonical(f['type'], innerNs, seen),
        }));
      } else if (key === 'size') out['size'] = Number(obj['size']); // [INTEGERS]
      else out[key] = obj[key];
    }
    return out;
  }
  if (type === 'array') return { type, items: canonical(obj['items'], namespace, seen) };
  if (type === 'map') return { type, values: canonical(obj['values'], namespace, seen) };
  // {"type": "com.example.Named"} or {"type": {...}}: the type itself.
  return canonical(type, namespace, seen);
}

// CRC-64-AVRO: the Rabin fingerprint of the spec, polynomial as in its reference code, EMPTY as the initial value.
const EMPTY = 0xc15d213aa4d7a795n;
const TABLE: bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    table.push(fp);
  }
  return table;
})();

/** CRC-64-AVRO of some bytes, as an unsigned 64-bit bigint. */
export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  return fp;
}

/** The 8-byte fingerprint of a schema as the single-object encoding writes it: CRC-64-AVRO of the PCF, little-endian. */
export function schemaFingerprint(schema: unknown): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(crc64Avro(Buffer.from(canonicalForm(schema), 'utf8')));
  return out;
}

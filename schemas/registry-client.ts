/**
 * A small client for the Confluent Schema Registry REST API (also spoken by Karapace and Apicurio's ccompat API),
 * with just what the flow codec needs: register a schema under a subject, look one up, fetch a schema by id,
 * set and test compatibility. Ids are immutable in a registry, so schemas by id and ids by (subject, schema) are
 * cached forever; concurrent requests for the same id share one fetch.
 */
import { LookbackError } from '../common/errors.js';

export type CompatibilityLevel =
  | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'NONE';

export interface RegistryClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8081. user:password in the URL becomes basic authentication. */
  url: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export interface RegisteredSchema {
  id: number;
  version: number;
}

export interface RegistryClient {
  readonly url: string;
  /** Registers `schema` (Avro JSON text) under `subject`, or finds it if already there; returns its global id. */
  register(subject: string, schema: string): Promise<number>;
  /** The id and version of `schema` under `subject`, or undefined when the subject does not hold it. */
  lookup(subject: string, schema: string): Promise<RegisteredSchema | undefined>;
  /** The schema text with this global id. Throws LookbackError 'not_found' when the registry has no such id. */
  getSchema(id: number): Promise<string>;
  setCompatibility(subject: string, level: CompatibilityLevel): Promise<void>;
  /** Whether `schema` could be registered next under `subject` by the subject's compatibility rule. */
  isCompatible(subject: string, schema: string): Promise<boolean>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export function createRegistryClient(opts: RegistryClientOptions): RegistryClient {
  const parsed = new URL(opts.url);
  const headers: Record<string, string> = { accept: CONTENT_TYPE, 'content-type': CONTENT_TYPE };
  if (parsed.username) {
    const user = decodeURIComponent(parsed.username);
    const pass = decodeURIComponent(parsed.password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
  }
  const base = parsed.toString().replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const byId = new Map<number, Promise<string>>();
  const idBySchema = new Map<string, number>();

  async function call(method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    let res: Response;
    try {
      res = await fetch(`${base}${route}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new LookbackError('unavailable', `schema registry at ${base} did not answer ${method} ${route}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = { message: text.slice(0, 200) };
    }
    return { status: res.status, json };
  }

  function fail(what: string, status: number, json: Record<string, unknown>): never {
    const detail = `${what}: HTTP ${status}${json['error_code'] ? ` error_code ${String(json['error_code'])}` : ''}: ${String(json['message'] ?? '')}`;
    if (status === 404) throw new LookbackError('not_found', detail);
    if (status === 409) throw new LookbackError('schema', `${detail} (the schema is not compatible with the subject's earlier versions)`);
    if (status === 422 || status === 400) throw new LookbackError('invalid_argument', detail);
    if (status >= 500 || status === 408 || status === 429) throw new LookbackError('unavailable', detail);
    throw new LookbackError('internal', detail);
  }

  const subjectPath = (subject: string): string => `/subjects/${encodeURIComponent(subject)}`;

  return {
    url: base,

    async register(subject, schema) {
      const key = `${subject}\u0000${schema}`;
      const cached = idBySchema.get(key);
      if (cached !== undefined) return cached;
      const { status, json } = await call('POST', `${subjectPath(subject)}/versions`, { schema });
      if (status !== 200 || typeof json['id'] !== 'number') fail(`registering a schema under subject ${subject} at ${base}`, status, json);
      const id = json['id'] as number;
      idBySchema.set(key, id);
      byId.set(id, Promise.resolve(schema));
      return id;
    },

    async lookup(subject, schema) {
      const { status, json } = await call('POST', subjectPath(subject), { schema });
      if (status === 404) return undefined; // 40401 no such subject, 40403 not under this subject
      if (status !== 200 || typeof json['id'] !== 'number') fail(`looking up a schema under subject ${subject} at ${base}`, status, json);
      idBySchema.set(`${subject}\u0000${schema}`, json['id'] as number);
      return { id: json['id'] as number, version: Number(json['version']) };
    },

    getSchema(id) {
      let pending = byId.get(id);
      if (!pending) {
        pending = (async () => {
          const { status, json } = await call('GET', `/schemas/ids/${id}`);
          if (status !== 200 || typeof json['schema'] !== 'string') fail(`fetching schema id ${id} from ${base}`, status, json);
          return json['schema'] as string;
        })();
        byId.set(id, pending);
        // Only successes are cached: a registry that was down, or an id registered a moment later, can be retried.
        pending.catch(() => byId.delete(id));
      }
      return pending;
    },

    async setCompatibility(subject, level) {
      const { status, json } = await call('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
      if (status !== 200) fail(`setting compatibility ${level} on subject ${subject} at ${base}`, status, json);
    },

    async isCompatible(subject, schema) {
      const { status, json } = await call('POST', `/compatibility${subjectPath(subject)}/versions/latest`, { schema });
      if (status === 404) return true; // no version yet: anything may be registered first
      if (status !== 200) fail(`testing compatibility under subject ${subject} at ${base}`, status, json);
      return json['is_compatible'] === true;
    },
  };
}

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { LookbackError } from '../common/errors.js';
import { createFilterBuilder, FILTER_FLAGS, FILTER_SWITCHES } from '../query-api/client/observe-filters.js';
import { HUBBLE_PRINT_MASK, createPrinter, type OutputFormat } from '../query-api/client/printer.js';
import { parseCliTime } from '../query-api/client/time.js';
import { loadHubbleGrpc, timestampFromNanos } from '../schemas/proto-loader.js';

/**
 * `lookback observe`: flows from any Hubble Observer server (lookback's query API, a Hubble Relay, a Cilium agent)
 * with the hubble CLI's flag vocabulary and output formats. Without --since/--until/--first it asks for the last
 * 20 flows, as `hubble observe` does.
 */
const USAGE = `usage: lookback observe [--server HOST:PORT] [--since T] [--until T] [--last N | --first N | --all] [-f]
                        [filter flags...] [-o compact|dict|table|json] [--print-node-name]

  --server HOST:PORT     Observer to ask (default $LOOKBACK_SERVER, $HUBBLE_SERVER or 127.0.0.1:4245)
  --since T, --until T   a duration before now (5m, 1h30m) or a time (2025-11-26T08:00:00Z)
  --last N / --first N   the newest / oldest N flows; --all every flow; -f, --follow keeps streaming
  --token TOKEN          bearer token; --tls, --tls-ca-cert-files F, --tls-server-name N,
                         --tls-client-cert-file F, --tls-client-key-file F for TLS and mutual TLS
  --print-raw-filters    print the whitelist/blacklist this command would send, and exit
filters (repeat to OR values; --not negates the next filter flag):
  --pod, --from-pod, --to-pod [NS/]NAME-PREFIX    -n, --namespace, --from-namespace, --to-namespace NS   -A, --all-namespaces
  --ip, --from-ip, --to-ip, --snat-ip IP|CIDR     -l, --label, --from-label, --to-label SELECTOR
  --fqdn, --from-fqdn, --to-fqdn PATTERN          --port, --from-port, --to-port PORT
  --service, --from-service, --to-service [NS/]NAME   --identity, --from-identity, --to-identity ID
  --workload, --from-workload, --to-workload [KIND/]NAME   --cluster, --from-cluster, --to-cluster NAME
  --verdict V   --drop-reason-desc R   -t, --type TYPE[:SUBTYPE]   --protocol P   --tcp-flags F[,F]
  --http-status CODE|PREFIX+   --http-method M   --http-path RE   --http-url RE   --http-header K:V
  --node-name PATTERN   --node-label SELECTOR   --traffic-direction ingress|egress   --uuid U
  --ipv4, --ipv6, --ip-version V, --reply, --not-reply, --encrypted, --unencrypted, --trace-id ID
`;


type Opt = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

function options(): Record<string, Opt> {
  const opts: Record<string, Opt> = {
    server: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, last: { type: 'string' },
    first: { type: 'string' }, all: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' },
    output: { type: 'string', short: 'o' }, 'print-node-name': { type: 'boolean' }, token: { type: 'string' },
    tls: { type: 'boolean' }, 'tls-ca-cert-files': { type: 'string' }, 'tls-server-name': { type: 'string' },
    'tls-client-cert-file': { type: 'string' }, 'tls-client-key-file': { type: 'string' }, 'tls-allow-insecure': { type: 'boolean' },
    'print-raw-filters': { type: 'boolean' }, not: { type: 'boolean', multiple: true }, help: { type: 'boolean', short: 'h' },
  };
  for (const f of FILTER_FLAGS) opts[f] = { type: 'string', multiple: true };
  for (const f of FILTER_SWITCHES) opts[f] = { type: 'boolean', multiple: true };
  opts['namespace']!.short = 'n';
  opts['label']!.short = 'l';
  opts['type']!.short = 't';
  opts['all-namespaces']!.short = 'A';
  return opts;
}

function count(text: string | undefined, name: string): bigint {
  if (text === undefined) return 0n;
  if (!/^\d{1,20}$/.test(text) || BigInt(text) >= 2n ** 64n) throw new LookbackError('invalid_argument', `--${name} ${JSON.stringify(text)} is not a count of flows`);
  return BigInt(text);
}

function credentials(v: Record<string, unknown>): grpc.ChannelCredentials {
  const tls = v['tls'] === true || v['tls-ca-cert-files'] !== undefined || v['tls-client-cert-file'] !== undefined;
  if (!tls) return grpc.credentials.createInsecure();
  const read = (flag: string): Buffer | null => {
    const file = v[flag] as string | undefined;
    if (!file) return null;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new LookbackError('invalid_argument', `--${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return grpc.credentials.createSsl(read('tls-ca-cert-files'), read('tls-client-key-file'), read('tls-client-cert-file'), {
    checkServerIdentity: v['tls-allow-insecure'] === true ? () => undefined : undefined,
  });
}

function grpcFailure(err: grpc.ServiceError, server: string): LookbackError {
  const details = err.details || err.message;
  switch (err.code) {
    case grpc.status.INVALID_ARGUMENT: return new LookbackError('invalid_argument', `the server refused the request: ${details}`);
    case grpc.status.UNAVAILABLE: return new LookbackError('unavailable', `cannot reach the Observer at ${server}: ${details}`);
    case grpc.status.UNAUTHENTICATED: return new LookbackError('permission', `the Observer at ${server} refused the credentials: ${details}`);
    case grpc.status.RESOURCE_EXHAUSTED: return new LookbackError('resource_exhausted', details);
    default: return new LookbackError('internal', `GetFlows failed (${grpc.status[err.code] ?? err.code}): ${details}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: options(), allowPositionals: false, strict: true, tokens: true });
  } catch (err) {
    throw new LookbackError('invalid_argument', `${(err as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values as Record<string, unknown>;
  if (v['help']) {
    process.stdout.write(USAGE);
    return 0;
  }
  const builder = createFilterBuilder();
  const filterNames = new Set<string>([...FILTER_FLAGS, ...FILTER_SWITCHES, 'not']);
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option' && filterNames.has(t.name)) builder.add(t.name, t.value ?? true);
  }
  const { whitelist, blacklist } = builder.result();
  if (v['print-raw-filters']) {
    process.stdout.write(`${JSON.stringify({ whitelist, blacklist }, null, 2)}\n`);
    return 0;
  }

  const first = count(v['first'] as string | undefined, 'first');
  let last = count(v['last'] as string | undefined, 'last');
  const follow = v['follow'] === true;
  const all = v['all'] === true;
  if (first > 0n && last > 0n) throw new LookbackError('invalid_argument', 'cannot set both --first and --last');
  if (first > 0n && all) throw new LookbackError('invalid_argument', 'cannot set both --first and --all');
  if (first > 0n && follow) throw new LookbackError('invalid_argument', 'cannot set both --first and --follow');
  if (last > 0n && all) throw new LookbackError('invalid_argument', 'cannot set both --last and --all');
  const since = v['since'] !== undefined ? parseCliTime(v['since'] as string, 'since') : null;
  const until = v['until'] !== undefined && !follow ? parseCliTime(v['until'] as string, 'until') : null;
  if (since === null && until === null && first === 0n) {
    if (all) last = 2n ** 64n - 1n;
    else if (last === 0n && !follow) last = 20n;
  }
  const format = ((v['output'] as string | undefined) ?? 'compact').replace(/^jsonpb$/, 'json') as OutputFormat;
  if (!['compact', 'dict', 'table', 'json'].includes(format)) throw new LookbackError('invalid_argument', `-o ${JSON.stringify(format)}: allowed compact, dict, table, json`);

  const request: Record<string, unknown> = {
    number: (first > 0n ? first : last).toString(),
    first: first > 0n,
    follow,
    whitelist,
    blacklist,
    ...(since !== null ? { since: timestampFromNanos(since) } : {}),
    ...(until !== null ? { until: timestampFromNanos(until) } : {}),
    ...(format === 'json' ? {} : { field_mask: { paths: HUBBLE_PRINT_MASK } }),
  };

  const server = (v['server'] as string | undefined) ?? process.env['LOOKBACK_SERVER'] ?? process.env['HUBBLE_SERVER'] ?? '127.0.0.1:4245';
  const { ObserverClient } = loadHubbleGrpc();
  const client = new ObserverClient(server, credentials(v), {
    ...(v['tls-server-name'] ? { 'grpc.ssl_target_name_override': v['tls-server-name'] as string } : {}),
  }) as unknown as grpc.Client & { GetFlows(req: object, md: grpc.Metadata): grpc.ClientReadableStream<Record<string, unknown>> };
  const metadata = new grpc.Metadata();
  if (v['token']) metadata.set('authorization', `Bearer ${v['token'] as string}`);

  const printer = createPrinter(format, (text) => process.stdout.write(text), { nodeName: v['print-node-name'] === true });
  try {
    await new Promise<void>((resolve, reject) => {
      const stream = client.GetFlows(request, metadata);
      const stop = (): void => stream.cancel();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      stream.on('data', (res: Record<string, unknown>) => printer.write(res));
      stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(grpcFailure(err, server))));
      stream.on('end', () => resolve());
    });
  } finally {
    printer.close();
    client.close();
  }
  return 0;
}

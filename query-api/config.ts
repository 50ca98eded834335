/**
 * The query API's configuration: one typed object of component sections, validated once at start-up
 * (`lookback query-api --config FILE --check`). Every limit that bounds what one request may cost lives here.
 */
import { bool, duration, int, list, section, str, type ConfigOf } from '../common/config.js';
import { clickhouseSection } from '../common/clickhouse/client.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';

const LISTEN = { pattern: /^[^\s:]+:\d{1,5}$/, describe: 'host:port (port 0 picks a free one)' };

export const queryApiSpec = {
  clickhouse: clickhouseSection,
  grpc: section({
    listen: str('127.0.0.1:4245', { ...LISTEN, doc: 'Hubble Observer API (4245 is where Hubble clients look for Relay)' }),
    enabled: bool(true),
  }, { doc: 'Hubble Observer gRPC server' }),
  http: section({
    listen: str('127.0.0.1:8090', { ...LISTEN, doc: 'JSON API; the OpenAPI document is at /openapi.json' }),
    enabled: bool(true),
  }, { doc: 'HTTP JSON API' }),
  follow: section({
    enabled: bool(true, { doc: 'serve GetFlows follow (needs Kafka)' }),
    brokers: list(str(''), ['127.0.0.1:9092'], { doc: 'Kafka bootstrap brokers' }),
    topic: str(DEFAULT_FLOW_TOPIC),
    registryUrl: str('', { doc: 'schema registry base URL, for Confluent-framed records' }),
    ingestGroup: str('lookback-ingest', { doc: "ingest's consumer group: the live tail starts at its committed offsets" }),
    seamWindow: duration('10m', { min: 1000, max: 86_400_000, doc: 'how far back from the switch to history the live tail looks for flows ingest had not yet stored' }),
    maxStreams: int(64, { min: 1, max: 10_000, doc: 'concurrent follow streams' }),
  }, { doc: 'live tail for GetFlows follow' }),
  limits: section({
    maxTimeRange: duration('93d', { min: 60_000, doc: 'widest since..until window of a request that reads raw flows' }),
    maxRollupRange: duration('366d', { min: 60_000, doc: 'widest window of a graph, top-talkers or drops request (served from roll-ups)' }),
    maxGraphEdges: int(5000, { min: 10, max: 1_000_000, doc: 'edges a dependency graph returns at most (the busiest)' }),
    maxFlowsPerStream: int(10_000_000, { min: 1, doc: 'flows one non-follow GetFlows may return' }),
    maxNewest: int(1_000_000, { min: 1, doc: 'largest "newest N" (number without first) served when more flows match' }),
    queryTimeout: duration('30s', { min: 100, max: 3_600_000, doc: 'max_execution_time of each ClickHouse query' }),
    maxMemoryUsage: int(2 * 2 ** 30, { min: 2 ** 20, doc: 'max_memory_usage of each ClickHouse query, bytes' }),
    maxConcurrentQueries: int(16, { min: 1, max: 1000 }),
    httpMaxBodyBytes: int(1 << 20, { min: 1024, max: 1 << 30 }),
    maxPageSize: int(10_000, { min: 1, max: 1_000_000, doc: 'largest page of the HTTP flow search' }),
  }, { doc: 'what one request may cost' }),
  sql: section({
    enabled: bool(true, { doc: 'read-only SQL endpoint for analysts' }),
    maxResultRows: int(100_000, { min: 1 }),
    maxResultBytes: int(64 * 2 ** 20, { min: 1024 }),
    maxExecutionTime: duration('30s', { min: 100, max: 3_600_000 }),
    maxMemoryUsage: int(2 ** 30, { min: 2 ** 20 }),
  }, { doc: 'the analysts SQL endpoint (readonly=1, bounded)' }),
  access: section({
    token: str('', { doc: 'bearer token required on gRPC and HTTP when set' }),
    tlsCert: str('', { doc: 'PEM certificate file: serve TLS when set' }),
    tlsKey: str('', { doc: 'PEM private key file' }),
    tlsClientCa: str('', { doc: 'PEM CA file: require client certificates signed by it (mutual TLS)' }),
  }, { doc: 'authentication and transport security' }),
};

export type QueryApiConfig = ConfigOf<typeof queryApiSpec>;

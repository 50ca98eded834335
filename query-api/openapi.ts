/**
 * The OpenAPI 3.1 description of the HTTP API, served at /openapi.json. Written by hand next to http-routes.ts;
 * test/query-http.test.ts checks that every route is described and every described path answers.
 */
const time = { type: 'string', description: 'RFC 3339 time (2025-11-26T08:00:00Z) or a duration before now (24h, 90m, 30s)' };
const stringList = { type: 'array', items: { type: 'string' } };

const flowFilter = {
  type: 'object',
  description:
    "Hubble's flow.FlowFilter. Inside a filter every set field must match (AND); inside a field any value (OR). " +
    'Pods and services are prefixes, `ns/prefix`, `ns/`, `/prefix` (any namespace) or `prefix` (namespace default); ' +
    'IPs take addresses or CIDRs; labels take Kubernetes selectors (`k8s:app=xwing`, `app in (a,b)`); FQDNs and node names ' +
    'take wildcards (`*.cilium.io`); dns_query, http_path and http_url are RE2 regexes; http_status_code takes `404` or `5+`.',
  properties: {
    uuid: stringList, source_ip: stringList, source_ip_xlated: stringList, source_pod: stringList, source_fqdn: stringList,
    source_label: stringList, source_service: stringList, source_cluster_name: stringList,
    source_workload: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, kind: { type: 'string' } } } },
    destination_ip: stringList, destination_pod: stringList, destination_fqdn: stringList, destination_label: stringList,
    destination_service: stringList, destination_cluster_name: stringList,
    destination_workload: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, kind: { type: 'string' } } } },
    traffic_direction: { type: 'array', items: { type: 'string', enum: ['INGRESS', 'EGRESS', 'TRAFFIC_DIRECTION_UNKNOWN'] } },
    verdict: { type: 'array', items: { type: 'string', enum: ['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'] } },
    drop_reason_desc: { type: 'array', items: { type: 'string', description: 'a Cilium DropReason name, e.g. POLICY_DENIED' } },
    interface: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, name: { type: 'string' } } } },
    event_type: { type: 'array', items: { type: 'object', properties: { type: { type: 'integer' }, match_sub_type: { type: 'boolean' }, sub_type: { type: 'integer' } } } },
    http_status_code: stringList, protocol: { type: 'array', items: { type: 'string', enum: ['tcp', 'udp', 'sctp', 'icmp', 'icmpv4', 'icmpv6', 'vrrp', 'igmp', 'dns', 'http'] } },
    source_port: stringList, destination_port: stringList, reply: { type: 'array', items: { type: 'boolean' } }, dns_query: stringList,
    source_identity: { type: 'array', items: { type: 'integer' } }, destination_identity: { type: 'array', items: { type: 'integer' } },
    http_method: stringList, http_path: stringList, http_url: stringList,
    http_header: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } } } },
    tcp_flags: { type: 'array', items: { type: 'object', additionalProperties: { type: 'boolean' }, description: '{"SYN": true, "ACK": true}: all set flags must be on' } },
    node_name: stringList, node_labels: stringList, ip_version: { type: 'array', items: { type: 'string', enum: ['IP_NOT_USED', 'IPv4', 'IPv6'] } },
    trace_id: stringList, ip_trace_id: stringList, encrypted: { type: 'array', items: { type: 'boolean' } },
  },
  additionalProperties: false,
};

const error = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string', description: 'what is wrong, in words' } }, required: ['code', 'message'] } },
};

const errors = {
  400: { description: 'bad request: the message says which parameter and why', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  401: { description: 'a bearer token is required or wrong', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  429: { description: 'the request hit a cost limit (time, memory, rows) or too many requests are running', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  503: { description: 'ClickHouse is not reachable', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
};

const windowParams = [
  { name: 'since', in: 'query', schema: time, description: 'start of the window (default: until minus one hour)' },
  { name: 'until', in: 'query', schema: time, description: 'end of the window (default: now)' },
];

const json = (schema: object): object => ({ 'application/json': { schema } });

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'lookback query API',
    version: '0.1.0',
    description: "Network-flow history stored by lookback: flow search with Hubble's filter model, the service dependency graph, top talkers, drops by reason, and read-only SQL. The same history is served over Hubble's Observer gRPC API.",
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'required when the server sets access.token' } },
    schemas: {
      FlowFilter: flowFilter,
      Error: error,
      Flow: { type: 'object', description: "Hubble's flow.Flow in protobuf JSON form (field names as in Hubble, defaults omitted), as `hubble observe -o json` prints it" },
      FlowSearch: {
        type: 'object',
        properties: {
          whitelist: { type: 'array', items: { $ref: '#/components/schemas/FlowFilter' }, maxItems: 64, description: 'a flow matches when it matches any of these (none: all flows)' },
          blacklist: { type: 'array', items: { $ref: '#/components/schemas/FlowFilter' }, maxItems: 64, description: 'and none of these' },
          since: time, until: time,
          limit: { type: 'integer', minimum: 1, default: 100 },
          order: { type: 'string', enum: ['desc', 'asc'], default: 'desc', description: 'desc: newest first' },
          cursor: { type: 'string', description: 'next_cursor of the previous page (same filters)' },
        },
      },
      FlowPage: {
        type: 'object',
        properties: {
          window: { type: 'object', properties: { since: { type: 'string' }, until: { type: 'string' } } },
          flows: { type: 'array', items: { $ref: '#/components/schemas/Flow' } },
          next_cursor: { type: ['string', 'null'], description: 'null on the last page' },
        },
      },
      Window: { type: 'object', properties: { since: { type: 'string' }, until: { type: 'string' }, table: { type: 'string', description: 'flows, flows_1m, flows_5m or flows_1h: the table that answered' }, step_seconds: { type: 'integer' }, l7_table: { type: 'string', description: 'graph only: where L7 figures came from (an L7 roll-up, or flows)' } } },
      Graph: {
        type: 'object',
        properties: {
          window: { $ref: '#/components/schemas/Window' },
          nodes: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string', enum: ['workload', 'service', 'external', 'namespace', 'world'] }, name: { type: 'string' }, namespace: { type: 'string' } } } },
          edges: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                source: { type: 'string' }, target: { type: 'string' }, flows: { type: 'integer' }, bytes: { type: 'integer' }, packets: { type: 'integer' }, drops: { type: 'integer' },
                l7: { type: ['object', 'null'], properties: { responses: { type: 'integer' }, errors: { type: 'integer' }, error_rate: { type: 'number' }, latency_ms: { type: 'object', properties: { p50: { type: 'number' }, p95: { type: 'number' }, p99: { type: 'number' } } } } },
              },
            },
          },
          truncated: { type: 'boolean', description: 'more edges exist than limits.maxGraphEdges; the busiest are returned' },
        },
      },
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/v1/flows/search': {
      post: {
        summary: 'Search flows', description: 'Flows of a window matching the filters, a page at a time, newest first by default.',
        requestBody: { content: json({ $ref: '#/components/schemas/FlowSearch' }) },
        responses: { 200: { description: 'a page of flows', content: json({ $ref: '#/components/schemas/FlowPage' }) }, ...errors },
      },
    },
    '/v1/flows': {
      get: {
        summary: 'Search flows (query string form)',
        parameters: [
          ...windowParams,
          { name: 'whitelist', in: 'query', schema: { type: 'string' }, description: 'JSON list of FlowFilter' },
          { name: 'blacklist', in: 'query', schema: { type: 'string' }, description: 'JSON list of FlowFilter' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } },
          { name: 'order', in: 'query', schema: { type: 'string', enum: ['desc', 'asc'] } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: { 200: { description: 'a page of flows', content: json({ $ref: '#/components/schemas/FlowPage' }) }, ...errors },
      },
    },
    '/v1/graph': {
      get: {
        summary: 'Service dependency graph of a window', description: 'Served from the coarsest roll-up that covers the window; L7 error rates and latencies from L7 responses.',
        parameters: [...windowParams, { name: 'namespace', in: 'query', schema: { type: 'string' }, description: 'only edges touching this namespace' }, { name: 'max_edges', in: 'query', schema: { type: 'integer' } }],
        responses: { 200: { description: 'the graph', content: json({ $ref: '#/components/schemas/Graph' }) }, ...errors },
      },
    },
    '/v1/top-talkers': {
      get: {
        summary: 'Busiest workloads, namespaces or pairs',
        parameters: [
          ...windowParams,
          { name: 'by', in: 'query', schema: { type: 'string', enum: ['workload', 'pair', 'namespace'] } },
          { name: 'metric', in: 'query', schema: { type: 'string', enum: ['bytes', 'flows', 'packets', 'drops'] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
        ],
        responses: { 200: { description: 'talkers, busiest first', content: json({ type: 'object', properties: { window: { $ref: '#/components/schemas/Window' }, talkers: { type: 'array', items: { type: 'object', properties: { source: { type: 'string' }, target: { type: 'string' }, value: { type: 'number' } } } } } }) }, ...errors },
      },
    },
    '/v1/drops': {
      get: {
        summary: 'Drops by reason over time',
        parameters: [...windowParams, { name: 'step', in: 'query', schema: { type: 'integer', minimum: 1 }, description: 'bucket width in seconds (default: about 100 buckets)' }],
        responses: { 200: { description: 'one series per drop reason', content: json({ type: 'object', properties: { window: { $ref: '#/components/schemas/Window' }, step_seconds: { type: 'integer' }, series: { type: 'array', items: { type: 'object', properties: { reason: { type: 'string' }, total: { type: 'integer' }, points: { type: 'array', items: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }] } } } } } } }) }, ...errors },
      },
    },
    '/v1/sql': {
      post: {
        summary: 'Read-only SQL for analysts',
        description: "One SELECT over lookback's tables (flows, flows_1m, flows_5m, flows_1h, inventory_*), run with readonly=1 and row, byte, time and memory limits. System tables, table functions and any write are refused with 400.",
        requestBody: { content: json({ type: 'object', properties: { query: { type: 'string' } }, required: ['query'] }) },
        responses: { 200: { description: 'the result', content: json({ type: 'object', properties: { columns: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' } } } }, rows: { type: 'array', items: { type: 'array' } }, statistics: { type: 'object' } } }) }, ...errors },
      },
    },
    '/v1/status': { get: { summary: 'Flows stored, flow rate, nodes', responses: { 200: { description: 'status', content: json({ type: 'object' }) }, ...errors } } },
    '/v1/nodes': { get: { summary: 'Nodes seen in the last day', responses: { 200: { description: 'nodes', content: json({ type: 'object' }) }, ...errors } } },
    '/v1/namespaces': { get: { summary: 'Namespaces seen in the last day', responses: { 200: { description: 'namespaces', content: json({ type: 'object' }) }, ...errors } } },
    '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: { description: 'ok', content: json({ type: 'object' }) } } } },
    '/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
  },
} as const;

-- 0002: what ingest writes to, and what it keeps besides raw flows (the layout follows Akvorado's).
--
-- flows_ingest is the landing table: ingest INSERTs every batch here (RowBinary, columns in Avro field order),
-- and materialized views fill the raw flows table, the 1-minute roll-up and the node inventory; the 5-minute
-- roll-up is filled from the 1-minute one, the 1-hour one from the 5-minute one, and the namespace and workload
-- inventories from the 1-minute one. The landing table is a Null
-- engine: it stores nothing. Its strings are plain String, not LowCardinality: parsing RowBinary into
-- LowCardinality columns row by row cost ClickHouse 12.6 us per flow here, against 4.9 us for plain strings plus
-- the view's column-wise conversion into the raw table's LowCardinality columns (bench/ingest.ts measures it).
-- The landing table also decouples what ingest sends from how it is stored: the raw table can change layout
-- without changing ingest.
--
-- Exactly-once: every target table keeps the hashes of its last 10000 inserted blocks
-- (non_replicated_deduplication_window), and ingest sends each batch with an insert_deduplication_token made of
-- its Kafka topic, partition and offset range, with deduplicate_blocks_in_dependent_materialized_views = 1, so a
-- batch inserted again after a crash or a timeout is dropped by every table, roll-ups included.
--
-- Retention: {{ttl_*_days}} are filled from the retention config (common/clickhouse/retention.ts); a later change
-- is applied with ALTER TABLE ... MODIFY TTL at ingest start-up and by `lookback migrate`.

ALTER TABLE {{db}}.flows ADD COLUMN IF NOT EXISTS l7_protocol LowCardinality(String) CODEC(ZSTD(1)) AFTER l7_type;

-- Which record of Layer7 is set ('dns', 'http', 'kafka', '' when l7 is null), so a row maps back to a Flow exactly.
ALTER TABLE {{db}}.flows COMMENT COLUMN l7_protocol 'Which of l7.dns, l7.http, l7.kafka is set: dns, http, kafka; empty when the flow has no L7 record.';

ALTER TABLE {{db}}.flows MODIFY SETTING non_replicated_deduplication_window = 10000;

-- Codecs: 0001 left most columns on the server default (LZ4). Measured on the bench/flowgen.ts corpus (1M flows,
-- one merged part): 0001 as is 53.6 bytes/flow; ZSTD(1) on every column 46.6; UUIDv7 uuids (what the collector
-- makes) 42.0; ZSTD(3) on the dozen widest columns 40.4 (39.9 for 10M flows, bench/ingest.ts). first_seen
-- compresses better without Delta (it is not sorted: connections interleave). Metadata only: new parts use them,
-- older parts change as they merge.
ALTER TABLE {{db}}.flows
    MODIFY COLUMN ethernet_destination CODEC(ZSTD(3)),
    MODIFY COLUMN ip_destination CODEC(ZSTD(3)),
    MODIFY COLUMN cgroup_id CODEC(ZSTD(3)),
    MODIFY COLUMN socket_cookie CODEC(ZSTD(3)),
    MODIFY COLUMN source_port CODEC(ZSTD(3)),
    MODIFY COLUMN packets_rev CODEC(T64, ZSTD(3)),
    MODIFY COLUMN packets_fwd CODEC(T64, ZSTD(3)),
    MODIFY COLUMN bytes_rev CODEC(T64, ZSTD(3)),
    MODIFY COLUMN bytes_fwd CODEC(T64, ZSTD(3)),
    MODIFY COLUMN last_seen CODEC(Delta, ZSTD(3)),
    MODIFY COLUMN time CODEC(Delta, ZSTD(3)),
    MODIFY COLUMN uuid CODEC(ZSTD(3)),
    MODIFY COLUMN first_seen CODEC(ZSTD(3)),
    MODIFY COLUMN tcp_srtt_us CODEC(T64, ZSTD(3)),
    MODIFY COLUMN interface_index CODEC(ZSTD(1)),
    MODIFY COLUMN node_name CODEC(ZSTD(1)),
    MODIFY COLUMN node_labels CODEC(ZSTD(1)),
    MODIFY COLUMN cluster_name CODEC(ZSTD(1)),
    MODIFY COLUMN emitter_name CODEC(ZSTD(1)),
    MODIFY COLUMN emitter_version CODEC(ZSTD(1)),
    MODIFY COLUMN flow_type CODEC(ZSTD(1)),
    MODIFY COLUMN verdict CODEC(ZSTD(1)),
    MODIFY COLUMN drop_reason_desc CODEC(ZSTD(1)),
    MODIFY COLUMN drop_reason_kernel CODEC(ZSTD(1)),
    MODIFY COLUMN flow_event CODEC(ZSTD(1)),
    MODIFY COLUMN ip_version CODEC(ZSTD(1)),
    MODIFY COLUMN ip_encrypted CODEC(ZSTD(1)),
    MODIFY COLUMN l4_protocol CODEC(ZSTD(1)),
    MODIFY COLUMN destination_port CODEC(ZSTD(1)),
    MODIFY COLUMN tcp_flags CODEC(ZSTD(1)),
    MODIFY COLUMN icmp_type CODEC(ZSTD(1)),
    MODIFY COLUMN icmp_code CODEC(ZSTD(1)),
    MODIFY COLUMN source_identity CODEC(ZSTD(1)),
    MODIFY COLUMN source_cluster CODEC(ZSTD(1)),
    MODIFY COLUMN source_namespace CODEC(ZSTD(1)),
    MODIFY COLUMN source_pod CODEC(ZSTD(1)),
    MODIFY COLUMN source_labels CODEC(ZSTD(1)),
    MODIFY COLUMN source_workload_names CODEC(ZSTD(1)),
    MODIFY COLUMN source_workload_kinds CODEC(ZSTD(1)),
    MODIFY COLUMN destination_identity CODEC(ZSTD(1)),
    MODIFY COLUMN destination_cluster CODEC(ZSTD(1)),
    MODIFY COLUMN destination_namespace CODEC(ZSTD(1)),
    MODIFY COLUMN destination_pod CODEC(ZSTD(1)),
    MODIFY COLUMN destination_labels CODEC(ZSTD(1)),
    MODIFY COLUMN destination_workload_names CODEC(ZSTD(1)),
    MODIFY COLUMN destination_workload_kinds CODEC(ZSTD(1)),
    MODIFY COLUMN source_service_name CODEC(ZSTD(1)),
    MODIFY COLUMN source_service_namespace CODEC(ZSTD(1)),
    MODIFY COLUMN destination_service_name CODEC(ZSTD(1)),
    MODIFY COLUMN destination_service_namespace CODEC(ZSTD(1)),
    MODIFY COLUMN source_names CODEC(ZSTD(1)),
    MODIFY COLUMN destination_names CODEC(ZSTD(1)),
    MODIFY COLUMN l7_type CODEC(ZSTD(1)),
    MODIFY COLUMN dns_query CODEC(ZSTD(1)),
    MODIFY COLUMN dns_ips CODEC(ZSTD(1)),
    MODIFY COLUMN dns_ttl CODEC(ZSTD(1)),
    MODIFY COLUMN dns_cnames CODEC(ZSTD(1)),
    MODIFY COLUMN dns_observation_source CODEC(ZSTD(1)),
    MODIFY COLUMN dns_rcode CODEC(ZSTD(1)),
    MODIFY COLUMN dns_qtypes CODEC(ZSTD(1)),
    MODIFY COLUMN dns_rrtypes CODEC(ZSTD(1)),
    MODIFY COLUMN http_code CODEC(ZSTD(1)),
    MODIFY COLUMN http_method CODEC(ZSTD(1)),
    MODIFY COLUMN http_protocol CODEC(ZSTD(1)),
    MODIFY COLUMN http_headers CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_error_code CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_api_version CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_api_key CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_correlation_id CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_topic CODEC(ZSTD(1)),
    MODIFY COLUMN kafka_client_id CODEC(ZSTD(1)),
    MODIFY COLUMN traffic_direction CODEC(ZSTD(1)),
    MODIFY COLUMN is_reply CODEC(ZSTD(1)),
    MODIFY COLUMN trace_observation_point CODEC(ZSTD(1)),
    MODIFY COLUMN trace_reason CODEC(ZSTD(1)),
    MODIFY COLUMN interface_name CODEC(ZSTD(1)),
    MODIFY COLUMN event_type CODEC(ZSTD(1)),
    MODIFY COLUMN event_sub_type CODEC(ZSTD(1)),
    MODIFY COLUMN summary CODEC(ZSTD(1)),
    MODIFY COLUMN sampling_rate CODEC(ZSTD(1));

CREATE TABLE IF NOT EXISTS {{db}}.flows_ingest
(
    time                          DateTime64(9, 'UTC'),
    uuid                          UUID,
    emitter_name                  String,
    emitter_version               String,
    node_name                     String,
    node_labels                   Array(String),
    cluster_name                  String,
    flow_type                     String,
    verdict                       String,
    drop_reason_desc              String,
    drop_reason_kernel            String,
    flow_event                    String,
    ethernet_source               UInt64,
    ethernet_destination          UInt64,
    ip_source                     IPv6,
    ip_destination                IPv6,
    ip_source_xlated              IPv6,
    ip_version                    UInt8,
    ip_encrypted                  Bool,
    l4_protocol                   UInt8,
    source_port                   UInt16,
    destination_port              UInt16,
    tcp_flags                     UInt16,
    icmp_type                     UInt8,
    icmp_code                     UInt8,
    source_identity               UInt32,
    source_cluster                String,
    source_namespace              String,
    source_pod                    String,
    source_labels                 Array(String),
    source_workload_names         Array(String),
    source_workload_kinds         Array(String),
    destination_identity          UInt32,
    destination_cluster           String,
    destination_namespace         String,
    destination_pod               String,
    destination_labels            Array(String),
    destination_workload_names    Array(String),
    destination_workload_kinds    Array(String),
    source_service_name           String,
    source_service_namespace      String,
    destination_service_name      String,
    destination_service_namespace String,
    source_names                  Array(String),
    destination_names             Array(String),
    l7_type                       String,
    l7_latency_ns                 UInt64,
    dns_query                     String,
    dns_ips                       Array(IPv6),
    dns_ttl                       UInt32,
    dns_cnames                    Array(String),
    dns_observation_source        String,
    dns_rcode                     UInt16,
    dns_qtypes                    Array(String),
    dns_rrtypes                   Array(String),
    http_code                     UInt16,
    http_method                   String,
    http_url                      String,
    http_protocol                 String,
    http_headers                  Map(String, String),
    kafka_error_code              Int16,
    kafka_api_version             Int16,
    kafka_api_key                 String,
    kafka_correlation_id          Int32,
    kafka_topic                   String,
    kafka_client_id               String,
    l7_protocol                   String,
    traffic_direction             String,
    is_reply                      Nullable(Bool),
    trace_observation_point       String,
    trace_reason                  String,
    interface_index               UInt32,
    interface_name                String,
    event_type                    UInt8,
    event_sub_type                UInt16,
    summary                       String,
    first_seen                    DateTime64(9, 'UTC'),
    last_seen                     DateTime64(9, 'UTC'),
    bytes_fwd                     UInt64,
    packets_fwd                   UInt64,
    bytes_rev                     UInt64,
    packets_rev                   UInt64,
    sampling_rate                 UInt32,
    socket_cookie                 UInt64,
    cgroup_id                     UInt64,
    tcp_srtt_us                   UInt32
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_ingest_to_flows TO {{db}}.flows AS
SELECT * FROM {{db}}.flows_ingest;

-- Roll-ups: sums of the delta counters (bytes_*, packets_*), of flows (events) and drops (events with verdict
-- DROPPED) per minute, 5 minutes and hour, by the dimensions dependency graphs and dashboards group on.
-- source_workload/destination_workload (and _kind) are the first owner (workloads[1]), or for a pod without an
-- owner the pod itself (kind Pod), so bare pods are nodes of the dependency graph; destination_name is the
-- first DNS name of a destination outside the cluster (empty for pods); is_reply is 1 for replies, 0 otherwise
-- (false or unknown); cluster_name is the observing node's cluster, source_cluster/destination_cluster the
-- endpoints'. Query them with sum() and GROUP BY: rows with the same key merge only eventually.
-- One-minute roll-up, kept {{ttl_1m_days}} days.
CREATE TABLE IF NOT EXISTS {{db}}.flows_1m
(
    time                          DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    cluster_name                  LowCardinality(String),
    node_name                     LowCardinality(String),
    source_namespace              LowCardinality(String),
    source_workload               LowCardinality(String),
    destination_namespace         LowCardinality(String),
    destination_workload          LowCardinality(String),
    destination_service_namespace LowCardinality(String),
    destination_service_name      LowCardinality(String),
    destination_name              LowCardinality(String),
    verdict                       LowCardinality(String),
    drop_reason_desc              LowCardinality(String),
    l4_protocol                   UInt8,
    destination_port              UInt16,
    traffic_direction             LowCardinality(String),
    is_reply                      UInt8,
    source_cluster                LowCardinality(String),
    destination_cluster           LowCardinality(String),
    source_workload_kind          LowCardinality(String),
    destination_workload_kind     LowCardinality(String),
    bytes_fwd                     UInt64,
    packets_fwd                   UInt64,
    bytes_rev                     UInt64,
    packets_rev                   UInt64,
    flows                         UInt64,
    drops                         UInt64
)
ENGINE = SummingMergeTree((bytes_fwd, packets_fwd, bytes_rev, packets_rev, flows, drops))
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind)
TTL time + INTERVAL {{ttl_1m_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_ingest_to_flows_1m TO {{db}}.flows_1m AS
SELECT
    toStartOfMinute(toDateTime(time, 'UTC')) AS time,
    cluster_name,
    node_name,
    source_namespace,
    if(notEmpty(source_workload_names), source_workload_names[1], source_pod) AS source_workload,
    destination_namespace,
    if(notEmpty(destination_workload_names), destination_workload_names[1], destination_pod) AS destination_workload,
    destination_service_namespace,
    destination_service_name,
    if(destination_namespace = '', destination_names[1], '') AS destination_name,
    verdict,
    drop_reason_desc,
    l4_protocol,
    destination_port,
    traffic_direction,
    toUInt8(ifNull(is_reply, false)) AS is_reply,
    source_cluster,
    destination_cluster,
    if(notEmpty(source_workload_kinds), source_workload_kinds[1], if(source_pod != '', 'Pod', '')) AS source_workload_kind,
    if(notEmpty(destination_workload_kinds), destination_workload_kinds[1], if(destination_pod != '', 'Pod', '')) AS destination_workload_kind,
    sum(bytes_fwd) AS bytes_fwd, sum(packets_fwd) AS packets_fwd, sum(bytes_rev) AS bytes_rev, sum(packets_rev) AS packets_rev,
    count() AS flows,
    countIf(verdict = 'DROPPED') AS drops
FROM {{db}}.flows_ingest
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind;

-- Five-minute roll-up, kept {{ttl_5m_days}} days, filled from the one-minute roll-up.
CREATE TABLE IF NOT EXISTS {{db}}.flows_5m
(
    time                          DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    cluster_name                  LowCardinality(String),
    node_name                     LowCardinality(String),
    source_namespace              LowCardinality(String),
    source_workload               LowCardinality(String),
    destination_namespace         LowCardinality(String),
    destination_workload          LowCardinality(String),
    destination_service_namespace LowCardinality(String),
    destination_service_name      LowCardinality(String),
    destination_name              LowCardinality(String),
    verdict                       LowCardinality(String),
    drop_reason_desc              LowCardinality(String),
    l4_protocol                   UInt8,
    destination_port              UInt16,
    traffic_direction             LowCardinality(String),
    is_reply                      UInt8,
    source_cluster                LowCardinality(String),
    destination_cluster           LowCardinality(String),
    source_workload_kind          LowCardinality(String),
    destination_workload_kind     LowCardinality(String),
    bytes_fwd                     UInt64,
    packets_fwd                   UInt64,
    bytes_rev                     UInt64,
    packets_rev                   UInt64,
    flows                         UInt64,
    drops                         UInt64
)
ENGINE = SummingMergeTree((bytes_fwd, packets_fwd, bytes_rev, packets_rev, flows, drops))
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind)
TTL time + INTERVAL {{ttl_5m_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_1m_to_flows_5m TO {{db}}.flows_5m AS
SELECT toStartOfFiveMinutes(time) AS time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind, sum(bytes_fwd) AS bytes_fwd, sum(packets_fwd) AS packets_fwd, sum(bytes_rev) AS bytes_rev, sum(packets_rev) AS packets_rev, sum(flows) AS flows, sum(drops) AS drops
FROM {{db}}.flows_1m
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind;

-- One-hour roll-up, kept {{ttl_1h_days}} days (weekly partitions), filled from the five-minute roll-up.
CREATE TABLE IF NOT EXISTS {{db}}.flows_1h
(
    time                          DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    cluster_name                  LowCardinality(String),
    node_name                     LowCardinality(String),
    source_namespace              LowCardinality(String),
    source_workload               LowCardinality(String),
    destination_namespace         LowCardinality(String),
    destination_workload          LowCardinality(String),
    destination_service_namespace LowCardinality(String),
    destination_service_name      LowCardinality(String),
    destination_name              LowCardinality(String),
    verdict                       LowCardinality(String),
    drop_reason_desc              LowCardinality(String),
    l4_protocol                   UInt8,
    destination_port              UInt16,
    traffic_direction             LowCardinality(String),
    is_reply                      UInt8,
    source_cluster                LowCardinality(String),
    destination_cluster           LowCardinality(String),
    source_workload_kind          LowCardinality(String),
    destination_workload_kind     LowCardinality(String),
    bytes_fwd                     UInt64,
    packets_fwd                   UInt64,
    bytes_rev                     UInt64,
    packets_rev                   UInt64,
    flows                         UInt64,
    drops                         UInt64
)
ENGINE = SummingMergeTree((bytes_fwd, packets_fwd, bytes_rev, packets_rev, flows, drops))
PARTITION BY toMonday(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind)
TTL time + INTERVAL {{ttl_1h_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_5m_to_flows_1h TO {{db}}.flows_1h AS
SELECT toStartOfHour(time) AS time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind, sum(bytes_fwd) AS bytes_fwd, sum(packets_fwd) AS packets_fwd, sum(bytes_rev) AS bytes_rev, sum(packets_rev) AS packets_rev, sum(flows) AS flows, sum(drops) AS drops
FROM {{db}}.flows_5m
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, node_name, verdict, drop_reason_desc, l4_protocol, destination_port, traffic_direction, is_reply, source_cluster, destination_cluster, source_workload_kind, destination_workload_kind;

-- Inventory for pickers, GetNamespaces and GetNodes: what was seen, first and last (to the minute), with a flow
-- count. Both ends of a flow count. Namespaces and workloads are filled from the one-minute roll-up's blocks, a
-- fraction of the raw rows (from the landing table they cost ClickHouse 4 us per flow, more than the roll-ups);
-- nodes from the landing table, for their labels. Query with min(first_seen), max(last_seen), sum(flows) GROUP BY
-- the key. Kept as long as the longest roll-up ({{ttl_1h_days}} days after last seen).
CREATE TABLE IF NOT EXISTS {{db}}.inventory_namespaces
(
    cluster_name LowCardinality(String),
    namespace    LowCardinality(String),
    first_seen   SimpleAggregateFunction(min, DateTime('UTC')),
    last_seen    SimpleAggregateFunction(max, DateTime('UTC')),
    flows        SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (cluster_name, namespace)
TTL last_seen + INTERVAL {{ttl_1h_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_1m_to_inventory_namespaces TO {{db}}.inventory_namespaces AS
SELECT
    if(ep.1 = '', cluster_name, ep.1) AS cluster_name,
    ep.2 AS namespace,
    min(time) AS first_seen,
    max(time) AS last_seen,
    sum(flows) AS flows
FROM {{db}}.flows_1m
ARRAY JOIN [(source_cluster, source_namespace), (destination_cluster, destination_namespace)] AS ep
WHERE ep.2 != ''
GROUP BY cluster_name, namespace;

CREATE TABLE IF NOT EXISTS {{db}}.inventory_workloads
(
    cluster_name LowCardinality(String),
    namespace    LowCardinality(String),
    workload     LowCardinality(String),
    kind         LowCardinality(String),
    first_seen   SimpleAggregateFunction(min, DateTime('UTC')),
    last_seen    SimpleAggregateFunction(max, DateTime('UTC')),
    flows        SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (cluster_name, namespace, workload, kind)
TTL last_seen + INTERVAL {{ttl_1h_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_1m_to_inventory_workloads TO {{db}}.inventory_workloads AS
SELECT
    if(ep.1 = '', cluster_name, ep.1) AS cluster_name,
    ep.2 AS namespace,
    ep.3 AS workload,
    ep.4 AS kind,
    min(time) AS first_seen,
    max(time) AS last_seen,
    sum(flows) AS flows
FROM {{db}}.flows_1m
ARRAY JOIN [
    (source_cluster, source_namespace, source_workload, source_workload_kind),
    (destination_cluster, destination_namespace, destination_workload, destination_workload_kind)
] AS ep
WHERE ep.3 != ''
GROUP BY cluster_name, namespace, workload, kind;

CREATE TABLE IF NOT EXISTS {{db}}.inventory_nodes
(
    cluster_name LowCardinality(String),
    node_name    LowCardinality(String),
    node_labels  SimpleAggregateFunction(anyLast, Array(String)),
    first_seen   SimpleAggregateFunction(min, DateTime('UTC')),
    last_seen    SimpleAggregateFunction(max, DateTime('UTC')),
    flows        SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (cluster_name, node_name)
TTL last_seen + INTERVAL {{ttl_1h_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_ingest_to_inventory_nodes TO {{db}}.inventory_nodes AS
SELECT
    cluster_name,
    node_name,
    any(node_labels) AS node_labels,
    min(toDateTime(time, 'UTC')) AS first_seen,
    max(toDateTime(time, 'UTC')) AS last_seen,
    count() AS flows
FROM {{db}}.flows_ingest
WHERE node_name != ''
GROUP BY cluster_name, node_name;

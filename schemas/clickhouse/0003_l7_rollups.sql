-- 0003: L7 roll-ups, so that the dependency graph's L7 error rates and latency percentiles come from a roll-up
-- instead of a scan of the raw table (query-api/analytics.ts). At 50M flows over 7 days the raw scan of a 24 h
-- window cost 100-200 ms on the bench machine; the 1 h roll-up answers in under 10 ms (bench/query.ts).
--
-- One row per minute and edge dimensions (the same edge keys as the graph: workload, service, external name):
-- responses, errors (HTTP 5xx, DNS rcode != 0, Kafka error code != 0), and a quantiles state of the response
-- latency (latency 0, i.e. unknown, left out). Filled from ingest's landing table for L7 RESPONSE records only,
-- so it adds little to ingest's cost; 5 m from 1 m, 1 h from 5 m, as the flow roll-ups in 0002.
-- Exactly-once and retention work as in 0002: the same deduplication window, the same {{ttl_*_days}}.
CREATE TABLE IF NOT EXISTS {{db}}.flows_l7_1m
(
    time                          DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    cluster_name                  LowCardinality(String),
    source_namespace              LowCardinality(String),
    source_workload               LowCardinality(String),
    source_service_namespace      LowCardinality(String),
    source_service_name           LowCardinality(String),
    source_name                   LowCardinality(String),
    destination_namespace         LowCardinality(String),
    destination_workload          LowCardinality(String),
    destination_service_namespace LowCardinality(String),
    destination_service_name      LowCardinality(String),
    destination_name              LowCardinality(String),
    is_reply                      UInt8,
    l7_protocol                   LowCardinality(String),
    responses                     SimpleAggregateFunction(sum, UInt64),
    errors                        SimpleAggregateFunction(sum, UInt64),
    latency                       AggregateFunction(quantilesIf(0.5, 0.95, 0.99), UInt64, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol)
TTL time + INTERVAL {{ttl_1m_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_ingest_to_flows_l7_1m TO {{db}}.flows_l7_1m AS
SELECT
    toStartOfMinute(toDateTime(time, 'UTC')) AS time,
    cluster_name,
    source_namespace,
    if(notEmpty(source_workload_names), source_workload_names[1], source_pod) AS source_workload,
    source_service_namespace,
    source_service_name,
    if(source_namespace = '', source_names[1], '') AS source_name,
    destination_namespace,
    if(notEmpty(destination_workload_names), destination_workload_names[1], destination_pod) AS destination_workload,
    destination_service_namespace,
    destination_service_name,
    if(destination_namespace = '', destination_names[1], '') AS destination_name,
    toUInt8(ifNull(is_reply, false)) AS is_reply,
    l7_protocol,
    count() AS responses,
    countIf((l7_protocol = 'http' AND http_code >= 500) OR (l7_protocol = 'dns' AND dns_rcode != 0) OR (l7_protocol = 'kafka' AND kafka_error_code != 0)) AS errors,
    quantilesIfState(0.5, 0.95, 0.99)(l7_latency_ns, toUInt8(l7_latency_ns > 0)) AS latency
FROM {{db}}.flows_ingest
WHERE l7_type = 'RESPONSE'
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol;

CREATE TABLE IF NOT EXISTS {{db}}.flows_l7_5m AS {{db}}.flows_l7_1m
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol)
TTL time + INTERVAL {{ttl_5m_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_l7_1m_to_flows_l7_5m TO {{db}}.flows_l7_5m AS
SELECT toStartOfFiveMinutes(time) AS time, cluster_name, source_namespace, source_workload, source_service_namespace, source_service_name, source_name, destination_namespace, destination_workload, destination_service_namespace, destination_service_name, destination_name, is_reply, l7_protocol,
       sum(responses) AS responses, sum(errors) AS errors, quantilesIfMergeState(0.5, 0.95, 0.99)(latency) AS latency
FROM {{db}}.flows_l7_1m
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol;

CREATE TABLE IF NOT EXISTS {{db}}.flows_l7_1h AS {{db}}.flows_l7_1m
ENGINE = AggregatingMergeTree
PARTITION BY toMonday(time)
ORDER BY (time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol)
TTL time + INTERVAL {{ttl_1h_days}} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.flows_l7_5m_to_flows_l7_1h TO {{db}}.flows_l7_1h AS
SELECT toStartOfHour(time) AS time, cluster_name, source_namespace, source_workload, source_service_namespace, source_service_name, source_name, destination_namespace, destination_workload, destination_service_namespace, destination_service_name, destination_name, is_reply, l7_protocol,
       sum(responses) AS responses, sum(errors) AS errors, quantilesIfMergeState(0.5, 0.95, 0.99)(latency) AS latency
FROM {{db}}.flows_l7_5m
GROUP BY time, cluster_name, source_namespace, destination_namespace, source_workload, destination_workload, destination_service_namespace, destination_service_name, destination_name, source_service_namespace, source_service_name, source_name, is_reply, l7_protocol;

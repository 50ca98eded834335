/**
 * How Hubble's notions read in the flattened `flows` table (schemas/clickhouse/0001_flows.sql and later
 * migrations; common/flow-row.ts is the mapping), for the SQL
 * back-end. The in-memory back-end reads the same notions straight from a Flow; a row stores an absent value as
 * '' / 0 / '::', so "is there an IP header", "which Layer7 record is set" are derived here, once.
 */

/** Flow.ip is set (a flow without IP header stores ip_version 0). */
export const IP_PRESENT = 'ip_version != 0';

/** Flow.ip.source_xlated is set. */
export const XLATED_PRESENT = "ip_source_xlated != toIPv6('::')";

/** Layer4 branches with ports (TCP, UDP, SCTP). */
export const HAS_PORTS = 'l4_protocol IN (6, 17, 132)';

/** Flow.l7 is set (common/flow-row.ts: l7_protocol names the Layer7 record, '' when there is none). */
export const L7_PRESENT = "l7_protocol != ''";

/** Layer7.http is the record that is set. */
export const L7_HTTP = "l7_protocol = 'http'";

/** Layer7.kafka is the record that is set. */
export const L7_KAFKA = "l7_protocol = 'kafka'";

/** Layer7.dns is the record that is set. */
export const L7_DNS = "l7_protocol = 'dns'";

/** Flow.interface is set. */
export const INTERFACE_PRESENT = "(interface_index != 0 OR interface_name != '')";

/** Hubble's node name: `cluster/node`, with the `default` cluster when the flow names none. */
export const QUALIFIED_NODE_NAME =
  "if(position(node_name, '/') > 0, node_name, concat(if(cluster_name = '', 'default', cluster_name), '/', node_name))";

/** Layer7.http.url's path, for http_path filters: absolute URLs and absolute paths, query string cut off. */
export const URL_PATH_PATTERN = '^(?:[a-zA-Z][a-zA-Z0-9+.\\-]*://[^/?#]*)?(/[^?]*)';

/**
 * Kafka topic and schema-registry subject names of the flow contract. The topic carries the schema's major
 * version (`.v1`): an incompatible change gets a new topic, compatible changes stay on this one (see
 * schemas/avro/README.md).
 */

/** Where collectors publish flows and ingest consumes them. */
export const DEFAULT_FLOW_TOPIC = 'lookback.flows.v1';

/** Where ingest puts records it cannot decode or store, with the reason and origin in headers. */
export const DEFAULT_FLOW_DLQ_TOPIC = 'lookback.flows.v1.dlq';

/** The dead-letter topic that goes with a flow topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Confluent's TopicNameStrategy: the subject of a topic's record values is `<topic>-value`. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** TopicNameStrategy for record keys, `<topic>-key` (lookback's keys are raw bytes, not registered). */
export function keySubject(topic: string): string {
  return `${topic}-key`;
}

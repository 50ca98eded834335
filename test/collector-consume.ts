/**
 * Reading the collector's topic back in tests: every record from the beginning, decoded, with its key and
 * partition.
 */
import kafkajs from 'kafkajs';
import { registerKafkaCodecs } from '../common/kafka-codecs.js';
import type { FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import { uniqueName } from './helpers.js';

export interface Consumed {
  flow: Flow;
  key: string;
  partition: number;
}

/** Reads `topic` from the beginning until `count` records arrived (or the timeout), decoding each. */
export async function consumeFlows(brokers: string[], topic: string, count: number, codec: FlowCodec, timeoutMs = 60_000): Promise<Consumed[]> {
  await registerKafkaCodecs();
  const kafka = new kafkajs.Kafka({ clientId: 'lookback-test-consumer', brokers, logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: uniqueName('lookback-test'), sessionTimeout: 10_000, heartbeatInterval: 1000 });
  const out: Consumed[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, timeoutMs);
    // A record is known by partition and offset: a consumer-group rebalance (a missed heartbeat on a loaded
    // machine) hands uncommitted records out again, which is not a second record. A producer duplicate has an
    // offset of its own and is still counted.
    const seen = new Set<string>();
    consumer.run({
      eachMessage: async ({ message, partition }) => {
        const id = `${partition}:${message.offset}`;
        if (seen.has(id)) return;
        seen.add(id);
        out.push({ flow: codec.decode(message.value!), key: message.key!.toString('hex'), partition });
        if (out.length === count) {
          clearTimeout(timer);
          // A little longer: anything beyond `count` would be a duplicate or an unexpected flow.
          setTimeout(resolve, 1500);
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return out;
}

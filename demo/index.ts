/**
 * `lookback up --demo`: Hubble's Star Wars demo on this host. startDemo() builds the pods (network namespaces),
 * their servers and rules, and writes the collector's inventory; the caller starts the collector on
 * `hostInterfaces`, then calls startTraffic(). stop() ends the traffic and removes everything the demo made.
 * A run that was killed leaves namespaces behind: the next createPodNetwork() removes them (common/netns.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SupervisedChild } from '../common/stack/child.js';
import { demoInventory } from './inventory.js';
import { createScenario, type Scenario } from './scenario.js';
import { createDemoTopology, type DemoTopology } from './topology.js';

export interface Demo {
  readonly scenario: Scenario;
  readonly topology: DemoTopology;
  readonly inventoryFile: string;
  readonly hostInterfaces: string[];
  startTraffic(): void;
  /** The traffic loops' processes (empty before startTraffic). */
  readonly traffic: readonly SupervisedChild[];
  stop(): Promise<void>;
}

export interface DemoOptions {
  /** Where the demo writes its inventory, rules and pod logs (a folder of the data directory). */
  workDir: string;
  nodeName: string;
  cluster: string;
  intervalMs: number;
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  fs.rmSync(opts.workDir, { recursive: true, force: true });
  fs.mkdirSync(opts.workDir, { recursive: true });
  const scenario = createScenario();
  const topology = await createDemoTopology(scenario, { workDir: opts.workDir });
  const inventoryFile = path.join(opts.workDir, 'inventory.yaml');
  fs.writeFileSync(inventoryFile, demoInventory(topology, { nodeName: opts.nodeName, cluster: opts.cluster }));
  let traffic: SupervisedChild[] = [];
  return {
    scenario,
    topology,
    inventoryFile,
    hostInterfaces: topology.hostInterfaces,
    get traffic() { return traffic; },
    startTraffic() {
      if (traffic.length === 0) traffic = topology.startTraffic({ intervalMs: opts.intervalMs });
    },
    async stop() {
      await Promise.all(traffic.map((c) => c.stop(2000)));
      await topology.destroy();
    },
  };
}

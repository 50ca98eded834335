/**
 * The demo's pods on this host: one network namespace per pod (common/netns.ts), plus one for the "outside
 * world". What makes it behave like the cluster in Hubble's demo, all inside the namespaces (so deleting them
 * removes every rule, route and address the demo made; the root namespace is never touched):
 *
 * - Services: each client pod translates a service address to one of its backends in its own nftables `output`
 *   nat chain, before the packet leaves, as Cilium's socket load balancer does. So the node sees pod-to-pod
 *   packets, and flows show the backend pod with the service (destination_service), like Hubble does.
 * - Policy: the deathstar pods accept TCP 80 only from org=empire pods (tiefighter) and drop the rest in their
 *   `input` chain: the kernel reports SKB_DROP_REASON_NETFILTER_DROP, Hubble's "Policy denied" (rule1 of the demo).
 * - The outside world: www.disney.com and api.twitter.com have documentation addresses (RFC 5737) on the world
 *   namespace's loopback; client pods route them to it. It is not in the inventory, so it is reserved:world.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LookbackError } from '../common/errors.js';
import { createPodNetwork, type Pod, type PodNetwork } from '../common/netns.js';
import type { SupervisedChild } from '../common/stack/child.js';
import { POD_MAIN_SCRIPT, type PodRole } from './pod-main.js';
import { dnsZone, type DemoPod, type Scenario } from './scenario.js';
import type { ClientPlan } from './traffic.js';

export interface DemoTopology {
  net: PodNetwork;
  scenario: Scenario;
  /** Scenario pods with their namespace pod and addresses. */
  pods: Array<DemoPod & { pod: Pod }>;
  /** Host-side interfaces of the scenario pods (what the collector attaches to). The world's is left out. */
  hostInterfaces: string[];
  /** Starts the traffic loops in xwing and tiefighter. */
  startTraffic(opts: { intervalMs: number }): SupervisedChild[];
  /** Stops every process in the pods and removes the namespaces. */
  destroy(): Promise<void>;
}

const WORLD = 'world';

async function waitForLine(child: SupervisedChild, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(child.tail(50))) {
    if (!child.isRunning()) throw new LookbackError('internal', `demo pod process ${child.name} exited: ${child.tail(5) || 'no output'}`);
    if (Date.now() > deadline) throw new LookbackError('internal', `demo pod process ${child.name} did not start within ${timeoutMs} ms: ${child.tail(5) || 'no output'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function createDemoTopology(scenario: Scenario, opts: { workDir: string }): Promise<DemoTopology> {
  fs.mkdirSync(opts.workDir, { recursive: true });
  const net = await createPodNetwork({ pods: [...scenario.pods.map((p) => p.key), WORLD], logDir: path.join(opts.workDir, 'logs') });
  try {
    const pods = scenario.pods.map((p) => ({ ...p, pod: net.pod(p.key) }));
    const byKey = (k: DemoPod['key']): Pod => net.pod(k);
    const world = net.pod(WORLD);
    const file = (name: string, text: string): string => {
      const f = path.join(opts.workDir, name);
      fs.writeFileSync(f, text);
      return f;
    };
    const spawnRole = (pod: Pod, name: string, spec: PodRole): SupervisedChild =>
      pod.spawn(name, process.execPath, [POD_MAIN_SCRIPT, file(`${pod.name}-${name}.json`, JSON.stringify(spec))]);

    // The outside world's addresses, and the client pods' routes to them.
    for (const h of scenario.external) await world.run('ip', ['addr', 'add', `${h.ip}/32`, 'dev', 'lo']);
    const clients = pods.filter((p) => p.key === 'xwing' || p.key === 'tiefighter');
    for (const c of clients) {
      for (const h of scenario.external) await c.pod.run('ip', ['route', 'add', `${h.ip}/32`, 'via', world.ipv4]);
    }

    // Service translation in each client pod.
    const backends = (selector: Record<string, string>): string[] =>
      pods.filter((p) => Object.entries(selector).every(([k, v]) => p.labels[k] === v)).map((p) => p.pod.ipv4);
    const natRules: string[] = [];
    for (const svc of scenario.services) {
      const ips = backends(svc.selector);
      if (ips.length === 0) throw new LookbackError('internal', `demo service ${svc.namespace}/${svc.name} selects no pod`);
      const target = ips.length === 1 ? ips[0] : `numgen random mod ${ips.length} map { ${ips.map((ip, i) => `${i} : ${ip}`).join(', ')} }`;
      for (const proto of svc.protocols) natRules.push(`    ip daddr ${svc.vip} ${proto.toLowerCase()} dport ${svc.port} dnat to ${target}`);
    }
    const natFile = file('services.nft', [
      'table ip lookback_demo {',
      '  chain services {',
      '    type nat hook output priority -100; policy accept;',
      ...natRules,
      '  }',
      '}',
      '',
    ].join('\n'));
    for (const c of clients) await c.pod.run('nft', ['-f', natFile]);

    // rule1 of Hubble's demo: only org=empire may land (TCP 80) on the deathstar.
    const empire = pods.filter((p) => p.labels['org'] === 'empire' && p.labels['class'] !== 'deathstar').map((p) => p.pod.ipv4);
    const policyFile = file('deathstar-policy.nft', [
      'table inet lookback_demo {',
      '  chain ingress_policy {',
      '    type filter hook input priority filter; policy accept;',
      `    tcp dport 80 ip saddr { ${empire.join(', ')} } accept`,
      '    tcp dport 80 drop',
      '  }',
      '}',
      '',
    ].join('\n'));
    for (const p of pods.filter((x) => x.labels['class'] === 'deathstar')) await p.pod.run('nft', ['-f', policyFile]);

    // Servers: coredns, the deathstar pods, the outside world.
    const servers: SupervisedChild[] = [
      spawnRole(byKey('coredns'), 'coredns', { role: 'dns', zone: dnsZone(scenario), ttl: 30 }),
      ...pods.filter((p) => p.labels['class'] === 'deathstar').map((p) => spawnRole(p.pod, 'deathstar', { role: 'deathstar', port: 80 })),
      spawnRole(world, 'hosts', { role: 'world', addresses: scenario.external.map((h) => h.ip), port: 443 }),
    ];
    await Promise.all(servers.map((s) => waitForLine(s, /"listening"/, 15_000)));

    const dnsVip = scenario.services.find((s) => s.name === 'kube-dns')?.vip ?? '';
    return {
      net,
      scenario,
      pods,
      hostInterfaces: pods.map((p) => p.pod.hostIf),
      startTraffic({ intervalMs }) {
        const targets: Record<string, string> = { xwing: 'www.disney.com', tiefighter: 'api.twitter.com' };
        return clients.map((c) => {
          const ext = scenario.external.find((h) => h.name === targets[c.key]) ?? scenario.external[0]!;
          const plan: ClientPlan = {
            pod: c.name, dnsServer: dnsVip, intervalMs, timeoutMs: 2000,
            landing: { host: scenario.landing.host, port: 80, path: scenario.landing.path },
            external: { host: ext.name, port: ext.port },
          };
          return spawnRole(c.pod, 'traffic', { role: 'client', plan });
        });
      },
      destroy: () => net.destroy(),
    };
  } catch (err) {
    await net.destroy();
    throw err;
  }
}

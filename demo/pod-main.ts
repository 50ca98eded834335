/**
 * The program the demo runs inside its pods (`ip netns exec <pod> node pod-main.js <role> <plan.json>`):
 * `dns` (coredns), `deathstar` (the landing API), `world` (the external hosts) or `client` (the traffic loop).
 * Every line it prints is JSON, so the pod's log file reads as a record of what happened.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startDnsServer } from './dns-server.js';
import { startDeathstar, startWorldHost } from './servers.js';
import { runTrafficLoop, type ClientPlan } from './traffic.js';

/** This file, compiled: what topology.ts runs in each pod. */
export const POD_MAIN_SCRIPT = fileURLToPath(import.meta.url);

export type PodRole =
  | { role: 'dns'; zone: Record<string, string[]>; ttl: number }
  | { role: 'deathstar'; port: number }
  | { role: 'world'; addresses: string[]; port: number }
  | { role: 'client'; plan: ClientPlan };

const say = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...o })}\n`); };

async function main(file: string): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as PodRole;
  switch (spec.role) {
    case 'dns':
      await startDnsServer({ host: '0.0.0.0', port: 53, zone: spec.zone, ttl: spec.ttl, onQuery: (q) => say({ query: q.name, type: q.type }) });
      break;
    case 'deathstar':
      await startDeathstar({ host: '0.0.0.0', port: spec.port, onRequest: (method, url, status) => say({ method, url, status }) });
      break;
    case 'world':
      for (const host of spec.addresses) await startWorldHost({ host, port: spec.port });
      break;
    case 'client':
      say({ started: spec.plan.pod });
      await runTrafficLoop(spec.plan, (r) => say({ ...r }));
      return;
  }
  say({ listening: spec.role });
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === POD_MAIN_SCRIPT) {
  process.on('SIGTERM', () => process.exit(0));
  main(process.argv[2] ?? '').catch((err: Error) => {
    say({ error: err.message });
    process.exit(1);
  });
}

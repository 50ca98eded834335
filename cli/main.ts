import { reportAndExit } from './exit.js';

/**
 * `lookback <command>`: the composition root of every service. Each command lives in its own module, loaded only
 * when called, so `lookback observe` does not load the collector's kernel addon.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  up: { summary: 'start the local stack and every lookback service on this machine', load: () => import('./up.js') },
  migrate: { summary: 'apply ClickHouse migrations to a database', load: () => import('./migrate.js') },
  ingest: { summary: 'consume flows from Kafka and store them in ClickHouse, with roll-ups and retention', load: () => import('./ingest.js') },
  collector: { summary: 'capture flows on this node (eBPF), serve them live (Observer :4244) and publish them to Kafka', load: () => import('./collector.js') },
  'query-api': { summary: "serve history: Hubble's Observer API (gRPC) and the HTTP JSON API", load: () => import('./query-api.js') },
  observe: { summary: 'print flows from any Hubble Observer server (hubble observe flags)', load: () => import('./observe.js') },
  deps: { summary: 'print the service dependency graph of a time window', load: () => import('./deps.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: lookback <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun \`lookback <command> --help\` for its options.\n`;
}

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    process.exit(name ? 0 : 2);
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`lookback: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    process.exit(2);
  }
  const mod = await command.load();
  process.exitCode = await mod.run(rest);
}

main().catch(reportAndExit);

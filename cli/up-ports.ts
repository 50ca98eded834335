/**
 * The ports `lookback up` listens on, all on 127.0.0.1. The query API's gRPC port (4245) is where Hubble clients
 * and `lookback observe` look, so when it is taken the start stops and says so; the other ports are internal
 * (Hubble's 4244 and 9965, the HTTP API, ingest's metrics) and move to a free port, with a note.
 */
import net from 'node:net';
import { LookbackError } from '../common/errors.js';
import { freePort } from '../common/stack/ports.js';

export interface UpPorts {
  grpc: number;
  http: number;
  observer: number;
  collectorMetrics: number;
  ingestMetrics: number;
}

const WHAT: Record<keyof UpPorts, string> = {
  grpc: "the query API's Hubble gRPC port",
  http: "the query API's HTTP port",
  observer: "the collector's live Observer port (Hubble's 4244)",
  collectorMetrics: "the collector's metrics port (Hubble's 9965)",
  ingestMetrics: "ingest's metrics port",
};

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The ports to use, and a note for each one that moved. 0 asks for any free port. */
export async function choosePorts(wanted: UpPorts): Promise<{ ports: UpPorts; notes: string[] }> {
  const ports = { ...wanted };
  const notes: string[] = [];
  const used = new Set<number>();
  for (const key of Object.keys(WHAT) as Array<keyof UpPorts>) {
    const want = wanted[key];
    if (want !== 0 && !used.has(want) && (await portIsFree(want))) {
      used.add(want);
      continue;
    }
    if (key === 'grpc' && want !== 0) {
      throw new LookbackError('unavailable', `port ${want} on 127.0.0.1 (${WHAT.grpc}) is already in use, maybe by another \`lookback up\` or a Hubble Relay port-forward (\`ss -ltnp 'sport = :${want}'\` shows which process). Stop it, or choose another port with --set ports.grpc=N (0: any free port).`);
    }
    let port = await freePort();
    while (used.has(port)) port = await freePort();
    used.add(port);
    ports[key] = port;
    if (want !== 0) notes.push(`${WHAT[key]} ${want} is in use: using ${port}`);
  }
  return { ports, notes };
}

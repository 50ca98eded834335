/**
 * A demo client pod's traffic loop (run inside xwing and tiefighter): every interval it resolves the deathstar
 * service through coredns and asks to land (`POST /v1/request-landing`, as `kubectl exec xwing -- curl -XPOST
 * deathstar.default.svc.cluster.local/v1/request-landing` does in Hubble's demo), then resolves an external name
 * and opens an HTTPS-like TCP connection to it. Each step is one JSON line on stdout.
 */
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';

export interface ClientPlan {
  pod: string;
  dnsServer: string;
  intervalMs: number;
  timeoutMs: number;
  landing: { host: string; port: number; path: string };
  external: { host: string; port: number };
}

export interface StepResult {
  pod: string;
  step: 'landing' | 'external';
  ok: boolean;
  detail: string;
}

function post(ip: string, plan: ClientPlan): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: ip, port: plan.landing.port, path: plan.landing.path, method: 'POST', agent: false,
      headers: { host: plan.landing.host, 'user-agent': 'curl/7.88.1', accept: '*/*', 'content-length': 0 },
      timeout: plan.timeoutMs,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${plan.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function tlsLike(ip: string, plan: ClientPlan): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ip, port: plan.external.port });
    let got = 0;
    sock.setTimeout(plan.timeoutMs, () => sock.destroy(new Error(`no answer within ${plan.timeoutMs} ms`)));
    sock.on('connect', () => {
      // The start of a TLS ClientHello record (handshake, TLS 1.0 record version): enough to look like HTTPS.
      sock.write(Buffer.from([22, 3, 1, 0, 5, 1, 0, 0, 1, 3]));
    });
    sock.on('data', (d) => { got += d.length; });
    sock.on('end', () => { sock.end(); resolve(`connected, ${got} bytes back`); });
    sock.on('error', reject);
  });
}

async function step(pod: string, name: StepResult['step'], fn: () => Promise<string>): Promise<StepResult> {
  try {
    return { pod, step: name, ok: true, detail: await fn() };
  } catch (err) {
    return { pod, step: name, ok: false, detail: (err as Error).message };
  }
}

/** One round of the pod's traffic. */
export async function trafficRound(plan: ClientPlan, resolver: Resolver): Promise<StepResult[]> {
  const landing = await step(plan.pod, 'landing', async () => {
    const [ip] = await resolver.resolve4(plan.landing.host);
    return post(ip!, plan);
  });
  const external = await step(plan.pod, 'external', async () => {
    const [ip] = await resolver.resolve4(plan.external.host);
    return `${plan.external.host} (${ip}): ${await tlsLike(ip!, plan)}`;
  });
  return [landing, external];
}

/** Runs rounds until the process is stopped. */
export async function runTrafficLoop(plan: ClientPlan, report: (r: StepResult) => void): Promise<never> {
  const resolver = new Resolver({ timeout: plan.timeoutMs, tries: 1 });
  resolver.setServers([plan.dnsServer]);
  for (;;) {
    const started = Date.now();
    for (const r of await trafficRound(plan, resolver)) report(r);
    await new Promise((r) => setTimeout(r, Math.max(100, plan.intervalMs - (Date.now() - started))));
  }
}

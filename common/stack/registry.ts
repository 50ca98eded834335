import fs from 'node:fs';
import path from 'node:path';
import { LookbackError, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { classArchive, findJava, launchJvm, lookbackCacheDir } from './jvm.js';
import { freePort } from './ports.js';

/**
 * A real Confluent-compatible schema registry: Apicurio Registry's runnable distribution from Maven Central
 * (`scripts/setup-registry.sh`), serving the Confluent API under /apis/ccompat/v7. Karapace is not on PyPI.
 * Pinned here and in scripts/setup-registry.sh; registry.test.ts checks they agree.
 */
export const APICURIO_VERSION = '3.0.9';

/** Where schemas live. `h2`: an H2 database file in dataDir (the default: starts in about 2 s, needs no Kafka).
 * `kafkasql`: a journal topic in Kafka, as in a replicated deployment (about 6 s slower to start). */
export type RegistryStorage = 'h2' | 'kafkasql';

export interface StartRegistryOptions {
  /** Holds the H2 database, temporary files and the registry log. Reused across restarts. */
  dataDir: string;
  /** Needed only for `storage: 'kafkasql'`. */
  kafkaBrokers?: string[];
  storage?: RegistryStorage;
  port?: number;
  log?: Logger;
  /** JVM max heap. Default 256. */
  heapMb?: number;
  readyTimeoutMs?: number;
}

export interface LocalRegistry {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:PORT/apis/ccompat/v7 (append /subjects ...). */
  url: string;
  pid: number;
  /** Milliseconds from spawning the JVM to the first 200 from GET /subjects. */
  startMs: number;
  logFile: string;
  rssBytes(): number;
  stop(): Promise<void>;
}

export function registryAppDir(version = APICURIO_VERSION): string {
  return path.join(lookbackCacheDir(), `apicurio-registry-${version}`, 'app');
}

function storageProperties(opts: StartRegistryOptions, dataDir: string): string[] {
  const storage = opts.storage ?? 'h2';
  if (storage === 'h2') {
    return [
      '-Dapicurio.storage.kind=sql',
      '-Dapicurio.storage.sql.kind=h2',
      `-Dapicurio.datasource.url=jdbc:h2:file:${path.join(dataDir, 'db', 'registry')}`,
    ];
  }
  const brokers = opts.kafkaBrokers ?? [];
  if (brokers.length === 0) {
    throw new LookbackError('config', "the schema registry's kafkasql storage needs kafkaBrokers (none given)");
  }
  return [
    '-Dapicurio.storage.kind=kafkasql',
    `-Dapicurio.kafkasql.bootstrap.servers=${brokers.join(',')}`,
    // The registry creates these topics itself (the local broker does not auto-create topics).
    '-Dapicurio.kafkasql.topic=_lookback-registry-journal',
    '-Dapicurio.kafkasql.snapshots.topic=_lookback-registry-snapshots',
  ];
}

/** Starts the registry and resolves once GET /subjects answers 200. */
export async function startRegistry(opts: StartRegistryOptions): Promise<LocalRegistry> {
  const log = opts.log ?? silentLogger;
  const dataDir = path.resolve(opts.dataDir);
  const storageArgs = storageProperties(opts, dataDir);
  const appDir = registryAppDir();
  const runner = path.join(appDir, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);
  if (!fs.existsSync(runner)) {
    throw new LookbackError(
      'missing_dependency',
      `Apicurio Registry ${APICURIO_VERSION} (the schema registry) is not in ${appDir}; run \`bash scripts/setup.sh\` ` +
        '(or just `bash scripts/setup-registry.sh`, which fetches it from Maven Central with mvn)',
    );
  }
  const java = findJava(17, `Apicurio Registry ${APICURIO_VERSION}`);
  const tmpDir = path.join(dataDir, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const logFile = path.join(dataDir, 'registry.log');
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const jvm = (archiveArgs: string[]): string[] => [
    `-Xmx${opts.heapMb ?? 256}m`,
    '-Xms32m',
    // A schema registry answers a handful of requests: C1 alone starts faster and keeps about 30 MB less resident.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-XX:+ExitOnOutOfMemoryError',
    `-XX:ErrorFile=${path.join(dataDir, 'hs_err_pid%p.log')}`,
    `-Djava.io.tmpdir=${tmpDir}`,
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${port}`,
    `-Dapicurio.import.work-dir=${tmpDir}`,
    `-Dapicurio.storage.snapshot.location=${tmpDir}`,
    ...storageArgs,
    ...archiveArgs,
    '-jar', runner,
  ];
  const { child, startMs } = await launchJvm({
    name: `the schema registry at ${url}`,
    java,
    args: jvm,
    logFile,
    cwd: dataDir,
    archive: classArchive(path.dirname(appDir), 'registry', java),
    ready: (c) => waitForRegistry(url, c.isRunning, timeoutMs),
    log,
  });
  log.info('ready', { url, pid: child.pid, startMs, version: APICURIO_VERSION, storage: opts.storage ?? 'h2' });
  return { url, pid: child.pid, startMs, logFile, rssBytes: child.rssBytes, stop: () => child.stop(10_000) };
}

/** Polls GET {url}/subjects until it answers 200, the child dies, or time runs out. */
export async function waitForRegistry(url: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt made';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the registry process exited');
    try {
      const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = describeError(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`GET /subjects did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

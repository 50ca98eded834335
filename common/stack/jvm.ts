import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LookbackError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { spawnSupervised, type SupervisedChild } from './child.js';

/**
 * What the Java parts of the local stack (Kafka, the schema registry) share: the machine-wide cache folder,
 * finding a JDK, a class-data-sharing archive that makes later starts faster, and launching a JVM as a
 * supervised child with one retry without the archive.
 */
export function lookbackCacheDir(): string {
  const env = process.env;
  if (env['LOOKBACK_CACHE']) return env['LOOKBACK_CACHE'];
  const xdg = env['XDG_CACHE_HOME'] || path.join(env['HOME'] || os.homedir(), '.cache');
  return path.join(xdg, 'lookback');
}

/** Major version of a JDK from its `release` file (e.g. 17), or 0 if it cannot be read. */
function javaMajor(javaBin: string): number {
  try {
    const home = path.dirname(path.dirname(fs.realpathSync(javaBin)));
    const release = fs.readFileSync(path.join(home, 'release'), 'utf8');
    const m = /JAVA_VERSION="(\d+)/.exec(release);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds a `java` of at least `minMajor`: JAVA_HOME first, then PATH, then the JDKs under /usr/lib/jvm (newest
 * first), so a component that needs a newer JDK than the default one still finds it. A JDK whose version cannot
 * be read is accepted only from JAVA_HOME or PATH (the user chose it).
 */
export function findJava(minMajor: number, needed: string): string {
  const chosen: string[] = [];
  const home = process.env['JAVA_HOME'];
  if (home) chosen.push(path.join(home, 'bin', 'java'));
  for (const dir of (process.env['PATH'] ?? '').split(':')) if (dir) chosen.push(path.join(dir, 'java'));
  const seen: string[] = [];
  for (const bin of chosen) {
    if (!isExecutable(bin)) continue;
    const major = javaMajor(bin);
    if (major === 0 || major >= minMajor) return bin;
    seen.push(`${bin} is Java ${major}`);
  }
  let jvms: string[] = [];
  try {
    jvms = fs.readdirSync('/usr/lib/jvm').map((d) => path.join('/usr/lib/jvm', d, 'bin', 'java'));
  } catch {
    // no system JDKs
  }
  const candidates = jvms
    .filter(isExecutable)
    .map((bin) => ({ bin, major: javaMajor(bin) }))
    .filter((c) => c.major >= minMajor)
    .sort((a, b) => b.major - a.major);
  if (candidates[0]) return candidates[0].bin;
  const found = seen.length ? ` (found: ${seen.join('; ')})` : ' (no java on JAVA_HOME or PATH)';
  throw new LookbackError(
    'missing_dependency',
    `${needed} needs Java ${minMajor} or newer${found}; install Java (apt-get install -y openjdk-17-jre-headless) ` +
      `or set JAVA_HOME, then run \`bash scripts/setup.sh\``,
  );
}

/**
 * A dynamic CDS archive of the classes a JVM service loads, kept beside its jars in the cache: it saves about
 * a second of start-up on two shared cores (broker 2.7-3.7 s -> 1.7-2.9 s, registry 2.8 s -> 1.8-2.1 s). The
 * first start dumps the archive when the JVM exits normally (stop(); that start and stop are a few seconds
 * slower); later starts map it. The file name covers the exact JDK build, because an archive from
 * another build is ignored by the JVM (with a warning in the log, and no harm beyond a slower start).
 */
export interface ClassArchive {
  /** Where the archive is (or will be) kept. */
  file: string;
  args: string[];
  /** True when an existing archive is mapped (rather than dumped). */
  inUse: boolean;
  /** Call with the JVM's exit code (or signal): keeps an archive it dumped on a normal exit. */
  settle(exit: number | string): void;
  /** Deletes the archive: a damaged one can crash the JVM at start (JDK 17 dies with SIGBUS on a truncated file). */
  discard(): void;
}

export function classArchive(dir: string, name: string, java: string): ClassArchive {
  let jdk = java;
  try {
    jdk = fs.realpathSync(java);
    jdk += fs.readFileSync(path.join(path.dirname(path.dirname(jdk)), 'release'), 'utf8');
  } catch {
    // keep what we have: the archive is only an optimisation
  }
  const id = crypto.createHash('sha256').update(jdk).digest('hex').slice(0, 12);
  const file = path.join(dir, `${name}-${id}.jsa`);
  const discard = (): void => fs.rmSync(file, { force: true });
  if (fs.existsSync(file)) return { file, args: [`-XX:SharedArchiveFile=${file}`], inUse: true, settle: () => undefined, discard };
  removeStaleDumps(dir, `${name}-${id}.jsa.`);
  // Several processes may race to create it: each dumps to its own file and the last rename wins (all equivalent).
  const tmp = `${file}.${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`;
  return {
    file,
    args: [`-XX:ArchiveClassesAtExit=${tmp}`],
    inUse: false,
    discard,
    settle: (exit) => {
      try {
        // A JVM killed by a signal may have been killed mid-dump: never keep that file.
        if (typeof exit === 'number' && fs.existsSync(tmp)) fs.renameSync(tmp, file);
        else fs.rmSync(tmp, { force: true });
      } catch {
        // a read-only cache: start without the archive next time too
      }
    },
  };
}

export interface JvmLaunch {
  name: string;
  java: string;
  /** JVM arguments without the class archive's; `archiveArgs` go before the main class or -jar. */
  args(archiveArgs: string[]): string[];
  logFile: string;
  cwd: string;
  archive: ClassArchive;
  /** Resolves once the service answers; rejects when it will not. */
  ready(child: SupervisedChild): Promise<void>;
  log: Logger;
}

/**
 * Spawns a JVM service and waits until it is ready. A start that fails while an existing class archive was mapped
 * is retried once without it (and the archive deleted), so a damaged archive costs one slow start, not a broken
 * stack. On failure the child is stopped and the error carries the log's last lines.
 */
export async function launchJvm(l: JvmLaunch): Promise<{ child: SupervisedChild; startMs: number }> {
  const attempt = async (archive: ClassArchive | undefined): Promise<{ child: SupervisedChild; startMs: number }> => {
    const spawnedAt = Date.now();
    const child = spawnSupervised({
      name: l.name,
      command: l.java,
      args: l.args(archive?.args ?? []),
      logFile: l.logFile,
      cwd: l.cwd,
      deathSignal: 'SIGKILL',
    });
    if (archive) void child.exited.then(archive.settle);
    try {
      await l.ready(child);
    } catch (err) {
      await child.stop(2_000);
      throw new LookbackError('unavailable', `${l.name} did not become ready: ${describeError(err)}\n${child.tail(30)}`, { cause: err });
    }
    return { child, startMs: Date.now() - spawnedAt };
  };
  try {
    return await attempt(l.archive);
  } catch (err) {
    if (!l.archive.inUse) throw err;
    l.log.warn('start failed with the class archive; retrying without it', { name: l.name, error: describeError(err).split('\n')[0] });
    l.archive.discard();
    return attempt(undefined);
  }
}

/** Dumps left by a JVM that died with its parent (no settle) are removed once they are clearly abandoned. */
function removeStaleDumps(dir: string, prefix: string): void {
  try {
    for (const entry of fs.readdirSync(dir)) {
      if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
      const file = path.join(dir, entry);
      if (Date.now() - fs.statSync(file).mtimeMs > 30 * 60_000) fs.rmSync(file, { force: true });
    }
  } catch {
    // best effort
  }
}

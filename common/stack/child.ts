import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { LookbackError } from '../errors.js';

/**
 * A child process that cannot outlive us. Every child is started through `setpriv --pdeathsig`, so the kernel
 * signals it when our process dies, even on SIGKILL where no exit handler runs; in a process group of its own, so
 * that signals for our group (a Ctrl-C) come to us, and we decide the order of the stop. Output goes to a log file so
 * that a failed start can quote its last lines.
 */
export interface SupervisedChild {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after graceMs. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Resident memory in bytes, from /proc (0 if gone). */
  rssBytes(): number;
  /** The last lines of the log, for error messages. */
  tail(lines?: number): string;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Signal the kernel sends the child when we die. SIGKILL by default: nothing may survive us. */
  deathSignal?: 'SIGKILL' | 'SIGTERM';
  /** Keep a pipe on stdin (children that watch for the parent closing it). */
  stdinPipe?: boolean;
}

export function spawnSupervised(opts: SpawnOptions): SupervisedChild {
  const out = fs.openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('setpriv', ['--pdeathsig', opts.deathSignal ?? 'SIGKILL', '--', opts.command, ...opts.args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.stdinPipe ? 'pipe' : 'ignore', out, out],
      // A process group of its own: a Ctrl-C at the terminal (SIGINT to the foreground group) reaches only us, and
      // we stop the children in order (`lookback up`: the collector, then ingest while Kafka and ClickHouse still
      // run, then the stack). In our group, the stack died at once and ingest spent its stop timeout retrying
      // against it. --pdeathsig still ends every child when we die.
      detached: true,
    });
  } finally {
    fs.closeSync(out);
  }
  if (child.pid === undefined) {
    throw new LookbackError('missing_dependency', `could not start ${opts.name}: ${opts.command} (is util-linux's setpriv installed?)`);
  }
  const pid = child.pid;
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => { running = false; resolve(code ?? signal ?? 'unknown'); });
    child.once('error', (err) => { running = false; resolve(`spawn error: ${err.message}`); });
  });
  // Do not let a child keep our event loop alive on its own; `stop()` is the orderly path.
  child.unref();
  if (child.stdin) (child.stdin as unknown as { unref?: () => void }).unref?.();

  const tail = (lines = 20): string => {
    try {
      const text = fs.readFileSync(opts.logFile, 'utf8');
      return text.split('\n').filter(Boolean).slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    isRunning: () => running,
    tail,
    rssBytes: () => {
      try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const m = /VmRSS:\s+(\d+) kB/.exec(status);
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    stop: async (graceMs = 10_000) => {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (running) child.kill('SIGKILL'); }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

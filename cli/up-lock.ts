/**
 * One `lookback up` per data directory: a pid file (pid and process start time, so a reused pid is not mistaken
 * for the owner). A file left by a killed run is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LookbackError } from '../common/errors.js';
import { processStart } from '../common/proc.js';

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'up.pid');
  try {
    const held = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number; start: string };
    if (held.pid !== process.pid && processStart(held.pid) === held.start) {
      throw new LookbackError('unavailable', `another \`lookback up\` (pid ${held.pid}) is using ${dataDir}: stop it first, or use another --data-dir`);
    }
  } catch (err) {
    if (err instanceof LookbackError) throw err;
    // No lock, or an unreadable one: take it.
  }
  fs.writeFileSync(file, JSON.stringify({ pid: process.pid, start: processStart(process.pid) ?? '' }));
  return {
    release() {
      try {
        const held = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number };
        if (held.pid === process.pid) fs.rmSync(file, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

import fs from 'node:fs';

/**
 * The fields of /proc/PID/stat after the parenthesised command name (which may hold spaces): [0] is the state,
 * [1] the parent pid, [11] and [12] user and system time in clock ticks, [19] the start time. Undefined when the
 * process does not exist.
 */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process's start time (clock ticks since boot): with the pid, it names one process even after pid reuse. */
export function processStart(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * Opens a probe, attaches it to the interfaces named on the command line, prints one JSON line (attachments and
 * program ids) and then waits to be killed. test/bpf-lifecycle.test.ts SIGKILLs it to check that nothing stays
 * attached after the process dies.
 *   node dist/test/bpf-probe-holder.js <tcx|tc|auto> <ifname>...
 */
import { openProbe, type AttachMode } from '../bpf/index.js';

const [mode, ...ifnames] = process.argv.slice(2);
const probe = openProbe({ attachMode: (mode ?? 'auto') as AttachMode, sweepIntervalMs: 0 });
const attachments = ifnames.flatMap((ifname) => probe.attach(ifname));
process.stdout.write(JSON.stringify({ pid: process.pid, attachments, programs: probe.programStats() }) + '\n');
setInterval(() => probe.flush(), 1000);

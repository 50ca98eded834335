/**
 * The probe's life on the real kernel beyond capture: nothing stays attached after SIGKILL, clear errors (not root,
 * no BTF, unknown interface, verifier rejection), the cls_bpf fallback, the idle sweep and active timeout, flow
 * table overflow and sampling.
 *
 * How "nothing stays attached" is checked after SIGKILL of a process holding TCX links: every program id it
 * loaded is gone from the kernel (`bpftool prog show id N` fails: no link, fd or attachment references it any
 * more), no link refers to them (`bpftool link show`), and `tc filter show dev X ingress|egress` lists no filter.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { isLookbackError } from '../common/errors.js';
import { FLOW_EVENTS, openProbe, type FlowRecord, type OverflowRecord, type ProbeRecord } from '../bpf/index.js';
import { defaultObjectDir, loadNative, repoRoot } from '../bpf/native.js';
import { createPodNetwork, type PodNetwork } from './netns.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const distDir = path.join(repoRoot(), 'dist');

async function programExists(id: number): Promise<boolean> {
  try {
    await run('bpftool', ['prog', 'show', 'id', String(id)]);
    return true;
  } catch {
    return false;
  }
}

async function tcFilters(ifname: string): Promise<string> {
  const ingress = await run('tc', ['filter', 'show', 'dev', ifname, 'ingress']);
  const egress = await run('tc', ['filter', 'show', 'dev', ifname, 'egress']);
  return (ingress.stdout + egress.stdout).trim();
}

interface HolderInfo {
  pid: number;
  attachments: { ifname: string; direction: string; mode: string; progId: number; linkId: number }[];
  programs: { name: string; id: number }[];
}

/** Starts bpf-probe-holder, waits for its JSON line. */
async function startHolder(mode: string, ifname: string): Promise<{ info: HolderInfo; kill: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(distDir, 'test', 'bpf-probe-holder.js'), mode, ifname], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const info = await new Promise<HolderInfo>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as HolderInfo);
    });
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}): ${err}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    info,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs a script as the unprivileged user nobody, returns what it printed. */
async function runAsNobody(script: string): Promise<string> {
  // As `nobody`, keeping only the right to read files (CAP_DAC_READ_SEARCH): the checkout may sit in a folder only
  // root can enter (CI clones into a private temporary folder), and reading it gives no right to load BPF.
  const { stdout } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+dac_read_search', '--ambient-caps=+dac_read_search', '--', process.execPath, '--input-type=module', '-e', script], { cwd: '/' });
  return stdout.trim();
}

describe('probe lifecycle and errors (real kernel)', () => {
  let net: PodNetwork;

  before(async () => {
    net = await createPodNetwork({ pods: ['a', 'b'] });
  });
  after(async () => {
    await net?.destroy();
  });

  test('after SIGKILL of a process holding TCX links, no BPF program stays attached', async () => {
    const ifname = net.pod('a').hostIf;
    const holder = await startHolder('tcx', ifname);
    const ids = holder.info.programs.map((p) => p.id);
    assert.deepEqual(holder.info.attachments.map((a) => a.mode), ['tcx', 'tcx']);
    assert.ok(ids.length >= 4, 'flow (2), drop and tcp programs');
    for (const id of ids) assert.ok(await programExists(id), `program ${id} is loaded while the holder lives`);
    const links = JSON.parse((await run('bpftool', ['-j', 'link', 'show'])).stdout) as { id: number; prog_id: number }[];
    for (const a of holder.info.attachments) assert.ok(links.some((l) => l.id === a.linkId && l.prog_id === a.progId), `link ${a.linkId} listed`);

    await holder.kill();
    await sleep(200); // the kernel frees programs from a deferred work item after the last reference goes
    for (const id of ids) assert.equal(await programExists(id), false, `program ${id} is gone after SIGKILL`);
    const after = JSON.parse((await run('bpftool', ['-j', 'link', 'show'])).stdout) as { id: number; prog_id: number }[];
    assert.ok(!after.some((l) => ids.includes(l.prog_id)), 'no link refers to our programs');
    assert.equal(await tcFilters(ifname), '', 'no tc filter either');
  });

  test('cls_bpf fallback: attaches as tc filters, replaces a filter left by a killed process, removes it on close', async () => {
    const ifname = net.pod('b').hostIf;
    const holder = await startHolder('tc', ifname);
    assert.deepEqual(holder.info.attachments.map((a) => a.mode), ['tc', 'tc']);
    assert.match(await tcFilters(ifname), /lb_tc_ingress[\s\S]*lb_tc_egress/);
    await holder.kill();
    // cls_bpf filters are not owned by a process: this one outlives its creator (why TCX is preferred)...
    assert.match(await tcFilters(ifname), /lb_tc_/);

    const records: ProbeRecord[] = [];
    const probe = openProbe({ attachMode: 'tc', sweepIntervalMs: 0, drops: { enabled: false }, tcp: { enabled: false } });
    try {
      probe.onBatch((b) => { records.push(...b); });
      probe.attach(ifname);
      // ...and the next probe replaces it (same handle and priority) instead of stacking a second one.
      const filters = await tcFilters(ifname);
      assert.equal(filters.match(/handle 0x4c42 lb_tc_ingress/g)?.length, 1, filters);
      assert.equal(filters.match(/handle 0x4c42 lb_tc_egress/g)?.length, 1, filters);
      const now = probe.attachments().map((a) => a.progId);
      for (const id of now) assert.match(filters, new RegExp(`lb_tc_\\w+:\\[${id}\\]`), 'the new program is the one attached');
      for (const old of holder.info.attachments) assert.doesNotMatch(filters, new RegExp(`:\\[${old.progId}\\]`));
      await net.pod('b').run('ping', ['-c', '2', '-i', '0.2', net.pod('a').ipv4]);
      await sleep(50);
      probe.flush();
      assert.ok(records.some((r) => r.kind === 'flow' && r.proto === 1 && r.src === net.pod('b').ipv4), 'captures through cls_bpf');
    } finally {
      probe.close();
    }
    assert.equal(await tcFilters(ifname), '', 'close() removed the filters');
  });

  test('without root the error says so', async () => {
    const index = path.join(distDir, 'bpf', 'index.js');
    const native = path.join(distDir, 'bpf', 'native.js');
    // The addon checks the object with access(2), which ignores capabilities: hand it a copy nobody may read
    // wherever the checkout is, so what refuses is the kernel, not a file permission.
    const objCopy = path.join(os.tmpdir(), `lookback-nobody-${process.pid}.bpf.o`);
    fs.copyFileSync(path.join(defaultObjectDir(), 'flow.bpf.o'), objCopy);
    fs.chmodSync(objCopy, 0o644);
    const out = await runAsNobody(`
      const { openProbe } = await import(${JSON.stringify(index)});
      const { loadNative } = await import(${JSON.stringify(native)});
      const res = {};
      try { openProbe({}); res.wrapper = 'opened'; } catch (e) { res.wrapper = { code: e.code, message: e.message }; }
      try {
        const N = loadNative();
        new N.Probe({ objects: [{ role: 'flow', path: ${JSON.stringify(objCopy)} }], btfPath: '/sys/kernel/btf/vmlinux',
          ringBytes: 1 << 20, flowCapacity: 1024, config: { activeTimeoutNs: 0, sampleEvery: 1, snapLen: 0, tcpStateMask: 0, payloadPortsTcp: [], payloadPortsUdp: [], dropIgnore: [] } });
        res.kernel = 'opened';
      } catch (e) { res.kernel = { code: e.code, message: e.message }; }
      console.log(JSON.stringify(res));
    `);
    fs.rmSync(objCopy, { force: true });
    const res = JSON.parse(out) as { wrapper: { code: string; message: string }; kernel: { code: string; message: string } };
    assert.equal(res.wrapper.code, 'permission');
    assert.match(res.wrapper.message, /needs root.*uid 65534/);
    // The kernel's own refusal (no pre-check) is reported the same way.
    assert.equal(res.kernel.code, 'permission', res.kernel.message);
    assert.match(res.kernel.message, /needs root.*uid 65534/);
  });

  test('without BTF the error says so', () => {
    assert.throws(() => openProbe({ btfPath: '/nonexistent/btf/vmlinux' }), (err: unknown) => {
      assert.ok(isLookbackError(err));
      assert.equal(err.code, 'missing_dependency');
      assert.match(err.message, /BTF type information was not found at \/nonexistent\/btf\/vmlinux.*CONFIG_DEBUG_INFO_BTF/);
      return true;
    });
    // The addon checks too (a caller that bypasses the wrapper).
    const N = loadNative();
    assert.throws(() => new N.Probe({
      objects: [{ role: 'flow', path: path.join(defaultObjectDir(), 'flow.bpf.o') }], btfPath: '/nonexistent/btf/vmlinux', ringBytes: 1 << 20, flowCapacity: 1024,
      config: { activeTimeoutNs: 0, sampleEvery: 1, snapLen: 0, tcpStateMask: 0, payloadPortsTcp: [], payloadPortsUdp: [], dropIgnore: [] },
    }), /CONFIG_DEBUG_INFO_BTF/);
  });

  test('an unknown interface is a not_found error naming it', () => {
    const probe = openProbe({ drops: { enabled: false }, tcp: { enabled: false }, sweepIntervalMs: 0 });
    try {
      assert.throws(() => probe.attach('lbnope0'), (err: unknown) => {
        assert.ok(isLookbackError(err));
        assert.equal(err.code, 'not_found');
        assert.match(err.message, /network interface 'lbnope0' was not found/);
        return true;
      });
    } finally {
      probe.close();
    }
  });

  test('a program the verifier rejects is reported with the end of the verifier log', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-reject-'));
    try {
      fs.symlinkSync(path.join(defaultObjectDir(), 'flow-reject.bpf.o'), path.join(dir, 'flow.bpf.o'));
      assert.throws(() => openProbe({ objectDir: dir, drops: { enabled: false }, tcp: { enabled: false } }).close(), (err: unknown) => {
        assert.ok(isLookbackError(err));
        assert.match(err.message, /the kernel's verifier rejected the BPF program 'lb_tc_(ingress|egress)' in flow\.bpf\.o/);
        assert.match(err.message, /map_value_or_null/, 'quotes the verifier');
        return true;
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing BPF object says how to build it', () => {
    assert.throws(() => openProbe({ objectDir: '/nonexistent/objs' }), /flow\.bpf\.o is missing: build it with `bash scripts\/setup-bpf\.sh`/);
  });

  test('bad configuration names the key and what is allowed', () => {
    assert.throws(() => openProbe({ ringBytes: 5000 }), /ringBytes = 5000 is not allowed: a power of two/);
    assert.throws(() => openProbe({ drops: { ignoreReasons: ['NOT_A_REASON'] } }), /drops\.ignoreReasons has "NOT_A_REASON", which this kernel does not know; known reasons: .*NETFILTER_DROP/);
  });

  test('active timeout exports a long flow; the idle sweep ends it with final counters', async () => {
    const a = net.pod('a');
    const b = net.pod('b');
    const records: ProbeRecord[] = [];
    const probe = openProbe({ activeTimeoutMs: 300, idleTimeoutMs: 400, sweepIntervalMs: 100, drops: { enabled: false }, tcp: { enabled: false } });
    try {
      probe.onBatch((batch) => { records.push(...batch); });
      probe.attach(a.hostIf);
      await a.run('ping', ['-c', '10', '-i', '0.1', b.ipv4]);
      await sleep(800);
      probe.flush();
      const mine = records.filter((r): r is FlowRecord => r.kind === 'flow' && r.proto === 1 && r.src === a.ipv4 && r.dst === b.ipv4);
      assert.ok(mine.filter((r) => r.events & FLOW_EVENTS.active).length >= 2, 'periodic exports while the ping runs');
      const ends = mine.filter((r) => r.events & FLOW_EVENTS.endIdle);
      assert.equal(ends.length, 1, 'ended once by the sweep');
      assert.deepEqual([ends[0]!.packetsOrig, ends[0]!.packetsReply], [10, 10]);
    } finally {
      probe.close();
    }
  });

  test('a full flow table is reported as an overflow record; sampling keeps a fraction of flows', async () => {
    const a = net.pod('a');
    const b = net.pod('b');
    // 300 UDP flows: each new socket gets a new source port.
    const burst = `import socket\nfor _ in range(300):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('${b.ipv4}', 5000))\n    s.close()\n`;
    const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

    const records: ProbeRecord[] = [];
    const probe = openProbe({ flowTableSize: 64, sweepIntervalMs: 0, drops: { enabled: false }, tcp: { enabled: false } });
    try {
      probe.onBatch((batch) => { records.push(...batch); });
      probe.attach(a.hostIf, ['ingress']);
      await a.run(py, ['-c', burst]);
      await sleep(50);
      probe.flush();
      const overflow = records.filter((r): r is OverflowRecord => r.kind === 'overflow');
      assert.ok(overflow.length >= 1, 'an overflow record');
      assert.equal(overflow[0]!.capacity, 64);
      assert.ok(overflow[0]!.liveEstimate > 64);
    } finally {
      probe.close();
    }

    const sampled = openProbe({ sampleEvery: 4, sweepIntervalMs: 0, drops: { enabled: false }, tcp: { enabled: false } });
    try {
      sampled.attach(a.hostIf, ['ingress']);
      await a.run(py, ['-c', burst]);
      const k = sampled.stats().kernel;
      const created = k['flowsCreated']!;
      assert.ok(created > 20 && created < 150, `about a quarter of 300 flows kept, got ${created}`);
      assert.ok(k['sampledOut']! > 0);
    } finally {
      sampled.close();
    }
  });
});

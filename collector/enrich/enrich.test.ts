import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createInventorySource, readInventoryFile } from './inventory.js';
import { createEndpointStore, HOST, REMOTE_NODE, WORLD } from './store.js';
import { workloadsOf } from './workloads.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const example = fileURLToPath(new URL('../../../collector/inventory.example.yaml', import.meta.url));

describe('endpoint store', () => {
  test("endpoints in Cilium's form, shared and frozen; reserved identities; services by frontend and backend", () => {
    const s = createEndpointStore({ nodeName: 'n1', cluster: 'c1', hostIps: ['192.168.0.1'] });
    s.upsertNamespace({ name: 'shop', labels: { team: 'web' } });
    s.upsertNode({ name: 'n2', ips: ['192.168.0.2'], labels: {} });
    s.upsertPod({ namespace: 'shop', name: 'web-1', ips: ['10.0.0.1', 'fd00::1'], labels: { app: 'web', 'pod-template-hash': 'abc' }, node: 'n1', serviceAccount: 'web', workloads: [{ name: 'web', kind: 'Deployment' }] });
    s.upsertPod({ namespace: 'shop', name: 'web-2', ips: ['10.0.0.2'], labels: { app: 'web', 'pod-template-hash': 'def' }, node: 'n2', serviceAccount: 'web', workloads: [] });
    const e = s.endpoint('10.0.0.1');
    assert.equal(e, s.endpoint('fd00::1'), 'one object per pod');
    assert.ok(Object.isFrozen(e) && Object.isFrozen(e.labels));
    assert.deepEqual(e.labels, [
      'k8s:app=web',
      'k8s:io.cilium.k8s.namespace.labels.team=web',
      'k8s:io.cilium.k8s.policy.cluster=c1',
      'k8s:io.cilium.k8s.policy.serviceaccount=web',
      'k8s:io.kubernetes.pod.namespace=shop',
    ]);
    assert.equal(e.cluster_name, 'c1');
    assert.equal(e.identity, s.endpoint('10.0.0.2').identity, 'same labels, same identity (pod-template-hash is not one)');
    assert.ok(e.identity >= 256);
    assert.equal(s.isLocal('10.0.0.1'), true);
    assert.equal(s.isLocal('10.0.0.2'), false);
    assert.equal(s.endpoint('192.168.0.1'), HOST);
    assert.equal(s.endpoint('192.168.0.2'), REMOTE_NODE);
    assert.equal(s.endpoint('8.8.8.8'), WORLD);

    s.upsertService({ namespace: 'shop', name: 'web', ips: ['10.96.0.1'], ports: [{ port: 80, proto: 6, targetPort: 8080 }], selector: { app: 'web' } });
    s.upsertEndpointSlice({ namespace: 'shop', name: 'api-xyz', service: 'api', addresses: ['10.0.0.9'], ports: [{ port: 9000, proto: 6 }] });
    assert.deepEqual(s.service('10.96.0.1', 80, 6), { name: 'web', namespace: 'shop' });
    assert.deepEqual(s.service('10.0.0.2', 8080, 6), { name: 'web', namespace: 'shop' });
    assert.equal(s.service('10.0.0.2', 80, 6), null);
    assert.equal(s.service('10.96.0.1', 80, 17), null);
    assert.deepEqual(s.service('10.0.0.9', 9000, 6), { name: 'api', namespace: 'shop' });

    // Namespace labels change: the pod's endpoint is rebuilt.
    s.upsertNamespace({ name: 'shop', labels: { team: 'platform' } });
    assert.ok(s.endpoint('10.0.0.1').labels.includes('k8s:io.cilium.k8s.namespace.labels.team=platform'));

    const deleted: string[] = [];
    s.onPodDeleted((ns, name) => deleted.push(`${ns}/${name}`));
    s.deletePod('shop', 'web-1');
    assert.equal(s.endpoint('10.0.0.1'), WORLD);
    assert.deepEqual(deleted, ['shop/web-1']);
    // An address reused by a new pod is not taken away by the old pod's deletion.
    s.upsertPod({ namespace: 'shop', name: 'web-3', ips: ['10.0.0.2'], labels: { app: 'web' }, node: 'n1', workloads: [] });
    s.deletePod('shop', 'web-2');
    assert.equal(s.endpoint('10.0.0.2').pod_name, 'web-3');
    assert.deepEqual(s.namespaces(), [{ cluster: 'c1', namespace: 'shop' }]);
  });

  test('workloads from owner references', () => {
    assert.deepEqual(workloadsOf([{ kind: 'ReplicaSet', name: 'web-7d9c8b6f5', controller: true }], { 'pod-template-hash': '7d9c8b6f5' }), [{ name: 'web', kind: 'Deployment' }]);
    assert.deepEqual(workloadsOf([{ kind: 'Job', name: 'backup-28930120', controller: true }], {}), [{ name: 'backup', kind: 'CronJob' }]);
    assert.deepEqual(workloadsOf([{ kind: 'StatefulSet', name: 'db', controller: true }], {}), [{ name: 'db', kind: 'StatefulSet' }]);
    assert.deepEqual(workloadsOf([], {}), []);
  });
});

describe('inventory source', () => {
  test('the example file validates', () => {
    const inv = readInventoryFile(example, 'default');
    assert.equal(inv.pods.length, 3);
    assert.deepEqual(inv.pods[0]!.workloads, [{ name: 'frontend', kind: 'Deployment' }]);
    assert.equal(inv.pods[0]!.cluster, 'demo');
    assert.equal(inv.services[1]!.ports[0]!.proto, 17);
  });

  test('errors name the bad value', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-inv-'));
    const f = path.join(dir, 'inv.yaml');
    fs.writeFileSync(f, 'pods:\n  - name: a\n    ips: [10.0.0.300]\n');
    assert.throws(() => readInventoryFile(f, 'c'), /pods\[0\]\.ips\[0\] = "10\.0\.0\.300" is not an IPv4 or IPv6 address/);
    fs.writeFileSync(f, 'pod: []\n');
    assert.throws(() => readInventoryFile(f, 'c'), /unknown key pod/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reloaded on change: additions, deletions; a broken version keeps the previous one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-inv-'));
    const f = path.join(dir, 'inv.yaml');
    fs.writeFileSync(f, 'pods:\n  - {namespace: a, name: p1, ips: [10.0.0.1], node: n1, labels: {app: x}}\n  - {namespace: a, name: p2, ips: [10.0.0.2], node: n1}\n');
    const store = createEndpointStore({ nodeName: 'n1', cluster: 'c', hostIps: [] });
    const deleted: string[] = [];
    store.onPodDeleted((ns, n) => deleted.push(`${ns}/${n}`));
    const src = createInventorySource(store, { file: f, cluster: 'c', reloadIntervalMs: 50 });
    await src.start();
    assert.equal(store.endpoint('10.0.0.1').pod_name, 'p1');
    fs.writeFileSync(f, 'pods:\n  - {namespace: a, name: p1, ips: [10.0.0.1], node: n1, labels: {app: y}}\n  - {namespace: a, name: p3, ips: [10.0.0.3], node: n1}\n');
    for (let i = 0; i < 100 && store.endpoint('10.0.0.3').pod_name !== 'p3'; i++) await sleep(20);
    assert.equal(store.endpoint('10.0.0.3').pod_name, 'p3');
    assert.ok(store.endpoint('10.0.0.1').labels.includes('k8s:app=y'));
    assert.equal(store.endpoint('10.0.0.2').pod_name, '');
    assert.deepEqual(deleted, ['a/p2']);
    fs.writeFileSync(f, 'pods: [ {broken\n');
    for (let i = 0; i < 100 && src.stats()['reloadErrors'] === 0; i++) await sleep(20);
    assert.equal(src.stats()['reloadErrors'], 1);
    assert.equal(store.endpoint('10.0.0.3').pod_name, 'p3', 'kept');
    await src.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

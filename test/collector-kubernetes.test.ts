/**
 * The Kubernetes enrichment source against a fake list/watch API server (test/fakes/kube-apiserver.ts): the first
 * list, live watch events (add, update, delete), a watch the server closes (resumed without a relist), an API
 * server outage during which a pod is deleted and the history compacted (reconnect with backoff, 410 Gone,
 * relist, the deletion noticed), and flows enriched from it through the whole collector.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { parseConfig } from '../common/config.js';
import { collectorSpec } from '../collector/config.js';
import { createKubernetesSource } from '../collector/enrich/kubernetes.js';
import { createEndpointStore, WORLD, type EndpointStore } from '../collector/enrich/store.js';
import type { EnrichmentSource } from '../collector/enrich/types.js';
import { createCollector } from '../collector/index.js';
import { createReplaySource } from '../collector/replay-source.js';
import { ProbeSim } from '../collector/testing.js';
import type { Flow } from '../schemas/flow-types.js';
import { k8sObjects as obj, startFakeKubeApiServer, type FakeKubeApiServer } from './fakes/kube-apiserver.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function kubeConfigFor(url: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'not-checked' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'test' }],
    currentContext: 'fake',
  });
  return kc;
}

describe('Kubernetes enrichment (fake API server)', () => {
  let api: FakeKubeApiServer;
  let store: EndpointStore;
  let source: EnrichmentSource;
  const deleted: string[] = [];

  before(async () => {
    api = await startFakeKubeApiServer();
    api.create('namespaces', obj.namespace({ name: 'shop', labels: { team: 'web' } }));
    api.create('nodes', obj.node({ name: 'node-1', ip: '192.168.7.1' }));
    api.create('nodes', obj.node({ name: 'node-2', ip: '192.168.7.2' }));
    api.create('pods', obj.pod({ namespace: 'shop', name: 'web-7d9c8b6f5-aaaaa', ip: '10.7.0.1', node: 'node-1', labels: { app: 'web', 'pod-template-hash': '7d9c8b6f5' }, owner: { kind: 'ReplicaSet', name: 'web-7d9c8b6f5' }, serviceAccount: 'web' }));
    api.create('pods', obj.pod({ namespace: 'shop', name: 'db-0', ip: '10.7.0.2', node: 'node-2', labels: { app: 'db' }, owner: { kind: 'StatefulSet', name: 'db' } }));
    api.create('services', obj.service({ namespace: 'shop', name: 'web', clusterIP: '10.97.0.1', port: 80, targetPort: 8080 }));
    api.create('endpointslices', obj.endpointSlice({ namespace: 'shop', name: 'web-abc', service: 'web', addresses: ['10.7.0.1'], port: 8080 }));
    store = createEndpointStore({ nodeName: 'node-1', cluster: 'k1', hostIps: [] });
    store.onPodDeleted((ns, name) => deleted.push(`${ns}/${name}`));
    source = createKubernetesSource(store, { kubeConfig: kubeConfigFor(api.url), reconnectBackoffMs: 100, maxBackoffMs: 400, initialSyncTimeoutMs: 10_000 });
    await source.start();
  });

  after(async () => {
    await source?.stop();
    await api?.close();
  });

  test('the first list: pods with workloads from owner references, services by address and by backend, nodes', () => {
    const web = store.endpoint('10.7.0.1');
    assert.equal(web.pod_name, 'web-7d9c8b6f5-aaaaa');
    assert.equal(web.namespace, 'shop');
    assert.equal(web.cluster_name, 'k1');
    assert.deepEqual(web.workloads, [{ name: 'web', kind: 'Deployment' }]);
    assert.ok(web.labels.includes('k8s:app=web'));
    assert.ok(web.labels.includes('k8s:io.cilium.k8s.namespace.labels.team=web'));
    assert.ok(web.labels.includes('k8s:io.cilium.k8s.policy.serviceaccount=web'));
    assert.deepEqual(store.endpoint('10.7.0.2').workloads, [{ name: 'db', kind: 'StatefulSet' }]);
    assert.equal(store.isLocal('10.7.0.1'), true);
    assert.equal(store.isLocal('10.7.0.2'), false);
    assert.deepEqual(store.service('10.97.0.1', 80, 6), { name: 'web', namespace: 'shop' });
    assert.deepEqual(store.service('10.7.0.1', 8080, 6), { name: 'web', namespace: 'shop' });
    assert.deepEqual(store.endpoint('192.168.7.2').labels, ['reserved:remote-node']);
    assert.equal(api.stats.lists.pods, 1);
  });

  test('watch events: a new pod, a label change, a deletion (its series would expire)', async () => {
    api.create('pods', obj.pod({ namespace: 'shop', name: 'cart-1', ip: '10.7.0.3', node: 'node-1', labels: { app: 'cart' } }));
    await until('the new pod', () => store.endpoint('10.7.0.3').pod_name === 'cart-1');
    api.update('pods', obj.pod({ namespace: 'shop', name: 'cart-1', ip: '10.7.0.3', node: 'node-1', labels: { app: 'cart', tier: 'backend' } }));
    await until('the label change', () => store.endpoint('10.7.0.3').labels.includes('k8s:tier=backend'));
    api.remove('pods', 'shop', 'cart-1');
    await until('the deletion', () => store.endpoint('10.7.0.3') === WORLD);
    assert.deepEqual(deleted, ['shop/cart-1']);
    // A finished pod gives up its address.
    api.create('pods', obj.pod({ namespace: 'shop', name: 'job-1', ip: '10.7.0.4', node: 'node-1' }));
    await until('the job pod', () => store.endpoint('10.7.0.4').pod_name === 'job-1');
    api.update('pods', obj.pod({ namespace: 'shop', name: 'job-1', ip: '10.7.0.4', node: 'node-1', phase: 'Succeeded' }));
    await until('the finished pod', () => store.endpoint('10.7.0.4') === WORLD);
  });

  test('a watch closed by the server resumes where it was, without listing again', async () => {
    const lists = api.stats.lists.pods;
    const watches = api.stats.watches.pods;
    api.closeWatches();
    await until('a new pod watch', () => api.stats.watches.pods > watches && api.openWatches('pods') === 1);
    api.create('pods', obj.pod({ namespace: 'shop', name: 'cart-2', ip: '10.7.0.5', node: 'node-1' }));
    await until('the pod after the resume', () => store.endpoint('10.7.0.5').pod_name === 'cart-2');
    assert.equal(api.stats.lists.pods, lists, 'resumed from its resourceVersion');
  });

  test('an outage with a deletion and compacted history: reconnect, 410 Gone, relist, the deletion is seen', async () => {
    const lists = api.stats.lists.pods;
    const errors = source.stats()['errors']!;
    await api.pause();
    api.remove('pods', 'shop', 'db-0');
    api.create('pods', obj.pod({ namespace: 'shop', name: 'db-1', ip: '10.7.0.6', node: 'node-2', labels: { app: 'db' } }));
    api.compact();
    await until('watch errors while the API server is down', () => source.stats()['errors']! > errors);
    await sleep(300);
    await api.resume();
    await until('the relist', () => api.stats.lists.pods > lists, 15_000);
    await until('the deletion found by the relist', () => store.endpoint('10.7.0.2') === WORLD);
    await until('the pod created during the outage', () => store.endpoint('10.7.0.6').pod_name === 'db-1');
    assert.ok(api.stats.expired >= 1, 'the old resourceVersion was refused with 410');
    assert.ok(deleted.includes('shop/db-0'));
    assert.ok(source.stats()['restarts']! >= 1);
    // And it keeps watching afterwards.
    api.create('pods', obj.pod({ namespace: 'shop', name: 'late', ip: '10.7.0.7', node: 'node-1' }));
    await until('a pod after recovery', () => store.endpoint('10.7.0.7').pod_name === 'late');
  });

  test('flows through the collector are enriched from the watch', async () => {
    const sim = new ProbeSim();
    const c = sim.tcp({ ip: '10.7.0.1', port: 41000, ifindex: 31 }, { ip: '10.97.0.1', port: 80 });
    c.send('client', { flags: 0x02 });
    const replay = createReplaySource({ batches: [sim.take()], interfaces: { 31: 'lxc-web' }, bootTimeMs: sim.bootTimeMs });
    const cfg = parseConfig(collectorSpec, {
      node: { name: 'node-1', cluster: 'k1' },
      enrichment: { source: 'kubernetes', reconnectBackoff: '100ms' },
      kafka: { enabled: false }, observer: { enabled: false }, metrics: { enabled: false },
    });
    const collector = createCollector(cfg, { source: replay, kubeConfig: kubeConfigFor(api.url) });
    await collector.start();
    await replay.done;
    const flows: Flow[] = [];
    for (let s = collector.ring.oldest; s < collector.ring.next; s++) {
      const r = collector.ring.read(s);
      if (r && 'entry' in r && r.entry.kind === 'flow') flows.push(r.entry.flow);
    }
    await collector.stop();
    assert.equal(flows.length, 1);
    assert.equal(flows[0]!.source.pod_name, 'web-7d9c8b6f5-aaaaa');
    assert.deepEqual({ ...flows[0]!.destination_service }, { name: 'web', namespace: 'shop' }); // the ring's flows are decoded records (avsc classes)
  });
});

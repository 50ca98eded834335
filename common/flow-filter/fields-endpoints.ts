/**
 * FlowFilter fields about the two ends of a flow: addresses, pods, services, workloads, identities, clusters,
 * DNS names and labels. Each builder reads one field pair, validates it once and returns conditions carrying both
 * back-ends side by side.
 */
import type { Endpoint, Flow } from '../../schemas/flow-types.js';
import { flowAddress, inRange, ipv6Text, parseAddressOrPrefix, type AddressRange } from './ip.js';
import { parseLabelSelector } from './label-selector.js';
import { invalidFilter, shown } from './limits.js';
import { compileFqdnPatterns } from './patterns.js';
import { IP_PRESENT, XLATED_PRESENT } from './row-sql.js';
import type { Condition, FlowFilter, WorkloadFilter } from './types.js';
import { objects, strings, uint32s, type BuildContext } from './values.js';

type Side = 'source' | 'destination';

function ipOf(flow: Flow): Flow['ip'] {
  return flow.ip !== null && flow.ip.ip_version !== 'IP_NOT_USED' ? flow.ip : null;
}

const MAPPED_LO = '::ffff:0.0.0.0';
const MAPPED_HI = '::ffff:255.255.255.255';

function addressCondition(values: string[], where: string, column: string, present: string, get: (f: Flow) => Buffer | null | undefined): Condition {
  const ranges: AddressRange[] = values.map((v, i) => {
    const r = parseAddressOrPrefix(v);
    if (!r) throw invalidFilter(`${where}[${i}]`, `${shown(v)} is not an IP address or CIDR prefix`);
    return r;
  });
  return {
    match(flow) {
      const addr = flowAddress(get(flow));
      return addr !== null && ranges.some((r) => inRange(r, addr));
    },
    sql(p) {
      const exact = ranges.filter((r) => r.lo.equals(r.hi)).map((r) => ipv6Text(r.lo));
      const parts: string[] = [];
      if (exact.length > 0) parts.push(`${column} IN ${p.add(exact, 'Array(IPv6)')}`);
      for (const r of ranges.filter((x) => !x.lo.equals(x.hi))) {
        const between = `${column} BETWEEN ${p.add(ipv6Text(r.lo), 'IPv6')} AND ${p.add(ipv6Text(r.hi), 'IPv6')}`;
        parts.push(r.family === 6 ? `(${between} AND NOT (${column} BETWEEN toIPv6('${MAPPED_LO}') AND toIPv6('${MAPPED_HI}')))` : `(${between})`);
      }
      return `(${present} AND (${parts.join(' OR ')}))`;
    },
  };
}

interface NameFilter { ns: string; prefix: string }

/** Hubble's ParseNamespaceName: `ns/prefix`, `ns/`, `/prefix` (any namespace), and `prefix` meaning `default/prefix`. */
function parseNamespacedNames(values: string[], where: string): NameFilter[] {
  return values.map((v, i) => {
    if (v === '') throw invalidFilter(`${where}[${i}]`, 'a name must not be empty (use "namespace/" for a whole namespace)');
    const parts = v.split('/');
    return parts.length > 1 ? { ns: parts[0]!, prefix: parts[1]! } : { ns: 'default', prefix: parts[0]! };
  });
}

function namespacedCondition(filters: NameFilter[], nsColumn: string, nameColumn: string, get: (f: Flow) => { ns: string; name: string }): Condition {
  return {
    match(flow) {
      const { ns, name } = get(flow);
      if (ns === '' && name === '') return false;
      return filters.some((f) => (f.prefix === '' || name.startsWith(f.prefix)) && (f.ns === '' || f.ns === ns));
    },
    sql(p) {
      const alternatives = filters.map((f) => {
        const conds: string[] = [];
        if (f.prefix !== '') conds.push(`startsWith(${nameColumn}, ${p.add(f.prefix, 'String')})`);
        if (f.ns !== '') conds.push(`${nsColumn} = ${p.add(f.ns, 'String')}`);
        return conds.length > 0 ? `(${conds.join(' AND ')})` : '1';
      });
      return `((${nsColumn} != '' OR ${nameColumn} != '') AND (${alternatives.join(' OR ')}))`;
    },
  };
}

function workloadCondition(filters: WorkloadFilter[], where: string, side: Side): Condition {
  const wf = filters.map((w, i) => {
    const name = w.name ?? '';
    const kind = w.kind ?? '';
    if (typeof name !== 'string' || typeof kind !== 'string') throw invalidFilter(`${where}[${i}]`, 'name and kind must be strings');
    return { name, kind };
  });
  return {
    match(flow) {
      return flow[side].workloads.some((w) => wf.some((f) => (f.name === '' || f.name === w.name) && (f.kind === '' || f.kind === w.kind)));
    },
    sql(p) {
      const alternatives = wf.map((f) => {
        const conds: string[] = [];
        if (f.name !== '') conds.push(`n = ${p.add(f.name, 'String')}`);
        if (f.kind !== '') conds.push(`k = ${p.add(f.kind, 'String')}`);
        return conds.length > 0 ? `(${conds.join(' AND ')})` : '1';
      });
      return `arrayExists((n, k) -> ${alternatives.join(' OR ')}, ${side}_workload_names, ${side}_workload_kinds)`;
    },
  };
}

export function endpointConditions(ff: FlowFilter, where: string, ctx: BuildContext): Condition[] {
  const out: Condition[] = [];
  const at = (field: string): string => `${where}.${field}`;

  for (const side of ['source', 'destination'] as const) {
    const ips = strings(ff, `${side}_ip`, where, ctx);
    if (ips) out.push(addressCondition(ips, at(`${side}_ip`), `ip_${side}`, IP_PRESENT, (f) => ipOf(f)?.[side]));
  }
  const xlated = strings(ff, 'source_ip_xlated', where, ctx);
  if (xlated) {
    out.push(addressCondition(xlated, at('source_ip_xlated'), 'ip_source_xlated', `${IP_PRESENT} AND ${XLATED_PRESENT}`, (f) => ipOf(f)?.source_xlated));
  }

  for (const side of ['source', 'destination'] as const) {
    const pods = strings(ff, `${side}_pod`, where, ctx);
    if (pods) {
      const names = parseNamespacedNames(pods, at(`${side}_pod`));
      out.push(namespacedCondition(names, `${side}_namespace`, `${side}_pod`, (f) => ({ ns: f[side].namespace, name: f[side].pod_name })));
    }
  }

  for (const side of ['source', 'destination'] as const) {
    const workloads = objects<WorkloadFilter>(ff, `${side}_workload`, where, ctx);
    if (workloads) out.push(workloadCondition(workloads, at(`${side}_workload`), side));
  }

  for (const side of ['source', 'destination'] as const) {
    const services = strings(ff, `${side}_service`, where, ctx);
    if (services) {
      const names = parseNamespacedNames(services, at(`${side}_service`));
      const key = side === 'source' ? 'source_service' : 'destination_service';
      out.push(namespacedCondition(names, `${side}_service_namespace`, `${side}_service_name`, (f) => ({ ns: f[key]?.namespace ?? '', name: f[key]?.name ?? '' })));
    }
  }

  for (const side of ['source', 'destination'] as const) {
    const fqdns = strings(ff, `${side}_fqdn`, where, ctx);
    if (fqdns) {
      const re = compileFqdnPatterns(fqdns, at(`${side}_fqdn`), ctx.limits);
      const names = side === 'source' ? 'source_names' : 'destination_names';
      out.push({
        match: (f) => f[names].some((n) => re.test(n)),
        sql: (p) => `arrayExists(n -> match(n, ${p.add(re.sqlPattern, 'String')}), ${names})`,
      });
    }
  }

  for (const side of ['source', 'destination'] as const) {
    const selectors = strings(ff, `${side}_label`, where, ctx);
    if (selectors) out.push(labelCondition(selectors, at(`${side}_label`), `${side}_labels`, (f) => f[side].labels));
  }
  const nodeLabels = strings(ff, 'node_labels', where, ctx);
  if (nodeLabels) out.push(labelCondition(nodeLabels, at('node_labels'), 'node_labels', (f) => f.node_labels));

  for (const side of ['source', 'destination'] as const) {
    const ids = uint32s(ff, `${side}_identity`, where, ctx);
    if (ids) {
      const set = new Set(ids);
      out.push({ match: (f) => set.has(f[side].identity), sql: (p) => `${side}_identity IN ${p.add(ids, 'Array(UInt32)')}` });
    }
  }

  for (const side of ['source', 'destination'] as const) {
    const clusters = strings(ff, `${side}_cluster_name`, where, ctx);
    if (clusters) {
      if (clusters.includes('')) throw invalidFilter(at(`${side}_cluster_name`), 'a cluster name must not be empty');
      const set = new Set(clusters);
      const ep = (f: Flow): Endpoint => f[side];
      out.push({ match: (f) => set.has(ep(f).cluster_name), sql: (p) => `${side}_cluster IN ${p.add(clusters, 'Array(String)')}` });
    }
  }
  return out;
}

function labelCondition(selectors: string[], where: string, column: string, get: (f: Flow) => readonly string[]): Condition {
  const parsed = selectors.map((s, i) => parseLabelSelector(s, `${where}[${i}]`));
  return {
    match: (f) => {
      const labels = get(f);
      return parsed.some((s) => s.match(labels));
    },
    sql: (p) => `(${parsed.map((s) => `(${s.sql(column, p)})`).join(' OR ')})`,
  };
}

/**
 * @layer usecase
 * What the root admin's dashboard of CloudStack's UI lists, derived from the state:
 * listCapacity (memory, CPU and primary storage per zone, from the running VMs' offerings, the
 * hosts and the pools), listPods and listClusters (from the hosts' pod and cluster ids),
 * listSystemVms (a secondary storage VM and a console proxy per zone), listRouters and
 * listAlerts (none), and listEvents (sign-ins and sign-outs, scoped like every list).
 */
import { listScope } from '../access.ts';
import type { SimState } from '../state.ts';
import type { View } from '../views.ts';
import { ADMIN, ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, type CommandDef } from './command.ts';

const zoneName = (s: SimState, id: string) => s.zones.find((z) => z.id === id)?.name;
/** a stable id derived from another (the simulator keeps no pods, clusters or system VMs of its own) */
const derivedId = (base: string, n: number) => `${base.slice(0, 24)}${String(n).padStart(12, '0')}`;

function capacities(s: SimState, zoneId: string): View[] {
  const hosts = s.hosts.filter((h) => h.zoneId === zoneId);
  const running = s.vms.filter((v) => v.zoneId === zoneId && v.state === 'Running');
  const offering = (id: string) => s.serviceOfferings.find((o) => o.id === id);
  const memTotal = hosts.length * 8 * 2 ** 30;
  const memUsed = running.reduce((n, v) => n + (offering(v.serviceOfferingId)?.memory ?? 0) * 2 ** 20, 0);
  const cpuTotal = hosts.length * 2 * 2000;
  const cpuUsed = running.reduce((n, v) => n + (offering(v.serviceOfferingId)?.cpuNumber ?? 0) * (offering(v.serviceOfferingId)?.cpuSpeed ?? 0), 0);
  const pools = s.storagePools.filter((p) => p.zoneId === zoneId);
  const stTotal = pools.reduce((n, p) => n + p.capacityBytes, 0);
  const stUsed = s.volumes.filter((v) => pools.some((p) => p.id === v.poolId)).reduce((n, v) => n + (v.physicalSize ?? v.size), 0);
  const one = (type: number, name: string, used: number, total: number): View => ({
    type, name, zoneid: zoneId, zonename: zoneName(s, zoneId), capacityused: used, capacitytotal: total,
    capacityallocated: used, percentused: total ? (100 * used / total).toFixed(2) : '0',
  });
  return [one(0, 'MEMORY', memUsed, memTotal), one(1, 'CPU', cpuUsed, cpuTotal), one(2, 'STORAGE', stUsed, stTotal), one(3, 'STORAGE_ALLOCATED', stUsed, stTotal * 2)];
}

export const dashboardCommands: Record<string, CommandDef> = {
  listCapacity: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, zoneid: { type: 'uuid' }, type: { type: 'integer' }, fetchlatest: { type: 'boolean' }, sortby: { type: 'string' } },
    run({ rt, args }) {
      const zones = rt.state.zones.filter((z) => args.zoneid === undefined || z.id === args.zoneid);
      const items = zones.flatMap((z) => capacities(rt.state, z.id)).filter((c) => args.type === undefined || c.type === args.type);
      return listReply('capacity', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listPods: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, zoneid: { type: 'uuid' } },
    run({ rt, args }) {
      const seen = new Map<string, View>();
      for (const h of rt.state.hosts) {
        if (!seen.has(h.podId)) {
          seen.set(h.podId, {
            id: h.podId, name: `pod${seen.size + 1}`, zoneid: h.zoneId, zonename: zoneName(rt.state, h.zoneId), gateway: '10.0.0.1', netmask: '255.255.255.0',
            startip: ['10.0.0.10'], endip: ['10.0.0.200'], allocationstate: 'Enabled', hasannotations: false,
          });
        }
      }
      const items = [...seen.values()].filter((p) => matches(args, { id: p.id, name: p.name, zoneid: p.zoneid }));
      return listReply('pod', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listClusters: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, zoneid: { type: 'uuid' }, podid: { type: 'uuid' }, hypervisor: { type: 'string' } },
    run({ rt, args }) {
      const seen = new Map<string, View>();
      for (const h of rt.state.hosts) {
        if (!seen.has(h.clusterId)) {
          seen.set(h.clusterId, {
            id: h.clusterId, name: `cluster${seen.size + 1}`, podid: h.podId, podname: 'pod1', zoneid: h.zoneId, zonename: zoneName(rt.state, h.zoneId),
            hypervisortype: 'KVM', clustertype: 'CloudManaged', allocationstate: 'Enabled', managedstate: 'Managed', cpuovercommitratio: '1', memoryovercommitratio: '1',
          });
        }
      }
      const items = [...seen.values()].filter((c) => matches(args, { id: c.id, name: c.name, zoneid: c.zoneid, podid: c.podid }));
      return listReply('cluster', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listSystemVms: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, zoneid: { type: 'uuid' }, systemvmtype: { type: 'string' }, state: { type: 'string' } },
    run({ rt, args }) {
      const items = rt.state.zones.flatMap((z, i) => {
        const host = rt.state.hosts.find((h) => h.zoneId === z.id);
        return (['secondarystoragevm', 'consoleproxy'] as const).map((type, k) => ({
          id: derivedId(z.id, 1000 + 2 * i + k), name: `${type === 'consoleproxy' ? 'v' : 's'}-${2 * i + k + 1}-VM`, systemvmtype: type, state: 'Running', agentstate: 'Up',
          zoneid: z.id, zonename: z.name, ...(host ? { hostid: host.id, hostname: host.name, podid: host.podId } : {}), hypervisor: 'KVM', created: '2024-01-01T00:00:00+0000',
        }));
      }).filter((v) => matches(args, { id: v.id, zoneid: v.zoneid, systemvmtype: v.systemvmtype, state: v.state }));
      return listReply('systemvm', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listRouters: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, zoneid: { type: 'uuid' }, state: { type: 'string' }, version: { type: 'string' } },
    run({ rt, args }) {
      return listReply('router', [], args, rt.state.settings.defaultPageSize);
    },
  },

  listAlerts: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, type: { type: 'string' }, name: { type: 'string' } },
    run({ rt, args }) {
      return listReply('alert', [], args, rt.state.settings.defaultPageSize);
    },
  },

  listEvents: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, type: { type: 'string' }, level: { type: 'string' }, startdate: { type: 'string' }, enddate: { type: 'string' } },
    run({ rt, caller, args }) {
      const inScope = listScope(rt.state, caller, args);
      const items = rt.events
        .filter((e) => inScope(e.accountId) && matches(args, { id: e.id, type: e.type }))
        .slice().reverse()
        .map((e) => {
          const a = rt.state.accounts.find((x) => x.id === e.accountId);
          const u = rt.state.users.find((x) => x.id === e.userId);
          return {
            id: e.id, username: u?.username, type: e.type, level: 'INFO', description: e.description, account: a?.name, domainid: a?.domainId,
            domain: rt.state.domains.find((d) => d.id === a?.domainId)?.name, created: rt.date(e.created), state: 'Completed', parentid: null,
          };
        });
      return listReply('event', items, args, rt.state.settings.defaultPageSize);
    },
  },
};

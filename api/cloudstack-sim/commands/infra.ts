/**
 * @layer usecase
 * Infrastructure and identity listings: zones, KVM hosts and storage pools (root admin only),
 * service offerings, templates, capabilities, domains and accounts.
 */
import { apiErrors } from '../api-error.ts';
import { canAccessDomain, inDomainTree, listScope } from '../access.ts';
import { accountView, domainView, hostView, poolView, zoneView } from '../views.ts';
import { ADMIN, ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, matchesKeyword, type CommandDef } from './command.ts';

export const infraCommands: Record<string, CommandDef> = {
  listZones: {
    roles: ALL,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, available: { type: 'boolean' } },
    run({ rt, caller, args }) {
      const items = rt.state.zones
        .filter((z) => matches(args, { id: z.id, name: z.name }) && matchesKeyword(args, z.name))
        .map((z) => zoneView(z, caller));
      return listReply('zone', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listHosts: {
    roles: ADMIN,
    params: {
      ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, type: { type: 'string' }, zoneid: { type: 'uuid' },
      clusterid: { type: 'uuid' }, podid: { type: 'uuid' }, hypervisor: { type: 'string' }, state: { type: 'string' }, resourcestate: { type: 'string' },
    },
    run({ rt, args }) {
      if (args.id !== undefined) rt.find(rt.state.hosts, args.id, 'listHosts', 'id');
      const items = rt.state.hosts
        .filter((h) => matches(args, { id: h.id, name: h.name, zoneid: h.zoneId, clusterid: h.clusterId, podid: h.podId, state: h.state, resourcestate: h.resourceState }))
        .filter((h) => (args.type === undefined || args.type === 'Routing') && (args.hypervisor === undefined || String(args.hypervisor).toUpperCase() === 'KVM'))
        .filter((h) => matchesKeyword(args, h.name))
        .map((h) => hostView(rt.state, h));
      return listReply('host', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listStoragePools: {
    roles: ADMIN,
    params: {
      ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, zoneid: { type: 'uuid' }, clusterid: { type: 'uuid' },
      path: { type: 'string' }, ipaddress: { type: 'string' }, scope: { type: 'string' }, status: { type: 'string' },
    },
    run({ rt, args }) {
      if (args.id !== undefined) rt.find(rt.state.storagePools, args.id, 'listStoragePools', 'id');
      const items = rt.state.storagePools
        .filter((p) => matches(args, { id: p.id, name: p.name, zoneid: p.zoneId, path: p.path, ipaddress: p.ipaddress, scope: p.scope }))
        .filter((p) => args.clusterid === undefined || p.clusterId === undefined || p.clusterId === args.clusterid)
        .filter((p) => matchesKeyword(args, p.name))
        .map((p) => poolView(rt.state, p));
      return listReply('storagepool', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listServiceOfferings: {
    roles: ALL,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' } },
    run({ rt, args }) {
      const items = rt.state.serviceOfferings
        .filter((o) => matches(args, { id: o.id, name: o.name }) && matchesKeyword(args, o.name))
        .map((o) => ({
          id: o.id, name: o.name, displaytext: o.name, cpunumber: o.cpuNumber, cpuspeed: o.cpuSpeed, memory: o.memory,
          created: '2024-01-01T00:00:00+0000', storagetype: 'shared', offerha: false, limitcpuuse: false, isvolatile: false,
          issystem: false, defaultuse: false, iscustomized: false, hasannotations: false,
        }));
      return listReply('serviceoffering', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listTemplates: {
    roles: ALL,
    params: { ...LIST_PARAMS, templatefilter: { type: 'string', required: true }, id: { type: 'uuid' }, name: { type: 'string' }, zoneid: { type: 'uuid' } },
    run({ rt, args }) {
      const filters = ['featured', 'self', 'selfexecutable', 'sharedexecutable', 'executable', 'community', 'all'];
      if (!filters.includes(String(args.templatefilter))) {
        throw apiErrors.invalidParameter(`Invalid template filter value ${args.templatefilter}, valid values are ${filters.join(', ')}`);
      }
      const zone = rt.state.zones[0];
      const items = rt.state.templates
        .filter((t) => matches(args, { id: t.id, name: t.name }) && matchesKeyword(args, t.name))
        .map((t) => ({
          id: t.id, name: t.name, displaytext: t.name, ispublic: true, isready: true, isfeatured: true, format: 'QCOW2',
          hypervisor: 'KVM', ostypename: t.osTypeName, zoneid: zone?.id, zonename: zone?.name, templatetype: 'USER',
          account: 'system', domain: 'ROOT', created: '2024-01-01T00:00:00+0000', passwordenabled: false, tags: [],
        }));
      return listReply('template', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listCapabilities: {
    roles: ALL,
    params: {},
    run({ rt }) {
      return {
        kind: 'object', objectName: 'capability', body: {
          securitygroupsenabled: false, dynamicrolesenabled: true, cloudstackversion: rt.state.settings.cloudstackVersion,
          userpublictemplateenabled: true, supportELB: 'false', projectinviterequired: false, allowusercreateprojects: true,
          customdiskofferingminsize: 1, customdiskofferingmaxsize: 1024, regionsecondaryenabled: false, kvmsnapshotenabled: false,
          allowuserviewdestroyedvm: false, allowuserexpungerecovervm: false, allowuserexpungerecovervolume: true,
          allowuserviewalldomainaccounts: false, kubernetesserviceenabled: false, kubernetesclusterexperimentalfeaturesenabled: false,
          defaultuipagesize: 20, apilimitinterval: 1, apilimitmax: 1000,
        },
      };
    },
  },

  listDomains: {
    roles: ALL,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, listall: { type: 'boolean' } },
    run({ rt, caller, args }) {
      if (args.id !== undefined) {
        const d = rt.find(rt.state.domains, args.id, 'listDomains', 'id');
        if (!canAccessDomain(rt.state, caller, d.id)) throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to operate within domain id=${d.id}`);
      }
      const items = rt.state.domains
        .filter((d) => (caller.role === 'User' || !args.listall ? d.id === caller.domain.id : inDomainTree(rt.state, d.id, caller.domain.id)) || (args.id !== undefined && d.id === args.id))
        .filter((d) => matches(args, { id: d.id, name: d.name }) && matchesKeyword(args, d.name))
        .map((d) => domainView(rt.state, d));
      return listReply('domain', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listAccounts: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, name: { type: 'string' } },
    run({ rt, caller, args }) {
      const inScope = listScope(rt.state, caller, args);
      const items = rt.state.accounts
        .filter((a) => inScope(a.id) && matches(args, { id: a.id, name: a.name }) && matchesKeyword(args, a.name))
        .map((a) => accountView(rt.state, a));
      return listReply('account', items, args, rt.state.settings.defaultPageSize);
    },
  },
};

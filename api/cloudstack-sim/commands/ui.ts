/**
 * @layer usecase
 * What CloudStack's web UI asks right after sign-in (checked against 4.22's UI), answered as
 * CloudStack does for a cloud with no LDAP, SAML, Cloudian, projects, networks or VPCs:
 *
 * - listApis: the commands the caller's role may call, and only those the simulator answers
 *   (its names decide every menu of the UI), with their parameters;
 * - listLdapConfigurations (`ldapconfigurationresponse`, empty), cloudianIsEnabled (false),
 *   listNetworks, listVPCs, listProjects (empty), listNetworkServiceProviders (VirtualRouter),
 *   listAndSwitchSamlAccount (the user's own account), readyForShutdown (root admin),
 *   listUserTwoFactorAuthenticatorProviders (totp, staticpin).
 */
import { domainDisplayPath, type RoleType } from '../access.ts';
import type { View } from '../views.ts';
import { ADMIN, ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, type CommandDef } from './command.ts';

/** commands answered by ApiServlet itself (authenticators) that listApis names too */
const AUTHENTICATORS: Record<string, { description: string; params: Record<string, { type: string; required?: boolean }> }> = {
  login: { description: 'Logs a user into the CloudStack.', params: { username: { type: 'string', required: true }, password: { type: 'string', required: true }, domain: { type: 'string' }, domainId: { type: 'long' } } },
  logout: { description: 'Logs out the user', params: {} },
  validateUserTwoFactorAuthenticationCode: { description: 'Checks the 2FA code for the user.', params: { codefor2fa: { type: 'string', required: true } } },
};

function apiView(name: string, description: string, params: Record<string, { type: string; required?: boolean }>, isasync: boolean): View {
  return {
    name, description, isasync, related: '', since: '',
    params: Object.entries(params).map(([p, spec]) => ({ name: p, description: p, type: spec.type, length: 255, required: !!spec.required, related: '', since: '' })),
    response: [],
  };
}

const PROVIDERS = [
  { name: 'totp', description: 'TOTP user two factor authentication provider Plugin' },
  { name: 'staticpin', description: 'Static PIN user two factor authentication provider Plugin' },
];

export const uiCommands: Record<string, CommandDef> = {
  listApis: {
    roles: ALL,
    description: 'lists all available apis on the server, provided by the Api Discovery plugin',
    params: { name: { type: 'string' } },
    run({ rt, caller, args, commands }) {
      const role: RoleType = caller.role;
      const items: View[] = [];
      for (const [name, def] of Object.entries(commands)) {
        if (def.roles.includes(role)) items.push(apiView(name, def.description ?? name, def.params, def.isasync ?? false));
      }
      for (const [name, a] of Object.entries(AUTHENTICATORS)) items.push(apiView(name, a.description, a.params, false));
      const picked = typeof args.name === 'string' ? items.filter((i) => i.name === args.name) : items;
      picked.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      return listReply('api', picked, { pagesize: -1 }, rt.state.settings.defaultPageSize);
    },
  },

  listLdapConfigurations: {
    roles: ALL,
    responseName: 'ldapconfigurationresponse',
    params: { ...LIST_PARAMS, hostname: { type: 'string' }, port: { type: 'integer' }, domainid: { type: 'uuid' }, listall: { type: 'boolean' } },
    run({ rt, args }) {
      return listReply('LdapConfiguration', [], args, rt.state.settings.defaultPageSize);
    },
  },

  cloudianIsEnabled: {
    roles: ALL,
    params: {},
    run() {
      return { kind: 'object', objectName: 'cloudianisenabled', body: { enabled: false, url: '' } };
    },
  },

  listNetworks: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, zoneid: { type: 'uuid' }, restartrequired: { type: 'boolean' }, vpcid: { type: 'uuid' }, type: { type: 'string' } },
    run({ rt, args }) {
      return listReply('network', [], args, rt.state.settings.defaultPageSize);
    },
  },

  listVPCs: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, zoneid: { type: 'uuid' }, restartrequired: { type: 'boolean' } },
    run({ rt, args }) {
      return listReply('vpc', [], args, rt.state.settings.defaultPageSize);
    },
  },

  listProjects: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, state: { type: 'string' }, details: { type: 'string' } },
    run({ rt, args }) {
      return listReply('project', [], args, rt.state.settings.defaultPageSize);
    },
  },

  listNetworkServiceProviders: {
    roles: ADMIN,
    params: { ...LIST_PARAMS, name: { type: 'string' }, physicalnetworkid: { type: 'uuid' }, state: { type: 'string' } },
    run({ rt, args }) {
      const items = rt.state.zones.map((z, i) => ({
        name: 'VirtualRouter', physicalnetworkid: `${z.id.slice(0, 24)}${String(i).padStart(12, '0')}`, state: 'Enabled', canenableindividualservice: true,
        id: `${z.id.slice(0, 24)}${String(i + 100).padStart(12, '0')}`, servicelist: ['Dhcp', 'Dns', 'UserData', 'SourceNat', 'StaticNat', 'PortForwarding', 'Firewall', 'Lb', 'Vpn'],
      })).filter((p) => (args.name === undefined || p.name === args.name) && (args.state === undefined || p.state === args.state));
      return listReply('networkserviceprovider', items, args, rt.state.settings.defaultPageSize);
    },
  },

  listAndSwitchSamlAccount: {
    roles: ALL,
    params: { userid: { type: 'uuid' }, domainid: { type: 'uuid' } },
    run({ rt, caller, args }) {
      const item = {
        userid: caller.user.id, domainid: caller.domain.id, domainname: caller.domain.name, domainpath: domainDisplayPath(rt.state, caller.domain.id),
        accountid: caller.account.id, accountname: caller.account.name, accounttype: caller.account.type,
      };
      return listReply('samluseraccount', [item], args, rt.state.settings.defaultPageSize);
    },
  },

  readyForShutdown: {
    roles: ADMIN,
    params: { managementserverid: { type: 'uuid' } },
    run({ rt }) {
      const pending = [...rt.jobs.values()].filter((j) => j.status === 0).length;
      return {
        kind: 'object', objectName: 'readyforshutdown', body: {
          shutdowntriggered: false, maintenanceinitiated: false, readyforshutdown: pending === 0, pendingjobscount: pending, agentscount: rt.state.hosts.length,
          managementserverid: 'f5a1c0de-0000-4000-8000-000000000001', state: 'Up',
        },
      };
    },
  },

  listUserTwoFactorAuthenticatorProviders: {
    roles: ALL,
    params: { name: { type: 'string' } },
    run({ rt, args }) {
      const items = PROVIDERS.filter((p) => args.name === undefined || p.name === args.name);
      return listReply('providers', items, args, rt.state.settings.defaultPageSize);
    },
  },
};

/**
 * @layer usecase
 * Users: listUsers (scoped like every list), getUser userapikey= (root admin: who owns a key),
 * getUserKeys id= (one's own keys, or those of a user one administers).
 */
import { apiErrors } from '../api-error.ts';
import { checkAccess, listScope } from '../access.ts';
import { userView } from '../views.ts';
import { ADMIN, ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, matchesKeyword, type CommandDef } from './command.ts';

export const userCommands: Record<string, CommandDef> = {
  listUsers: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, username: { type: 'string' }, state: { type: 'string' }, accounttype: { type: 'integer' } },
    run({ rt, caller, args }) {
      if (args.id !== undefined) rt.find(rt.state.users, args.id, 'listUsers', 'id');
      const inScope = listScope(rt.state, caller, args);
      const items = rt.state.users
        .filter((u) => inScope(u.accountId))
        .filter((u) => matches(args, { id: u.id, username: u.username, state: u.state, accounttype: rt.state.accounts.find((a) => a.id === u.accountId)?.type }))
        .filter((u) => matchesKeyword(args, u.username, u.firstname, u.lastname))
        .map((u) => userView(rt.state, u, caller));
      return listReply('user', items, args, rt.state.settings.defaultPageSize);
    },
  },

  getUser: {
    roles: ADMIN,
    params: { userapikey: { type: 'string', required: true } },
    run({ rt, caller, args }) {
      const u = rt.state.users.find((x) => x.apiKey !== undefined && x.apiKey === args.userapikey);
      if (!u) throw apiErrors.invalidParameter('User with specified API key does not exist');
      return { kind: 'object', objectName: 'user', body: userView(rt.state, u, caller) };
    },
  },

  getUserKeys: {
    roles: ALL,
    params: { id: { type: 'uuid', required: true } },
    run({ rt, caller, args }) {
      const u = rt.find(rt.state.users, args.id, 'getUserKeys', 'id');
      if (caller.user.id !== u.id) checkAccess(rt.state, caller, u.accountId, `User ${u.id}`);
      return { kind: 'object', objectName: 'userkeys', body: { ...(u.apiKey ? { apikey: u.apiKey } : {}), ...(u.secretKey ? { secretkey: u.secretKey } : {}) } };
    },
  },
};

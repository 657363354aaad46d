/**
 * @layer usecase
 * The commands CloudStack's login page calls before anyone is signed in, answered like
 * CloudStack's APIAuthenticators (no session, no signature):
 *
 * - listGuiThemes (4.21+): signed out only `commonname` counts (a host name, `*.example.com`
 *   wildcards allowed); `listonlydefaulttheme=true` gives the theme with no host names, domains or
 *   accounts; signed in, `domainid` / `accountid` / `id` / `name` filter too. Items are `guiThemes`.
 * - listOauthProvider: no OAuth providers are configured, so an empty list (`{}`).
 * - forgotPassword (POST): always `success`, whether the user exists or not (CloudStack does not
 *   say, and sends no mail here).
 */
import type { GuiThemeState } from '../state.ts';
import type { View } from '../views.ts';
import { listReply, type AnonymousCommandDef } from './command.ts';

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.trim().toLowerCase();
  const h = host.toLowerCase();
  if (p.startsWith('*.')) return h.endsWith(p.slice(1));
  return p === h;
}

function themeView(t: GuiThemeState): View {
  return {
    id: t.id, name: t.name, description: t.description, ...(t.css !== undefined ? { css: t.css } : {}),
    ...(t.jsonConfiguration !== undefined ? { jsonconfiguration: t.jsonConfiguration } : {}),
    ...(t.commonNames.length ? { commonnames: t.commonNames.join(',') } : {}),
    ...(t.domainIds.length ? { domainids: t.domainIds.join(',') } : {}),
    ...(t.accountIds.length ? { accountids: t.accountIds.join(',') } : {}),
    ispublic: t.isPublic, created: t.created ?? '2025-01-01T00:00:00+0000',
  };
}

const isDefault = (t: GuiThemeState) => !t.commonNames.length && !t.domainIds.length && !t.accountIds.length;

export const anonymousCommands: Record<string, AnonymousCommandDef> = {
  listGuiThemes: {
    description: 'Lists GUI themes.',
    params: {
      id: { type: 'uuid' }, name: { type: 'string' }, commonname: { type: 'string' }, domainid: { type: 'uuid' }, accountid: { type: 'uuid' },
      listall: { type: 'boolean' }, listonlydefaulttheme: { type: 'boolean' }, page: { type: 'integer' }, pagesize: { type: 'integer' },
    },
    run({ rt, caller, args }) {
      const themes = rt.state.guiThemes;
      let items: GuiThemeState[];
      if (args.listonlydefaulttheme === true) items = themes.filter(isDefault).slice(0, 1);
      else if (!caller) items = typeof args.commonname === 'string' ? themes.filter((t) => t.commonNames.some((p) => hostMatches(p, String(args.commonname)))) : [];
      else {
        items = themes.filter((t) => (args.id === undefined || t.id === args.id) && (args.name === undefined || t.name === args.name)
          && (args.commonname === undefined || t.commonNames.some((p) => hostMatches(p, String(args.commonname))))
          && (args.domainid === undefined || t.domainIds.includes(String(args.domainid)))
          && (args.accountid === undefined || t.accountIds.includes(String(args.accountid))));
      }
      return listReply('guiThemes', items.map((t) => themeView(t)), args, rt.state.settings.defaultPageSize);
    },
  },

  listOauthProvider: {
    description: 'List OAuth providers registered',
    params: { id: { type: 'uuid' }, provider: { type: 'string' } },
    run({ rt, args }) {
      return listReply('oauthprovider', [], args, rt.state.settings.defaultPageSize);
    },
  },

  forgotPassword: {
    description: 'Sends an email to the user with a token to reset the password using resetPassword command.',
    postOnly: true,
    params: { username: { type: 'string', required: true }, domain: { type: 'string' } },
    run() {
      return { kind: 'object', body: { success: true } };
    },
  },
};

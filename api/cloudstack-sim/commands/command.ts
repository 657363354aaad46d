/**
 * @layer usecase
 * What a simulated API command is: the roles that may call it, its parameters (validated before
 * it runs), the response name when it is not `<command>response`, and its handler. Shared list
 * handling too: CloudStack's paging (BaseListCmd: pagesize ≤ default.page.size, -1 unlimited,
 * 500 when absent) and `keyword` search.
 */
import { apiErrors } from '../api-error.ts';
import type { Caller, RoleType } from '../access.ts';
import type { Reply } from '../envelope.ts';
import type { Args, ParamSpec } from '../params.ts';
import type { SimRuntime } from '../runtime.ts';
import type { View } from '../views.ts';

export interface CommandContext {
  rt: SimRuntime;
  caller: Caller;
  args: Args;
  command: string;
  /** scheme://host[:port] the request came to (upload URLs are built on it) */
  origin: string;
  /** every command the simulator answers (listApis advertises them) */
  commands: Record<string, CommandDef>;
}

export interface CommandDef {
  roles: readonly RoleType[];
  params: Record<string, ParamSpec>;
  responseName?: string;
  run(ctx: CommandContext): Reply | Promise<Reply>;
  /** what listApis says about it (default: the command name) */
  description?: string;
  isasync?: boolean;
}

/**
 * A command CloudStack answers through an APIAuthenticator, before any session or signature
 * check (ApiServlet): login's page calls them signed out. `caller` is the session's user when
 * the request carries a live one.
 */
export interface AnonymousCommandDef {
  params: Record<string, ParamSpec>;
  /** POST only (405 otherwise), as CloudStack's authenticators for login and forgotPassword */
  postOnly?: boolean;
  description?: string;
  run(ctx: Omit<CommandContext, 'caller'> & { caller?: Caller }): Reply | Promise<Reply>;
}

export const ALL: readonly RoleType[] = ['Admin', 'DomainAdmin', 'User'];
export const ADMIN: readonly RoleType[] = ['Admin'];

export const LIST_PARAMS: Record<string, ParamSpec> = {
  keyword: { type: 'string' }, page: { type: 'integer' }, pagesize: { type: 'integer' },
};
export const SCOPE_PARAMS: Record<string, ParamSpec> = {
  listall: { type: 'boolean' }, domainid: { type: 'uuid' }, account: { type: 'string' }, isrecursive: { type: 'boolean' },
};

export function listReply(itemName: string, items: View[], args: Args, maxPageSize: number): Reply {
  const pagesize = args.pagesize as number | undefined;
  const page = args.page as number | undefined;
  if (pagesize !== undefined && pagesize !== -1 && pagesize > maxPageSize) {
    throw apiErrors.invalidParameter(`Page size can't exceed max allowed page size value: ${maxPageSize}`);
  }
  if (pagesize === -1 && page !== undefined) throw apiErrors.invalidParameter("Can't specify page parameter when pagesize is -1 (Unlimited)");
  const size = pagesize ?? maxPageSize;
  if (size === -1) return { kind: 'list', itemName, items, count: items.length };
  const start = page !== undefined && page > 0 ? (page - 1) * size : 0;
  return { kind: 'list', itemName, items: items.slice(start, start + Math.max(size, 0)), count: items.length };
}

/** keyword: case-insensitive substring of the name (and display name). */
export function matchesKeyword(args: Args, ...names: (string | undefined)[]): boolean {
  const k = args.keyword;
  if (typeof k !== 'string' || k === '') return true;
  return names.some((n) => n?.toLowerCase().includes(k.toLowerCase()));
}

/** Equality filters: every given arg equals the value the object has. */
export function matches(args: Args, pairs: Record<string, unknown>): boolean {
  return Object.entries(pairs).every(([k, v]) => args[k] === undefined || args[k] === v);
}

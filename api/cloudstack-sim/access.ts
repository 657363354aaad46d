/**
 * @layer logic
 * Who the caller is and what they may see, following CloudStack's rules:
 *
 * - role from the account type: 1 root admin (Admin), 2 domain admin (DomainAdmin), 0 user (User);
 * - a root admin reaches everything, a domain admin the accounts of their domain and its
 *   subdomains, a user only their own account;
 * - list commands (AccountManager.buildACLSearchParameters): `account` (+ `domainid`) narrows to
 *   one account, `domainid` to a domain (its subtree with `isrecursive=true`), `listall=true`
 *   widens to all the caller reaches; without any of them even an admin sees only their own
 *   account's resources.
 */
import { apiErrors } from './api-error.ts';
import type { Args } from './params.ts';
import type { AccountState, DomainState, SimState, UserState } from './state.ts';

export type RoleType = 'Admin' | 'DomainAdmin' | 'User';

export interface Caller {
  user: UserState;
  account: AccountState;
  domain: DomainState;
  role: RoleType;
  rootAdmin: boolean;
}

export function roleOf(account: AccountState): RoleType {
  return account.type === 1 ? 'Admin' : account.type === 2 ? 'DomainAdmin' : 'User';
}

export const ROLE_IDS: Record<RoleType, string> = {
  Admin: 'b5a1c0de-0000-4000-8000-000000000001',
  DomainAdmin: 'b5a1c0de-0000-4000-8000-000000000002',
  User: 'b5a1c0de-0000-4000-8000-000000000004',
};
export const ROLE_NAMES: Record<RoleType, string> = { Admin: 'Root Admin', DomainAdmin: 'Domain Admin', User: 'User' };

export function callerFor(state: SimState, user: UserState): Caller {
  const account = state.accounts.find((a) => a.id === user.accountId)!;
  const domain = state.domains.find((d) => d.id === account.domainId)!;
  const role = roleOf(account);
  return { user, account, domain, role, rootAdmin: role === 'Admin' };
}

/** CloudStack's domain path: "/" for ROOT, "/customers/" below it. */
export function domainPath(state: SimState, domainId: string): string {
  const names: string[] = [];
  for (let d = state.domains.find((x) => x.id === domainId); d?.parentId; d = state.domains.find((x) => x.id === d!.parentId)) names.unshift(d.name);
  return names.length ? `/${names.join('/')}/` : '/';
}

/** "ROOT/customers", as responses' `domainpath`. */
export function domainDisplayPath(state: SimState, domainId: string): string {
  const p = domainPath(state, domainId);
  return p === '/' ? 'ROOT' : `ROOT${p.slice(0, -1)}`;
}

export function inDomainTree(state: SimState, domainId: string, ancestorId: string): boolean {
  for (let d = state.domains.find((x) => x.id === domainId); d; d = d.parentId ? state.domains.find((x) => x.id === d!.parentId) : undefined) {
    if (d.id === ancestorId) return true;
  }
  return false;
}

export function canAccessAccount(state: SimState, caller: Caller, accountId: string): boolean {
  if (caller.rootAdmin || caller.account.id === accountId) return true;
  if (caller.role !== 'DomainAdmin') return false;
  const acct = state.accounts.find((a) => a.id === accountId);
  return !!acct && inDomainTree(state, acct.domainId, caller.domain.id);
}

export function canAccessDomain(state: SimState, caller: Caller, domainId: string): boolean {
  if (caller.rootAdmin) return true;
  if (caller.role === 'DomainAdmin') return inDomainTree(state, domainId, caller.domain.id);
  return caller.domain.id === domainId;
}

/** Throws CloudStack's PermissionDeniedException (531) unless the caller reaches the owner account. */
export function checkAccess(state: SimState, caller: Caller, ownerAccountId: string, what: string): void {
  if (!canAccessAccount(state, caller, ownerAccountId)) {
    throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to operate with resource ${what}`);
  }
}

/** The account ids a list command shows, from listall / domainid / account / isrecursive. */
export function listScope(state: SimState, caller: Caller, args: Args): (accountId: string) => boolean {
  const listall = args.listall === true;
  const recursive = args.isrecursive === true;
  const domainId = typeof args.domainid === 'string' ? args.domainid : undefined;
  const accountName = typeof args.account === 'string' ? args.account : undefined;
  if (domainId !== undefined) {
    if (!state.domains.some((d) => d.id === domainId)) throw apiErrors.invalidParameter(`Unable to find domain by id ${domainId}`);
    if (!canAccessDomain(state, caller, domainId)) throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to operate within domain id=${domainId}`);
  }
  if (accountName !== undefined) {
    const dom = domainId ?? caller.domain.id;
    const acct = state.accounts.find((a) => a.name === accountName && a.domainId === dom);
    if (!acct) throw apiErrors.invalidParameter(`Unable to find account ${accountName} in domain id=${dom}`);
    if (!canAccessAccount(state, caller, acct.id)) throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to operate with resource Account ${accountName}`);
    return (id) => id === acct.id;
  }
  if (caller.role === 'User') return (id) => id === caller.account.id;
  if (domainId !== undefined) {
    return (id) => {
      const a = state.accounts.find((x) => x.id === id);
      return !!a && (recursive || listall ? inDomainTree(state, a.domainId, domainId) : a.domainId === domainId);
    };
  }
  if (listall) return (id) => canAccessAccount(state, caller, id);
  return (id) => id === caller.account.id;
}

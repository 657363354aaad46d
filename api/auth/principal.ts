/**
 * @layer logic
 * The caller, as CloudStack describes them: user, account, domain and role. Sendense keeps no
 * users of its own; a principal is built only from CloudStack's answers (login, getUser) and
 * travels in a signed token (token.ts) or is rebuilt for each API-key request.
 *
 * Roles follow CloudStack's role types: Admin → root-admin (everything), DomainAdmin →
 * domain-admin (the VMs of their domain and its subdomains), User → user (their account's VMs).
 * ResourceAdmin (and anything unknown) gets user rights: the least, not a guess upwards.
 */
export type Role = 'root-admin' | 'domain-admin' | 'user';

export interface Principal {
  userId: string;
  username: string;
  /** account name */
  account: string;
  accountId?: string;
  domainId: string;
  role: Role;
  /** how the request proved it: a Sendense token from a login, or a CloudStack API key signature */
  via: 'token' | 'apikey';
  /** the token's id (via 'token'): sign-out revokes it */
  tokenId?: string;
}

/** From getUser/listUsers `roletype`. */
export function roleFromRoleType(roletype: string | undefined): Role {
  if (roletype === 'Admin') return 'root-admin';
  if (roletype === 'DomainAdmin') return 'domain-admin';
  return 'user';
}

/** From login's account `type`: 1 root admin, 2 domain admin, 0 user (3 resource admin → user). */
export function roleFromAccountType(type: number | undefined): Role {
  if (type === 1) return 'root-admin';
  if (type === 2) return 'domain-admin';
  return 'user';
}

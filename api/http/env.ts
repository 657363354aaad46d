/**
 * @layer logic
 * The one Hono environment every route of the control plane's API shares: the signed-in caller
 * (`principal`), set by the sign-in middleware (api/http/authenticate.ts) on the /api/v1 tree.
 */
import type { Context } from 'hono';
import type { Principal } from '../auth/principal.ts';

export type AppEnv = { Variables: { principal: Principal } };

export type AppContext = Context<AppEnv>;

/** What an audit entry is about: a VM, a policy, a job … (`id` null for "the whole thing"). */
export interface AuditTarget {
  type: string;
  id: string | null;
}

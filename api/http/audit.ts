/**
 * @layer usecase
 * The API's one audit helper: `record` appends an entry for the caller of a request (or for an
 * actor given explicitly: a sign-in has no principal yet), `change` runs a change and audits it
 * as `ok`, or as `denied` when authorization refuses it (and as `error` for the failures a route
 * names). The client address comes from the app's `addressOf` (proxy-aware, api/server.ts).
 */
import type { Context } from 'hono';
import type { Store } from '../../db/store.ts';
import { AuthError } from '../auth/errors.ts';
import type { Principal } from '../auth/principal.ts';
import type { AppContext, AuditTarget } from './env.ts';

export type Outcome = 'ok' | 'denied' | 'error';

/** Who did it, when it is not the request's principal. */
export interface AuditActor {
  username: string;
  userId?: string | null;
  account?: string | null;
  domainId?: string | null;
  via: string;
}

export interface ChangeOptions {
  /** errors audited as `error` (with their message) before they go on */
  failure?: (e: unknown) => boolean;
}

export interface Audit {
  record(c: AppContext, action: string, target: AuditTarget, outcome: Outcome, details?: Record<string, unknown> | null, actor?: AuditActor): Promise<void>;
  change<T>(c: AppContext, action: string, target: AuditTarget, fn: () => Promise<T>, details?: (r: T) => Record<string, unknown>, opts?: ChangeOptions): Promise<T>;
}

export interface AuditDeps {
  store: Pick<Store, 'audit'>;
  clock: () => Date;
  addressOf: (c: Context) => string;
}

export function createAudit(deps: AuditDeps): Audit {
  const actorOf = (p: Principal | undefined): AuditActor => p
    ? { username: p.username, userId: p.userId, account: p.account, domainId: p.domainId, via: p.via }
    : { username: 'anonymous', userId: null, account: null, domainId: null, via: 'none' };

  const record: Audit['record'] = async (c, action, target, outcome, details, actor) => {
    const a = actor ?? actorOf(c.get('principal') as Principal | undefined);
    await deps.store.audit.append({
      at: deps.clock(), actor: a.username, actorId: a.userId ?? null, actorAccount: a.account ?? null, actorDomainId: a.domainId ?? null,
      via: a.via, ip: deps.addressOf(c), action, targetType: target.type, targetId: target.id, outcome, details: details ?? null,
    });
  };

  return {
    record,
    async change(c, action, target, fn, details, opts) {
      try {
        const r = await fn();
        await record(c, action, target, 'ok', details?.(r));
        return r;
      } catch (e) {
        if (e instanceof AuthError && e.code === 'forbidden') await record(c, action, target, 'denied', { reason: e.message });
        else if (opts?.failure?.(e)) await record(c, action, target, 'error', { reason: (e as Error).message });
        throw e;
      }
    },
  };
}

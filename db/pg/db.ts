/**
 * @layer adapter
 * Shared pieces of the PostgreSQL Store: the drizzle database and transaction types, paging
 * limits, the SQL condition a `Scope` becomes, conflicts (unique/foreign keys) turned into
 * StoreErrors, and the per-VM lock that serialises writes to one VM's chains.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as schema from './schema.ts';
import { cloudstackVms } from './schema.ts';
import { StoreError, type Scope } from '../store.ts';

export { page, MAX_PAGE } from '../sqlite/db.ts';

export type PgDb = NodePgDatabase<typeof schema>;
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];
export { schema };

/** The condition on cloudstack_vms a scope stands for (undefined: everything). */
export function scopeCondition(scope: Scope | undefined): SQL | undefined {
  if (!scope || scope.kind === 'all') return undefined;
  if (scope.kind === 'account') return and(eq(cloudstackVms.domainId, scope.domainId), eq(cloudstackVms.account, scope.account));
  return scope.domainIds.length ? inArray(cloudstackVms.domainId, scope.domainIds) : sql`false`;
}

/** the PostgreSQL error under drizzle's DrizzleQueryError */
export function pgCode(e: unknown): string {
  let x: unknown = e;
  for (let i = 0; i < 4 && x; i++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    x = (x as { cause?: unknown }).cause;
  }
  return '';
}

/** Runs a write; unique, foreign-key, not-null and check violations become StoreError 'conflict' naming `what`. */
export async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (pgCode(e).startsWith('23')) {
      const cause = (e as { cause?: Error }).cause ?? (e as Error);
      throw new StoreError('conflict', `${what}: ${cause.message}`, { cause: e });
    }
    throw e;
  }
}

/** Serialises writers of one VM's points and chains in one repository until the transaction ends. */
export async function lockVm(tx: PgTx, vmId: string, repositoryId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`${repositoryId}/${vmId}`}))`);
}

/** rows changed by an update/delete (node-postgres' rowCount) */
export const changed = (r: { rowCount: number | null }) => (r.rowCount ?? 0) > 0;

/**
 * @layer adapter
 * Shared pieces of the SQLite Store: the drizzle database type, paging limits, the SQL condition
 * a `Scope` becomes, and conflicts (unique/foreign keys) turned into StoreErrors.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type * as schema from '../schema.ts';
import { cloudstackVms } from '../schema.ts';
import { StoreError, type Page, type Scope } from '../store.ts';

export type Db = BetterSQLite3Database<typeof schema>;

export const MAX_PAGE = 1000;

export function page(p: Page = {}): { limit: number; offset: number } {
  return { limit: Math.min(Math.max(1, p.limit ?? 100), MAX_PAGE), offset: Math.max(0, p.offset ?? 0) };
}

/** The condition on cloudstack_vms a scope stands for (undefined: everything). */
export function scopeCondition(scope: Scope | undefined): SQL | undefined {
  if (!scope || scope.kind === 'all') return undefined;
  if (scope.kind === 'account') return and(eq(cloudstackVms.domainId, scope.domainId), eq(cloudstackVms.account, scope.account));
  return scope.domainIds.length ? inArray(cloudstackVms.domainId, scope.domainIds) : sql`0`;
}

/** Runs a write; SQLite constraint failures become StoreError 'conflict' naming `what`. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_CONSTRAINT')) throw new StoreError('conflict', `${what}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
}

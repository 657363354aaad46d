/**
 * @layer adapter
 * One VM's restore points, a page at a time, cheap for a long history (issue 5 bench: 100 of
 * 10,000 points under 50 clients). What made it slow: `ORDER BY created_at, id` sorted every live
 * row of the VM (manifests included) in a temporary B-tree, the offset walked the sorted rows,
 * and the total counted them all again — ~20 ms of SQLite per request at 10,000 points.
 *
 * Here the VM's live points in listing order (newest first; rowid breaks ties, which
 * idx_points_vm(platform_vm_id, created_at) carries, so SQLite walks the index backwards and
 * sorts nothing) are read once as rowids and kept while the database is unchanged. The cache key
 * is SQLite's own change counters: `data_version` moves when another connection commits,
 * `total_changes()` when this one writes (also inside an open transaction, also when it is rolled
 * back) — so any write anywhere makes the next read rebuild, and a listing never shows a stale
 * point. A page is then a slice and one primary-key lookup of at most `limit` rows; the total is
 * the array's length. With an index on (platform_vm_id, deleted_at, created_at) the uncached path
 * itself would be an index-only scan (~1 ms at 10,000 points; db/schema.ts is another module's).
 */
import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { restorePoints, type RestorePoint } from '../schema.ts';
import type { Page } from '../store.ts';
import { page, type Db } from './db.ts';

export interface PointListing {
  /** not deleted, newest first (equal times: the later recorded first) */
  page(vmId: string, p?: Page): RestorePoint[];
  count(vmId: string): number;
}

interface Entry { key: string; rowids: number[] }

const rowid = sql<number>`${restorePoints}.rowid`;

export function createPointListing(db: Db, opts: { maxVms?: number } = {}): PointListing {
  const maxVms = opts.maxVms ?? 64;
  const cache = new Map<string, Entry>();
  const version = () => {
    const r = db.get<{ t: number; v: number }>(sql`SELECT total_changes() AS t, (SELECT data_version FROM pragma_data_version) AS v`);
    return `${r.v}:${r.t}`;
  };
  const ordered = (vmId: string): number[] => {
    const key = version();
    const hit = cache.get(vmId);
    if (hit && hit.key === key) {
      cache.delete(vmId); // least recently used goes first
      cache.set(vmId, hit);
      return hit.rowids;
    }
    const rowids = db.select({ r: rowid }).from(restorePoints)
      .where(and(eq(restorePoints.platformVmId, vmId), isNull(restorePoints.deletedAt)))
      .orderBy(desc(restorePoints.createdAt), desc(rowid)).all().map((x) => x.r);
    cache.delete(vmId);
    cache.set(vmId, { key, rowids });
    if (cache.size > maxVms) cache.delete(cache.keys().next().value!);
    return rowids;
  };
  return {
    page(vmId, p) {
      const { limit, offset } = page(p);
      const want = ordered(vmId).slice(offset, offset + limit);
      if (!want.length) return [];
      const rows = db.select({ r: rowid, point: restorePoints }).from(restorePoints).where(inArray(rowid, want)).all();
      const byRowid = new Map(rows.map((x) => [x.r, x.point]));
      return want.map((r) => byRowid.get(r)).filter((x): x is RestorePoint => x !== undefined);
    },
    count(vmId) {
      return ordered(vmId).length;
    },
  };
}

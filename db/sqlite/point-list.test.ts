/**
 * The cached restore-point listing answers exactly what the plain query answers (every page, the
 * total), and any write — through this connection, another connection, a rolled-back
 * transaction — is seen by the next listing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PointManifest } from '../../agent/repository/manifest.ts';
import { createSqliteStore, openDatabase, type OpenDatabase } from '../open.ts';
import type { Store } from '../store.ts';
import { manifest } from '../../test/bench/api.ts';

const VMS = ['a1b2c3d4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000002'];
/** the bench's manifest, at a chosen time (ties on purpose) */
const pointAt = (id: string, vm: string, at: string): PointManifest => ({ ...manifest(id, 'full', null, vm), created_at: at });

describe('restore-point listing (cached by the database change counters)', () => {
  let dir: string;
  let file: string;
  let h: OpenDatabase;
  let store: Store;
  let other: OpenDatabase;

  /** the listing as a plain query: the oracle */
  const reference = (vm: string) => (h.sqlite.prepare(
    'select point_id as p from restore_points where platform_vm_id = ? and deleted_at is null order by created_at desc, rowid desc',
  ).all(vm) as { p: string }[]).map((r) => r.p);

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sendense-list-'));
    file = path.join(dir, 'cp.db');
    h = openDatabase(file);
    store = createSqliteStore(h);
    other = openDatabase(file);
    const [{ id: repoId }] = await store.repositories.sync([{ name: 'r1', url: 'ssh://u@h/p', kind: 'ssh', isDefault: true }]);
    for (let i = 0; i < 60; i++) {
      const vm = VMS[i % 3 === 0 ? 1 : 0];
      // every fifth pair shares a creation time: the later recorded must come first
      const at = new Date(Date.UTC(2025, 0, 1) + Math.floor(i / 2) * 60_000).toISOString();
      const job = await store.jobs.create({ id: crypto.randomUUID(), platformVmId: vm, type: 'full', typeReason: 't', trigger: 'manual', repositoryId: repoId, status: 'running', queuedAt: new Date() });
      await store.points.record({
        jobId: job.id, jobPatch: { status: 'succeeded' }, manifest: pointAt(`p${String(i).padStart(3, '0')}`, vm, at),
        platformVmId: vm, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
      });
    }
  });
  afterEach(() => { other.close(); store.close(); rmSync(dir, { recursive: true, force: true }); });

  const ids = async (vm: string, limit: number, offset: number) => (await store.points.listForVm(vm, { limit, offset })).map((p) => p.pointId);

  it('every page and the total equal the plain query; ties: the later recorded first', async () => {
    for (const vm of VMS) {
      const all = reference(vm);
      expect(all.length).toBeGreaterThan(15);
      expect(await store.points.countForVm(vm)).toBe(all.length);
      for (const [limit, offset] of [[100, 0], [7, 0], [7, 7], [5, 38], [10, all.length - 3], [10, all.length], [1, 1000]]) {
        expect(await ids(vm, limit, offset)).toEqual(all.slice(offset, offset + limit));
      }
    }
    const [first, second] = await ids(VMS[0], 2, 0);
    expect(first > second).toBe(true); // same created_at (pairs), recorded later → listed first
    expect((await store.points.listForVm(VMS[0], { limit: 1 }))[0].manifest.disks[0].image).toMatch(/^full-p\d+\.qcow2$/);
  });

  it('a point deleted by another connection is gone from the next listing and count', async () => {
    const before = await ids(VMS[0], 1000, 0);
    expect(await store.points.countForVm(VMS[0])).toBe(before.length);
    other.sqlite.prepare('update restore_points set deleted_at = ? where point_id = ?').run(Date.now(), before[3]);
    expect(await store.points.countForVm(VMS[0])).toBe(before.length - 1);
    expect(await ids(VMS[0], 1000, 0)).toEqual(before.filter((p) => p !== before[3]));
  });

  it('writes through this connection, committed or rolled back, are seen', async () => {
    const before = await ids(VMS[1], 1000, 0);
    h.sqlite.prepare('update restore_points set deleted_at = ? where point_id = ?').run(Date.now(), before[0]);
    expect(await ids(VMS[1], 1000, 0)).toEqual(before.slice(1));
    try {
      h.sqlite.transaction(() => {
        h.sqlite.prepare('update restore_points set deleted_at = null where point_id = ?').run(before[0]);
        throw new Error('roll back');
      })();
    } catch { /* rolled back */ }
    expect(await ids(VMS[1], 1000, 0)).toEqual(before.slice(1));
    expect(await store.points.countForVm(VMS[1])).toBe(before.length - 1);
    h.sqlite.prepare('update restore_points set deleted_at = null where point_id = ?').run(before[0]);
    expect(await ids(VMS[1], 1000, 0)).toEqual(before);
  });
});

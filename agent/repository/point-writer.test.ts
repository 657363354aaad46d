/**
 * PointWriter on the memory target: the documented write order and names, and what rollback
 * leaves (nothing of this point) at every stage before the commit.
 */
import { describe, expect, it } from 'vitest';
import { MemoryTarget } from '../target/memory.ts';
import { PointWriter } from './point-writer.ts';
import { Repository } from './repository.ts';
import type { PointManifest, VmMetadata } from './manifest.ts';

const vmId = 'vm-1';
const pointId = '20260101-120000';

async function files(t: MemoryTarget, dir = vmId): Promise<string[]> {
  const out: string[] = [];
  for (const e of await t.list(dir).catch(() => [])) {
    if (e.isDirectory) out.push(...await files(t, `${dir}/${e.name}`));
    else out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

function records(names: { image: string; sums: string }): { manifest: PointManifest; metadata: VmMetadata } {
  const at = '2026-01-01T12:00:00.000Z';
  return {
    manifest: {
      format: 'sendense-point', version: 1, id: pointId, vm_uuid: vmId, type: 'full', reason: 'test', parent: null,
      created_at: at, started_at: at, finished_at: at, duration_ms: 0, consistency: 'test', vm_state: 'shutoff',
      disks: [{
        index: 0, target: 'vda', type: 'full', reason: 'test', image: names.image, backing: null, checkpoint: null, virtual_size: 4,
        file_size: 4, bytes_read: 4, bytes_written: 4, bytes_sent: 5, data_clusters: 1, zero_clusters: 0, sums: names.sums, block_size: 1 << 20,
        content_sha256: '0'.repeat(64), file_sha256: { header: '0'.repeat(64), body: '0'.repeat(64) },
      }],
      agent: { host: 'h', version: 'v' },
    },
    metadata: { format: 'sendense-repository-vm', version: 1, vm_uuid: vmId, vm_name: 'vm', source_platform: 'kvm', platform_metadata: {}, disks: [{ index: 0, target: 'vda', virtual_size: 4, source_format: 'qcow2' }], updated_at: at },
  };
}

describe('PointWriter', () => {
  it('partial names, then final names, then the manifest and metadata; the names the manifest records', async () => {
    const t = new MemoryTarget();
    const w = new PointWriter(new Repository(t), { vmId, pointId, job: 'j1' });
    await w.prepare([0]);
    const f = await w.createDisk(0, 'full');
    await f.image.append(Buffer.from('qcow'));
    const partials = [`${vmId}/disk-0/.partial-j1-full-${pointId}.qcow2`, `${vmId}/disk-0/.partial-j1-full-${pointId}.sums`];
    expect(await files(t)).toEqual(partials); // still being written
    const names = await w.finishDisk(0, Buffer.from('sums!'));
    expect(names).toEqual({ image: `disk-0/full-${pointId}.qcow2`, sums: `disk-0/full-${pointId}.sums` });
    expect(await files(t)).toEqual(partials);
    const { manifest, metadata } = records(names);
    await expect(w.commit(manifest, metadata)).rejects.toThrow(/must be published/);
    await w.publish();
    expect(await files(t)).toEqual([`${vmId}/disk-0/full-${pointId}.qcow2`, `${vmId}/disk-0/full-${pointId}.sums`]);
    await w.commit(manifest, metadata);
    expect(await new Repository(t).pointIds(vmId)).toEqual([pointId]);
    await w.rollback(); // after the commit: nothing happens
    expect((await files(t)).length).toBe(4);
    expect(PointWriter.backingName(manifest.disks[0])).toBe(`full-${pointId}.qcow2`);
  });

  it('rollback before the commit leaves nothing of the point: open files, partials, published files', async () => {
    for (const stage of ['open', 'finished', 'published'] as const) {
      const t = new MemoryTarget();
      const w = new PointWriter(new Repository(t), { vmId, pointId, job: 'j2' });
      await w.prepare([0, 1]);
      const f = await w.createDisk(0, 'incremental');
      await f.image.append(Buffer.from('x'));
      if (stage !== 'open') await w.finishDisk(0, Buffer.from('s'));
      if (stage === 'published') await w.publish();
      await w.rollback();
      expect(await files(t), stage).toEqual([]);
    }
  });

  it('refuses what breaks the order: a disk twice, publish with a disk open, a manifest of another point', async () => {
    const t = new MemoryTarget();
    const w = new PointWriter(new Repository(t), { vmId, pointId, job: 'j3' });
    await w.prepare([0]);
    await w.createDisk(0, 'full');
    await expect(w.createDisk(0, 'full')).rejects.toThrow(/created already/);
    await expect(w.publish()).rejects.toThrow(/not finished/);
    const names = await w.finishDisk(0, Buffer.alloc(0));
    await w.publish();
    const { manifest, metadata } = records(names);
    await expect(w.commit({ ...manifest, id: '20260101-120001' }, metadata)).rejects.toThrow(/is not point/);
    await w.rollback();
  });
});

/**
 * Repository data is untrusted (issue 12 item 5): a manifest or metadata.json whose names leave
 * the FORMAT's patterns is refused before anything turns them into a path; and a restore test
 * of a point whose manifest names a `../` disk target writes nothing outside the scratch dir.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeLocalFiles } from '../restore/local-files.ts';
import { restoreTestDisk } from '../restore/restore-test.ts';
import { MemoryTarget } from '../target/memory.ts';
import { pointPath } from './layout.ts';
import { ManifestError, parseManifest, parseMetadata, type PointManifest } from './manifest.ts';
import { Repository } from './repository.ts';

const sha = 'a'.repeat(64);
const ID = '20261201-101010';
const VM = '0b5c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3';

function manifest(disk: Record<string, unknown> = {}, top: Record<string, unknown> = {}): PointManifest {
  return {
    format: 'sendense-point', version: 1, id: ID, vm_uuid: VM, type: 'incremental', reason: 'r', parent: '20261201-090000',
    created_at: 'x', started_at: 'x', finished_at: 'x', duration_ms: 1, consistency: 'crash', vm_state: 'running',
    agent: { host: 'h', version: '0' },
    disks: [{
      index: 1, target: 'vdb', type: 'incremental', reason: 'r', image: `disk-1/incr-${ID}.qcow2`, backing: 'disk-1/full-20261201-090000.qcow2',
      checkpoint: `sendense-${ID}`, virtual_size: 1 << 20, file_size: 1, bytes_read: 0, bytes_written: 0, bytes_sent: 0, data_clusters: 0,
      zero_clusters: 0, sums: `disk-1/incr-${ID}.sums`, block_size: 1 << 20, content_sha256: sha, file_sha256: { header: sha, body: sha }, ...disk,
    }],
    ...top,
  } as PointManifest;
}

const parse = (m: PointManifest) => parseManifest(JSON.stringify(m), 'test');

describe('manifest names are held to the FORMAT', () => {
  it('a manifest with the FORMAT names parses', () => {
    expect(parse(manifest()).disks[0].target).toBe('vdb');
    expect(parse(manifest({ backing: null, type: 'full', image: `disk-1/full-${ID}.qcow2` }, { parent: null })).disks[0].backing).toBeNull();
  });

  it.each([
    ['a ../ disk target', { target: '../../../../tmp/pwned' }, /disks\.0\.target "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/pwned" is not a disk target/],
    ['a disk target with a slash', { target: 'vd/a' }, /disks\.0\.target/],
    ['an image outside its disk folder', { image: `../../other-vm/disk-0/full-${ID}.qcow2` }, /disks\.0\.image .* is not 'disk-1\//],
    ['an image of another disk folder', { image: `disk-0/incr-${ID}.qcow2` }, /disks\.0\.image/],
    ['an absolute image', { image: '/etc/shadow' }, /disks\.0\.image/],
    ['sums that are not a .sums name', { sums: `disk-1/incr-${ID}.qcow2` }, /disks\.0\.sums/],
    ['a backing file elsewhere', { backing: '/var/lib/libvirt/images/x.qcow2' }, /disks\.0\.backing/],
  ])('%s is refused, naming the field and what to do', (_, disk, msg) => {
    const e = (() => { try { parse(manifest(disk)); } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(ManifestError);
    expect((e as Error).message).toMatch(msg);
    expect((e as Error).message).toMatch(/changed by something other than Sendense; restore from another copy or remove the point/);
  });

  it('a bad vm_uuid or parent is refused', () => {
    expect(() => parse(manifest({}, { vm_uuid: '../x' }))).toThrow(/vm_uuid "\.\.\/x" is not a VM id/);
    expect(() => parse(manifest({}, { parent: '../../y' }))).toThrow(/parent "\.\.\/\.\.\/y" is not a point id/);
  });

  it('metadata.json with a ../ disk target is refused', () => {
    const meta = { format: 'sendense-repository-vm', version: 1, vm_uuid: VM, vm_name: 'v', source_platform: 'cloudstack', platform_metadata: {}, updated_at: 'x',
      disks: [{ index: 0, target: '../x', virtual_size: 1, source_format: 'qcow2' }] };
    expect(() => parseMetadata(JSON.stringify(meta), 'm')).toThrow(/disks\.0\.target "\.\.\/x" is not a disk target/);
  });
});

describe('a tampered manifest cannot move a root-written scratch file', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it("restore test of a point whose disk target is '../…': refused, nothing written outside the scratch dir", async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'sendense-untrusted-'));
    dirs.push(base);
    const scratchDir = path.join(base, 'work', 'scratch');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(scratchDir, { recursive: true });
    const target = new MemoryTarget();
    const evil = 'x/../../../escaped';
    await target.mkdirp(`${VM}/points`);
    await target.writeFileAtomic(pointPath(VM, ID), JSON.stringify(manifest({ target: evil, type: 'full', backing: null, image: `disk-1/full-${ID}.qcow2` }, { parent: null })));
    await expect(new Repository(target).readPoint(VM, ID)).rejects.toThrow(/disks\.0\.target/);
    const r = await restoreTestDisk({ target, files: new NodeLocalFiles(), scratchDir }, VM, ID, evil);
    expect(r.ok).toBe(false);
    expect(r.problems.join(' ')).toMatch(/cannot be part of a scratch file name|not a disk target/);
    expect(readdirSync(base).sort()).toEqual(['work']);
    expect(readdirSync(path.join(base, 'work'))).toEqual(['scratch']);
    expect(readdirSync(scratchDir)).toEqual([]);
  });
});

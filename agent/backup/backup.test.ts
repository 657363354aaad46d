/**
 * runBackup in process (no root, no lab): the memory hypervisor (libvirt's rules: bitmaps,
 * checkpoints, transient domains, one job per domain) and the memory target (the BackupTarget
 * contract, strictly). A full and incrementals restore to the VM's content, a stopped VM goes
 * through its persistent bitmap, a forgotten checkpoint is redefined, and a failure at any step
 * records nothing and leaves no job, partial file or new checkpoint behind.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { parseNbdUri } from '../nbd/uri.ts';
import { Repository } from '../repository/repository.ts';
import { MemoryLocalFiles } from '../restore/memory-files.ts';
import { restoreDisk } from '../restore/restore.ts';
import { verifyPoints } from '../restore/verify.ts';
import { MemoryTarget } from '../target/memory.ts';
import type { BackupTarget } from '../target/port.ts';
import { runBackup, type BackupDeps, type BackupRequest } from './backup.ts';

const MiB = 1 << 20;

function setup(o: { target?: BackupTarget } = {}) {
  const hv = new MemoryHypervisor();
  const target = o.target ?? new MemoryTarget();
  const deps: BackupDeps = {
    hypervisor: hv,
    target,
    openSource: async (uri) => {
      const a = parseNbdUri(uri);
      if (a.transport !== 'unix') throw new Error(`unexpected ${uri}`);
      return hv.exportSource(a.socket, a.export);
    },
    diskSize: async (_domain, disk) => hv.content(disk.source).length,
    workDir: '/work',
    host: 'test-host',
    version: 'test',
  };
  const backup = (req: Partial<BackupRequest> & { domain: string }) => runBackup(deps, { ...req });
  return { hv, target, deps, backup };
}

async function restored(target: BackupTarget, vm: string, disk: string, point: string): Promise<Buffer> {
  const files = new MemoryLocalFiles();
  await restoreDisk(target, await files.create('/restored'), { vm, disk, point, format: 'raw' });
  return files.get('/restored')!;
}

const pattern = (n: number, byte: number) => Buffer.alloc(n, byte);
/** byte-for-byte equality (expect's deep equality walks a Buffer element by element: far too slow for MiBs) */
const same = (a: Buffer, b: Buffer) => a.length === b.length && a.equals(b);

describe('runBackup on the memory hypervisor and target', () => {
  it('full, then incremental: each point restores to the content at its time; only the changed blocks are read', async () => {
    const { hv, target, backup } = setup();
    const dom = hv.createDomain({ name: 'vm1', transient: true, disks: [{ size: 8 * MiB }, { size: 4 * MiB }] });
    hv.write('vm1', 'vda', 0, pattern(2 * MiB, 0x11));
    hv.write('vm1', 'vdb', MiB, pattern(MiB, 0x22));
    const first = await backup({ domain: 'vm1' });
    expect(first).toMatchObject({ type: 'full', vmId: dom.uuid });
    expect(first.manifest).toMatchObject({ id: first.pointId, type: 'full', parent: null, vm_state: 'running', agent: { host: 'test-host', version: 'test' } });
    expect(first.manifest.disks.map((d) => [d.target, d.type, d.checkpoint])).toEqual([['vda', 'full', `sendense-${first.pointId}`], ['vdb', 'full', `sendense-${first.pointId}`]]);
    const vdaAtFirst = hv.content('/memory/vm1/vda.qcow2');

    hv.write('vm1', 'vda', 5 * MiB, pattern(64 * 1024, 0x33));
    const second = await backup({ domain: 'vm1' });
    expect(second.type).toBe('incremental');
    expect(second.manifest.parent).toBe(first.pointId);
    expect(second.manifest.disks[0]).toMatchObject({ type: 'incremental', backing: first.manifest.disks[0].image, bytes_read: MiB });
    expect(second.manifest.disks[1]).toMatchObject({ type: 'incremental', bytes_read: 0 });

    // the manifest returned is the one committed
    expect(await new Repository(target).readPoint(dom.uuid, second.pointId)).toEqual(second.manifest);
    expect(same(await restored(target, dom.uuid, 'vda', first.pointId), vdaAtFirst)).toBe(true);
    expect(same(await restored(target, dom.uuid, 'vda', second.pointId), hv.content('/memory/vm1/vda.qcow2'))).toBe(true);
    expect(same(await restored(target, dom.uuid, 'vdb', second.pointId), hv.content('/memory/vm1/vdb.qcow2'))).toBe(true);
    expect((await verifyPoints({ target }, dom.uuid)).ok).toBe(true);
    // only the newest checkpoint is kept
    expect((await hv.listCheckpoints('vm1')).map((c) => c.name)).toEqual([`sendense-${second.pointId}`]);
    expect(await hv.jobActive('vm1')).toBe(false);
  });

  it('a stopped VM: incremental through its persistent bitmap; a restarted transient domain: the checkpoint is redefined', async () => {
    const { hv, target, backup } = setup();
    const dom = hv.createDomain({ name: 'vm2', disks: [{ size: 4 * MiB }] });
    hv.write('vm2', 'vda', 0, pattern(MiB, 0x44));
    hv.destroy('vm2');
    const first = await backup({ domain: 'vm2' });
    expect(first.manifest).toMatchObject({ type: 'full', vm_state: 'shutoff', consistency: 'VM shut off: consistent' });
    hv.start('vm2');
    hv.write('vm2', 'vda', 2 * MiB, pattern(MiB, 0x55));
    hv.destroy('vm2');
    const second = await backup({ domain: 'vm2' });
    expect(second.manifest.disks[0]).toMatchObject({ type: 'incremental', bytes_read: MiB });
    expect(same(await restored(target, dom.uuid, 'vda', second.pointId), hv.content('/memory/vm2/vda.qcow2'))).toBe(true);

    const t = hv.createDomain({ name: 'vm3', transient: true, disks: [{ size: 4 * MiB }] });
    const a = await backup({ domain: 'vm3' });
    hv.recreate('vm3');
    expect(await hv.listCheckpoints('vm3')).toEqual([]);
    const b = await backup({ domain: 'vm3' });
    expect(b.type).toBe('incremental');
    expect(b.reason).toContain(`libvirt had forgotten checkpoint sendense-${a.pointId}`);
    expect((await verifyPoints({ target }, t.uuid)).ok).toBe(true);
  });

  it('QEMU killed: the inconsistent bitmap is removed and the next point is full, saying why', async () => {
    const { hv, backup } = setup();
    hv.createDomain({ name: 'vm4', disks: [{ size: 4 * MiB }] });
    await backup({ domain: 'vm4' });
    hv.destroy('vm4'); // the new bitmap reaches the image
    hv.start('vm4');
    hv.crash('vm4'); // and is left 'in-use': inconsistent at the next start
    hv.start('vm4');
    const r = await backup({ domain: 'vm4' });
    expect(r.type).toBe('full');
    expect(r.reason).toMatch(/inconsistent/);
  });

  it('quiesce: frozen around the start of the job only; aborted while frozen: thawed all the same, no point', async () => {
    const { hv, deps, backup } = setup();
    const dom = hv.createDomain({ name: 'vm6', transient: true, guestAgent: 'ok', disks: [{ size: 4 * MiB }] });
    const begin = hv.beginBackup.bind(hv);
    let frozenAtBegin: boolean | undefined;
    hv.beginBackup = async (ref, spec, signal) => { frozenAtBegin = hv.isFrozen(ref); return begin(ref, spec, signal); };
    const r = await backup({ domain: 'vm6', quiesce: true });
    expect(frozenAtBegin).toBe(true);
    expect(r.consistency).toBe('application-consistent: guest agent froze 1 filesystem(s)');
    expect(hv.isFrozen('vm6')).toBe(false);

    const ac = new AbortController();
    hv.beginBackup = async (ref, spec, signal) => { const e = await begin(ref, spec, signal); ac.abort(new Error('interrupted by SIGTERM (test)')); return e; };
    await expect(runBackup(deps, { domain: 'vm6', quiesce: true, signal: ac.signal })).rejects.toThrow(/no restore point recorded: interrupted by SIGTERM/);
    expect(hv.isFrozen('vm6')).toBe(false);
    expect(await hv.jobActive('vm6')).toBe(false);
    expect(await new Repository(deps.target).pointIds(dom.uuid)).toEqual([r.pointId]);
  });

  const failures: [string, (x: ReturnType<typeof setup>, ac: AbortController) => void][] = [
    ['the repository fills up mid-copy', () => {}],
    ['the NBD export cannot be opened', (x) => { x.deps.openSource = async () => { throw new Error('connect refused (injected)'); }; }],
    ['the run is aborted as the first block is read', (x, ac) => {
      const open = x.deps.openSource;
      x.deps.openSource = async (uri, contexts, signal) => {
        const src = await open(uri, contexts, signal);
        const read = src.read.bind(src);
        src.read = (off, len, s) => { ac.abort(new Error('interrupted by SIGTERM (test)')); return read(off, len, s); };
        return src;
      };
    }],
    ['the manifest cannot be written', (x) => {
      const t = x.target as MemoryTarget;
      const write = t.writeFileAtomic.bind(t);
      t.writeFileAtomic = async (path, data, signal) => {
        if (path.includes('/points/')) throw new Error('disk full (injected)');
        return write(path, data, signal);
      };
    }],
  ];
  for (const [what, inject] of failures) {
    it(`${what}: no point, no partial file, no job, no new checkpoint, the VM running`, async () => {
      const x = setup({ target: new MemoryTarget(what.includes('fills up') ? { quotaBytes: 3 * MiB } : {}) });
      const dom = x.hv.createDomain({ name: 'vm5', transient: true, disks: [{ size: 8 * MiB }] });
      x.hv.write('vm5', 'vda', 0, pattern(4 * MiB, 0x66));
      const before = (await x.hv.bitmaps('vm5', 'vda')).map((b) => b.name);
      const ac = new AbortController();
      inject(x, ac);
      await expect(runBackup(x.deps, { domain: 'vm5', signal: ac.signal })).rejects.toThrow(/^\[backup\] backup of vm5 failed, no restore point recorded: /);
      const repo = new Repository(x.target);
      expect(await repo.pointIds(dom.uuid)).toEqual([]);
      const files = await listAll(x.target, dom.uuid);
      expect(files.filter((f) => f.includes('.partial-') || /\.(qcow2|sums)$/.test(f))).toEqual([]);
      expect(await x.hv.jobActive('vm5')).toBe(false);
      expect(await x.hv.listCheckpoints('vm5')).toEqual([]);
      expect((await x.hv.bitmaps('vm5', 'vda')).map((b) => b.name)).toEqual(before);
      expect((await x.hv.getDomain('vm5')).state).toBe('running');
      expect(x.hv.listFiles('/work')).toEqual([]);
    });
  }
});

async function listAll(target: BackupTarget, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await target.list(dir).catch(() => [])) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await listAll(target, p));
    else out.push(p);
  }
  return out;
}

describe('runBackup and the VM lease (issue 12 item 1)', () => {
  it("a backup of a VM another job holds fails 'busy' naming it and touches nothing; the lease is gone after each backup", async () => {
    const { hv, target, deps, backup } = setup();
    const dom = hv.createDomain({ name: 'vm1', transient: true, disks: [{ size: 4 * MiB }] });
    const { acquireLease, leasePath } = await import('../repository/lease.ts');
    const other = await acquireLease(target, dom.uuid, { owner: 'prune-1', host: 'agent-b', work: 'prune' });
    await expect(backup({ domain: 'vm1' })).rejects.toThrow(/VM .* is busy: prune \(job prune-1\) on agent-b/);
    expect(await hv.jobActive('vm1')).toBe(false);
    expect((await target.list(dom.uuid)).map((e) => e.name)).toEqual(['vm.lock']);
    await other.release();
    const first = await backup({ domain: 'vm1' });
    expect(await target.stat(leasePath(dom.uuid))).toBeUndefined();
    // two at once on one VM: one runs, the other is refused — never two points with one id
    const both = await Promise.allSettled([backup({ domain: 'vm1' }), runBackup(deps, { domain: 'vm1' })]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(String((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)).toMatch(/busy/);
    expect(new Set((await new Repository(target).pointIds(dom.uuid))).size).toBe(2);
    expect(first.type).toBe('full');
  });
});

describe('runBackup: point ids and order (issue 12 items 1 and 18)', () => {
  it("a host whose clock is behind continues after the newest point: ids and seq follow the points' order, not the clocks", async () => {
    const { hv, deps } = setup();
    const dom = hv.createDomain({ name: 'vm1', transient: true, disks: [{ size: 2 * MiB }] });
    const first = await runBackup({ ...deps, now: () => new Date('2026-12-01T10:00:00Z') }, { domain: 'vm1' });
    // the second agent host's clock is an hour behind; a third run comes in the same second as the second
    const second = await runBackup({ ...deps, host: 'agent-b', now: () => new Date('2026-12-01T09:00:00Z') }, { domain: 'vm1' });
    const third = await runBackup({ ...deps, host: 'agent-b', now: () => new Date('2026-12-01T09:00:00Z') }, { domain: 'vm1' });
    expect([first.pointId, second.pointId, third.pointId]).toEqual(['20261201-100000', '20261201-100001', '20261201-100002']);
    expect([first.manifest.seq, second.manifest.seq, third.manifest.seq]).toEqual([1, 2, 3]);
    expect([second.manifest.parent, third.manifest.parent]).toEqual([first.pointId, second.pointId]);
    expect(third.type).toBe('incremental');
    expect((await new Repository(deps.target).head(dom.uuid))?.id).toBe(third.pointId);
    // no claim is left once the points are committed
    expect((await deps.target.list(`${dom.uuid}/points`)).map((e) => e.name).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a lease taken over mid-run (this run was presumed dead): nothing is committed, the run stops', async () => {
    const { hv, target, deps } = setup();
    const dom = hv.createDomain({ name: 'vm1', transient: true, disks: [{ size: 4 * MiB }] });
    hv.write('vm1', 'vda', 0, pattern(4 * MiB, 0x5a));
    const { leasePath } = await import('../repository/lease.ts');
    let stolen = false;
    const r = await runBackup(deps, {
      domain: 'vm1',
      onProgress: () => {
        if (stolen) return;
        stolen = true;
        // another host found the lease expired and took it (its record replaces ours)
        void target.writeFileAtomic(leasePath(dom.uuid), JSON.stringify({
          format: 'sendense-lease', version: 1, owner: 'backup-other', host: 'agent-c', pid: 1, work: 'backup',
          acquired_at: new Date().toISOString(), expires_at: new Date(Date.now() + 90_000).toISOString(),
        }));
      },
    }).then(() => undefined, (e: Error) => e);
    expect(r?.message).toMatch(/no restore point recorded.*lease on VM .* was lost: now held by backup \(job backup-other\) on agent-c/);
    expect(await new Repository(target).pointIds(dom.uuid)).toEqual([]);
    expect(await hv.jobActive('vm1')).toBe(false);
    // the other holder's lease is left as it is
    expect(JSON.parse((await target.readFile(leasePath(dom.uuid))).toString())).toMatchObject({ owner: 'backup-other' });
  });
});

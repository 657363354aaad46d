/**
 * @layer testing
 * The Hypervisor contract suite: `hypervisorContract(name, makeFixture)` runs the same tests
 * against every adapter — memory, and libvirt with real lab VMs. A fixture makes VMs (transient or
 * persistent, qcow2/raw disks), writes into them as a guest would, kills QEMU, and reads an
 * export's meta context map (memory: the export's BlockSource; libvirt: nbdinfo --map).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_ALLOCATION, DIRTY, type Extent } from '../blocksource/port.ts';
import { HypervisorError, type BackupExport, type Hypervisor, type HypervisorErrorCode } from './port.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface FixtureVm {
  name: string;
  uuid: string;
  transient: boolean;
  disks: { target: string; image: string; format: 'qcow2' | 'raw' }[];
  write(target: string, offset: number, length: number, pattern: number): Promise<void>;
  zero(target: string, offset: number, length: number): Promise<void>;
  /** `virsh destroy`: QEMU ends, persistent bitmaps are flushed; a transient domain is gone */
  destroy(): Promise<void>;
  /** starts it again: a transient one is created again from the same XML */
  start(): Promise<void>;
  /** SIGKILL to QEMU; resolves once the domain is no longer running */
  kill(): Promise<void>;
  pause(): Promise<void>;
}

export interface VmSpec {
  transient: boolean;
  disks: { size: number; format?: 'qcow2' | 'raw' }[];
  /** default true */
  start?: boolean;
  /** a guest agent channel with nothing answering (no guest OS) */
  guestAgentChannel?: boolean;
}

export interface HypervisorFixture {
  hv: Hypervisor;
  /** another adapter on the same host, as a restarted agent would have (no memory of jobs) */
  restartedAgent(): Hypervisor;
  vm(spec: VmSpec): Promise<FixtureVm>;
  /** a fresh directory path (not created) for a job's socket and scratch files */
  dir(label: string): string;
  exists(path: string): boolean;
  /** entries of a directory ([] when it does not exist) */
  list(dir: string): string[];
  /** the extents of `context` over a whole export */
  map(exp: { uri: string; socketPath: string; exportName: string }, context: string): Promise<Extent[]>;
  /** a bitmap created behind Sendense's back (CloudStack's own), on a stopped image */
  foreignBitmap(image: string, name: string): Promise<void>;
  /**
   * starts a domain job on a running VM that is not Sendense's (libvirt: another tool's pull
   * backup on its own socket); resolves with a function that ends it
   */
  foreignJob(vm: FixtureVm): Promise<() => Promise<void>>;
  cleanup(): Promise<void>;
}

/** [start, end) ranges whose flags have `bit` set, merged. */
export function ranges(extents: Extent[], bit: number): [number, number][] {
  const out: [number, number][] = [];
  for (const e of extents) {
    if (!(e.flags & bit)) continue;
    const last = out[out.length - 1];
    if (last && last[1] === e.offset) last[1] += e.length;
    else out.push([e.offset, e.offset + e.length]);
  }
  return out;
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: HypervisorErrorCode): Promise<HypervisorError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (!(e instanceof HypervisorError)) throw new Error(`expected HypervisorError '${code}', got ${String(e)}`, { cause: e });
    expect(e.code, e.message).toBe(code);
    expect(e.message).toMatch(/^\[hypervisor\]/);
    return e;
  }
  throw new Error(`expected HypervisorError '${code}', but it resolved`);
}

export function hypervisorContract(name: string, makeFixture: () => Promise<HypervisorFixture>): void {
  describe(`Hypervisor contract: ${name}`, () => {
    let fx: HypervisorFixture;
    let hv: Hypervisor;
    beforeAll(async () => { fx = await makeFixture(); hv = fx.hv; });
    afterAll(async () => { await fx?.cleanup(); });

    // Sendense's layout: the export socket in a `job-<8 hex>` folder (that is how its jobs are recognised)
    const job = (label: string) => {
      const d = fx.dir(label);
      return { socketPath: `${d}/job-${randomBytes(4).toString('hex')}/nbd.sock`, scratchDir: `${d}/scratch` };
    };
    const full = async (vmName: string, cp: string, targets: string[], label: string, cpDisks = targets): Promise<BackupExport> =>
      hv.beginBackup(vmName, { disks: targets.map((target) => ({ target })), checkpoint: { name: cp, disks: cpDisks }, ...job(label) });

    it('lists and finds domains by name and UUID; disks with their images; unknown names are not-found', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 8 * MiB }, { size: 4 * MiB, format: 'raw' }] });
      const all = await hv.listDomains();
      const mine = all.find((d) => d.uuid === vm.uuid);
      expect(mine).toMatchObject({ name: vm.name, state: 'running', persistent: false });
      expect(await hv.getDomain(vm.uuid)).toMatchObject({ name: vm.name, uuid: vm.uuid });
      expect((await hv.getDomain(vm.name)).id).toBeTypeOf('number');
      const disks = await hv.disks(vm.name);
      expect(disks.map((d) => [d.target, d.kind, d.source, d.format, d.device, d.readonly])).toEqual([
        ['vda', 'file', vm.disks[0].image, 'qcow2', 'disk', false],
        ['vdb', 'file', vm.disks[1].image, 'raw', 'disk', false],
      ]);
      expect(disks[0].alias).toBe('virtio-disk0');
      await rejectsWith(hv.getDomain('sendense-no-such-domain'), 'not-found');
      await rejectsWith(hv.disks('sendense-no-such-domain'), 'not-found');
      await rejectsWith(hv.bitmaps(vm.name, 'vdz'), 'not-found');
      const p = await fx.vm({ transient: false, start: false, disks: [{ size: 4 * MiB }] });
      expect(await hv.getDomain(p.name)).toMatchObject({ state: 'shutoff', persistent: true });
      expect((await hv.getDomain(p.name)).id).toBeUndefined();
    });

    it('full backup with a checkpoint: exports, job active, no second job, abort idempotent, files removed', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 8 * MiB }, { size: 4 * MiB }] });
      await vm.write('vda', 0, MiB, 0x11);
      const j = job('full');
      const exp = await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }, { target: 'vdb' }], checkpoint: { name: 'sendense-c1', disks: ['vda', 'vdb'] }, ...j });
      expect(exp.socketPath).toBe(j.socketPath);
      expect(exp.checkpoint).toBe('sendense-c1');
      expect(exp.exports.map((e) => [e.disk, e.exportName, e.bitmapContext])).toEqual([['vda', 'vda', undefined], ['vdb', 'vdb', undefined]]);
      expect(exp.exports[0].uri).toBe(`nbd+unix:///vda?socket=${j.socketPath}`);
      expect(await hv.jobActive(vm.name)).toBe(true);
      expect(fx.exists(j.socketPath)).toBe(true);
      const scratch = fx.list(j.scratchDir);
      expect(scratch).toHaveLength(2);
      expect(scratch.every((f) => f.startsWith(`${vm.uuid}-`) && f.endsWith('.qcow2'))).toBe(true);
      // the export is the disk at the point in time: allocation shows the 1 MiB written
      expect(ranges(await fx.map(exp.exports[0], BASE_ALLOCATION), 0xff)[0]?.[0]).toBe(MiB);
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...job('second') }), 'job-active');
      const cps = await hv.listCheckpoints(vm.name);
      expect(cps.map((c) => [c.name, c.parent, c.disks])).toEqual([['sendense-c1', undefined, [{ target: 'vda', bitmap: 'sendense-c1' }, { target: 'vdb', bitmap: 'sendense-c1' }]]]);
      expect(Math.abs(cps[0].creationTime - Date.now() / 1000)).toBeLessThan(120);
      expect((await hv.bitmaps(vm.name, 'vda')).find((b) => b.name === 'sendense-c1')).toMatchObject({ recording: true, inconsistent: false, persistent: true });
      await hv.abortJob(vm.name);
      expect(await hv.jobActive(vm.name)).toBe(false);
      expect(fx.exists(j.socketPath)).toBe(false);
      expect(fx.list(j.scratchDir)).toEqual([]);
      await hv.abortJob(vm.name);
      await hv.abortJob(vm.uuid);
      expect(await hv.listCheckpoints(vm.name)).toHaveLength(1); // the checkpoint outlives the job
    });

    it('a restarted agent ends the job a crashed one left, and removes its socket and scratch files', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }, { size: 4 * MiB }] });
      const j = job('restart');
      await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }, { target: 'vdb' }], ...j });
      expect(fx.list(j.scratchDir)).toHaveLength(2);
      const again = fx.restartedAgent();
      expect(await again.jobActive(vm.name)).toBe(true);
      await again.abortJob(vm.name);
      expect(await again.jobActive(vm.name)).toBe(false);
      expect(fx.exists(j.socketPath)).toBe(false);
      expect(fx.list(j.scratchDir)).toEqual([]);
      await hv.abortJob(vm.name);
    });

    it("another party's domain job is never aborted: 'busy: <job>', the job keeps running (issue 12 item 3)", async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }] });
      const stop = await fx.foreignJob(vm);
      try {
        for (const agent of [hv, fx.restartedAgent()]) {
          expect(await agent.jobActive(vm.name)).toBe(true);
          const e = await rejectsWith(agent.abortJob(vm.name), 'job-active');
          expect(e.message).toMatch(/busy: Backup \(pull, socket .*: not Sendense's\)|busy: Backup \(not Sendense's\)/);
          expect(e.message).toMatch(/Sendense leaves it alone/);
          expect(await agent.jobActive(vm.name)).toBe(true);
          await rejectsWith(agent.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...job('busy') }), 'job-active');
          expect(await agent.jobActive(vm.name)).toBe(true);
        }
      } finally {
        await stop();
      }
      expect(await hv.jobActive(vm.name)).toBe(false);
      const j = job('after');
      await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...j });
      await hv.abortJob(vm.name);
    });

    it('incremental from a checkpoint: dirty map of aligned, unaligned and zero writes; later writes excluded', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 32 * MiB }, { size: 8 * MiB }] });
      await full(vm.name, 'sendense-i1', ['vda', 'vdb'], 'i1');
      await hv.abortJob(vm.name);
      await vm.write('vda', 3 * MiB, 2 * MiB, 0x5a);
      await vm.write('vda', 20 * MiB + 4096, 1000, 0x5b);
      await vm.zero('vda', 0, 64 * KiB);
      await vm.write('vdb', 7 * MiB, 4096, 0x01);
      const exp = await hv.beginBackup(vm.name, {
        disks: [{ target: 'vda', incrementalFrom: 'sendense-i1' }, { target: 'vdb', incrementalFrom: 'sendense-i1' }],
        checkpoint: { name: 'sendense-i2', disks: ['vda', 'vdb'] }, ...job('i2'),
      });
      await vm.write('vda', 10 * MiB, MiB, 0x77); // after the point in time
      const [a, b] = exp.exports;
      expect(a.bitmapContext).toMatch(/^qemu:dirty-bitmap:\S+$/);
      expect(ranges(await fx.map(a, a.bitmapContext!), DIRTY)).toEqual([[0, 64 * KiB], [3 * MiB, 5 * MiB], [20 * MiB, 20 * MiB + 64 * KiB]]);
      expect(ranges(await fx.map(b, b.bitmapContext!), DIRTY)).toEqual([[7 * MiB, 7 * MiB + 64 * KiB]]);
      await hv.abortJob(vm.name);
      const cps = await hv.listCheckpoints(vm.name);
      expect(cps.map((c) => [c.name, c.parent])).toEqual([['sendense-i1', undefined], ['sendense-i2', 'sendense-i1']]);
      // the write after the point in time is in the new checkpoint's bitmap
      const exp3 = await hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-i2' }], ...job('i3') });
      expect(ranges(await fx.map(exp3.exports[0], exp3.exports[0].bitmapContext!), DIRTY)).toEqual([[10 * MiB, 11 * MiB]]);
      await hv.abortJob(vm.name);
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-nope' }], ...job('i4') }), 'checkpoint-missing');
      expect(await hv.jobActive(vm.name)).toBe(false);
    });

    it('transient restart: libvirt forgets checkpoints, bitmaps stay; redefine brings one back for an incremental', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 16 * MiB }] });
      await full(vm.name, 'sendense-t1', ['vda'], 't1');
      await hv.abortJob(vm.name);
      const [rec] = await hv.listCheckpoints(vm.name);
      await vm.write('vda', 2 * MiB, MiB, 0x42);
      await vm.destroy();
      await rejectsWith(hv.getDomain(vm.name), 'not-found');
      expect((await hv.imageBitmaps(vm.disks[0].image)).map((b) => [b.name, b.recording, b.inconsistent])).toEqual([['sendense-t1', true, false]]);
      await vm.start();
      expect(await hv.listCheckpoints(vm.name)).toEqual([]);
      expect((await hv.bitmaps(vm.name, 'vda')).find((b) => b.name === 'sendense-t1')).toMatchObject({ recording: true, inconsistent: false });
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-t1' }], ...job('t2') }), 'checkpoint-missing');
      // a naive re-creation collides with the bitmap still in the image
      await rejectsWith(full(vm.name, 'sendense-t1', ['vda'], 't2b'), 'bitmap-exists');
      expect(await hv.jobActive(vm.name)).toBe(false);
      await hv.redefineCheckpoint(vm.name, { ...rec, parent: 'sendense-unknown-parent' });
      await hv.redefineCheckpoint(vm.name, rec); // replaces, idempotent
      expect(await hv.listCheckpoints(vm.name)).toEqual([rec]);
      await vm.write('vda', 5 * MiB, 4096, 0x43);
      const exp = await hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-t1' }], checkpoint: { name: 'sendense-t2', disks: ['vda'] }, ...job('t3') });
      expect(ranges(await fx.map(exp.exports[0], exp.exports[0].bitmapContext!), DIRTY)).toEqual([[2 * MiB, 3 * MiB], [5 * MiB, 5 * MiB + 64 * KiB]]);
      await hv.abortJob(vm.name);
      expect((await hv.listCheckpoints(vm.name)).map((c) => [c.name, c.parent])).toEqual([['sendense-t1', undefined], ['sendense-t2', 'sendense-t1']]);
      // metadata only: the bitmaps stay
      await hv.deleteCheckpointMetadata(vm.name, 'sendense-t1');
      await hv.deleteCheckpointMetadata(vm.name, 'sendense-t1');
      expect((await hv.listCheckpoints(vm.name)).map((c) => c.name)).toEqual(['sendense-t2']);
      expect((await hv.bitmaps(vm.name, 'vda')).map((b) => b.name).sort()).toEqual(['sendense-t1', 'sendense-t2']);
      await rejectsWith(hv.removeBitmap(vm.name, 'vda', 'sendense-t2'), 'checkpoint-exists');
      await hv.removeBitmap(vm.name, 'vda', 'sendense-t1');
      await hv.removeBitmap(vm.name, 'vda', 'sendense-t1');
      expect((await hv.bitmaps(vm.name, 'vda')).map((b) => b.name)).toEqual(['sendense-t2']);
    });

    it('QEMU killed with SIGKILL: a flushed bitmap is inconsistent, an unflushed one is missing; both refuse incrementals', async () => {
      const vm = await fx.vm({ transient: false, disks: [{ size: 16 * MiB }] });
      await full(vm.name, 'sendense-k1', ['vda'], 'k1');
      await hv.abortJob(vm.name);
      await vm.destroy(); // flushes sendense-k1 into the image
      await vm.start();
      await full(vm.name, 'sendense-k2', ['vda'], 'k2'); // created in this run: never flushed
      await hv.abortJob(vm.name);
      await vm.write('vda', 0, MiB, 0x66);
      await vm.kill();
      expect((await hv.getDomain(vm.name)).state).toBe('shutoff');
      const offline = await hv.bitmaps(vm.name, 'vda');
      expect(offline.map((b) => [b.name, b.inconsistent])).toEqual([['sendense-k1', true]]);
      await vm.start();
      expect((await hv.listCheckpoints(vm.name)).map((c) => c.name)).toEqual(['sendense-k1', 'sendense-k2']);
      expect((await hv.bitmaps(vm.name, 'vda')).find((b) => b.name === 'sendense-k1')).toMatchObject({ inconsistent: true, recording: false });
      const e1 = await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-k1' }], ...job('k3') }), 'bitmap-inconsistent');
      expect(e1.message).toMatch(/full backup/);
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda', incrementalFrom: 'sendense-k2' }], ...job('k4') }), 'bitmap-missing');
      expect(await hv.jobActive(vm.name)).toBe(false);
      // recovery: forget and drop the broken one, then a full backup with a new checkpoint works
      for (const c of ['sendense-k1', 'sendense-k2']) await hv.deleteCheckpointMetadata(vm.name, c);
      await hv.removeBitmap(vm.name, 'vda', 'sendense-k1');
      expect(await hv.bitmaps(vm.name, 'vda')).toEqual([]);
      await full(vm.name, 'sendense-k5', ['vda'], 'k5');
      await hv.abortJob(vm.name);
    });

    it('refuses names outside sendense- before doing anything', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }] });
      const rec = { name: 'cloudstack-cp', creationTime: 1, disks: [{ target: 'vda', bitmap: 'cloudstack-cp' }] };
      await rejectsWith(full(vm.name, 'backup-cp1', ['vda'], 'p1'), 'prefix');
      await rejectsWith(full(vm.name, 'sendense-', ['vda'], 'p2'), 'prefix');
      await rejectsWith(full(vm.name, "sendense-x' y", ['vda'], 'p3'), 'invalid');
      expect(await hv.jobActive(vm.name)).toBe(false);
      await rejectsWith(hv.redefineCheckpoint(vm.name, rec), 'prefix');
      await rejectsWith(hv.deleteCheckpointMetadata(vm.name, 'cloudstack-cp'), 'prefix');
      await rejectsWith(hv.removeBitmap(vm.name, 'vda', 'cloudstack-cp'), 'prefix');
      await rejectsWith(hv.addBitmapOffline(vm.disks[0].image, 'nas-backup'), 'prefix');
      await rejectsWith(hv.removeBitmapOffline(vm.disks[0].image, 'nas-backup'), 'prefix');
      expect(await hv.listCheckpoints(vm.name)).toEqual([]);
    });

    it('stopped VM: offline bitmap, redefined checkpoint, qemu-nbd export with the bitmap; busy images refused', async () => {
      const vm = await fx.vm({ transient: false, disks: [{ size: 16 * MiB }, { size: 4 * MiB, format: 'raw' }] });
      const img = vm.disks[0].image;
      await rejectsWith(hv.addBitmapOffline(img, 'sendense-s1'), 'busy');
      await vm.destroy();
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...job('s0') }), 'not-running');
      await hv.addBitmapOffline(img, 'sendense-s1');
      await rejectsWith(hv.addBitmapOffline(img, 'sendense-s1'), 'bitmap-exists');
      await rejectsWith(hv.addBitmapOffline(vm.disks[1].image, 'sendense-s1'), 'unsupported');
      await fx.foreignBitmap(img, 'cloudstack-incr');
      expect((await hv.imageBitmaps(img)).map((b) => [b.name, b.recording, b.inconsistent]).sort()).toEqual([['cloudstack-incr', true, false], ['sendense-s1', true, false]]);
      await hv.redefineCheckpoint(vm.name, { name: 'sendense-s1', creationTime: 1_700_000_000, disks: [{ target: 'vda', bitmap: 'sendense-s1' }] });
      expect(await hv.listCheckpoints(vm.name)).toEqual([{ name: 'sendense-s1', creationTime: 1_700_000_000, disks: [{ target: 'vda', bitmap: 'sendense-s1' }] }]);
      await vm.start();
      await vm.write('vda', 6 * MiB, 128 * KiB, 0x31);
      await vm.destroy();
      const sock = `${fx.dir('s1')}/vda.sock`;
      const se = await hv.exportStopped(img, { socketPath: sock, bitmap: 'sendense-s1' });
      expect(se.exportName).toBe('');
      expect(se.bitmapContext).toBe('qemu:dirty-bitmap:sendense-s1');
      expect(se.uri).toBe(`nbd+unix:///?socket=${sock}`);
      expect(fx.exists(sock)).toBe(true);
      expect(ranges(await fx.map(se, se.bitmapContext!), DIRTY)).toEqual([[6 * MiB, 6 * MiB + 128 * KiB]]);
      await rejectsWith(hv.addBitmapOffline(img, 'sendense-s2'), 'busy');
      await rejectsWith(hv.exportStopped(img, { socketPath: sock }), 'invalid');
      await se.stop();
      await se.stop();
      expect(fx.exists(sock)).toBe(false);
      await rejectsWith(hv.exportStopped(img, { socketPath: `${fx.dir('s2')}/x.sock`, bitmap: 'sendense-none' }), 'bitmap-missing');
      const raw = await hv.exportStopped(vm.disks[1].image, { socketPath: `${fx.dir('s3')}/vdb.sock` });
      expect(raw.bitmapContext).toBeUndefined();
      await raw.stop();
      await hv.deleteCheckpointMetadata(vm.name, 'sendense-s1');
      await hv.removeBitmap(vm.name, 'vda', 'sendense-s1');
      await hv.removeBitmapOffline(img, 'sendense-s1');
      expect((await hv.imageBitmaps(img)).map((b) => b.name)).toEqual(['cloudstack-incr']);
    });

    it('exports an interrupted run left behind are stopped and free their image', async () => {
      const vm = await fx.vm({ transient: false, start: false, disks: [{ size: 4 * MiB }] });
      const d = fx.dir('left');
      const lost = await hv.exportStopped(vm.disks[0].image, { socketPath: `${d}/job-1/vda.sock` }); // its handle is "lost"
      await rejectsWith(hv.addBitmapOffline(vm.disks[0].image, 'sendense-l1'), 'busy');
      expect(await hv.stopLeftoverExports(fx.dir('elsewhere'))).toBe(0);
      expect(fx.exists(lost.socketPath)).toBe(true);
      expect(await hv.stopLeftoverExports(d)).toBe(1);
      expect(fx.exists(lost.socketPath)).toBe(false);
      await hv.addBitmapOffline(vm.disks[0].image, 'sendense-l1');
      expect(await hv.stopLeftoverExports(d)).toBe(0);
      await lost.stop();
    });

    it('an inconsistent bitmap in a stopped image refuses an export', async () => {
      const vm = await fx.vm({ transient: false, disks: [{ size: 8 * MiB }] });
      await vm.destroy();
      await hv.addBitmapOffline(vm.disks[0].image, 'sendense-x1');
      await vm.start();
      await vm.write('vda', 0, 64 * KiB, 1);
      await vm.kill();
      expect((await hv.imageBitmaps(vm.disks[0].image))[0]).toMatchObject({ name: 'sendense-x1', inconsistent: true });
      await rejectsWith(hv.exportStopped(vm.disks[0].image, { socketPath: `${fx.dir('x1')}/x.sock`, bitmap: 'sendense-x1' }), 'bitmap-inconsistent');
      await hv.removeBitmapOffline(vm.disks[0].image, 'sendense-x1');
      expect(await hv.imageBitmaps(vm.disks[0].image)).toEqual([]);
    });

    it('a raw disk cannot hold a checkpoint bitmap but is exported in full beside a qcow2 one', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 8 * MiB }, { size: 4 * MiB, format: 'raw' }] });
      await rejectsWith(full(vm.name, 'sendense-r1', ['vda', 'vdb'], 'r1'), 'unsupported');
      expect(await hv.jobActive(vm.name)).toBe(false);
      const exp = await full(vm.name, 'sendense-r1', ['vda', 'vdb'], 'r2', ['vda']);
      expect(exp.exports.map((e) => e.disk)).toEqual(['vda', 'vdb']);
      await hv.abortJob(vm.name);
      expect((await hv.listCheckpoints(vm.name))[0].disks).toEqual([{ target: 'vda', bitmap: 'sendense-r1' }]);
    });

    it('two VMs backed up at once with one scratch directory do not collide', async () => {
      const [v1, v2] = await Promise.all([fx.vm({ transient: true, disks: [{ size: 4 * MiB }] }), fx.vm({ transient: true, disks: [{ size: 4 * MiB }] })]);
      const shared = fx.dir('shared');
      const [e1, e2] = await Promise.all([
        hv.beginBackup(v1.name, { disks: [{ target: 'vda' }], checkpoint: { name: 'sendense-c1', disks: ['vda'] }, socketPath: `${shared}/a/nbd.sock`, scratchDir: `${shared}/scratch` }),
        hv.beginBackup(v2.name, { disks: [{ target: 'vda' }], checkpoint: { name: 'sendense-c1', disks: ['vda'] }, socketPath: `${shared}/b/nbd.sock`, scratchDir: `${shared}/scratch` }),
      ]);
      expect(e1.socketPath).not.toBe(e2.socketPath);
      expect(fx.list(`${shared}/scratch`)).toHaveLength(2);
      await hv.abortJob(v1.name);
      expect(await hv.jobActive(v2.name)).toBe(true);
      expect(fx.list(`${shared}/scratch`)).toHaveLength(1);
      expect(fx.exists(e2.socketPath)).toBe(true);
      await hv.abortJob(v2.name);
      expect(fx.list(`${shared}/scratch`)).toEqual([]);
    });

    it('an aborted signal leaves no job; an existing socket path is refused', async () => {
      const vm = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }] });
      const ac = new AbortController();
      ac.abort(new Error('stop'));
      await expect(hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...job('a1') }, ac.signal)).rejects.toThrow();
      expect(await hv.jobActive(vm.name)).toBe(false);
      const j = job('a2');
      await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], ...j });
      await hv.abortJob(vm.name);
      const v2 = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }] });
      const e = await hv.beginBackup(v2.name, { disks: [{ target: 'vda' }], ...job('a3') });
      await rejectsWith(hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], socketPath: e.socketPath, scratchDir: job('a4').scratchDir }), 'invalid');
      await hv.abortJob(v2.name);
    });

    it('guest agent: without an agent answering, freeze says unavailable within the timeout; pause and resume', async () => {
      const withChannel = await fx.vm({ transient: true, guestAgentChannel: true, disks: [{ size: 4 * MiB }] });
      const without = await fx.vm({ transient: true, disks: [{ size: 4 * MiB }] });
      for (const vm of [withChannel, without]) {
        const t0 = Date.now();
        const fr = await hv.guestAgentFreeze(vm.name, 1500);
        expect(Date.now() - t0).toBeLessThan(1500 + 2500);
        expect(fr.ok).toBe(false);
        if (!fr.ok) expect(fr.reason).toBe('unavailable');
        expect(await hv.guestAgentAvailable(vm.name, 1500)).toBe(false);
        const th = await hv.guestAgentThaw(vm.name, 1500);
        expect(th.ok).toBe(false);
        expect(Date.now() - t0).toBeLessThan(3 * 1500 + 3000);
      }
      // an abort cuts a freeze or thaw waiting on a silent agent short: it rejects with the reason.
      // (Real QEMU knows a channel no guest has opened and libvirt answers 'not connected' at once;
      // then there is nothing to cut short, and the answer must be 'unavailable' — never a hang.)
      for (const call of [(sig: AbortSignal) => hv.guestAgentFreeze(withChannel.name, 20_000, sig), (sig: AbortSignal) => hv.guestAgentThaw(withChannel.name, 20_000, sig)]) {
        const ac = new AbortController();
        const t1 = Date.now();
        const timer = setTimeout(() => ac.abort(new Error('stopped (test)')), 300);
        const r = await call(ac.signal).then((v) => ({ v }), (e: unknown) => ({ e }));
        clearTimeout(timer);
        if ('e' in r) expect((r.e as Error).message).toContain('stopped (test)');
        else {
          expect(r.v.ok).toBe(false);
          if (!r.v.ok) expect(r.v.reason).toBe('unavailable');
          expect(ac.signal.aborted, 'answered after the abort instead of rejecting').toBe(false);
        }
        expect(Date.now() - t1).toBeLessThan(10_000);
      }
      expect(await hv.isPaused(without.name)).toBe(false);
      await without.pause();
      expect(await hv.isPaused(without.name)).toBe(true);
      expect((await hv.getDomain(without.name)).state).toBe('paused');
      await hv.resume(without.name);
      await hv.resume(without.name);
      expect(await hv.isPaused(without.name)).toBe(false);
    });
  });
}

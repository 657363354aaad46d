/**
 * Issue 3 §8, the main scenario: a 2-disk transient VM, a full backup, then five rounds of
 * guest-like writes (aligned, unaligned, zero writes) each followed by an incremental, all into
 * a repository on a real sshd over loopback through the real CLI. Then every point of every disk
 * is restored (qcow2 and raw) and compared with the disk's content at that point (qemu-img compare),
 * and verify passes for all points.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { backupWithCli, cli, sameContent, sshArgs } from './fixture.ts';

const K = 1024, M = 1 << 20;
let vm: LabVm;
let host: RepoHost;
const truths: { point: string; vda: string; vdb: string; type: string }[] = [];

beforeAll(async () => {
  host = await startRepoHost({ label: 'chain' });
  vm = await createLabVm({
    label: 'chain', transient: true,
    disks: [{ size: 64 * M, init: [{ offset: 0, length: 6 * M, pattern: 0x11 }] }, { size: 32 * M + 4096, init: [{ offset: 8 * M, length: M, pattern: 0x22 }] }],
  });
});
afterAll(async () => { await vm?.remove(); await host?.stop(); });

async function backup(expectType: 'full' | 'incremental'): Promise<string> {
  const r = await backupWithCli({ vm, host, expect: expectType, truths: ['vda', 'vdb'] });
  truths.push({ point: r.pointId, vda: r.truths.vda, vdb: r.truths.vdb, type: r.json.type });
  // the VM is left running, no job
  expect(await vm.state()).toBe('running');
  return r.json.point_id;
}

describe('agent: full + 5 incrementals of a 2-disk VM over SSH', () => {
  it('backs up, restores every point of every disk bit-exactly, verifies', { timeout: 900_000 }, async () => {
    await backup('full');
    const rounds: [string, number, number, number | 'zero'][][] = [
      [['vda', 10 * M, M, 0xa1], ['vdb', 0, 64 * K, 0xb1]],
      [['vda', 3 * M + 512, 3000, 0xa2], ['vdb', 20 * M + 100, 5, 0xb2], ['vda', 0, 128 * K, 'zero']],
      [['vdb', 8 * M, M, 'zero'], ['vda', 63 * M, M, 0xa3]],
      [['vda', 5 * M, 64 * K, 'zero'], ['vda', 5 * M + 64 * K, 4096, 0xa4], ['vdb', 32 * M, 4096, 0xb4]],
      [['vda', 30 * M + 1, 2 * M, 0xa5], ['vdb', 31 * M, M + 4096, 0xb5]],
    ];
    for (const writes of rounds) {
      for (const [disk, off, len, pat] of writes) {
        if (pat === 'zero') await vm.zero(disk, off, len);
        else await vm.write(disk, off, len, pat);
      }
      await backup('incremental');
    }
    // every point of every disk, alternating formats
    const out = labDir('runs', runId(), 'chain-restores');
    let n = 0;
    for (const t of truths) {
      for (const disk of ['vda', 'vdb'] as const) {
        const format = n++ % 2 ? 'raw' : 'qcow2';
        const to = path.join(out, `${t.point}-${disk}.${format}`);
        const r = await cli(['restore', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', disk, '--point', t.point, '--to', to, '--format', format, '--json']);
        expect(r.stderr).toBe('');
        expect(r.json).toMatchObject({ ok: true, point_id: t.point, verified: true });
        expect(await sameContent(to, format, t[disk]), `${t.point} ${disk} ${format}`).toBe(true);
      }
    }
    // the restores are not trivially equal: consecutive truths differ
    expect(await sameContent(truths[1].vda, 'raw', truths[0].vda)).toBe(false);

    const v = await cli(['verify', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', vm.uuid, '--json']);
    expect(v.code).toBe(0);
    expect(v.json.ok).toBe(true);
    expect(v.json.points).toHaveLength(6);

    const l = await cli(['list', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', vm.uuid, '--json']);
    expect(l.json.points.map((p: { type: string }) => p.type)).toEqual(['full', ...Array(5).fill('incremental')]);
    // incrementals are small: only changed clusters (64 KiB granularity) are stored
    const sizes = l.json.points.map((p: { bytes: number }) => p.bytes);
    expect(Math.max(...sizes.slice(1))).toBeLessThan(6 * M);
  });
});

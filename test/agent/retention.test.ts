/**
 * Issue 6, retention on the agent side: 15 real backups (3 fulls, incrementals between them,
 * aligned / unaligned / zero writes) of a 2-disk lab VM into a repository on a real sshd, then
 * prunes in rounds through the real CLI — the oldest points, a middle point, a whole chain, the
 * newest chain's base — and after each round every remaining point of every disk is restored
 * (through its manifests, every block checked; one per round through the CLI) and compared with its truth (qemu-img compare), qemu-img reads every remaining chain by its backing
 * names, and verify passes. An incremental after the prunes still works on the merged chain.
 * Also: a corrupted byte stops a prune before anything is deleted; scan reports the repository.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { run } from '../../agent/system/run.ts';
import { backupWithCli, cli, sameContent, sshArgs } from './fixture.ts';
import { restoreRaw } from './retention-fixture.ts';
import { openTarget } from '../../agent/target/open.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { verifyPoints } from '../../agent/restore/verify.ts';
import { checkImage } from '../../agent/engine/context.ts';

const K = 1024, M = 1 << 20;
let vm: LabVm;
let host: RepoHost;
interface Truth { point: string; vda: string; vdb: string }
const truths: Truth[] = [];
const out = () => labDir('runs', runId(), 'retention-restores');

beforeAll(async () => {
  host = await startRepoHost({ label: 'retention' });
  vm = await createLabVm({
    label: 'retention', transient: true,
    disks: [{ size: 16 * M, init: [{ offset: 0, length: 3 * M, pattern: 0x11 }] }, { size: 8 * M + 4096, init: [{ offset: 2 * M, length: M, pattern: 0x22 }] }],
  });
});
afterAll(async () => { await vm?.remove(); await host?.stop(); });

const repoDir = (sub = 'repo') => path.join(host.root, sub);

async function backup(mode: 'full' | 'incremental'): Promise<string> {
  const r = await backupWithCli({ vm, host, args: ['--mode', mode], expect: mode, truths: ['vda', 'vdb'] });
  truths.push({ point: r.pointId, vda: r.truths.vda, vdb: r.truths.vdb });
  return r.pointId;
}

/** Guest-like writes for round i: aligned, unaligned and zero writes on both disks. */
async function writes(i: number): Promise<void> {
  const p = 0x30 + i;
  await vm.write('vda', ((i * 3) % 15) * M, M, p);
  await vm.write('vda', (i * 977 + 13) * K + 511, 3000 + i, p + 0x40);
  if (i % 3 === 0) await vm.zero('vda', ((i * 5) % 14) * M, 128 * K);
  if (i % 2 === 0) await vm.write('vdb', (i % 8) * M + 4096 * i, 5000, p + 0x80);
  if (i % 4 === 1) await vm.zero('vdb', 2 * M, 64 * K);
  if (i === 7) await vm.write('vdb', 8 * M, 4096, 0xee);
}

function manifest(id: string, sub = 'repo'): any {
  return JSON.parse(readFileSync(path.join(repoDir(sub), vm.uuid, 'points', `${id}.json`), 'utf8'));
}

/**
 * Every disk of every remaining point: restored through its manifests (in process, every block
 * checked; one point per round through the real CLI) and compared with its truth; qemu-img reads
 * the repository's own chain by its backing names; verify (with the qcow2 checker) passes.
 */
async function checkAll(round: string, expectIds: string[]): Promise<void> {
  const t = await openTarget(host.url('repo'), { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile });
  try {
    const ids = await new Repository(t).pointIds(vm.uuid);
    expect(ids).toEqual(expectIds);
    for (const id of ids) {
      const truth = truths.find((x) => x.point === id)!;
      const m = manifest(id);
      for (const disk of ['vda', 'vdb'] as const) {
        const to = path.join(out(), `${round}-${id}-${disk}.raw`);
        await restoreRaw(t, vm.uuid, id, disk, to);
        expect(await sameContent(to, 'raw', truth[disk]), `${round} restore ${id} ${disk}`).toBe(true);
        const img = path.join(repoDir(), vm.uuid, m.disks.find((d: { target: string }) => d.target === disk).image);
        const info = JSON.parse((await run('qemu-img', ['info', '--backing-chain', '--output=json', '-U', img])).stdout);
        expect(info.length, `${round} ${id} ${disk} chain`).toBeGreaterThan(0);
        expect(await sameContent(img, 'qcow2', truth[disk]), `${round} qemu-img ${id} ${disk}`).toBe(true);
      }
    }
    // the real CLI, once per round: the newest point's first disk as qcow2
    const id = ids[ids.length - 1];
    const to = path.join(out(), `${round}-${id}-cli.qcow2`);
    const r = await cli(['restore', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', 'vda', '--point', id, '--to', to, '--format', 'qcow2', '--json']);
    expect(r.json, r.stderr).toMatchObject({ ok: true, point_id: id, verified: true });
    expect(await sameContent(to, 'qcow2', truths.find((x) => x.point === id)!.vda)).toBe(true);
    const v = await verifyPoints({ target: t, checkImage }, vm.uuid);
    expect(v.ok, JSON.stringify(v.points.flatMap((p) => p.disks.flatMap((d) => d.problems)))).toBe(true);
    expect(v.points).toHaveLength(ids.length);
  } finally {
    await t.close();
  }
}

async function prune(remove: string[]): Promise<any> {
  const r = await cli(['prune', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', vm.uuid, '--remove', remove.join(','), '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.json;
}

/** Files of the repository folder (name → size), for "nothing changed". */
function files(sub: string): Record<string, number> {
  const o: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else o[path.relative(repoDir(sub), p)] = readFileSync(p).length;
    }
  };
  walk(repoDir(sub));
  return o;
}

describe('agent: retention over 15 points on an SSH repository', () => {
  it('prunes in rounds with merge-forward; every remaining point restores bit-exactly', { timeout: 1_500_000 }, async () => {
    const modes: ('full' | 'incremental')[] = ['full', 'incremental', 'incremental', 'incremental', 'incremental', 'full', 'incremental', 'incremental', 'incremental', 'incremental', 'incremental', 'full', 'incremental', 'incremental', 'incremental'];
    for (const [i, mode] of modes.entries()) {
      if (i > 0) await writes(i);
      await backup(mode);
    }
    const ids = truths.map((t) => t.point);
    expect(ids).toHaveLength(15);
    expect(await sameContent(truths[1].vda, 'raw', truths[2].vda)).toBe(false);
    // a copy of the repository as it is now, for the corruption test below
    await run('cp', ['-a', repoDir(), repoDir('repo-15')]);

    // round 1: the two oldest points (a full and its first incremental): point 2 becomes a full
    let r = await prune([ids[0], ids[1]]);
    console.log(`retention: merge of 2 disks (${(r.bytesRead / M).toFixed(1)} MiB of chain read and checked, ${(r.merged[0].bytesWritten / M).toFixed(1)} MiB written) in ${r.durationMs} ms = ${(r.bytesRead / M / (r.durationMs / 1000)).toFixed(1)} MiB/s over SSH, prune included`);
    expect(r.removed).toEqual([ids[0], ids[1]]);
    expect(r.merged).toEqual([{ pointId: ids[2], from: [ids[1], ids[0]], bytesWritten: expect.any(Number) }]);
    const m2 = manifest(ids[2]);
    expect(m2).toMatchObject({ type: 'full', parent: null, merged: { from: [ids[1], ids[0]] } });
    // the new full keeps the old name, so point 3's backing name stays valid
    expect(m2.disks[0].image).toBe(`disk-0/incr-${ids[2]}.qcow2`);
    expect(existsSync(path.join(repoDir(), vm.uuid, 'disk-0', `full-${ids[0]}.qcow2`))).toBe(false);
    await checkAll('r1', ids.slice(2));

    // round 2: a middle incremental: its child is merged, the rest of the chain stays incremental
    r = await prune([ids[7]]);
    expect(r.merged.map((x: { pointId: string }) => x.pointId)).toEqual([ids[8]]);
    expect(manifest(ids[9]).type).toBe('incremental');
    await checkAll('r2', ids.slice(2).filter((x) => x !== ids[7]));

    // round 3: the whole second chain (a full and its incrementals): the next full just loses its parent
    const chain2 = [ids[5], ids[6], ids[8], ids[9], ids[10]];
    r = await prune(chain2);
    // the removed ancestors up to the next remaining point or the chain's base (8 became a full in round 2)
    expect(r.merged).toEqual([{ pointId: ids[11], from: [ids[10], ids[9], ids[8]], bytesWritten: 0 }]);
    expect(manifest(ids[11])).toMatchObject({ type: 'full', parent: null });
    const left3 = [ids[2], ids[3], ids[4], ids[11], ids[12], ids[13], ids[14]];
    await checkAll('r3', left3);

    // round 4: the newest chain's base and its first child: the head is merged, then a new incremental on top
    r = await prune([ids[11], ids[12]]);
    expect(r.merged.map((x: { pointId: string }) => x.pointId)).toEqual([ids[13]]);
    expect(r.bytesFreed).toBeGreaterThan(0);
    await writes(15);
    const next = await backup('incremental');
    expect(manifest(next)).toMatchObject({ type: 'incremental', parent: ids[14] });
    await checkAll('r4', [ids[2], ids[3], ids[4], ids[13], ids[14], next]);

    // scan: one VM, its points, the bytes of its folder, no problems
    const s = await cli(['scan', '--repo', host.url('repo'), ...sshArgs(host), '--json']);
    expect(s.code).toBe(0);
    expect(s.json.vms).toHaveLength(1);
    const du = Number((await run('du', ['-sb', '--apparent-size', path.join(repoDir(), vm.uuid)])).stdout.split('\t')[0]);
    const dirs = Number((await run('sh', ['-c', `find '${path.join(repoDir(), vm.uuid)}' -type d | wc -l`])).stdout.trim());
    expect(s.json.vms[0]).toMatchObject({ vmId: vm.uuid, problems: [], metadata: { vm_uuid: vm.uuid } });
    expect(s.json.vms[0].points.map((p: { id: string }) => p.id)).toEqual([ids[2], ids[3], ids[4], ids[13], ids[14], next]);
    // du counts the directories' own sizes too
    expect(s.json.vms[0].bytesUsed).toBeGreaterThan(du - dirs * 4096 - 1);
    expect(s.json.vms[0].bytesUsed).toBeLessThanOrEqual(du);

    // a corrupted byte in an image a merge must read: the prune refuses and deletes nothing
    const victim = path.join(repoDir('repo-15'), vm.uuid, 'disk-0', `incr-${ids[1]}.qcow2`);
    const buf = readFileSync(victim);
    buf[65536 + 1000] ^= 0xff; // the first data cluster (cluster 0 is the header)
    writeFileSync(victim, buf);
    const before = files('repo-15');
    const bad = await cli(['prune', '--repo', host.url('repo-15'), ...sshArgs(host), '--vm-id', vm.uuid, '--remove', ids[1], '--json']);
    expect(bad.code).toBe(1);
    expect(bad.json.error).toMatch(/does not match its digest/);
    expect(files('repo-15')).toEqual(before);
  });
});

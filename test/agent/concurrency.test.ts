/**
 * Issue 3 §5/§8: several VMs backed up at once by one agent host do not interfere (sockets,
 * scratch files, names, memory), into one repository; --quiesce on a VM whose guest agent does
 * not answer is recorded as crash-consistent with the reason; a corrupted byte in the repository
 * is caught by verify.
 */
import path from 'node:path';
import { openSync, readSync, writeSync, closeSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { virsh } from '../lab/virsh.ts';
import { backupWithCli, cli, sameContent, sshArgs } from './fixture.ts';

const M = 1 << 20;
let host: RepoHost;
const vms: LabVm[] = [];
beforeAll(async () => { host = await startRepoHost({ label: 'conc' }); });
afterAll(async () => { for (const v of vms) await v.remove().catch(() => {}); await host?.stop(); });

const backup = async (vm: LabVm, extra: string[] = []) => (await backupWithCli({ vm, host, repo: 'shared', args: extra })).result;

describe('agent: several VMs at once', () => {
  it('backs up three 2-disk VMs concurrently, full then incremental, all restorable', async () => {
    for (let i = 0; i < 3; i++) {
      vms.push(await createLabVm({ label: `conc${i}`, transient: true, disks: [{ size: 48 * M, randomPrefix: 24 * M }, { size: 16 * M, init: [{ offset: 0, length: M, pattern: 0x10 + i }] }] }));
    }
    for (const round of ['full', 'incremental'] as const) {
      if (round === 'incremental') for (const [i, vm] of vms.entries()) { await vm.write('vda', (i + 1) * M, 2 * M, 0x80 + i); await vm.zero('vdb', 0, 64 * 1024); }
      const truths = await Promise.all(vms.map(async (vm) => ({ vda: await vm.truth('vda'), vdb: await vm.truth('vdb') })));
      const results = await Promise.all(vms.map((vm) => backup(vm)));
      for (const [i, r] of results.entries()) {
        expect(r.stderr, r.stderr).toBe('');
        expect(r.json.type).toBe(round);
        for (const disk of ['vda', 'vdb'] as const) {
          const to = path.join(labDir('runs', runId(), 'conc-restores'), `${vms[i].name}-${disk}-${round}.qcow2`);
          const rr = await cli(['restore', '--repo', host.url('shared'), ...sshArgs(host), '--vm-id', vms[i].uuid, '--disk', disk, '--to', to, '--json']);
          expect(rr.json?.ok, rr.stderr).toBe(true);
          expect(await sameContent(to, 'qcow2', truths[i][disk]), `${vms[i].name} ${disk} ${round}`).toBe(true);
        }
      }
    }
    const l = await cli(['list', '--repo', host.url('shared'), ...sshArgs(host), '--json']);
    expect(l.json.vms).toHaveLength(3);
  });

  it('--quiesce without an answering guest agent: crash-consistent, said so, VM not left frozen or paused', async () => {
    const vm = await createLabVm({ label: 'quiesce', transient: true, guestAgentChannel: true, disks: [{ size: 16 * M, init: [{ offset: 0, length: M, pattern: 0x33 }] }] });
    vms.push(vm);
    const t0 = Date.now();
    const r = await backup(vm, ['--quiesce']);
    expect(r.stderr, r.stderr).toBe('');
    expect(r.json.consistency).toMatch(/^crash-consistent: guest agent/);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(await vm.state()).toBe('running');
    expect(await virsh(['domjobinfo', vm.name])).toMatch(/Job type:\s+None/);
  });

  it('verify catches one corrupted byte in a repository image', async () => {
    const vm = vms[0];
    const ok = await cli(['verify', '--repo', host.url('shared'), ...sshArgs(host), '--vm-id', vm.uuid, '--json']);
    expect(ok.code).toBe(0);
    const dir = path.join(host.root, 'shared', vm.uuid, 'disk-0');
    const full = readdirSync(dir).find((f) => f.startsWith('full-') && f.endsWith('.qcow2'))!;
    const fd = openSync(path.join(dir, full), 'r+');
    const b = Buffer.alloc(1);
    const at = 3 * 65536 + 12345; // inside the data clusters
    readSync(fd, b, 0, 1, at);
    b[0] ^= 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    const bad = await cli(['verify', '--repo', host.url('shared'), ...sshArgs(host), '--vm-id', vm.uuid, '--json']);
    expect(bad.code).toBe(1);
    expect(bad.json.ok).toBe(false);
    expect(JSON.stringify(bad.json)).toMatch(/file digest differs/);
    // and a restore of the full point (whose data the damaged cluster holds) refuses to hand out damaged data
    const fullId = full.slice('full-'.length, -'.qcow2'.length);
    const to = path.join(labDir('runs', runId(), 'conc-restores'), 'damaged.raw');
    const rr = await cli(['restore', '--repo', host.url('shared'), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', 'vda', '--point', fullId, '--to', to, '--format', 'raw']);
    expect(rr.code).toBe(1);
    expect(rr.stderr).toMatch(/does not match its digest/);
  });
});

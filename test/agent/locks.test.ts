/**
 * Issue 12 item 1, the lock itself, with real processes: the repository lease (`<vm>/vm.lock`,
 * agent/repository/lease.ts) and the host-local lock (agent/system/host-lock.ts).
 * - many contenders on one MemoryTarget: exactly one holds the lease at a time;
 * - "two agent hosts": processes with different host ids race on one SSH repository (real sshd)
 *   and one local one: their holding intervals never overlap, losers are told 'busy' naming the holder;
 * - CLI vs daemon on one host: the host lock refuses the second process while the first is alive,
 *   and a SIGKILLed holder's lock (and its expired lease) are taken over — only a dead owner's.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLease, LeaseError, leasePath } from '../../agent/repository/lease.ts';
import { acquireHostLock, HostLockError } from '../../agent/system/host-lock.ts';
import { MemoryTarget } from '../../agent/target/memory.ts';
import { labDir, runId } from '../lab/paths.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';

const WORKER = path.resolve(import.meta.dirname, 'lock-worker.ts');
const VM = '7d2e4c1a-0000-4000-8000-00000000abcd';
let repoHost: RepoHost;
beforeAll(async () => { repoHost = await startRepoHost({ label: 'locks' }); }, 120_000);
afterAll(async () => { await repoHost?.stop(); });

interface Line { ok: boolean; held?: boolean; busy?: boolean; host?: string; owner?: string; start?: number; end?: number; lost?: boolean; error?: string }

function worker(args: string[], onLine?: (l: Line, kill: () => void) => void): Promise<Line[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Line[] = [];
    let buf = '';
    let err = '';
    child.stdout.on('data', (b) => {
      buf += b;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = JSON.parse(buf.slice(0, i)) as Line;
        buf = buf.slice(i + 1);
        lines.push(l);
        onLine?.(l, () => child.kill('SIGKILL'));
      }
    });
    child.stderr.on('data', (b) => { err += b; });
    child.on('error', reject);
    child.on('close', (code, sig) => (code === 0 || sig === 'SIGKILL' ? resolve(lines) : reject(new Error(`worker exit ${code}: ${err}`))));
  });
}

function noOverlap(done: Line[]): void {
  const iv = done.filter((l) => l.ok && l.end).map((l) => [l.start!, l.end!, l.owner] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < iv.length; i++) expect(iv[i][0], `${iv[i][2]} started while ${iv[i - 1][2]} held the lease`).toBeGreaterThanOrEqual(iv[i - 1][1]);
}

describe('repository lease', () => {
  it('one holder at a time among 12 contenders on one target; busy names the holder; release lets the next in', async () => {
    const t = new MemoryTarget();
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => acquireLease(t, VM, { owner: `j${i}`, host: `h${i % 3}`, work: 'backup' })));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(LeaseError);
      expect(((r as PromiseRejectedResult).reason as Error).message).toMatch(/is busy: (backup \(job j\d+\) on h\d pid \d+, held until .*try again when it has finished|another job is taking its lease right now)/);
    }
    const lease = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLease>>>).value;
    await lease.release();
    expect(await t.stat(leasePath(VM))).toBeUndefined();
    await (await acquireLease(t, VM, { owner: 'next', host: 'h', work: 'prune' })).release();
  });

  it('an expired lease is taken over; its old holder finds out at its next renewal and stops', async () => {
    const t = new MemoryTarget();
    let clock = Date.parse('2026-12-01T10:00:00Z');
    const now = () => clock;
    const old = await acquireLease(t, VM, { owner: 'old', host: 'a', work: 'backup', ttlMs: 60_000, now });
    await expect(acquireLease(t, VM, { owner: 'new', host: 'b', work: 'backup', ttlMs: 60_000, now })).rejects.toThrow(/busy/);
    clock += 30_000;
    await old.renew();
    clock += 45_000; // renewed: still valid 15 s more
    await expect(acquireLease(t, VM, { owner: 'new', host: 'b', work: 'backup', ttlMs: 60_000, now })).rejects.toThrow(/busy/);
    clock += 20_000; // expired: its holder stopped renewing (died, lost the repository)
    const taken = await acquireLease(t, VM, { owner: 'new', host: 'b', work: 'verify', ttlMs: 60_000, now });
    expect(taken.holder.owner).toBe('new');
    await expect(old.renew()).rejects.toThrow(/lease on VM .* was lost: now held by verify \(job new\) on b/);
    expect(old.lost.aborted).toBe(true);
    await old.release(); // not its lease any more: left alone
    expect(JSON.parse((await t.readFile(leasePath(VM))).toString()).owner).toBe('new');
    expect((await t.list(VM)).map((e) => e.name)).toEqual(['vm.lock']);
  });

  it('a cut-short lease record holds while it may still be being written, and nothing once older than the ttl', async () => {
    let clock = Date.now();
    const t = new MemoryTarget({ now: () => clock });
    await t.mkdirp(VM);
    await t.writeFileAtomic(leasePath(VM), '{"format":"sendense-le');
    await expect(acquireLease(t, VM, { owner: 'x', host: 'h', work: 'backup', ttlMs: 60_000, now: () => clock })).rejects.toThrow(/taking its lease right now/);
    clock += 61_000;
    const l = await acquireLease(t, VM, { owner: 'x', host: 'h', work: 'backup', ttlMs: 60_000, now: () => clock });
    await l.release();
  });

  it('two agent hosts (processes with different host ids) on one SSH repository: never both at once', async () => {
    const repo = repoHost.url(`lease-${runId()}`);
    const ssh = ['--repo', repo, '--identity', repoHost.identityFile, '--known-hosts', repoHost.knownHostsFile, '--vm', VM, '--hold-ms', '150', '--rounds', '6'];
    const all = (await Promise.all(['host-a', 'host-b', 'host-c'].map((h) => worker([...ssh, '--host', h])))).flat();
    const done = all.filter((l) => l.ok && l.end);
    expect(done.length).toBeGreaterThan(0);
    expect(done.every((l) => !l.lost)).toBe(true);
    for (const l of all.filter((x) => !x.ok)) expect(l.busy, l.error).toBe(true);
    // the lease promises exclusion, not fairness: one host may win every round under load (seen in a
    // full run); what must hold is that the hosts really met — another host won, or one was refused
    const met = new Set(done.map((l) => l.host)).size > 1 || all.some((l) => !l.ok && l.busy);
    expect(met, 'the three hosts never contended for the lease').toBe(true);
    noOverlap(done);
  }, 240_000);

  it('a SIGKILLed holder: its lease blocks until it expires, then another host takes it over', async () => {
    const repo = repoHost.url(`lease-kill-${runId()}`);
    const ssh = ['--repo', repo, '--identity', repoHost.identityFile, '--known-hosts', repoHost.knownHostsFile, '--vm', VM];
    await worker([...ssh, '--host', 'dies', '--ttl-ms', '15000', '--stay'], (l, kill) => { if (l.held) kill(); });
    const blocked = await worker([...ssh, '--host', 'other']);
    expect(blocked[0]).toMatchObject({ ok: false, busy: true });
    expect(blocked[0].error).toMatch(/busy: backup \(job dies-\d+-0\) on dies/);
    await new Promise((r) => setTimeout(r, 15_500));
    const after = await worker([...ssh, '--host', 'other']);
    expect(after.at(-1)).toMatchObject({ ok: true, host: 'other', lost: false });
  }, 240_000);
});

describe('host-local lock', () => {
  const dir = labDir('runs', runId(), 'host-locks');

  it('a second holder in this process or another is refused while the first lives; released, the next gets it', async () => {
    const a = await acquireHostLock(dir, VM, { work: 'backup', owner: 'cli-1' });
    await expect(acquireHostLock(dir, VM, { work: 'restore', owner: 'daemon-1' })).rejects.toThrow(HostLockError);
    await expect(acquireHostLock(dir, VM, { work: 'restore', owner: 'daemon-1' })).rejects.toThrow(new RegExp(`busy on this host: backup \\(job cli-1\\) by pid ${process.pid}`));
    const local = ['--repo', labDir('runs', runId(), 'lock-repo'), '--vm', VM, '--lock-dir', dir];
    const other = await worker([...local, '--host', 'daemon']);
    expect(other[0]).toMatchObject({ ok: false, busy: true });
    expect(other[0].error).toMatch(/busy on this host: backup \(job cli-1\)/);
    await a.release();
    expect(existsSync(path.join(dir, `${VM}.lock`))).toBe(false);
    const now = await worker([...local, '--host', 'daemon']);
    expect(now.at(-1)).toMatchObject({ ok: true });
  }, 120_000);

  it("CLI and daemon racing on one host: never both; a SIGKILLed holder's lock is taken over (only a dead owner's)", async () => {
    const local = ['--repo', labDir('runs', runId(), 'lock-repo2'), '--vm', VM, '--lock-dir', dir, '--hold-ms', '100', '--rounds', '6'];
    const all = (await Promise.all(['cli', 'daemon'].map((h) => worker([...local, '--host', h])))).flat();
    noOverlap(all);
    for (const l of all.filter((x) => !x.ok)) expect(l.busy, l.error).toBe(true);
    await worker(['--repo', labDir('runs', runId(), 'lock-repo3'), '--vm', VM, '--lock-dir', dir, '--host', 'dies', '--stay', '--ttl-ms', '1000'], (l, kill) => { if (l.held) kill(); });
    expect(existsSync(path.join(dir, `${VM}.lock`))).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    const l = await acquireHostLock(dir, VM, { work: 'backup', owner: 'after-crash' });
    expect(l.info.owner).toBe('after-crash');
    await l.release();
  }, 120_000);
});

/**
 * Issue 12 item 15 (daemon side): the daemon's queue runs backups (and restores, downloads)
 * before maintenance (verify, prune), and a download's stream takes a slot of the same
 * concurrency limit until it ends.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import type { AgentEngine } from '../engine/port.ts';
import { FakeEngine } from './fake-engine.ts';
import type { JobRecord } from './job.ts';
import { MemoryJournal } from './journal.ts';
import { DaemonJobRunner } from './runner.ts';

function setup(concurrency = 1) {
  const hypervisor = new MemoryHypervisor();
  for (const name of ['vm1', 'vm2', 'vm3']) hypervisor.createDomain({ name, disks: [{ size: 1 << 20 }] });
  const engine = new FakeEngine({ steps: 2, stepMs: 5 });
  // the order jobs start in (the fake engine records only the calls that get to work)
  const started: string[] = [];
  const order: AgentEngine = {
    backup: (q, run) => { started.push('backup'); return engine.backup(q, run); },
    restore: (q, run) => { started.push('restore'); return engine.restore(q, run); },
    verify: (q, run) => { started.push('verify'); return engine.verify(q, run); },
    prune: (q, run) => { started.push('prune'); return engine.prune(q, run); },
    scan: (q) => engine.scan(q),
  };
  return { engine, started, r: new DaemonJobRunner({ engine: order, journal: new MemoryJournal(), hypervisor, concurrency }) };
}

const repo = '/var/backups/r';

function done(r: DaemonJobRunner, id: string): Promise<JobRecord> {
  return new Promise((resolve) => { void r.subscribe(id, (e) => { if (e.type === 'done') resolve(e.job); }); });
}

describe('daemon queue', () => {
  it('backups and restores queued after maintenance work still run before it', async () => {
    const { engine, r, started } = setup();
    const release = engine.hold();
    const first = await r.submitBackup({ domain: 'vm1', repo, mode: 'auto', quiesce: false });
    const verify = await r.submitVerify({ repo, vmId: 'other-1', restoreTest: false });
    const prune = await r.submitPrune({ repo, vmId: 'other-2', remove: ['20250101-000000'] });
    const second = await r.submitBackup({ domain: 'vm2', repo, mode: 'auto', quiesce: false });
    const restore = await r.submitRestore({ repo, vmId: 'other-3', disk: 'vda', to: '/x/vda.qcow2', format: 'qcow2', overwrite: false });
    expect(r.stats).toMatchObject({ running: 1, queued: 4 });
    release();
    await Promise.all([first, verify, prune, second, restore].map((s) => done(r, s.job.id)));
    expect(started).toEqual(['backup', 'backup', 'restore', 'verify', 'prune']);
  });

  it('a download waits for a slot (before queued maintenance) and holds it until released', async () => {
    const { engine, r, started } = setup();
    const release = engine.hold();
    const backup = await r.submitBackup({ domain: 'vm1', repo, mode: 'auto', quiesce: false });
    const verify = await r.submitVerify({ repo, vmId: 'other-1', restoreTest: false });
    let granted = false;
    const slot = r.slot().then((free) => { granted = true; return free; });
    await new Promise((res) => setTimeout(res, 30));
    expect(granted).toBe(false); // the backup holds the only slot
    expect(r.stats).toMatchObject({ running: 1, queued: 2 });
    release();
    const free = await slot;
    await done(r, backup.job.id);
    await new Promise((res) => setTimeout(res, 30));
    // the download runs; the verification queued before it still waits
    expect(started).toEqual(['backup']);
    expect(r.stats).toMatchObject({ running: 1, queued: 1 });
    free();
    free(); // once only
    await done(r, verify.job.id);
    expect(started).toEqual(['backup', 'verify']);
    await new Promise((res) => setTimeout(res, 10)); // the slot is freed right after 'done'
    expect(r.stats).toMatchObject({ running: 0, queued: 0 });
  });

  it('a download whose client goes away while waiting leaves the queue', async () => {
    const { engine, r } = setup();
    const release = engine.hold();
    const backup = await r.submitBackup({ domain: 'vm1', repo, mode: 'auto', quiesce: false });
    const ac = new AbortController();
    const slot = r.slot(ac.signal);
    await new Promise((res) => setTimeout(res, 10));
    expect(r.stats.queued).toBe(1);
    ac.abort(new Error('client gone'));
    await expect(slot).rejects.toThrow(/client gone/);
    expect(r.stats.queued).toBe(0);
    release();
    await done(r, backup.job.id);
    await new Promise((res) => setTimeout(res, 10));
    expect(r.stats.running).toBe(0);
  });
});

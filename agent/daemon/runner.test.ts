/**
 * DaemonJobRunner without HTTP: recovery after a crash, a clean stop, journaling order, progress
 * throttling, pruning, and a restart on the file journal.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { FakeEngine } from './fake-engine.ts';
import { FileJournal } from './file-journal.ts';
import type { JobEvent, JobRecord } from './job.ts';
import { sampleJob } from './journal-contract.ts';
import { MemoryJournal, type JobJournal } from './journal.ts';
import { DaemonJobRunner, type DaemonJobRunnerDeps } from './runner.ts';
import { JobsError } from './service.ts';

function hv() {
  const h = new MemoryHypervisor();
  for (const name of ['vm1', 'vm2', 'vm3']) h.createDomain({ name, disks: [{ size: 1 << 20 }] });
  return h;
}

/** a journal that remembers every put */
class RecordingJournal extends MemoryJournal {
  readonly puts: JobRecord[] = [];
  override async put(job: JobRecord): Promise<void> {
    this.puts.push(structuredClone(job));
    return super.put(job);
  }
}

function runner(o: Partial<DaemonJobRunnerDeps> = {}) {
  const engine = (o.engine as FakeEngine | undefined) ?? new FakeEngine({ steps: 5, stepMs: 10 });
  const journal = o.journal ?? new MemoryJournal();
  return { engine, journal, r: new DaemonJobRunner({ engine, journal, hypervisor: hv(), ...o }) };
}

function until(r: DaemonJobRunner, id: string): Promise<JobRecord> {
  return new Promise((resolve) => {
    void r.subscribe(id, (e) => { if (e.type === 'done') resolve(e.job); });
  });
}

describe('DaemonJobRunner', () => {
  it('at start, jobs a crash cut off are failed (agent-restarted); finished ones stay as they were', async () => {
    const journal = new MemoryJournal();
    const running = sampleJob({ state: 'running', startedAt: '2025-01-01T12:00:00.000Z', seq: 3 });
    const queued = sampleJob();
    const done = sampleJob({ state: 'cancelled', finishedAt: 'x', seq: 5, error: { code: 'cancelled', message: 'm' } });
    for (const j of [running, queued, done]) await journal.put(j);
    const { r } = runner({ journal });
    await r.start();
    expect(await r.get(running.id)).toMatchObject({ state: 'failed', seq: 4, error: { code: 'agent-restarted', message: expect.stringMatching(/agent restarted during the job .* the next backup of this VM cleans up/) } });
    expect(await r.get(queued.id)).toMatchObject({ state: 'failed', error: { code: 'agent-restarted', message: expect.stringMatching(/before the job started/) } });
    expect(await r.get(done.id)).toEqual(done);
    // and the journal says so too (what the next restart reads)
    expect((await journal.get(running.id))!.state).toBe('failed');
    expect((await journal.list()).map((j) => j.state)).toEqual(['failed', 'failed', 'cancelled']);
  });

  it('every state change is journaled before subscribers hear of it, in order, with a growing seq', async () => {
    const journal = new RecordingJournal();
    const { r } = runner({ journal, journalProgressMs: 0 });
    const heard: { type: string; inJournal?: string }[] = [];
    const { job } = await r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false });
    await new Promise<void>((resolve) => {
      void r.subscribe(job.id, (e: JobEvent) => {
        if (e.type !== 'progress') heard.push({ type: `${e.type}:${e.job.state}`, inJournal: journal.puts.filter((p) => p.seq === e.job.seq).at(-1)?.state });
        if (e.type === 'done') resolve();
      });
    });
    for (const h of heard) expect(h.type.endsWith(`:${h.inJournal}`), JSON.stringify(h)).toBe(true);
    const states = journal.puts.map((p) => p.state);
    expect(states[0]).toBe('queued');
    expect(states.at(-1)).toBe('succeeded');
    expect(states.filter((s) => s === 'succeeded')).toHaveLength(1);
    const seqs = journal.puts.map((p) => p.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(journal.puts.some((p) => p.state === 'running' && p.progress)).toBe(true);
  });

  it('progress events are throttled, the last one is never lost', async () => {
    const engine = new FakeEngine({ steps: 200, stepMs: 1, bytes: 200 });
    const { r } = runner({ engine, progressIntervalMs: 100 });
    const { job } = await r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false });
    const progress: number[] = [];
    const done = new Promise<void>((resolve) => {
      void r.subscribe(job.id, (e) => {
        if (e.type === 'progress') progress.push(e.progress.bytesDone);
        if (e.type === 'done') resolve();
      });
    });
    await done;
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThan(50);
    expect(progress.at(-1)).toBe(200);
  });

  it('close: queued jobs fail before starting, running ones are aborted and awaited (agent-stopped), new ones are refused', async () => {
    const engine = new FakeEngine({ steps: 1000, stepMs: 10, cleanupMs: 100 });
    const { r } = runner({ engine, concurrency: 1 });
    const a = (await r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false })).job;
    const b = (await r.submitBackup({ domain: 'vm2', repo: '/r', mode: 'auto', quiesce: false })).job;
    await new Promise((res) => setTimeout(res, 50));
    const t0 = Date.now();
    await r.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90); // waited for the cleanup
    expect(engine.running).toBe(0);
    expect(await r.get(a.id)).toMatchObject({ state: 'failed', error: { code: 'agent-stopped', message: expect.stringMatching(/stopped during the job: .*the agent is stopping/) } });
    expect(await r.get(b.id)).toMatchObject({ state: 'failed', error: { code: 'agent-stopped', message: expect.stringMatching(/before the job started/) } });
    const e = await r.submitVerify({ repo: '/r', vmId: 'x', restoreTest: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(JobsError);
    expect((e as JobsError).code).toBe('stopping');
  });

  it('a cancel that comes after the engine finished leaves the job succeeded (the point exists)', async () => {
    const engine = new FakeEngine({ steps: 1, stepMs: 1 });
    const { r } = runner({ engine });
    const { job } = await r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false });
    const end = await until(r, job.id);
    expect(end.state).toBe('succeeded');
    await expect(r.cancel(job.id)).rejects.toMatchObject({ code: 'finished', message: expect.stringMatching(/has already succeeded/) });
  });

  it('keeps at most retainFinished finished jobs, removing the oldest from the journal', async () => {
    const journal = new MemoryJournal();
    const { r } = runner({ journal, retainFinished: 2, engine: new FakeEngine({ steps: 1, stepMs: 1 }) });
    const ids: string[] = [];
    for (const d of ['vm1', 'vm2', 'vm3']) {
      const { job } = await r.submitBackup({ domain: d, repo: '/r', mode: 'auto', quiesce: false, requestId: `req-${d}` });
      ids.push(job.id);
      await until(r, job.id);
    }
    expect((await journal.list()).map((j) => j.id)).toEqual(ids.slice(1));
    await expect(r.get(ids[0])).rejects.toMatchObject({ code: 'not-found' });
    // its requestId is forgotten with it: a new submission makes a new job
    expect((await r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false, requestId: 'req-vm1' })).created).toBe(true);
  });

  it('on the file journal, a new runner (a restarted daemon) finds every job by id', async () => {
    const dir = labDir('runs', runId(), labName('runner-journal'));
    const open = (): Promise<JobJournal> => FileJournal.open(dir);
    const engine = new FakeEngine({ steps: 2, stepMs: 5 });
    const first = runner({ journal: await open(), engine });
    const { job: a } = await first.r.submitBackup({ domain: 'vm1', repo: '/r', mode: 'auto', quiesce: false });
    const endA = await until(first.r, a.id);
    const release = engine.hold();
    const { job: b } = await first.r.submitBackup({ domain: 'vm2', repo: '/r', mode: 'auto', quiesce: false });
    await new Promise((res) => setTimeout(res, 50));
    // "crash": the first runner is simply abandoned with b running
    const second = runner({ journal: await open() });
    expect(await second.r.get(a.id)).toEqual(endA);
    expect(await second.r.get(b.id)).toMatchObject({ state: 'failed', error: { code: 'agent-restarted' } });
    expect((await second.r.list()).map((j) => j.id)).toEqual([b.id, a.id]);
    release();
    await first.r.close();
  });
});

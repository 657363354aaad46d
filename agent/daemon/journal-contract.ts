/**
 * @layer testing
 * The JobJournal contract (journal.ts) as one vitest suite every adapter runs:
 * `journalContract('file', async () => FileJournal.open(dir))`. `reopen`, when given, opens a
 * second journal on the same storage — what a restarted daemon does — and the suite checks
 * that it finds every record the first one wrote.
 */
import { describe, expect, it } from 'vitest';
import type { JobRecord } from './job.ts';
import { JournalError, type JobJournal } from './journal.ts';

let n = 0;
/** A valid queued backup job; `over` replaces fields. */
export function sampleJob(over: Partial<JobRecord> = {}): JobRecord {
  n += 1;
  const t = new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString();
  return {
    id: `job-${n}`, kind: 'backup', state: 'queued', createdAt: t, updatedAt: t, seq: 1,
    domain: 'vm1', domainUuid: '00000000-0000-4000-8000-000000000001',
    request: { domain: 'vm1', mode: 'auto', quiesce: false, repo: '/srv/repo' },
    ...over,
  } as JobRecord;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<JournalError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, `expected a JournalError '${code}'`).toBeInstanceOf(JournalError);
  expect((e as JournalError).code).toBe(code);
  expect((e as JournalError).message).toMatch(/^\[journal\] /);
  return e as JournalError;
}

export function journalContract(name: string, make: () => Promise<JobJournal>, reopen?: (j: JobJournal) => Promise<JobJournal>): void {
  describe(`JobJournal contract: ${name}`, () => {
    it('put then get gives the record back; unknown ids give undefined', async () => {
      const j = await make();
      const job = sampleJob();
      await j.put(job);
      expect(await j.get(job.id)).toEqual(job);
      expect(await j.get('nope')).toBeUndefined();
    });

    it('put replaces the whole record', async () => {
      const j = await make();
      const job = sampleJob({ progress: { bytesDone: 1, bytesTotal: 2, at: 'x' } });
      await j.put(job);
      const done = { ...job, state: 'failed', seq: 2, finishedAt: job.createdAt, error: { code: 'x', message: 'boom' } } as JobRecord;
      delete (done as { progress?: unknown }).progress;
      await j.put(done);
      expect(await j.get(job.id)).toEqual(done);
    });

    it('records are copies: changing an object after put or get changes nothing stored', async () => {
      const j = await make();
      const job = sampleJob();
      await j.put(job);
      job.state = 'running';
      const got = (await j.get(job.id))!;
      got.state = 'cancelled';
      (got.request as { domain: string }).domain = 'other';
      const again = (await j.get(job.id))!;
      expect(again.state).toBe('queued');
      expect((again.request as { domain: string }).domain).toBe('vm1');
    });

    it('a write older than the stored record (lower seq) is ignored', async () => {
      const j = await make();
      const job = sampleJob({ seq: 5, state: 'running' });
      await j.put(job);
      await j.put({ ...job, seq: 3, state: 'queued' });
      expect((await j.get(job.id))!.state).toBe('running');
      await j.put({ ...job, seq: 5, progress: { bytesDone: 9, bytesTotal: 10, at: 'y' } });
      expect((await j.get(job.id))!.progress?.bytesDone).toBe(9);
    });

    it('many writes of one job in flight at once end with the newest', async () => {
      const j = await make();
      const job = sampleJob();
      await Promise.all(Array.from({ length: 20 }, (_, i) => j.put({ ...job, seq: i + 1, progress: { bytesDone: i, bytesTotal: 19, at: 'z' } })));
      const got = (await j.get(job.id))!;
      expect(got.seq).toBe(20);
      expect(got.progress?.bytesDone).toBe(19);
    });

    it('refuses records that are not valid jobs, with a message that says why', async () => {
      const j = await make();
      await rejectsWith(j.put({ ...sampleJob(), id: '../etc/passwd' }), 'invalid');
      await rejectsWith(j.put({ ...sampleJob(), state: 'exploded' } as unknown as JobRecord), 'invalid');
      const e = await rejectsWith(j.put({ ...sampleJob(), state: 'failed', finishedAt: 'x' }), 'invalid');
      expect(e.message).toMatch(/without an error/);
      await rejectsWith(j.put({ ...sampleJob(), state: 'succeeded' }), 'invalid');
      expect(await j.list()).toEqual([]);
    });

    it('lists every record oldest first; remove forgets one (and an unknown id is fine)', async () => {
      const j = await make();
      const a = sampleJob();
      const b = sampleJob();
      const c = sampleJob();
      for (const x of [c, a, b]) await j.put(x);
      expect((await j.list()).map((x) => x.id)).toEqual([a.id, b.id, c.id]);
      await j.remove(b.id);
      await j.remove('never-was');
      expect((await j.list()).map((x) => x.id)).toEqual([a.id, c.id]);
      expect(await j.get(b.id)).toBeUndefined();
    });

    if (reopen) it('a journal reopened on the same storage finds every record', async () => {
      const j = await make();
      const a = sampleJob();
      const result = { pointId: 'p', vmId: 'v', type: 'full', reason: 'r', consistency: 'c', bytesRead: 1, bytesSent: 2, durationMs: 3 };
      const b = sampleJob({ state: 'succeeded', seq: 4, finishedAt: 'f', result } as Partial<JobRecord>);
      await j.put(a);
      await j.put(b);
      const k = await reopen!(j);
      expect(await k.list()).toEqual([a, b]);
      await k.put({ ...b, seq: 2, state: 'queued' });
      expect((await k.get(b.id))!.state).toBe('succeeded');
    });
  });
}

import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { FileJournal } from './file-journal.ts';
import { journalContract, sampleJob } from './journal-contract.ts';

const fresh = () => labDir('runs', runId(), 'journals', labName('journal'));

journalContract('file', async () => FileJournal.open(fresh()), async (j) => FileJournal.open((j as FileJournal).dir));

describe('FileJournal on disk', () => {
  it('one 0600 JSON file per job in a 0700 directory it creates; no temporary file stays', async () => {
    const dir = path.join(fresh(), 'sub', 'journal');
    const j = await FileJournal.open(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const job = sampleJob();
    await j.put(job);
    await j.put({ ...job, seq: 2, state: 'running', startedAt: job.createdAt });
    expect(readdirSync(dir)).toEqual([`${job.id}.json`]);
    expect(statSync(path.join(dir, `${job.id}.json`)).mode & 0o777).toBe(0o600);
  });

  it('a corrupt or foreign file is reported and skipped; the other jobs are still found', async () => {
    const dir = fresh();
    const j = await FileJournal.open(dir);
    const good = sampleJob();
    await j.put(good);
    writeFileSync(path.join(dir, 'torn.json'), '{"id":"torn","kind":"bac');
    writeFileSync(path.join(dir, 'other.json'), '{"hello":1}');
    const reports: string[] = [];
    const k = await FileJournal.open(dir, { report: (m) => reports.push(m) });
    expect((await k.list()).map((x) => x.id)).toEqual([good.id]);
    expect(reports.join('\n')).toMatch(/torn\.json is not JSON/);
    expect(reports.join('\n')).toMatch(/other\.json is not a job record/);
    await expect(k.get('torn')).rejects.toThrow(/\[journal\] \[file\] .*torn\.json is not JSON/);
  });

  it('temporary files a crash left mid-write are removed when the journal opens', async () => {
    const dir = fresh();
    const j = await FileJournal.open(dir);
    await j.put(sampleJob());
    writeFileSync(path.join(dir, '.tmp-job-x-abcd'), '{"half');
    await FileJournal.open(dir);
    expect(existsSync(path.join(dir, '.tmp-job-x-abcd'))).toBe(false);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('a journal it cannot create is a clear error', async () => {
    const file = path.join(fresh(), 'a-file');
    writeFileSync(file, 'x');
    await expect(FileJournal.open(path.join(file, 'journal'))).rejects.toThrow(/\[journal\] \[file\] cannot use .*a-file\/journal as the job journal/);
  });
});

/**
 * @layer port
 * JobJournal: where the agent daemon keeps its jobs, so a restarted daemon (or a restarted
 * control plane asking it) finds every queued, running and finished job again by id.
 * Adapters: memory (below) and file (file-journal.ts: one JSON file per job, on local disk).
 *
 * Contract (journal-contract.ts runs it against every adapter):
 * - put() stores a whole record, replacing the one with the same id, atomically: a reader (or a
 *   daemon that crashed mid-write and restarted) sees the old record or the new one, whole.
 * - put() of a record whose `seq` is lower than the stored one's is ignored: the newer stays
 *   (writes that finish out of order cannot move a job back in time).
 * - Records are copies: changing an object after put() or after get() changes nothing stored.
 * - put() rejects with 'invalid' a record that does not parse as a JobRecord, breaks its rules
 *   (checkRecord) or has an id that is not a plain name ([A-Za-z0-9_-], at most 64).
 * - get() of an unknown id resolves undefined; remove() of one resolves.
 * - list() gives every record, oldest first (createdAt, then id).
 */
import { checkRecord, JobRecord } from './job.ts';
import { describeIssues } from '../engine/requests.ts';

export interface JobJournal {
  put(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  list(): Promise<JobRecord[]>;
  remove(id: string): Promise<void>;
}

export type JournalErrorCode = 'invalid' | 'io';

export class JournalError extends Error {
  override name = 'JournalError';
  constructor(readonly code: JournalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function checkJobId(component: string, id: string): string {
  if (!ID_RE.test(id)) throw new JournalError('invalid', `${component} job id ${JSON.stringify(id)} is not a plain name ([A-Za-z0-9_-], at most 64)`);
  return id;
}

/** Parses and checks a record for put(); the parsed copy is what gets stored. */
export function validRecord(component: string, job: unknown): JobRecord {
  const r = JobRecord.safeParse(job);
  if (!r.success) throw new JournalError('invalid', `${component} not a job record: ${describeIssues(r.error)}`);
  checkJobId(component, r.data.id);
  const bad = checkRecord(r.data);
  if (bad) throw new JournalError('invalid', `${component} ${bad}`);
  return r.data;
}

export function byCreation(a: JobRecord, b: JobRecord): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class MemoryJournal implements JobJournal {
  private readonly jobs = new Map<string, JobRecord>();

  async put(job: JobRecord): Promise<void> {
    const rec = validRecord('[journal] [memory]', job);
    const old = this.jobs.get(rec.id);
    if (old && old.seq > rec.seq) return;
    this.jobs.set(rec.id, structuredClone(rec));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const j = this.jobs.get(id);
    return j && structuredClone(j);
  }

  async list(): Promise<JobRecord[]> {
    return [...this.jobs.values()].map((j) => structuredClone(j)).sort(byCreation);
  }

  async remove(id: string): Promise<void> {
    this.jobs.delete(id);
  }
}

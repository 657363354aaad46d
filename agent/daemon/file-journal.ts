/**
 * @layer adapter
 * The job journal on local disk (default /var/lib/sendense-agent/journal): one JSON file per job,
 * `<id>.json`, replaced atomically on every change — written to a hidden temporary file in the
 * same directory, fsync'd, renamed over the old one, and the directory fsync'd — so a crash or
 * power loss leaves the old record or the new one, never half of one. Writes of one job are
 * serialized; a write older (lower seq) than what is on disk is dropped. A file that does not
 * parse is reported and skipped by list(), never fatal: the other jobs are still found.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { JobRecord } from './job.ts';
import { byCreation, checkJobId, JournalError, validRecord, type JobJournal } from './journal.ts';

const C = '[journal] [file]';
const TMP_PREFIX = '.tmp-';

export class FileJournal implements JobJournal {
  /** the newest seq this instance wrote or read per id */
  private readonly seqs = new Map<string, number>();
  private readonly chains = new Map<string, Promise<void>>();

  private constructor(readonly dir: string, private readonly report: (msg: string) => void) {}

  /** Creates the directory (0700) when missing and removes temporary files a crash left. */
  static async open(dir: string, opts: { report?: (msg: string) => void } = {}): Promise<FileJournal> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      for (const f of await readdir(dir)) if (f.startsWith(TMP_PREFIX)) await rm(path.join(dir, f), { force: true });
    } catch (e) {
      throw new JournalError('io', `${C} cannot use ${dir} as the job journal: ${(e as Error).message}`, { cause: e });
    }
    return new FileJournal(dir, opts.report ?? (() => {}));
  }

  private file(id: string): string {
    return path.join(this.dir, `${checkJobId(C, id)}.json`);
  }

  put(job: JobRecord): Promise<void> {
    let rec: JobRecord;
    try {
      rec = validRecord(C, job);
    } catch (e) {
      return Promise.reject(e);
    }
    const prev = this.chains.get(rec.id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.write(rec));
    this.chains.set(rec.id, next);
    void next.finally(() => { if (this.chains.get(rec.id) === next) this.chains.delete(rec.id); }).catch(() => {});
    return next;
  }

  private async write(rec: JobRecord): Promise<void> {
    const file = this.file(rec.id);
    let known = this.seqs.get(rec.id);
    if (known === undefined) known = (await this.readFile(file).catch(() => undefined))?.seq;
    if (known !== undefined && known > rec.seq) return;
    const tmp = path.join(this.dir, `${TMP_PREFIX}${rec.id}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(rec)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      await syncDir(this.dir);
      this.seqs.set(rec.id, rec.seq);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new JournalError('io', `${C} cannot write job ${rec.id} to ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async readFile(file: string): Promise<JobRecord | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new JournalError('io', `${C} cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new JournalError('io', `${C} ${file} is not JSON (${(e as Error).message})`, { cause: e });
    }
    const r = JobRecord.safeParse(parsed);
    if (!r.success) throw new JournalError('io', `${C} ${file} is not a job record: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return r.data;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    await this.chains.get(id)?.catch(() => {});
    const rec = await this.readFile(this.file(id));
    if (rec) this.seqs.set(id, Math.max(rec.seq, this.seqs.get(id) ?? 0));
    return rec;
  }

  async list(): Promise<JobRecord[]> {
    await Promise.all([...this.chains.values()].map((p) => p.catch(() => {})));
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      throw new JournalError('io', `${C} cannot list ${this.dir}: ${(e as Error).message}`, { cause: e });
    }
    const out: JobRecord[] = [];
    for (const n of names) {
      if (n.startsWith('.') || !n.endsWith('.json')) continue;
      try {
        const rec = await this.readFile(path.join(this.dir, n));
        if (rec) out.push(rec);
      } catch (e) {
        this.report(`${(e as Error).message}: skipped`);
      }
    }
    return out.sort(byCreation);
  }

  async remove(id: string): Promise<void> {
    const file = this.file(id);
    await this.chains.get(id)?.catch(() => {});
    await rm(file, { force: true });
    this.seqs.delete(id);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

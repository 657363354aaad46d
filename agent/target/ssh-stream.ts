/**
 * @layer adapter
 * A StreamFile on a repository host: ONE exec channel running `cat >> FILE` stays open for the
 * whole file, and appends are written into it with backpressure (an append resolves when ssh2
 * has copied the whole chunk into packets, which the SSH window paces: then the caller may reuse
 * its buffer). The file is created exclusively first (`set -C`: noclobber), 0600.
 * - writeAt patches are kept and applied after the stream: commit = end the stream, wait for
 *   `cat` to exit 0, then one exec (per 64 patches) that writes them with `dd conv=notrunc`
 *   and runs `sync FILE` (fsync) — so the header lands on disk with the data.
 * - The remote side failing (exit code, stderr such as 'No space left on device' → 'no-space')
 *   or the connection dropping ('disconnected') rejects the waiting append at once; the file is
 *   then unusable and abort() (close the channel, `rm -f`) is all that remains.
 */
import type { ClientChannel } from 'ssh2';
import { codeOfStderr } from './error-codes.ts';
import { TargetError, type StreamFile } from './port.ts';
import { PRIVATE, shellQuote } from './shell.ts';
import { SSH_ORIGIN, type SshConnection } from './ssh-connection.ts';

interface Patch {
  offset: number;
  data: Buffer;
}

/** Patches per command line, so that even many writeAt calls keep it short. */
const PATCHES_PER_EXEC = 64;

/** The shell script that writes `patches` (read one after the other from stdin), then fsyncs if `sync`. */
export function patchScript(file: string, patches: readonly Patch[], sync: boolean): string {
  const f = shellQuote(file);
  const dds = patches.map((p) => `dd of=${f} bs=65536 seek=${p.offset} oflag=seek_bytes conv=notrunc iflag=fullblock,count_bytes count=${p.data.length} status=none`);
  return [...dds, ...(sync ? [`sync -- ${f}`] : [])].join(' && ');
}

export class SshStreamFile implements StreamFile {
  private len = 0;
  private patches: Patch[] = [];
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private failure: TargetError | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** settles when `cat` has exited and the channel closed */
  private readonly finished: Promise<{ code: number | null; stderr: string }>;
  private ended = false;

  private constructor(private readonly conn: SshConnection, readonly path: string, private readonly abs: string, private readonly ch: ClientChannel,
    remote: { code: number | null; stderr: Buffer[]; closed: Promise<void> }, private readonly changed: () => void) {
    this.finished = remote.closed.then(() => {
      const stderr = Buffer.concat(remote.stderr).toString('utf8').trim();
      if (!this.ended && !this.failure) {
        // cat stopped before we ended the stream: a full disk, a killed process, …
        this.failure = new TargetError(codeOfStderr(stderr), `${SSH_ORIGIN} writing ${path} failed on the host (exit ${remote.code}): ${stderr || 'the stream was closed'}`);
      }
      return { code: remote.code, stderr };
    });
    this.finished.catch(() => {});
  }

  /** Creates `abs` exclusively on the host and opens the stream into it. */
  /** `changed` runs whenever the file on the host changes outside the stream (patches, removal). */
  static async open(conn: SshConnection, path: string, abs: string, signal: AbortSignal | undefined, changed: () => void): Promise<SshStreamFile> {
    const f = shellQuote(abs);
    const remote = { code: null as number | null, stderr: [] as Buffer[], closed: Promise.resolve() };
    let opened!: Promise<void>;
    const ch = await conn.channel(`${PRIVATE} && set -C && : > ${f} && echo ok && exec cat >> ${f}`, signal, (ch) => {
      ch.stderr.on('data', (b: Buffer) => remote.stderr.push(b));
      ch.on('exit', (c: number | null) => { remote.code = c; });
      remote.closed = new Promise((resolve) => ch.once('close', () => resolve()));
      opened = new Promise<void>((resolve, reject) => {
        let out = '';
        const onData = (b: Buffer) => {
          out += b.toString('latin1');
          if (out.includes('ok\n')) {
            ch.off('data', onData);
            ch.resume(); // consume stdout from now on, or 'close' never fires
            resolve();
          }
        };
        ch.on('data', onData);
        ch.once('close', () => {
          const stderr = Buffer.concat(remote.stderr).toString('utf8').trim();
          reject(new TargetError(codeOfStderr(stderr), `${SSH_ORIGIN} cannot create ${path}: ${stderr || 'the host closed the channel'}`));
        });
      });
      opened.catch(() => {});
    });
    try {
      await conn.track(opened, signal, () => ch.close());
    } catch (e) {
      ch.close();
      throw e;
    }
    return new SshStreamFile(conn, path, abs, ch, remote, changed);
  }

  get length(): number {
    return this.len;
  }

  private serial<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const run = async () => {
      signal?.throwIfAborted();
      if (this.state !== 'open') throw new TargetError('io', `${SSH_ORIGIN} ${this.path} is already ${this.state}`);
      // a lost connection first: it is why the stream closed, whatever `cat`'s exit said
      this.conn.check();
      if (this.failure) throw this.failure;
      return work();
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Waits for `released`, or the stream failing, or the connection dropping, or the signal. */
  private settled(released: Promise<void>, signal?: AbortSignal): Promise<void> {
    const failed = this.finished.then(() => {
      throw this.failure ?? new TargetError('io', `${SSH_ORIGIN} the stream of ${this.path} closed`);
    });
    failed.catch(() => {});
    return this.conn.track(Promise.race([released, failed]), signal);
  }

  append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    return this.serial(signal, async () => {
      this.len += chunk.length;
      // ssh2 copies a chunk into packets as the SSH window allows and calls back once it has all
      // of it (channelData copies synchronously): only then is the caller's buffer free again
      let release!: () => void;
      const released = new Promise<void>((resolve) => { release = resolve; });
      this.ch.write(chunk, () => release());
      await this.settled(released, signal);
    });
  }

  writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    return this.serial(signal, async () => {
      if (!(offset >= 0 && offset + chunk.length <= this.len)) {
        throw new TargetError('range', `${SSH_ORIGIN} writeAt ${offset}+${chunk.length} in ${this.path} is past the ${this.len} bytes written`);
      }
      this.patches.push({ offset, data: Buffer.from(chunk) });
    });
  }

  commit(signal?: AbortSignal): Promise<void> {
    return this.serial(signal, async () => {
      this.ended = true;
      this.ch.end();
      const { code, stderr } = await this.conn.track(this.finished, signal);
      if (code !== 0) {
        this.failure = new TargetError(codeOfStderr(stderr), `${SSH_ORIGIN} writing ${this.path} failed on the host (exit ${code}): ${stderr}`);
        throw this.failure;
      }
      this.changed();
      for (let i = 0; i === 0 || i < this.patches.length; i += PATCHES_PER_EXEC) {
        const group = this.patches.slice(i, i + PATCHES_PER_EXEC);
        const last = i + PATCHES_PER_EXEC >= this.patches.length;
        const r = await this.conn.exec(patchScript(this.abs, group, last), { stdin: Buffer.concat(group.map((p) => p.data)), signal });
        if (r.code !== 0) {
          this.failure = new TargetError(codeOfStderr(r.stderr), `${SSH_ORIGIN} cannot finish ${this.path}: ${r.stderr.trim() || `exit ${r.code}`}`);
          throw this.failure;
        }
      }
      this.state = 'committed';
      this.changed();
    });
  }

  async abort(): Promise<void> {
    // not queued behind a stuck append: closing the channel is what unsticks it
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.ended = true;
    this.ch.close();
    await this.conn.track(this.finished);
    this.changed();
    const r = await this.conn.exec(`rm -f -- ${shellQuote(this.abs)}`);
    this.changed();
    if (r.code !== 0) throw new TargetError(codeOfStderr(r.stderr), `${SSH_ORIGIN} cannot remove ${this.path}: ${r.stderr.trim()}`);
  }
}

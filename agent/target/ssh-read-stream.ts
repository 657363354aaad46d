/**
 * @layer adapter
 * A sequential read of a file on a repository host as a stream: ONE exec channel running
 * `dd … skip=OFFSET count=LENGTH` (coreutils; bytes, not blocks), its stdout yielded chunk by
 * chunk as ssh2 delivers it (each chunk is its own buffer: the consumer may keep it). Flow
 * control is ssh2's channel window: past HIGH_WATER bytes not yet taken the channel is paused,
 * so a slow consumer holds the host's `dd`, not this process's memory. Instead of a round trip
 * per SFTP read (at most 256 KiB each), one command; on loopback a restore's reads went from
 * SFTP's ~100-200 MiB/s to what the cipher allows.
 * Failures: dd's exit status and stderr ('not-found', 'permission' …), a file that ends before
 * `length` bytes ('range'), the connection dropping ('disconnected'), the signal (its reason).
 * Breaking off the iteration closes the channel (dd gets SIGPIPE).
 */
import type { ClientChannel } from 'ssh2';
import { codeOfStderr } from './error-codes.ts';
import { TargetError } from './port.ts';
import { shellQuote } from './shell.ts';
import { SSH_ORIGIN, type SshConnection } from './ssh-connection.ts';

const HIGH_WATER = 8 << 20;
const LOW_WATER = 2 << 20;

export async function* sshReadStream(conn: SshConnection, path: string, abs: string, offset: number, length: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
    throw new TargetError('range', `${SSH_ORIGIN} read of ${path} at ${offset}+${length}: not a byte range`);
  }
  if (length === 0) return;
  const chunks: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let code: number | null = null;
  const stderr: Buffer[] = [];
  let wake: (() => void) | undefined;
  let closed!: Promise<void>;
  const poke = () => { const w = wake; wake = undefined; w?.(); };
  const ch: ClientChannel = await conn.channel(
    `exec dd if=${shellQuote(abs)} bs=1048576 iflag=skip_bytes,count_bytes,fullblock skip=${offset} count=${length} status=none`,
    signal,
    (c) => {
      c.on('data', (b: Buffer) => {
        chunks.push(b);
        queued += b.length;
        if (queued >= HIGH_WATER) c.pause();
        poke();
      });
      c.stderr.on('data', (b: Buffer) => stderr.push(b));
      c.on('exit', (x: number | null) => { code = x; });
      c.on('end', () => { ended = true; poke(); });
      closed = new Promise<void>((resolve) => c.once('close', () => { ended = true; poke(); resolve(); }));
    },
  );
  let got = 0;
  let done = false;
  try {
    for (;;) {
      const b = chunks.shift();
      if (b) {
        queued -= b.length;
        if (queued < LOW_WATER && ch.isPaused()) ch.resume();
        got += b.length;
        if (got > length) throw new TargetError('io', `${SSH_ORIGIN} read of ${path} at ${offset}+${length}: the host sent ${got} bytes`);
        yield b;
        continue;
      }
      if (ended) break;
      await conn.track(new Promise<void>((resolve) => { wake = resolve; }), signal);
    }
    await conn.track(closed, signal);
    done = true;
  } finally {
    if (!done) ch.close();
  }
  const err = Buffer.concat(stderr).toString('utf8').trim();
  if (code !== 0) throw new TargetError(codeOfStderr(err), `${SSH_ORIGIN} read of ${path} at ${offset}+${length} failed on the host (exit ${code}): ${err || 'no message'}`);
  if (got !== length) throw new TargetError('range', `${SSH_ORIGIN} read of ${path} at ${offset}+${length} is past its end (the file ended after ${got} bytes)`);
}

/**
 * @layer adapter
 * One ssh2 connection to a repository host, shared by everything a SshTarget does:
 * - the host key is pinned from an OpenSSH known_hosts file (known-hosts.ts): an unknown host
 *   or another key fails with 'host-key' during the key exchange, before authentication and
 *   before any data is sent; the message gives the fingerprint to check and the exact
 *   known_hosts line for the key that was shown;
 * - key authentication from an identity file; AES-128-GCM preferred (the fast cipher); nothing
 *   that rests on SHA-1 is offered (no `ssh-rsa` host key algorithm, no sha1 kex or MAC);
 * - exec channels (at most MAX_EXEC at once: OpenSSH allows 10 sessions per connection) and one
 *   lazily opened SFTP session;
 * - a dropped connection ('close'/'error', or silence: nothing received for KEEPALIVE_MISSES+1
 *   keepalive intervals although ssh2 pings every interval) rejects every pending operation
 *   with 'disconnected', at once, and every later one too. Any byte received counts as a sign
 *   of life — ssh2's own count wants ping replies only, which a busy, slow upload can delay
 *   behind megabytes of queued data.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { abortable } from './guard.ts';
import {
  fingerprint, HOST_KEY_ALGORITHMS, hostKeyAlgorithms, keysFor, keyType, knownHostName, knownHostsLine, parseKnownHosts, verifyHostKey, type KnownHosts,
} from './known-hosts.ts';
import { TargetError } from './port.ts';

/** what every message of the SSH target starts with */
export const SSH_ORIGIN = '[target] [ssh]';
type Algorithms = NonNullable<ConnectConfig['algorithms']>;
const KEX = ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group14-sha256', 'diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512'] as Algorithms['kex'];
const HMAC = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'] as Algorithms['hmac'];
const MAX_EXEC = 8;
const KEEPALIVE_MISSES = 3;

export interface SshConnectOptions {
  host: string;
  port: number;
  user: string;
  /** private key file (no passphrase); default ~/.ssh/id_ed25519, else ~/.ssh/id_rsa */
  identityFile?: string;
  /** default ~/.ssh/known_hosts */
  knownHostsFile?: string;
  signal?: AbortSignal;
  /** ms between keepalive probes; after 4 intervals without a byte from the host the connection is lost (default 5000) */
  keepaliveIntervalMs?: number;
  /** handshake and authentication must finish within this (default 20000) */
  readyTimeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: Buffer;
  stderr: string;
}

function defaultIdentity(): string {
  const ssh = path.join(homedir(), '.ssh');
  return [path.join(ssh, 'id_ed25519'), path.join(ssh, 'id_rsa')].find((f) => existsSync(f)) ?? path.join(ssh, 'id_ed25519');
}

function readConfigFile(file: string, what: string, code: 'config' | 'host-key'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TargetError(code, `${SSH_ORIGIN} cannot read the ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function hostKeyAdvice(name: string, host: string, port: number, file: string, presented: Buffer): string {
  const t = keyType(presented);
  const short = t.replace(/^ssh-|^ecdsa-sha2-nistp\d+$/, (m) => (m === 'ssh-' ? '' : 'ecdsa'));
  return `Check the fingerprint on the repository host (ssh-keygen -lf /etc/ssh/ssh_host_${short}_key.pub must print ${fingerprint(presented)}); `
    + `if it matches, pin exactly the key that was shown by adding this line to ${file} (after removing a stale one: ssh-keygen -R '${name}' -f ${file}):\n`
    + `${knownHostsLine(host, port, presented)}`;
}

/**
 * The TCP socket under ssh2, tuned: no Nagle (a small request must not wait for a delayed ACK,
 * 40 ms each), and writes made in one tick leave in one writev. ssh2 writes every 32 KiB
 * packet separately, so one 1 MiB append would otherwise cost 32 syscalls; corked until the
 * next tick it costs one (about a quarter less client CPU per GiB, measured).
 */
function batchedSocket(host: string, port: number): net.Socket {
  const sock = new net.Socket();
  sock.setNoDelay(true);
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => { corked = false; sock.uncork(); };
  sock.write = ((...args: unknown[]) => {
    if (!corked) { corked = true; sock.cork(); process.nextTick(uncork); }
    return write(...args);
  }) as typeof sock.write;
  sock.connect(port, host);
  return sock;
}

/** A counting semaphore for exec channels. */
class Slots {
  private free: number;
  private waiters: (() => void)[] = [];
  constructor(n: number) { this.free = n; }
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }
}

export class SshConnection {
  private lost: TargetError | undefined;
  private readonly pending = new Set<(e: TargetError) => void>();
  private readonly slots = new Slots(MAX_EXEC);
  private sftpSession: Promise<SFTPWrapper> | undefined;

  private constructor(private readonly client: Client, sock: net.Socket, readonly where: string, intervalMs: number) {
    let heard = Date.now();
    sock.on('data', () => { heard = Date.now(); });
    const watchdog = setInterval(() => {
      const silent = Date.now() - heard;
      if (silent <= intervalMs * (KEEPALIVE_MISSES + 1)) return;
      drop(`keepalive timeout: not a byte from the host for ${(silent / 1000).toFixed(1)} s`);
      sock.destroy();
    }, intervalMs);
    watchdog.unref();
    const drop = (why: string) => {
      clearInterval(watchdog);
      if (this.lost) return;
      this.lost = new TargetError('disconnected', `${SSH_ORIGIN} the connection to ${where} was lost: ${why}`);
      for (const reject of this.pending) reject(this.lost);
      this.pending.clear();
    };
    client.on('error', (e: Error) => drop(e.message));
    client.on('close', () => drop('closed'));
    client.on('end', () => drop('closed by the host'));
  }

  static async connect(o: SshConnectOptions): Promise<SshConnection> {
    o.signal?.throwIfAborted();
    const where = `${o.user}@${knownHostName(o.host, o.port)}`;
    const khFile = o.knownHostsFile ?? path.join(homedir(), '.ssh', 'known_hosts');
    const identityFile = o.identityFile ?? defaultIdentity();
    const interval = o.keepaliveIntervalMs ?? 5000;
    const kh: KnownHosts = existsSync(khFile) ? parseKnownHosts(readConfigFile(khFile, 'known_hosts file', 'host-key')) : { entries: [] };
    const privateKey = readConfigFile(identityFile, 'identity file', 'config');
    const pinned = keysFor(kh, o.host, o.port);
    const name = knownHostName(o.host, o.port);
    let refusal: TargetError | undefined;
    const config: ConnectConfig = {
      host: o.host,
      port: o.port,
      username: o.user,
      privateKey,
      readyTimeout: o.readyTimeoutMs ?? 20_000,
      keepaliveInterval: interval,
      keepaliveCountMax: Number.MAX_SAFE_INTEGER, // the watchdog below decides
      algorithms: {
        cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'],
        compress: ['none'],
        // nothing with SHA-1: no ssh-rsa host key signatures, no sha1 key exchange or MAC
        kex: KEX,
        hmac: HMAC,
        serverHostKey: (pinned.length ? hostKeyAlgorithms(pinned) : [...HOST_KEY_ALGORITHMS]) as Algorithms['serverHostKey'],
      },
      hostVerifier: (key: Buffer) => {
        const v = verifyHostKey(kh, o.host, o.port, key);
        if (v.ok) return true;
        const seen = `${keyType(key)} ${fingerprint(key)}`;
        const advice = hostKeyAdvice(name, o.host, o.port, khFile, key);
        refusal = new TargetError('host-key', v.reason === 'unknown-host'
          ? `${SSH_ORIGIN} ${name} is not in ${khFile}${existsSync(khFile) ? '' : ' (the file does not exist)'}; the host offered ${seen}. ${advice}`
          : v.reason === 'revoked'
            ? `${SSH_ORIGIN} ${name} offered ${seen}, a key marked @revoked in ${khFile}: refusing it.`
            : `${SSH_ORIGIN} HOST KEY MISMATCH for ${name}: it offered ${seen}, but ${khFile} pins ${pinned.map((k) => `${k.type} ${fingerprint(k.key)} (line ${k.line})`).join(', ')}. `
              + `Someone may be intercepting the connection, or the host was reinstalled. ${advice}`);
        return false;
      },
    };
    const sock = batchedSocket(o.host, o.port);
    config.sock = sock;
    const client = new Client();
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.on('error', (e: Error & { level?: string }) => {
        if (refusal) reject(refusal);
        else if (e.level === 'client-authentication') {
          reject(new TargetError('auth', `${SSH_ORIGIN} ${where} refused the key ${identityFile}: add its .pub to the user's authorized_keys`, { cause: e }));
        } else if (/privateKey|private key|passphrase/i.test(e.message)) {
          reject(new TargetError('config', `${SSH_ORIGIN} cannot use the identity file ${identityFile}: ${e.message}`, { cause: e }));
        } else reject(new TargetError('disconnected', `${SSH_ORIGIN} cannot connect to ${where}: ${e.message}`, { cause: e }));
      });
      client.once('close', () => reject(refusal ?? new TargetError('disconnected', `${SSH_ORIGIN} ${where} closed the connection during the handshake`)));
    });
    try {
      client.connect(config);
    } catch (e) {
      sock.destroy();
      throw new TargetError('config', `${SSH_ORIGIN} cannot use the identity file ${identityFile} for ${where}: ${(e as Error).message}`, { cause: e });
    }
    try {
      await abortable(ready, o.signal);
    } catch (e) {
      client.end();
      client.destroy();
      sock.destroy();
      throw e;
    }
    return new SshConnection(client, sock, where, interval);
  }

  /** Throws the loss, if the connection is gone. */
  check(signal?: AbortSignal): void {
    signal?.throwIfAborted();
    if (this.lost) throw this.lost;
  }

  /**
   * Runs `work` so that losing the connection rejects it at once with 'disconnected', and the
   * signal with its reason (`onAbort` then stops the work).
   */
  track<T>(work: Promise<T>, signal?: AbortSignal, onAbort?: () => void): Promise<T> {
    if (this.lost) {
      work.catch(() => {});
      return Promise.reject(this.lost);
    }
    let dropped!: (e: TargetError) => void;
    const lostP = new Promise<never>((_, reject) => { dropped = reject; });
    lostP.catch(() => {});
    this.pending.add(dropped);
    const raced = Promise.race([work, lostP]);
    return abortable(raced, signal, onAbort).finally(() => this.pending.delete(dropped));
  }

  /**
   * Opens an exec channel running `command` (through the user's shell on the host). `setup`
   * runs synchronously when the channel opens: a fast command's output, exit status and close
   * can arrive in the same packet, before any later listener would be attached. The channel
   * holds one of MAX_EXEC slots until it closes.
   */
  async channel(command: string, signal: AbortSignal | undefined, setup: (ch: ClientChannel) => void): Promise<ClientChannel> {
    this.check(signal);
    const release = await this.track(this.slots.take(), signal);
    try {
      return await this.track(new Promise<ClientChannel>((resolve, reject) => {
        this.client.exec(command, (err, ch) => {
          if (err) return reject(err);
          ch.once('close', release);
          setup(ch);
          resolve(ch);
        });
      }), signal);
    } catch (e) {
      release();
      if (e instanceof TargetError || e === signal?.reason) throw e;
      throw this.lost ?? new TargetError('io', `${SSH_ORIGIN} cannot open a channel on ${this.where}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Runs a command with optional stdin; resolves with its exit status and output. */
  async exec(command: string, opts: { stdin?: Buffer; signal?: AbortSignal } = {}): Promise<ExecResult> {
    let done!: Promise<ExecResult>;
    const ch = await this.channel(command, opts.signal, (ch) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      done = new Promise<ExecResult>((resolve) => {
        let code: number | null = null;
        let sig: string | undefined;
        ch.on('data', (b: Buffer) => out.push(b));
        ch.stderr.on('data', (b: Buffer) => err.push(b));
        ch.on('exit', (c: number | null, s?: string) => { code = c; sig = s; });
        ch.on('close', () => resolve({ code, signal: sig, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
      });
    });
    ch.end(opts.stdin);
    return this.track(done, opts.signal, () => ch.close());
  }

  /**
   * The shared SFTP session (opened on first use, reopened if the host closed it). A lost
   * connection or an aborted signal rejects: it never throws synchronously.
   */
  sftp(signal?: AbortSignal): Promise<SFTPWrapper> {
    try {
      this.check(signal);
    } catch (e) {
      return Promise.reject(e);
    }
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, s) => {
        if (err) return reject(this.lost ?? new TargetError('io', `${SSH_ORIGIN} cannot start SFTP on ${this.where}: ${err.message}`, { cause: err }));
        s.on('close', () => { this.sftpSession = undefined; });
        resolve(s);
      });
    });
    const p = this.sftpSession;
    p.catch(() => { if (this.sftpSession === p) this.sftpSession = undefined; });
    return this.track(p, signal);
  }

  async close(): Promise<void> {
    if (this.lost) return;
    this.lost = new TargetError('disconnected', `${SSH_ORIGIN} the connection to ${this.where} was closed by the agent`);
    for (const reject of this.pending) reject(this.lost);
    this.pending.clear();
    const closed = new Promise<void>((r) => this.client.once('close', () => r()));
    this.client.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

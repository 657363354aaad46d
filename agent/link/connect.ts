/**
 * @layer adapter
 * connectAgent: the control plane's link to the agent daemon on a KVM host, through SSH only —
 * no port opens on the host. One ssh2 connection (key auth; the host key PINNED from a
 * known_hosts file, known-hosts.ts: an unknown or different key fails before authentication),
 * and for every HTTP request a fresh `direct-streamlocal@openssh.com` channel to the daemon's
 * unix socket (sshd's AllowStreamLocalForwarding, on by default), over which streamFetch speaks
 * HTTP/1.1. sshd opens the socket as the logged-in user: it must be the socket's owner.
 *
 * Errors are LinkErrors ('[link] user@host:port …'); a channel sshd cannot open means the daemon
 * is not listening there, or the user may not open its socket ('agent-down'). The connection is
 * watched with keepalives; when it drops, `onClose` listeners hear why and every later request
 * fails with 'closed' (reconnect.ts opens a new one on demand).
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';
import { fingerprint, hostKeyAlgorithms, keysFor, keyType, knownHostName, parseKnownHosts, verifyHostKey } from '../target/known-hosts.ts';
import { AGENT_SOCKET } from '../daemon/socket-path.ts';
import { agentClient, type AgentClient } from './client.ts';
import { LinkError } from './errors.ts';
import { streamFetch, type LinkFetch } from './stream-fetch.ts';

export const DEFAULT_AGENT_SOCKET = AGENT_SOCKET;

export interface AgentLinkOptions {
  host: string;
  /** default 22 */
  port?: number;
  username: string;
  /** private key file (no passphrase) */
  identityFile: string;
  /** OpenSSH known_hosts pinning the host's key */
  knownHostsFile: string;
  /** the daemon's socket on the host (default /run/sendense/agent.sock) */
  socketPath?: string;
  /** handshake and authentication must finish within this (default 15000 ms) */
  readyTimeoutMs?: number;
  /** ssh keepalive interval (default 10000 ms); 3 unanswered and the link is closed */
  keepaliveIntervalMs?: number;
  signal?: AbortSignal;
}

export interface AgentLink {
  /** 'user@host:port:/socket', for messages */
  readonly where: string;
  /** the typed client of the daemon's API (hc<AgentAppType>) over this link */
  readonly client: AgentClient;
  /** a fetch whose every request reaches the daemon (the URL's origin is ignored) */
  readonly fetch: LinkFetch;
  /** the pinned host key the host presented ('SHA256:…'), once connected */
  readonly hostKeyFingerprint: string | undefined;
  readonly closed: boolean;
  close(): Promise<void>;
  /** called once when the connection closes or drops, with why; returns the unsubscribe */
  onClose(listener: (why: LinkError) => void): () => void;
}

function readFile(file: string, what: string, code: 'config' | 'host-key'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new LinkError(code, `[link] cannot read the ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

class SshAgentLink implements AgentLink {
  readonly client: AgentClient;
  readonly fetch: LinkFetch;
  hostKeyFingerprint: string | undefined;
  private lost: LinkError | undefined;
  private readonly listeners = new Set<(why: LinkError) => void>();

  constructor(private readonly ssh: Client, readonly where: string, private readonly socketPath: string, fp: string | undefined) {
    this.hostKeyFingerprint = fp;
    const drop = (why: string) => {
      if (this.lost) return;
      this.lost = new LinkError('closed', `[link] the SSH connection to ${where} was lost: ${why}`);
      for (const l of [...this.listeners]) l(this.lost);
      this.listeners.clear();
    };
    ssh.on('error', (e: Error) => drop(e.message));
    ssh.on('close', () => drop('closed'));
    ssh.on('end', () => drop('closed by the host'));
    this.fetch = streamFetch((signal) => this.openChannel(signal), {
      describe: (e) => this.lost ?? new LinkError('closed', `[link] the request to ${where} failed: ${e.message}`, { cause: e }),
    });
    this.client = agentClient(this.fetch);
  }

  get closed(): boolean {
    return this.lost !== undefined;
  }

  private openChannel(signal: AbortSignal): Promise<Duplex> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise<Duplex>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const onLost = (why: LinkError) => reject(why);
      this.listeners.add(onLost);
      this.ssh.openssh_forwardOutStreamLocal(this.socketPath, (err, ch) => {
        signal.removeEventListener('abort', onAbort);
        this.listeners.delete(onLost);
        if (err) {
          reject(this.lost ?? new LinkError('agent-down', `[link] ${this.where}: sshd could not connect to the agent's socket (${err.message}): is sendense-agent serve running there, and does this user own the socket?`, { cause: err }));
          return;
        }
        if (signal.aborted) {
          ch.close();
          return;
        }
        resolve(ch as unknown as Duplex);
      });
    });
  }

  onClose(listener: (why: LinkError) => void): () => void {
    if (this.lost) {
      listener(this.lost);
      return () => {};
    }
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  async close(): Promise<void> {
    if (this.lost) return;
    const closed = new Promise<void>((r) => this.ssh.once('close', () => r()));
    this.ssh.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.ssh.destroy();
  }
}

export async function connectAgent(o: AgentLinkOptions): Promise<AgentLink> {
  o.signal?.throwIfAborted();
  const port = o.port ?? 22;
  const socketPath = o.socketPath ?? DEFAULT_AGENT_SOCKET;
  const name = knownHostName(o.host, port);
  const where = `${o.username}@${name}:${socketPath}`;
  const kh = parseKnownHosts(readFile(o.knownHostsFile, 'known_hosts file', 'host-key'));
  const privateKey = readFile(o.identityFile, 'identity file', 'config');
  const pinned = keysFor(kh, o.host, port);
  if (!pinned.length) {
    throw new LinkError('host-key', `[link] ${name} is not pinned in ${o.knownHostsFile}: add its host key first (ssh-keyscan -p ${port} ${o.host}, checked against ssh-keygen -lf on the host)`);
  }
  let refusal: LinkError | undefined;
  let presented: string | undefined;
  const interval = o.keepaliveIntervalMs ?? 10_000;
  const config: ConnectConfig = {
    host: o.host, port, username: o.username, privateKey,
    readyTimeout: o.readyTimeoutMs ?? 15_000,
    keepaliveInterval: interval, keepaliveCountMax: 3,
    algorithms: { serverHostKey: hostKeyAlgorithms(pinned) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
    hostVerifier: (key: Buffer) => {
      const v = verifyHostKey(kh, o.host, port, key);
      presented = fingerprint(key);
      if (v.ok) return true;
      const seen = `${keyType(key)} ${presented}`;
      refusal = new LinkError('host-key', v.reason === 'revoked'
        ? `[link] ${name} offered ${seen}, a key marked @revoked in ${o.knownHostsFile}: refusing it`
        : `[link] HOST KEY MISMATCH for ${name}: it offered ${seen}, but ${o.knownHostsFile} pins ${pinned.map((k) => `${k.type} ${fingerprint(k.key)}`).join(', ')}. Someone may be intercepting the connection, or the host was reinstalled: check the key on the host before pinning the new one.`);
      return false;
    },
  };
  const ssh = new Client();
  const ready = new Promise<void>((resolve, reject) => {
    ssh.once('ready', () => resolve());
    ssh.once('error', (e: Error & { level?: string }) => {
      if (refusal) reject(refusal);
      else if (e.level === 'client-authentication') reject(new LinkError('auth', `[link] ${o.username}@${name} refused the key ${o.identityFile}: add its .pub to that user's authorized_keys on the host`, { cause: e }));
      else if (/timed out/i.test(e.message)) reject(new LinkError('timeout', `[link] ${name}: no SSH handshake within ${config.readyTimeout} ms`, { cause: e }));
      else if (/privateKey|private key|passphrase|Cannot parse/i.test(e.message)) reject(new LinkError('config', `[link] cannot use the identity file ${o.identityFile}: ${e.message}`, { cause: e }));
      else reject(new LinkError('unreachable', `[link] cannot reach ${name} over SSH: ${e.message}`, { cause: e }));
    });
    ssh.once('close', () => reject(refusal ?? new LinkError('unreachable', `[link] ${name} closed the connection during the SSH handshake`)));
  });
  const onAbort = () => ssh.destroy();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    ssh.connect(config);
    await (o.signal ? Promise.race([ready, new Promise<never>((_, reject) => {
      if (o.signal!.aborted) reject(o.signal!.reason);
      o.signal!.addEventListener('abort', () => reject(o.signal!.reason), { once: true });
    })]) : ready);
  } catch (e) {
    ssh.destroy();
    if (e instanceof LinkError || e === o.signal?.reason) throw e;
    throw new LinkError('config', `[link] cannot connect to ${name}: ${(e as Error).message}`, { cause: e });
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  ready.catch(() => {});
  return new SshAgentLink(ssh, where, socketPath, presented);
}

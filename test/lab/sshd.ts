/**
 * A repository host: a real OpenSSH sshd with its own host key and authorized_keys, letting in
 * one non-root user with a light shell (/bin/sh, no .bashrc cost), on loopback or inside a
 * network namespace (a second host). Returns what a client needs: address, port, user, the
 * client key and a known_hosts file pinning the host key.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { LAB_ROOT, labDir, labName, runId } from './paths.ts';
import { isAlive, killAndWait, readPidFile, waitFor } from './proc.ts';
import type { LabNetns } from './netns.ts';

export const REPO_USER = 'sendense-repo';

export interface RepoHost {
  name: string;
  host: string;
  port: number;
  user: string;
  /** a directory on the host owned by the user, for repositories */
  root: string;
  identityFile: string;
  knownHostsFile: string;
  hostKeyPub: string;
  pid: number;
  /** ssh://user@host:port<root>/<sub> */
  url(sub?: string): string;
  /** run a command on the host as the user through OpenSSH (for tests) */
  ssh(command: string): Promise<string>;
  stop(): Promise<void>;
}

function ensureUser(): { uid: number; gid: number } {
  if (spawnSync('id', ['-u', REPO_USER]).status !== 0) {
    const home = path.join(LAB_ROOT, 'home', REPO_USER);
    mkdirSync(path.dirname(home), { recursive: true, mode: 0o755 });
    const r = spawnSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', REPO_USER], { encoding: 'utf8' });
    if (r.status !== 0 && spawnSync('id', ['-u', REPO_USER]).status !== 0) throw new Error(`[lab] useradd ${REPO_USER}: ${r.stderr}`);
  }
  // useradd leaves the account locked ('!'): without PAM, sshd refuses locked accounts even for keys.
  // '*' means "no password can match" without locking the account.
  spawnSync('usermod', ['-p', '*', REPO_USER]);
  const uid = Number(spawnSync('id', ['-u', REPO_USER], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', REPO_USER], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** The lab's client key pair (one per machine, reused). */
export async function clientKey(): Promise<string> {
  const dir = labDir('keys');
  const key = path.join(dir, 'id_ed25519');
  if (!existsSync(key)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sendense-lab', '-f', key]);
  return key;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function startRepoHost(opts: { label?: string; netns?: LabNetns; extraConfig?: string } = {}): Promise<RepoHost> {
  const { uid, gid } = ensureUser();
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const name = labName(opts.label ?? 'repo');
  const dir = labDir('runs', runId(), name);
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', hostKey]);
  const ident = await clientKey();
  const authKeys = path.join(dir, 'authorized_keys');
  writeFileSync(authKeys, readFileSync(`${ident}.pub`));
  chmodSync(authKeys, 0o644);
  const root = path.join(dir, 'data');
  mkdirSync(root, { recursive: true });
  chownSync(root, uid, gid);
  const host = opts.netns ? opts.netns.address : '127.0.0.1';
  // a port free on the host side; inside a namespace any port is free
  const port = opts.netns ? 22 : await freePort(host);
  const pidFile = path.join(dir, 'sshd.pid');
  const config = path.join(dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`, `ListenAddress ${host}`, `HostKey ${hostKey}`, `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${authKeys}`, 'UsePAM no', 'StrictModes no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', `AllowUsers ${REPO_USER}`,
    'Subsystem sftp internal-sftp', 'MaxSessions 100', 'MaxStartups 100:30:200', 'LogLevel ERROR',
    'UseDNS no', 'PrintMotd no', 'Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,chacha20-poly1305@openssh.com',
    opts.extraConfig ?? '', '',
  ].join('\n'));
  const log = path.join(dir, 'sshd.log');
  const [prog, args] = opts.netns
    ? opts.netns.exec('/usr/sbin/sshd', ['-f', config, '-E', log])
    : ['/usr/sbin/sshd', ['-f', config, '-E', log]];
  // without -D sshd daemonizes after binding: when it returns, the port is open and the pid file written
  const r = spawnSync(prog, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`[lab] sshd for ${name} failed (exit ${r.status}): ${r.stderr.trim()} ${existsSync(log) ? readFileSync(log, 'utf8').trim() : ''}`);
  await waitFor(`sshd ${name} pid file`, () => { const p = readPidFile(pidFile); return p !== undefined && isAlive(p); }, 5000);
  const pid = readPidFile(pidFile)!;
  const pub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const knownHostsFile = path.join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `${port === 22 ? host : `[${host}]:${port}`} ${pub}\n`);
  const sshArgs = ['-i', ident, '-p', String(port), '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${REPO_USER}@${host}`];
  return {
    name, host, port, user: REPO_USER, root, identityFile: ident, knownHostsFile, hostKeyPub: pub, pid,
    url: (sub = '') => `ssh://${REPO_USER}@${host}:${port}${path.posix.join(root, sub)}`,
    ssh: async (command: string) => (await run('ssh', [...sshArgs, command], { timeoutMs: 60_000 })).stdout,
    stop: async () => { if (isAlive(pid)) await killAndWait(pid); },
  };
}


/** Every process under `root` (children first level first), read from /proc; `root` itself excluded. */
function descendantsOf(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out.slice(1);
}

/** The per-connection session processes of this host's sshd (not the listener, not any other host's). */
export function sessionPids(host: Pick<RepoHost, 'pid'>): number[] {
  return descendantsOf(host.pid);
}

/**
 * Drops every connection to this repository host, and only those: signals its sshd's session
 * processes (the listener stays up, so new connections work). Other hosts' sessions — other test
 * files running at the same time under the same user — are left alone. Returns the pids signalled.
 */
export function killSessions(host: Pick<RepoHost, 'pid'>, sig: NodeJS.Signals = 'SIGKILL'): number[] {
  const pids = sessionPids(host);
  for (const p of pids) { try { process.kill(p, sig); } catch { /* gone */ } }
  return pids;
}

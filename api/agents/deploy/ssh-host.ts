/**
 * @layer adapter
 * The real HostConnector: ssh2 to the KVM host as the admin's user (key file or password), the
 * host key checked against the control plane's known_hosts file (agent/target/known-hosts.ts):
 * an unpinned key fails `host-key-unknown` with its fingerprint and known_hosts line unless the
 * admin accepted exactly that fingerprint (then the line is appended to the file), a different
 * key fails `host-key-changed`. A user other than root runs everything through `sudo -n`.
 * Every operation is one `sh -c` with quoted arguments (agent/target/shell.ts); the package is
 * uploaded by `cat` on an exec channel (faster than SFTP writes, host-lab.md) into
 * /var/tmp/sendense-deploy/ (0700, root), and installed with apt-get / dnf (yum, rpm -U) keeping
 * a changed conffile (`--force-confold`).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { fingerprint, HOST_KEY_ALGORITHMS, keyType, knownHostName, knownHostsLine, parseKnownHosts, verifyHostKey } from '../../../agent/target/known-hosts.ts';
import { shellQuote } from '../../../agent/target/shell.ts';
import { DeployError } from './errors.ts';
import type { PackageFormat } from './os-release.ts';
import type { ConnectOptions, DeployTarget, HostConnector, HostFacts, HostSession, ServiceState } from './port.ts';

export interface SshHostConnectorOptions {
  /** the control plane's known_hosts file (the same one its link pins agents with) */
  knownHostsFile: string;
  readyTimeoutMs?: number;
}

interface ExecResult { code: number; stdout: string; stderr: string }

const UPLOAD_DIR = '/var/tmp/sendense-deploy';
const CHUNK = 1024 * 1024;

function execOn(ssh: Client, command: string, o: { stdin?: Uint8Array; signal?: AbortSignal; onProgress?: (n: number) => void } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    o.signal?.throwIfAborted();
    ssh.exec(command, (err, ch: ClientChannel) => {
      if (err) { reject(new DeployError('unreachable', `the SSH session broke: ${err.message}`, {}, { cause: err })); return; }
      let stdout = '';
      let stderr = '';
      const onAbort = () => ch.close();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      ch.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
      ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      ch.on('close', (code: number | null) => {
        o.signal?.removeEventListener('abort', onAbort);
        if (o.signal?.aborted) reject(o.signal.reason);
        else resolve({ code: code ?? 255, stdout, stderr });
      });
      if (!o.stdin) { ch.end(); return; }
      const data = o.stdin;
      let off = 0;
      const pump = () => {
        while (off < data.length) {
          const end = Math.min(off + CHUNK, data.length);
          const more = ch.write(data.subarray(off, end));
          off = end;
          o.onProgress?.(off);
          if (!more) { ch.once('drain', pump); return; }
        }
        ch.end();
      };
      pump();
    });
  });
}

const tail = (s: string, n = 6) => s.trim().split('\n').slice(-n).join(' | ');

function failure(r: ExecResult, what: string, where: string): DeployError {
  const out = `${r.stdout}\n${r.stderr}`;
  if (/No space left on device|not enough free space|needs \S+ on the \S+ filesystem/i.test(out)) return new DeployError('disk-full', `${where}: ${what}: the host ran out of disk space: ${tail(out, 3)}`);
  return new DeployError('install-failed', `${where}: ${what} failed (exit ${r.code}): ${tail(out)}`);
}

const FACTS = [
  'echo "==os"; cat /etc/os-release 2>/dev/null',
  `echo "==ver"; dpkg-query -W -f='\${Status} \${Version}\\n' sendense-agent 2>/dev/null | awk '$3=="installed"{print $4}'; rpm -q --qf '%{VERSION}\\n' sendense-agent 2>/dev/null | grep -v 'not installed'`,
  'echo "==libvirt"; for p in /usr/sbin/libvirtd /usr/sbin/virtqemud /usr/bin/libvirtd; do [ -x "$p" ] && echo "$p"; done',
  'echo "==systemd"; [ -d /run/systemd/system ] && echo yes',
  `echo "==free"; df -P -B1 /var/tmp /usr 2>/dev/null | awk 'NR>1{print $4}'`,
  'echo "==clock"; date +%s%3N',
  'true',
].join('\n');

function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  let key = '';
  for (const line of out.split('\n')) {
    const h = /^==(\w+)$/.exec(line);
    if (h) { key = h[1]; m.set(key, ''); continue; }
    if (key) m.set(key, `${m.get(key)}${line}\n`);
  }
  return m;
}

class SshHostSession implements HostSession {
  constructor(private readonly ssh: Client, readonly where: string, readonly hostKeyFingerprint: string, private readonly sudo: boolean) {}

  private sh(script: string, args: string[] = [], o: { stdin?: Uint8Array; signal?: AbortSignal; onProgress?: (n: number) => void } = {}): Promise<ExecResult> {
    const cmd = `${this.sudo ? 'sudo -n ' : ''}sh -c ${shellQuote(script)} sh ${args.map(shellQuote).join(' ')}`;
    return execOn(this.ssh, cmd, o);
  }

  async facts(o: { signal?: AbortSignal } = {}): Promise<HostFacts> {
    const t0 = Date.now();
    const r = await this.sh(FACTS, [], o);
    const t1 = Date.now();
    const s = sections(r.stdout);
    const os = s.get('os')?.trim();
    const free = (s.get('free') ?? '').trim().split('\n').map(Number).filter((n) => Number.isFinite(n) && n >= 0);
    return {
      osRelease: os ? `${os}\n` : null,
      installedVersion: (s.get('ver') ?? '').trim().split('\n')[0] || null,
      libvirt: (s.get('libvirt') ?? '').trim() !== '',
      systemd: (s.get('systemd') ?? '').trim() === 'yes',
      freeBytes: free.length ? Math.min(...free) : 0,
      hostClockMs: Number((s.get('clock') ?? '').trim()) || 0,
      localClockMs: Math.round((t0 + t1) / 2),
    };
  }

  async upload(name: string, data: Uint8Array, o: { signal?: AbortSignal; onProgress?: (n: number) => void } = {}): Promise<string> {
    if (!/^[A-Za-z0-9._+~-]+$/.test(name)) throw new DeployError('failed', `${this.where}: '${name}' is not a package file name`);
    const dest = `${UPLOAD_DIR}/${name}`;
    const r = await this.sh('umask 077; mkdir -p "$1" && chmod 0700 "$1" && cat > "$2.part" && mv -f "$2.part" "$2"', [UPLOAD_DIR, dest], { ...o, stdin: data });
    if (r.code !== 0) throw failure(r, `uploading ${name}`, this.where);
    return dest;
  }

  async install(file: string, format: PackageFormat, o: { signal?: AbortSignal } = {}): Promise<void> {
    const script = format === 'deb'
      ? 'export DEBIAN_FRONTEND=noninteractive; if command -v apt-get >/dev/null; then apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "$1"; else dpkg --force-confold -i "$1"; fi'
      : 'if command -v dnf >/dev/null; then dnf install -y "$1"; elif command -v yum >/dev/null; then yum install -y "$1"; else rpm -U --replacepkgs "$1"; fi';
    const r = await this.sh(script, [file], o);
    if (r.code !== 0) throw failure(r, `installing ${file.split('/').pop()}`, this.where);
  }

  async readFile(p: string, o: { signal?: AbortSignal } = {}): Promise<string | null> {
    const r = await this.sh('if [ -f "$1" ]; then echo Y; cat "$1"; else echo N; fi', [p], o);
    if (r.code !== 0) throw new DeployError('failed', `${this.where}: reading ${p}: ${tail(r.stderr)}`);
    return r.stdout.startsWith('Y\n') ? r.stdout.slice(2) : null;
  }

  async writeFile(p: string, content: string, o: { owner: string; group: string; mode: number; signal?: AbortSignal }): Promise<void> {
    const r = await this.sh(
      'umask 077; d=$(dirname "$1"); [ -d "$d" ] || install -d -m 0700 -o "$2" -g "$3" "$d" || exit 1; cat > "$1.sendense-new" && chown "$2:$3" "$1.sendense-new" && chmod "$4" "$1.sendense-new" && mv -f "$1.sendense-new" "$1"',
      [p, o.owner, o.group, o.mode.toString(8)], { stdin: Buffer.from(content, 'utf8'), signal: o.signal });
    if (r.code !== 0) throw failure(r, `writing ${p}`, this.where);
  }

  async service(action: 'start' | 'restart' | 'state', o: { signal?: AbortSignal } = {}): Promise<ServiceState> {
    if (action !== 'state') {
      const r = await this.sh(action === 'start' ? 'systemctl enable -q sendense-agent && systemctl restart sendense-agent' : 'systemctl restart sendense-agent', [], o);
      if (r.code !== 0) throw new DeployError('not-healthy', `${this.where}: systemctl ${action} sendense-agent failed: ${tail(r.stderr || r.stdout)} (journalctl -u sendense-agent on the host says why)`);
    }
    const r = await this.sh('echo "$(systemctl is-enabled sendense-agent 2>/dev/null) $(systemctl is-active sendense-agent 2>/dev/null)"', [], o);
    const [enabled, active] = r.stdout.trim().split(/\s+/);
    return { enabled: enabled === 'enabled', active: active === 'active' };
  }

  async remove(format: PackageFormat, purge: boolean, o: { signal?: AbortSignal } = {}): Promise<boolean> {
    const script = format === 'deb'
      ? `export DEBIAN_FRONTEND=noninteractive; dpkg-query -W sendense-agent >/dev/null 2>&1 || { echo NONE; exit 0; }; apt-get ${purge ? 'purge' : 'remove'} -y -q sendense-agent`
      : 'rpm -q sendense-agent >/dev/null 2>&1 || { echo NONE; exit 0; }; if command -v dnf >/dev/null; then dnf remove -y sendense-agent; else rpm -e sendense-agent; fi';
    const r = await this.sh(script, [], o);
    if (r.code !== 0) throw failure(r, `removing sendense-agent`, this.where);
    return r.stdout.trim() !== 'NONE';
  }

  async reloadSshd(o: { signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.sh('sshd -t || /usr/sbin/sshd -t || exit 3; systemctl reload ssh 2>/dev/null || systemctl reload sshd', [], o);
    if (r.code !== 0) throw new DeployError('failed', `${this.where}: ${r.code === 3 ? 'sshd -t refuses the configuration' : 'reloading sshd failed'}: ${tail(r.stderr || r.stdout)}`);
  }

  async removePath(p: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    if (!p.startsWith('/') || p.split('/').filter(Boolean).length < 2) throw new DeployError('failed', `${this.where}: refusing to remove '${p}'`);
    const r = await this.sh('rm -rf -- "$1"', [p], o);
    if (r.code !== 0) throw new DeployError('failed', `${this.where}: removing ${p}: ${tail(r.stderr)}`);
  }

  async close(): Promise<void> {
    this.ssh.end();
  }
}

export function sshHostConnector(opts: SshHostConnectorOptions): HostConnector {
  return {
    async connect(t: DeployTarget, o: ConnectOptions): Promise<HostSession> {
      o.signal?.throwIfAborted();
      const port = t.port ?? 22;
      const name = knownHostName(t.address, port);
      const who = `${o.credentials.user}@${name}`;
      const kh = parseKnownHosts(existsSync(opts.knownHostsFile) ? readFileSync(opts.knownHostsFile, 'utf8') : '');
      let refusal: DeployError | undefined;
      let presented = '';
      const config: ConnectConfig = {
        host: t.address, port, username: o.credentials.user,
        readyTimeout: opts.readyTimeoutMs ?? 15_000,
        algorithms: { serverHostKey: HOST_KEY_ALGORITHMS as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
        hostVerifier: (key: Buffer) => {
          presented = fingerprint(key);
          const v = verifyHostKey(kh, t.address, port, key);
          if (v.ok) return true;
          if (v.reason === 'unknown-host' && o.acceptFingerprint === presented) {
            appendFileSync(opts.knownHostsFile, `${knownHostsLine(t.address, port, key)}\n`, { mode: 0o600 });
            return true;
          }
          if (v.reason === 'unknown-host') {
            refusal = new DeployError('host-key-unknown', `${name} is not pinned in ${opts.knownHostsFile}: it shows ${keyType(key)} ${presented}. Check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and accept exactly that fingerprint${o.acceptFingerprint ? ` (the one accepted, ${o.acceptFingerprint}, is not it)` : ''}`, { fingerprint: presented, knownHostsLine: knownHostsLine(t.address, port, key) });
          } else {
            refusal = new DeployError('host-key-changed', `HOST KEY CHANGED for ${name}: it shows ${keyType(key)} ${presented}, which ${opts.knownHostsFile} does not pin for it${v.reason === 'revoked' ? ' (the key is @revoked)' : ''}. Someone may be intercepting the connection, or the host was reinstalled: check the key on the host, then replace its line in ${opts.knownHostsFile}`, { fingerprint: presented });
          }
          return false;
        },
      };
      if (o.credentials.identityFile) {
        try { config.privateKey = readFileSync(o.credentials.identityFile, 'utf8'); } catch (e) {
          throw new DeployError('auth-failed', `cannot read the SSH key ${o.credentials.identityFile}: ${(e as Error).message}`, {}, { cause: e });
        }
      }
      if (o.credentials.password !== undefined) config.password = o.credentials.password;
      const ssh = new Client();
      const ready = new Promise<void>((resolve, reject) => {
        ssh.once('ready', () => resolve());
        ssh.once('error', (e: Error & { level?: string }) => {
          if (refusal) reject(refusal);
          else if (e.level === 'client-authentication') reject(new DeployError('auth-failed', `${who} refused ${o.credentials.identityFile ? `the key ${o.credentials.identityFile}` : 'the password'}: check the user and its credentials`, {}, { cause: e }));
          else reject(new DeployError('unreachable', `cannot reach ${name} over SSH: ${e.message}`, {}, { cause: e }));
        });
        ssh.once('close', () => reject(refusal ?? new DeployError('unreachable', `${name} closed the connection during the SSH handshake`)));
      });
      const onAbort = () => ssh.destroy();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        ssh.connect(config);
        await ready;
      } catch (e) {
        ssh.destroy();
        if (o.signal?.aborted) throw new DeployError('aborted', `${who}: aborted`, {}, { cause: e });
        throw e;
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
      }
      ready.catch(() => {});
      ssh.on('error', () => {});
      const sudo = o.credentials.user !== 'root';
      if (sudo) {
        const r = await execOn(ssh, 'sudo -n true', { signal: o.signal });
        if (r.code !== 0) { ssh.end(); throw new DeployError('no-sudo', `${who} is not root and 'sudo -n' refuses (${tail(r.stderr, 1) || `exit ${r.code}`}): log in as root or allow this user sudo without a password`); }
      }
      return new SshHostSession(ssh, who, presented, sudo);
    },
  };
}

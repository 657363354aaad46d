/**
 * @layer adapter
 * The real RepositoryKeys: logs in to the repository host as the repository's own user (the one in
 * the repository URL, with a key the control plane has there) and edits that user's
 * authorized_keys: each KVM host's key gets one line, restricted to no forwarding, no pty, no
 * agent or X11, and only from that host's address (`from=`), replaced on a re-run (same comment)
 * and removed on purge. The repository's host key is pinned from a known_hosts file.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { fingerprint, hostKeyAlgorithms, keysFor, parseKnownHosts, verifyHostKey } from '../../../agent/target/known-hosts.ts';
import { shellQuote } from '../../../agent/target/shell.ts';
import { DeployError } from './errors.ts';
import type { RepositoryKeys } from './port.ts';

export interface SshRepositoryKeysOptions {
  host: string;
  port?: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  /** default ~/.ssh/authorized_keys of the user */
  authorizedKeysFile?: string;
  /** the address each host's key may log in from, by the key's comment */
  fromAddress?: (comment: string) => string | undefined;
}

const EDIT = 'umask 077; f="$1"; [ -n "$f" ] || { mkdir -p "$HOME/.ssh"; f="$HOME/.ssh/authorized_keys"; }; t=$(mktemp) && touch "$f" && { grep -v -F -e " $2" "$f" | grep -v "^$"; [ -z "$3" ] || printf "%s\\n" "$3"; } > "$t" && cat "$t" > "$f"; r=$?; rm -f "$t"; exit $r';

export function sshRepositoryKeys(o: SshRepositoryKeysOptions): RepositoryKeys {
  const port = o.port ?? 22;
  async function edit(comment: string, line: string, signal?: AbortSignal): Promise<void> {
    const kh = parseKnownHosts(readFileSync(o.knownHostsFile, 'utf8'));
    const pinned = keysFor(kh, o.host, port);
    if (!pinned.length) throw new DeployError('host-key-unknown', `the repository host ${o.host}:${port} is not pinned in ${o.knownHostsFile}`);
    const ssh = new Client();
    let bad: string | undefined;
    await new Promise<void>((resolve, reject) => {
      ssh.once('ready', () => resolve());
      ssh.once('error', (e) => reject(new DeployError(bad ? 'host-key-changed' : 'unreachable', `the repository host ${o.user}@${o.host}:${port}: ${bad ?? e.message}`, {}, { cause: e })));
      signal?.addEventListener('abort', () => ssh.destroy(), { once: true });
      ssh.connect({
        host: o.host, port, username: o.user, privateKey: readFileSync(o.identityFile, 'utf8'), readyTimeout: 15_000,
        algorithms: { serverHostKey: hostKeyAlgorithms(pinned) as never },
        hostVerifier: (key: Buffer) => { const ok = verifyHostKey(kh, o.host, port, key).ok; if (!ok) bad = `it shows ${fingerprint(key)}, not the pinned key`; return ok; },
      });
    });
    try {
      const cmd = `sh -c ${shellQuote(EDIT)} sh ${shellQuote(o.authorizedKeysFile ?? '')} ${shellQuote(comment)} ${shellQuote(line)}`;
      const r = await new Promise<{ code: number; err: string }>((resolve, reject) => ssh.exec(cmd, (e, ch) => {
        if (e) { reject(e); return; }
        let err = '';
        ch.stderr.on('data', (d: Buffer) => { err += d.toString(); });
        ch.on('close', (code: number | null) => resolve({ code: code ?? 255, err }));
        ch.resume();
        ch.end();
      }));
      if (r.code !== 0) throw new DeployError('failed', `editing the repository host's authorized_keys (${o.user}@${o.host}): ${r.err.trim()}`);
    } finally {
      ssh.end();
    }
  }
  return {
    async authorize(publicKey, comment, opts) {
      const [type, blob] = publicKey.trim().split(/\s+/);
      const from = o.fromAddress?.(comment);
      const options = `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty${from ? `,from="${from}"` : ''}`;
      await edit(comment, `${options} ${type} ${blob} ${comment}`, opts?.signal);
    },
    async revoke(comment, opts) {
      await edit(comment, '', opts?.signal);
    },
  };
}

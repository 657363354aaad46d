/**
 * @layer logic
 * OpenSSH known_hosts, as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" defines it, for pinning a
 * repository host's key. Each line: `[@marker] patterns keytype base64-key [comment]`.
 * - patterns: comma-separated, `*` and `?` wildcards, `!` negation; a host on another port than
 *   22 is written `[host]:port`; a hashed entry is `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 * - `@cert-authority` lines are skipped (certificates are not accepted: only plain pinned keys);
 *   a key on a `@revoked` line is refused for every host, whatever its pattern says.
 * - Unknown key types and malformed lines are skipped, never trusted.
 * The verdict is a plain value; the SSH adapter turns a refusal into a 'host-key' error.
 */
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostKey {
  /** e.g. 'ssh-ed25519' */
  type: string;
  /** the public key blob (SSH wire format), as the server presents it */
  key: Buffer;
  /** 1-based line in the file, for messages */
  line: number;
}

interface Entry extends KnownHostKey {
  marker?: 'revoked' | 'cert-authority';
  patterns: string;
}

export interface KnownHosts {
  entries: Entry[];
}

/**
 * Key types ssh2 can verify, with the host key algorithms that present them. An RSA key is
 * only accepted with a SHA-2 signature (RFC 8332): the `ssh-rsa` algorithm (SHA-1) is never offered.
 */
const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256'],
};

/** Every host key algorithm Sendense offers when nothing is pinned yet (no SHA-1). */
export const HOST_KEY_ALGORITHMS: readonly string[] = [...new Set(Object.values(ALGORITHMS).flat())];

/** The type string at the start of a key blob (uint32 length + name), or undefined. */
function blobType(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const n = key.readUInt32BE(0);
  return n > 0 && n < 64 && 4 + n <= key.length ? key.toString('latin1', 4, 4 + n) : undefined;
}

export function parseKnownHosts(text: string): KnownHosts {
  const entries: Entry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/[ \t]+/);
    let marker: Entry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // an unknown marker: skip the line
    }
    const [patterns, type, b64] = fields;
    if (!patterns || !type || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) return;
    const key = Buffer.from(b64, 'base64');
    if (blobType(key) !== type) return;
    entries.push({ marker, patterns, type, key, line: i + 1 });
  });
  return { entries };
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return port === 22 ? h : `[${h}]:${port}`;
}

function wildcard(pattern: string, s: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(s);
}

function hashedMatch(field: string, name: string): boolean {
  const m = /^\|1\|([^|]+)\|([^|]+)$/.exec(field);
  if (!m) return false;
  const digest = createHmac('sha1', Buffer.from(m[1], 'base64')).update(name).digest();
  return digest.equals(Buffer.from(m[2], 'base64'));
}

/** OpenSSH match_hostname: a negated match vetoes, otherwise any positive match wins. */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let hit = false;
  for (const p of patterns.toLowerCase().split(',')) {
    if (p.startsWith('!')) {
      if (wildcard(p.slice(1), name)) return false;
    } else if (p && wildcard(p, name)) {
      hit = true;
    }
  }
  return hit;
}

/** The plain keys pinned for a host (certificate authorities and revoked keys excluded). */
export function keysFor(kh: KnownHosts, host: string, port: number): KnownHostKey[] {
  const name = knownHostName(host, port);
  return kh.entries
    .filter((e) => e.marker === undefined && ALGORITHMS[e.type] && patternsMatch(e.patterns, name))
    .map(({ type, key, line }) => ({ type, key, line }));
}

/** Host key algorithms to offer so the server presents a key of a pinned type. */
export function hostKeyAlgorithms(keys: readonly KnownHostKey[]): string[] {
  return [...new Set(keys.flatMap((k) => ALGORITHMS[k.type] ?? []))];
}

export type HostKeyVerdict =
  | { ok: true; key: KnownHostKey }
  | { ok: false; reason: 'unknown-host' | 'mismatch' | 'revoked' };

export function verifyHostKey(kh: KnownHosts, host: string, port: number, presented: Buffer): HostKeyVerdict {
  if (kh.entries.some((e) => e.marker === 'revoked' && e.key.equals(presented))) return { ok: false, reason: 'revoked' };
  const keys = keysFor(kh, host, port);
  if (keys.length === 0) return { ok: false, reason: 'unknown-host' };
  const key = keys.find((k) => k.key.equals(presented));
  return key ? { ok: true, key } : { ok: false, reason: 'mismatch' };
}

/** The fingerprint OpenSSH prints (`ssh-keygen -lf`): 'SHA256:' + unpadded base64. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The exact known_hosts line that pins `key` for `host:port` (what to append after checking it). */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostName(host, port)} ${keyType(key)} ${key.toString('base64')}`;
}

/** The type named inside a presented key blob, for messages. */
export function keyType(key: Buffer): string {
  return blobType(key) ?? 'unknown';
}

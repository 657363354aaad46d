import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import path from 'node:path';
import { fingerprint, hostKeyAlgorithms, keysFor, knownHostName, parseKnownHosts, patternsMatch, verifyHostKey } from './known-hosts.ts';

const dir = labDir('runs', runId(), labName('known-hosts'));
function keygen(type: string, name: string): { line: string; blob: Buffer; fp: string } {
  const f = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', f]);
  const line = readFileSync(`${f}.pub`, 'utf8').trim();
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1];
  return { line, blob: Buffer.from(line.split(' ')[1], 'base64'), fp };
}
const ed = keygen('ed25519', 'ed');
const rsa = keygen('rsa', 'rsa');
const ec = keygen('ecdsa', 'ec');
const other = keygen('ed25519', 'other');
const keyOf = (k: { line: string }) => k.line.split(' ').slice(0, 2).join(' ');

describe('known_hosts', () => {
  it('names hosts as OpenSSH does', () => {
    expect(knownHostName('Repo.Example', 22)).toBe('repo.example');
    expect(knownHostName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(knownHostName('::1', 2222)).toBe('[::1]:2222');
    expect(knownHostName('[::1]', 22)).toBe('::1');
  });

  it('matches patterns with wildcards and negation', () => {
    expect(patternsMatch('a.example,b.example', 'b.example')).toBe(true);
    expect(patternsMatch('*.example', 'repo.example')).toBe(true);
    expect(patternsMatch('*.example,!bad.example', 'bad.example')).toBe(false);
    expect(patternsMatch('repo?.example', 'repo1.example')).toBe(true);
    expect(patternsMatch('repo?.example', 'repo12.example')).toBe(false);
    expect(patternsMatch('[10.0.0.1]:2222', '[10.0.0.1]:2222')).toBe(true);
    expect(patternsMatch('10.0.0.1', '[10.0.0.1]:2222')).toBe(false);
    expect(patternsMatch('10.0.0.1', '10.0.0.11')).toBe(false);
  });

  it('finds keys of several types, [host]:port entries, and skips comments and junk', () => {
    const kh = parseKnownHosts([
      '# comment',
      '',
      `repo.example,10.0.0.1 ${keyOf(ed)} comment here`,
      `[repo.example]:2222 ${keyOf(rsa)}`,
      `repo.example ${keyOf(ec)}`,
      'repo.example ssh-ed25519 not-base64!!',
      `repo.example ssh-rsa ${ed.line.split(' ')[1]}`, // type does not match the blob
      `@bogus repo.example ${keyOf(other)}`,
    ].join('\n'));
    expect(keysFor(kh, 'repo.example', 22).map((k) => k.type).sort()).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(keysFor(kh, 'REPO.example', 2222).map((k) => [k.type, k.line])).toEqual([['ssh-rsa', 4]]);
    expect(hostKeyAlgorithms(keysFor(kh, 'repo.example', 2222))).toEqual(['rsa-sha2-512', 'rsa-sha2-256']); // never ssh-rsa (SHA-1): issue 12 item 17
    expect(verifyHostKey(kh, '10.0.0.1', 22, ed.blob)).toMatchObject({ ok: true });
    expect(verifyHostKey(kh, 'repo.example', 22, ec.blob)).toMatchObject({ ok: true });
    expect(verifyHostKey(kh, 'repo.example', 22, other.blob)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyHostKey(kh, 'repo.example', 2222, ed.blob)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyHostKey(kh, 'elsewhere', 22, ed.blob)).toEqual({ ok: false, reason: 'unknown-host' });
  });

  it('matches hashed entries that ssh-keygen -H wrote, as ssh-keygen -F finds them', () => {
    const f = path.join(dir, 'hashed');
    writeFileSync(f, `[127.0.0.1]:2200 ${keyOf(ed)}\nrepo.example ${keyOf(rsa)}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', f]);
    const text = readFileSync(f, 'utf8');
    expect(text).not.toContain('repo.example');
    expect(text).toMatch(/^\|1\|/m);
    const kh = parseKnownHosts(text);
    expect(verifyHostKey(kh, '127.0.0.1', 2200, ed.blob)).toMatchObject({ ok: true });
    expect(verifyHostKey(kh, 'repo.example', 22, rsa.blob)).toMatchObject({ ok: true });
    expect(verifyHostKey(kh, '127.0.0.1', 22, ed.blob)).toEqual({ ok: false, reason: 'unknown-host' });
    for (const [h, found] of [['[127.0.0.1]:2200', true], ['repo.example', true], ['127.0.0.1', false]] as const) {
      const r = (() => { try { return execFileSync('ssh-keygen', ['-F', h, '-f', f], { encoding: 'utf8' }); } catch { return ''; } })();
      expect(r.includes('|1|'), h).toBe(found);
    }
  });

  it('never trusts @cert-authority lines and refuses @revoked keys for every host', () => {
    const kh = parseKnownHosts([
      `@cert-authority *.example ${keyOf(other)}`,
      `repo.example ${keyOf(ed)}`,
      `@revoked other.example ${keyOf(ed)}`,
    ].join('\n'));
    expect(verifyHostKey(kh, 'x.example', 22, other.blob)).toEqual({ ok: false, reason: 'unknown-host' });
    expect(verifyHostKey(kh, 'repo.example', 22, ed.blob)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('prints fingerprints as ssh-keygen -l does', () => {
    expect(fingerprint(ed.blob)).toBe(ed.fp);
    expect(fingerprint(rsa.blob)).toBe(rsa.fp);
  });
});

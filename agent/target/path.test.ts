import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { NASTY_NAMES } from './contract.ts';
import { codeOfErrno, codeOfStderr } from './error-codes.ts';
import { baseName, joinPath, normalizeTargetPath, parentPath, tempSibling } from './path.ts';
import { shellCommand, shellQuote } from './shell.ts';

describe('target paths', () => {
  it('normalizes and refuses escapes', () => {
    expect(normalizeTargetPath('a//b/./c/')).toBe('a/b/c');
    expect(normalizeTargetPath('/a')).toBe('a');
    expect(normalizeTargetPath('')).toBe('');
    expect(normalizeTargetPath('.')).toBe('');
    expect(normalizeTargetPath('a/../b')).toBeUndefined();
    expect(normalizeTargetPath('..')).toBeUndefined();
    expect(normalizeTargetPath('a\0b')).toBeUndefined();
    expect(normalizeTargetPath('..a/b..')).toBe('..a/b..');
  });

  it('splits and joins', () => {
    expect(parentPath('a/b/c')).toBe('a/b');
    expect(parentPath('a')).toBe('');
    expect(baseName('a/b/c')).toBe('c');
    expect(joinPath('/srv', 'a/b')).toBe('/srv/a/b');
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/srv', '')).toBe('/srv');
    expect(tempSibling('d/m.json', 'x1')).toBe('d/.m.json.tmp-x1');
    expect(tempSibling('m.json', 'x1')).toBe('.m.json.tmp-x1');
  });
});

describe('shellQuote', () => {
  it('round-trips nasty strings through a real /bin/sh', () => {
    for (const s of [...NASTY_NAMES, '', "'", "''", "a'\\''b", '--', '\\', '!', '~root', '${IFS}', '\n']) {
      const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${shellQuote(s)}`]);
      expect(out.toString('utf8'), JSON.stringify(s)).toBe(s);
    }
    const argv = execFileSync('/bin/sh', ['-c', `${shellCommand('printf', ['%s|', ...NASTY_NAMES])}`]).toString('utf8');
    expect(argv).toBe(NASTY_NAMES.map((n) => `${n}|`).join(''));
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('error codes', () => {
  it('maps errno names and coreutils stderr', () => {
    expect(codeOfErrno('ENOSPC')).toBe('no-space');
    expect(codeOfErrno('ENOENT')).toBe('not-found');
    expect(codeOfErrno('EACCES')).toBe('permission');
    expect(codeOfErrno('EIO')).toBe('io');
    expect(codeOfErrno(undefined)).toBe('io');
    expect(codeOfStderr('cat: write error: No space left on device\n')).toBe('no-space');
    expect(codeOfStderr("sh: 1: cannot create 'x/y': Directory nonexistent")).toBe('not-found');
    expect(codeOfStderr("sh: 1: cannot create y: File exists")).toBe('exists');
    expect(codeOfStderr("mv: cannot move 'a' to 'b': Permission denied")).toBe('permission');
    expect(codeOfStderr('weird')).toBe('io');
  });
});

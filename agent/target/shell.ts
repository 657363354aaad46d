/**
 * @layer logic
 * Quoting for the POSIX shell that runs commands on a repository host over SSH. Every path that
 * goes into a remote command line goes through `shellQuote`: single quotes, with each embedded
 * quote written as '\'' — nothing inside is ever expanded ($, `, \, *, newlines stay literal).
 */

export function shellQuote(s: string): string {
  if (s.includes('\0')) throw new Error('[target] a shell argument cannot contain a NUL byte');
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line from a program and its arguments, each quoted. */
export function shellCommand(program: string, args: readonly string[]): string {
  return [program, ...args].map(shellQuote).join(' ');
}

/**
 * What every command that makes files on a repository host starts with: new files 0600 and
 * directories 0700 (a repository holds every tenant's disks; sshd's default umask gives 0644).
 */
export const PRIVATE = 'umask 077';

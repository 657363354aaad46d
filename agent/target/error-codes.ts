/**
 * @layer logic
 * How failures of the underlying system become TargetError codes: errno names from node:fs
 * (local adapter) and the stderr text of coreutils and /bin/sh on a repository host (SSH
 * adapter). One table, so both adapters report a full disk the same way.
 */
import type { TargetErrorCode } from './port.ts';

const ERRNO: Record<string, TargetErrorCode> = {
  ENOSPC: 'no-space',
  EDQUOT: 'no-space',
  EFBIG: 'no-space',
  ENOENT: 'not-found',
  ENOTDIR: 'not-found',
  EACCES: 'permission',
  EPERM: 'permission',
  EROFS: 'permission',
  EEXIST: 'exists',
  ENOTEMPTY: 'exists',
  EISDIR: 'exists',
};

export function codeOfErrno(errno: string | undefined): TargetErrorCode {
  return (errno && ERRNO[errno]) || 'io';
}

/** Ordered: a full disk wins over whatever else the same stderr says. */
const STDERR: [RegExp, TargetErrorCode][] = [
  [/No space left on device|Disk quota exceeded|File too large/i, 'no-space'],
  [/No such file or directory|Directory nonexistent|Not a directory|cannot stat/i, 'not-found'],
  [/Permission denied|Read-only file system|Operation not permitted/i, 'permission'],
  [/File exists|Directory not empty|Is a directory/i, 'exists'],
];

export function codeOfStderr(stderr: string): TargetErrorCode {
  for (const [re, code] of STDERR) if (re.test(stderr)) return code;
  return 'io';
}

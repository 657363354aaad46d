/**
 * @layer entry
 * Reads a secret (a token key, CloudStack's secret key) from a file, refusing one that others
 * may read: no bits for others, and group-readable only when the group is the one this process
 * runs as (a root-owned 0640 file of the service's group, as the packages install it). The
 * error says the file, its mode and the chmod/chown that fixes it.
 */
import { readFileSync, statSync } from 'node:fs';

export class SecretFileError extends Error {
  override name = 'SecretFileError';
}

export function checkSecretFile(file: string, what: string): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new SecretFileError(`[serve] ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  const mode = st.mode & 0o777;
  const myGroup = typeof process.getgid === 'function' ? process.getgid() : -1;
  const groupOk = (mode & 0o070) === 0 || ((mode & 0o020) === 0 && st.gid === myGroup);
  if ((mode & 0o007) !== 0 || !groupOk) {
    throw new SecretFileError(`[serve] ${what} ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${file}`
      + ' (or 640 with the group this service runs as)');
  }
}

export function readSecretFile(file: string, what: string): string {
  checkSecretFile(file, what);
  return readFileSync(file, 'utf8').trim();
}

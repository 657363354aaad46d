/**
 * @layer adapter
 * openTarget: the one way to open a repository from its configured location — a path or
 * file:// URL gives a LocalTarget, ssh://user@host[:port]/path an SshTarget (connected, its
 * host key checked against known_hosts, before this resolves). A repository root that group or
 * others may read or enter is said (`warn`, default stderr): every tenant's disks are inside.
 */
import { userInfo } from 'node:os';
import { LocalTarget } from './local.ts';
import { TargetError, type BackupTarget } from './port.ts';
import { openSshTarget, type SshTargetOptions } from './ssh.ts';
import { parseTargetUrl, type TargetLocation } from './url.ts';

export interface OpenTargetOptions extends SshTargetOptions {
  /** where the warning about an exposed repository root goes (default: stderr) */
  warn?: (message: string) => void;
}

/** The warning for a repository root with these mode bits, or undefined when only its owner has access. */
export function exposedRootWarning(url: string, mode: number): string | undefined {
  if ((mode & 0o077) === 0) return undefined;
  return `[target] warning: the repository root ${url} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}: `
    + `other users of that host may read the backed-up disks below it. Make it private: chmod 700 on the repository host.`;
}

export async function openTarget(url: string, opts: OpenTargetOptions = {}): Promise<BackupTarget> {
  opts.signal?.throwIfAborted();
  let loc: TargetLocation;
  try {
    loc = parseTargetUrl(url);
  } catch (e) {
    throw new TargetError('config', (e as Error).message, { cause: e });
  }
  const target = loc.kind === 'local' ? new LocalTarget(loc.path) : await openSshTarget({ ...loc, user: loc.user ?? userInfo().username }, opts);
  try {
    const root = await target.stat('', opts.signal);
    const warning = root && exposedRootWarning(target.url, root.mode);
    if (warning) (opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`)))(warning);
  } catch (e) {
    await target.close();
    throw e;
  }
  return target;
}

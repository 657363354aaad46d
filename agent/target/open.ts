/**
 * @layer adapter
 * openTarget: the one way to open a repository from its configured location — a path or
 * file:// URL gives a LocalTarget, ssh://user@host[:port]/path an SshTarget (connected, its
 * host key checked against known_hosts, before this resolves).
 */
import { userInfo } from 'node:os';
import { LocalTarget } from './local.ts';
import { TargetError, type BackupTarget } from './port.ts';
import { openSshTarget, type SshTargetOptions } from './ssh.ts';
import { parseTargetUrl, type TargetLocation } from './url.ts';

export type OpenTargetOptions = SshTargetOptions;

export async function openTarget(url: string, opts: OpenTargetOptions = {}): Promise<BackupTarget> {
  opts.signal?.throwIfAborted();
  let loc: TargetLocation;
  try {
    loc = parseTargetUrl(url);
  } catch (e) {
    throw new TargetError('config', (e as Error).message, { cause: e });
  }
  if (loc.kind === 'local') return new LocalTarget(loc.path);
  return openSshTarget({ ...loc, user: loc.user ?? userInfo().username }, opts);
}

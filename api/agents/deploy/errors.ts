/**
 * @layer logic
 * DeployError: why deploying to (upgrading, removing from, looking at) one KVM host failed, as a
 * code the per-host report shows and a message that says what to do. Codes:
 *
 *   unreachable        no TCP/SSH connection (host down, wrong address, sshd not running)
 *   host-key-unknown   the host's SSH key is not pinned; `fingerprint` and `knownHostsLine` say
 *                      which key it showed: accept it (after checking it on the host) to go on
 *   host-key-changed   the host showed a different key than the pinned one: refused, always
 *   auth-failed        the admin's user, key or password was refused
 *   no-sudo            the user is not root and sudo asks for a password (or is missing)
 *   unsupported-os     /etc/os-release names an OS the packages are not built for
 *   no-libvirt         the host has no libvirt (not a KVM host, or not set up yet)
 *   disk-full          not enough free space for the package (or the install ran out of it)
 *   install-failed     the package manager refused (its output is in the message)
 *   not-healthy        the agent installed but does not answer healthy over the link
 *   busy               jobs kept running on the host for longer than the upgrade waits
 *   no-package         the control plane has no package for this host's OS
 *   skipped            not tried (a rolling upgrade stopped after an earlier cluster failed)
 *   aborted            the caller's signal
 *   failed             anything else (the message says what)
 */
export type DeployErrorCode =
  | 'unreachable' | 'host-key-unknown' | 'host-key-changed' | 'auth-failed' | 'no-sudo' | 'unsupported-os'
  | 'no-libvirt' | 'disk-full' | 'install-failed' | 'not-healthy' | 'busy' | 'no-package' | 'skipped' | 'aborted' | 'failed';

export interface DeployErrorDetails {
  /** host-key-unknown / host-key-changed: the key the host showed ('SHA256:…') */
  fingerprint?: string;
  /** host-key-unknown: the known_hosts line that would pin it */
  knownHostsLine?: string;
}

export class DeployError extends Error {
  override name = 'DeployError';
  constructor(readonly code: DeployErrorCode, message: string, readonly details: DeployErrorDetails = {}, options?: { cause?: unknown }) {
    super(message.startsWith('[') ? message : `[deploy] ${message}`, options);
  }
}

/** A DeployError for anything thrown (an unexpected error becomes 'failed', an abort 'aborted'). */
export function asDeployError(e: unknown, signal?: AbortSignal): DeployError {
  if (e instanceof DeployError) return e;
  if (signal?.aborted) return new DeployError('aborted', 'aborted', {}, { cause: e });
  return new DeployError('failed', e instanceof Error ? e.message : String(e), {}, { cause: e });
}
